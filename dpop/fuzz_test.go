package dpop

import (
	"context"
	"errors"
	"testing"
	"time"
)

func FuzzVerify(f *testing.F) {
	loadKeys(f)
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		key := map[string]any{"ES256": keyP256, "EdDSA": keyEd, "RS256": keyRSA}[alg]
		f.Add(newSpec(f, alg, key).sign(f), "POST", testURL, "tok")
	}
	f.Add("", "GET", testURL, "")
	f.Add("e30.e30.", "POST", testURL, "")
	f.Add("eyJhbGciOiJub25lIn0.e30.", "POST", "https://[::1]:443/", "")
	v := &Verifier{
		Replay: newMemoryGuard(1<<16, 6*time.Minute, func() time.Time { return testNow }),
		Now:    func() time.Time { return testNow },
	}
	f.Fuzz(func(t *testing.T, proof, method, url, token string) {
		req := Request{Method: method, URL: url, AccessToken: token}
		p, err := v.Verify(context.Background(), proof, req)
		if err != nil {
			var e *Error
			if p != nil || !errors.As(err, &e) || (e.Code != CodeInvalidProof && e.Code != CodeUseNonce) {
				t.Fatalf("Verify = %v, %v; want nil and *Error", p, err)
			}
			return
		}
		if len(p.JKT) != 43 || p.JTI == "" || !p.Key.IsPublic() {
			t.Fatalf("accepted proof = %+v", p)
		}
		if _, err := v.Verify(context.Background(), proof, req); !errors.Is(err, ErrReplay) {
			t.Fatalf("second presentation: %v, want ErrReplay", err)
		}
	})
}

func FuzzParseHTU(f *testing.F) {
	for _, s := range []string{testURL, "HTTP://[::1]:80/a%7e?x#y", "https://a:/", "https://a/%zz", "x://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, ok := parseHTU(raw)
		if !ok {
			return
		}
		// Normalization is idempotent: the normalized form parses to itself.
		s := u.scheme + "://" + u.host
		if u.port != "" {
			s += ":" + u.port
		}
		s += u.path
		if v, ok := parseHTU(s); !ok || v != u {
			t.Fatalf("parseHTU(%q) = %+v; reparsed %q = %+v, %v", raw, u, s, v, ok)
		}
	})
}
