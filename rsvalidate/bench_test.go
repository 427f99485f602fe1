package rsvalidate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/dpop"
	"github.com/go-jose/go-jose/v4"
)

// BenchmarkAuthenticateJWTCached is the gateway's common case: a repeated bearer JWT.
func BenchmarkAuthenticateJWTCached(b *testing.B) {
	f := fixtures(b)
	v := mustNew(b, baseConfig(b, f))
	r := req("Authorization", "Bearer "+signJWT(b, f.es, "at+jwt", claims()))
	if _, e := v.Authenticate(r); e != nil {
		b.Fatal(e)
	}
	v.verified.Wait()
	b.ReportAllocs()
	for b.Loop() {
		if _, e := v.Authenticate(r); e != nil {
			b.Fatal(e)
		}
	}
}

// BenchmarkAuthenticateJWTUncached pays header parsing, key lookup, the ES256 signature and
// the claims on every request.
func BenchmarkAuthenticateJWTUncached(b *testing.B) {
	f := fixtures(b)
	v := mustNew(b, baseConfig(b, f))
	v.verified.Close()
	v.verified = nil
	r := req("Authorization", "Bearer "+signJWT(b, f.es, "at+jwt", claims()))
	b.ReportAllocs()
	for b.Loop() {
		if _, e := v.Authenticate(r); e != nil {
			b.Fatal(e)
		}
	}
}

// BenchmarkAuthenticateDPoP: a cached DPoP-bound JWT with a fresh ES256 proof per request
// (proofs are signed before the timer starts).
func BenchmarkAuthenticateDPoP(b *testing.B) {
	f := fixtures(b)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jkt, _ := dpop.Thumbprint(jose.JSONWebKey{Key: key.Public()})
	v := mustNew(b, baseConfig(b, f))
	tok := signJWT(b, f.es, "at+jwt", claims(set("cnf", map[string]any{"jkt": jkt})))
	proofs := make([]string, b.N+1)
	for i := range proofs {
		proofs[i] = proof(b, key, "GET", testURL, tok)
	}
	r := req("Authorization", "DPoP "+tok, "DPoP", proofs[b.N])
	if _, e := v.Authenticate(r); e != nil {
		b.Fatal(e)
	}
	v.verified.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r.Header["Dpop"][0] = proofs[i]
		if _, e := v.Authenticate(r); e != nil {
			b.Fatal(e)
		}
	}
}
