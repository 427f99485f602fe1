package secevent

import (
	"errors"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	at := time.Unix(1767225600, 0)
	for _, r := range []Revocation{
		{Kind: KindJTI, Value: "j1", At: at, Until: at.Add(time.Hour)},
		{Kind: KindTokenHash, Value: "h1", At: at, Until: at.Add(time.Hour)},
		{Kind: KindGrant, Value: "g1", At: at, Until: at.Add(time.Hour)},
		{Kind: KindSession, Value: "s1", Subject: "alice", At: at, Until: at.Add(time.Hour)},
		{Kind: KindClient, Value: "https://app.example/client.json", At: at, Until: at.Add(time.Hour)},
	} {
		b, err := Encode("https://as.example", []string{"gw"}, at, "id-"+r.Kind, r)
		if err != nil {
			t.Fatal(err)
		}
		set, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v (%s)", r.Kind, err, b)
		}
		if set.Revocation == nil || *set.Revocation != r {
			t.Errorf("%s: decoded %+v, want %+v", r.Kind, set.Revocation, r)
		}
		if set.Issuer != "https://as.example" || len(set.Audience) != 1 || set.Audience[0] != "gw" || set.ID != "id-"+r.Kind || !set.IssuedAt.Equal(at) {
			t.Errorf("%s: header claims %+v", r.Kind, set)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, payload := range map[string]string{
		"not json":        `{`,
		"no iss":          `{"aud":"gw","iat":1,"jti":"x","events":{"` + EventVerification + `":{}}}`,
		"no events":       `{"iss":"i","aud":"gw","iat":1,"jti":"x","events":{}}`,
		"two events":      `{"iss":"i","aud":"gw","iat":1,"jti":"x","events":{"a":{},"b":{}}}`,
		"bad identifier":  `{"iss":"i","aud":"gw","iat":1,"jti":"x","sub_id":{"format":"opaque","id":"v"},"events":{"` + EventTokenRevoked + `":{"identifier":"sub","expires_at":5}}}`,
		"no expires_at":   `{"iss":"i","aud":"gw","iat":1,"jti":"x","sub_id":{"format":"opaque","id":"v"},"events":{"` + EventTokenRevoked + `":{"identifier":"jti"}}}`,
		"client no time":  `{"iss":"i","aud":"gw","iat":1,"jti":"x","sub_id":{"format":"opaque","id":"c1"},"events":{"` + EventTokenRevoked + `":{"identifier":"client","expires_at":5}}}`,
		"session no sid":  `{"iss":"i","aud":"gw","iat":1,"jti":"x","sub_id":{"format":"complex"},"events":{"` + EventSessionRevoked + `":{"expires_at":5}}}`,
		"aud wrong shape": `{"iss":"i","aud":5,"iat":1,"jti":"x","events":{"a":{}}}`,
	} {
		if _, err := Decode([]byte(payload)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestUnknownEventTypeHasNoRevocation(t *testing.T) {
	b, err := EncodeVerification("i", []string{"gw"}, time.Unix(5, 0), "x", "stream", "st")
	if err != nil {
		t.Fatal(err)
	}
	set, err := Decode(b)
	if err != nil || set.Revocation != nil || set.EventType != EventVerification || set.State != "st" {
		t.Fatalf("set %+v err %v", set, err)
	}
}
