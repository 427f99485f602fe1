package dpop

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/internal/benchcpu"
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
	stop := benchcpu.Start(b)
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(context.Background(), proofs[i], req); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// BenchmarkES256SignatureOnly is the floor under BenchmarkVerifyES256: the P-256 signature
// check alone (crypto/ecdsa), to quote the verifier's cost as a ratio to it from one run.
func BenchmarkES256SignatureOnly(b *testing.B) {
	loadKeys(b)
	input := []byte(newSpec(b, "ES256", keyP256).sign(b))
	digest := sha256.Sum256(input)
	r, s, err := ecdsa.Sign(rand.Reader, keyP256, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	stop := benchcpu.Start(b)
	for range b.N {
		if !ecdsa.Verify(&keyP256.PublicKey, digest[:], r, s) {
			b.Fatal("does not verify")
		}
	}
	stop()
}
