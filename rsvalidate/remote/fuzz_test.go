package remote

import (
	"testing"
	"time"

	"go.uber.org/zap"
)

func FuzzParseIntrospection(f *testing.F) {
	for _, seed := range []string{
		`{"active":true,"aud":["a"],"exp":1900000000,"cnf":{"jkt":"x"}}`, `{"active":false}`,
		`{"active":true,"exp":1e400}`, `{"active":true,"aud":[1]}`, `null`, `[]`, `{"active":true,"exp":-1}`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := parseIntrospection(body, now)
		if err != nil && info != nil {
			t.Fatal("info with an error")
		}
		if info != nil && !info.ExpiresAt.IsZero() && !now.Before(info.ExpiresAt) {
			t.Fatal("expired token reported active")
		}
	})
}

func FuzzParseKeySet(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		set, err := parseKeySet(body, zap.NewNop())
		if err != nil {
			return
		}
		for _, keys := range set.byKID {
			for _, k := range keys {
				if !k.IsPublic() || unusable(k) != "" {
					t.Fatalf("unusable key kept: %+v", k)
				}
			}
		}
	})
}

func FuzzRefreshInterval(f *testing.F) {
	f.Add("public, max-age=600")
	f.Add(`max-age="1"`)
	f.Fuzz(func(t *testing.T, cc string) {
		if d := refreshInterval(cc); d < minRefresh || d > maxRefresh {
			t.Fatalf("refreshInterval(%q) = %v", cc, d)
		}
	})
}
