package dpop

import (
	"context"
	"testing"
	"time"
)

// BenchmarkVerifyES256 is the gateway's per-request cost: a fresh ES256 proof bound to an
// access token, checked against a memory replay guard.
func BenchmarkVerifyES256(b *testing.B) {
	loadKeys(b)
	g := NewMemoryGuard(1<<22, 6*time.Minute)
	defer g.Close()
	v := &Verifier{Replay: g}
	proofs := make([]string, b.N)
	now := time.Now()
	for i := range proofs {
		s := newSpec(b, "ES256", keyP256)
		s.claims["iat"] = now.Unix()
		proofs[i] = s.sign(b)
	}
	req := Request{Method: "POST", URL: testURL + "?q=1", AccessToken: "tok"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(context.Background(), proofs[i], req); err != nil {
			b.Fatal(err)
		}
	}
}
