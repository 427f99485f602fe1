package rsvalidate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
	"github.com/caddy-oauth/caddy-oauth/backchannel/ssfreceiver/revoked"

	"github.com/caddy-oauth/caddy-oauth/dpop"
	"github.com/caddy-oauth/caddy-oauth/internal/benchcpu"
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
	stop := benchcpu.Start(b)
	for b.Loop() {
		if _, e := v.Authenticate(r); e != nil {
			b.Fatal(e)
		}
	}
	stop()
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
	stop := benchcpu.Start(b)
	for i := range b.N {
		r.Header["Dpop"][0] = proofs[i]
		if _, e := v.Authenticate(r); e != nil {
			b.Fatal(e)
		}
	}
	stop()
}

// BenchmarkAuthenticateJWTCachedRevocations is the cached-JWT case with a revocation stream:
// an empty revoked set and one of 1,000,000 live entries, in the same run, to compare.
func BenchmarkAuthenticateJWTCachedRevocations(b *testing.B) {
	f := fixtures(b)
	r := req("Authorization", "Bearer "+signJWT(b, f.es, "at+jwt", claims(set("grant_id", "g"), set("sid", "s"))))
	for _, size := range []int{0, 1_000_000} {
		rs := &revokedSet{Set: revoked.New(clock)}
		for i := range size {
			kind := []string{secevent.KindJTI, secevent.KindGrant, secevent.KindSession}[i%3]
			rs.Add(kind, fmt.Sprintf("%022d", i), testNow.Add(time.Hour))
		}
		b.Run(fmt.Sprintf("revoked=%d", size), func(b *testing.B) {
			cfg := baseConfig(b, f)
			cfg.Revocations = rs
			v := mustNew(b, cfg)
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
		})
	}
}
