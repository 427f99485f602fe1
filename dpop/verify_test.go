package dpop

import (
	"context"
	"crypto"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const testURL = "https://api.example.com/resource"

func newTestVerifier(t testing.TB) *Verifier {
	t.Helper()
	g := newMemoryGuard(1000, 6*time.Minute, func() time.Time { return testNow })
	return &Verifier{Replay: longRunning(g), Now: func() time.Time { return testNow }}
}

// longRunning makes g a guard that has run for longer than any proof's age, so it refuses
// no proof as older than itself (tests of other rules use proofs up to MaxAge old).
func longRunning(g *MemoryGuard) *MemoryGuard {
	g.forgotten = time.Time{}
	return g
}

func TestVerifySuccessPerAlgorithm(t *testing.T) {
	loadKeys(t)
	for _, tc := range []struct {
		alg string
		key any
	}{
		{"ES256", keyP256}, {"ES384", keyP384}, {"ES512", keyP521},
		{"RS256", keyRSA}, {"PS256", keyRSA}, {"PS512", keyRSA},
		{"EdDSA", keyEd},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			spec := newSpec(t, tc.alg, tc.key)
			v := newTestVerifier(t)
			p, err := v.Verify(context.Background(), spec.sign(t), Request{Method: "POST", URL: testURL, AccessToken: "tok"})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want, err := Thumbprint(jose.JSONWebKey{Key: tc.key.(crypto.Signer).Public()})
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != want || len(p.JKT) != 43 {
				t.Errorf("JKT = %q, want %q", p.JKT, want)
			}
			if p.JTI != spec.claims["jti"] || !p.IssuedAt.Equal(testNow) || !p.Key.IsPublic() {
				t.Errorf("proof = %+v", p)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	loadKeys(t)
	otherJWK := publicJWK(t, keyP256b)
	privJWK := jwkMap(t, jose.JSONWebKey{Key: keyP256})
	privRSAJWK := jwkMap(t, jose.JSONWebKey{Key: keyRSA})
	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}

	type tc struct {
		name     string
		alg      string // default ES256 with keyP256
		key      any
		edit     func(p *proofSpec)
		req      func(r *Request)
		algs     []string
		raw      string // sent instead of a signed proof when unsigned
		unsigned bool
		code     string // "" means success expected
		errIs    error
		inDesc   string
	}
	cases := []tc{
		{name: "valid"},
		{name: "query and fragment ignored", edit: func(p *proofSpec) { p.claims["htu"] = testURL + "?a=1#frag" },
			req: func(r *Request) { r.URL = testURL + "?b=2" }},
		{name: "htu normalized case and default port", edit: func(p *proofSpec) { p.claims["htu"] = "HTTPS://API.Example.COM:443/resource" }},
		{name: "htu percent-encoding case", edit: func(p *proofSpec) { p.claims["htu"] = "https://api.example.com/a%2fb%7e" },
			req: func(r *Request) { r.URL = "https://api.example.com/a%2Fb~" }},
		{name: "token endpoint without ath", edit: func(p *proofSpec) { delete(p.claims, "ath") },
			req: func(r *Request) { r.AccessToken = "" }},
		{name: "nonce ignored when server has none", edit: func(p *proofSpec) { p.claims["nonce"] = "whatever" }},
		{name: "iat at MaxAge edge", edit: func(p *proofSpec) { p.claims["iat"] = testNow.Add(-5 * time.Minute).Unix() }},
		{name: "iat at Skew edge", edit: func(p *proofSpec) { p.claims["iat"] = testNow.Add(30 * time.Second).Unix() }},
		{name: "fractional iat", edit: func(p *proofSpec) { p.claims["iat"] = float64(testNow.Unix()) + 0.5 }},

		{name: "wrong htm", req: func(r *Request) { r.Method = "GET" }, code: CodeInvalidProof, inDesc: "htm"},
		{name: "htm case", edit: func(p *proofSpec) { p.claims["htm"] = "post" }, code: CodeInvalidProof, inDesc: "htm"},
		{name: "htu scheme", edit: func(p *proofSpec) { p.claims["htu"] = "http://api.example.com/resource" }, code: CodeInvalidProof, inDesc: "htu"},
		{name: "htu host", edit: func(p *proofSpec) { p.claims["htu"] = "https://evil.example.com/resource" }, code: CodeInvalidProof, inDesc: "htu"},
		{name: "htu path", edit: func(p *proofSpec) { p.claims["htu"] = "https://api.example.com/other" }, code: CodeInvalidProof, inDesc: "htu"},
		{name: "htu port", edit: func(p *proofSpec) { p.claims["htu"] = "https://api.example.com:8443/resource" }, code: CodeInvalidProof, inDesc: "htu"},
		{name: "htu relative", edit: func(p *proofSpec) { p.claims["htu"] = "/resource" }, code: CodeInvalidProof, inDesc: "htu"},
		{name: "ath mismatch", edit: func(p *proofSpec) { p.claims["ath"] = AccessTokenHash("other") }, code: CodeInvalidProof, inDesc: "ath"},
		{name: "ath missing", edit: func(p *proofSpec) { delete(p.claims, "ath") }, code: CodeInvalidProof, inDesc: "ath"},
		{name: "ath unexpected", req: func(r *Request) { r.AccessToken = "" }, code: CodeInvalidProof, inDesc: "ath"},
		{name: "other key's signature", edit: func(p *proofSpec) { p.header["jwk"] = otherJWK }, code: CodeInvalidProof, inDesc: "signature"},
		{name: "typ missing", edit: func(p *proofSpec) { delete(p.header, "typ") }, code: CodeInvalidProof, inDesc: "typ"},
		{name: "typ jwt", edit: func(p *proofSpec) { p.header["typ"] = "JWT" }, code: CodeInvalidProof, inDesc: "typ"},
		{name: "typ not a string", edit: func(p *proofSpec) { p.header["typ"] = 1 }, code: CodeInvalidProof, inDesc: "typ"},
		{name: "alg none", alg: "none", key: nil, code: CodeInvalidProof, inDesc: "algorithm"},
		{name: "alg HS256", alg: "HS256", key: []byte("0123456789abcdef0123456789abcdef"), code: CodeInvalidProof, inDesc: "algorithm"},
		{name: "alg not in allowlist", algs: []string{"EdDSA"}, code: CodeInvalidProof, inDesc: "algorithm"},
		{name: "alg curve mismatch", edit: func(p *proofSpec) { p.header["alg"] = "ES384" }, code: CodeInvalidProof, inDesc: "match alg"},
		{name: "alg RSA with EC key", edit: func(p *proofSpec) { p.header["alg"] = "RS256" }, code: CodeInvalidProof, inDesc: "match alg"},
		{name: "jwk missing", edit: func(p *proofSpec) { delete(p.header, "jwk") }, code: CodeInvalidProof, inDesc: "jwk"},
		{name: "jwk with private d", edit: func(p *proofSpec) { p.header["jwk"] = privJWK }, code: CodeInvalidProof, inDesc: "public"},
		{name: "jwk RSA private", alg: "RS256", key: keyRSA, edit: func(p *proofSpec) { p.header["jwk"] = privRSAJWK }, code: CodeInvalidProof, inDesc: "public"},
		{name: "jwk symmetric", edit: func(p *proofSpec) { p.header["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0"} }, code: CodeInvalidProof, inDesc: "public"},
		{name: "small RSA", alg: "RS256", key: keyRSA1k, code: CodeInvalidProof, inDesc: "RSA key size"},
		{name: "stale iat", edit: func(p *proofSpec) { p.claims["iat"] = testNow.Add(-5*time.Minute - time.Second).Unix() }, code: CodeInvalidProof, inDesc: "iat"},
		{name: "future iat", edit: func(p *proofSpec) { p.claims["iat"] = testNow.Add(31 * time.Second).Unix() }, code: CodeInvalidProof, inDesc: "iat"},
		{name: "iat string", edit: func(p *proofSpec) { p.claims["iat"] = "1800000000" }, code: CodeInvalidProof, inDesc: "claims"},
		{name: "iat negative", edit: func(p *proofSpec) { p.claims["iat"] = -1 }, code: CodeInvalidProof, inDesc: "iat"},
		{name: "iat huge", edit: func(p *proofSpec) { p.claims["iat"] = 1e300 }, code: CodeInvalidProof, inDesc: "iat"},
		{name: "jti missing", edit: func(p *proofSpec) { delete(p.claims, "jti") }, code: CodeInvalidProof, inDesc: "jti"},
		{name: "jti too long", edit: func(p *proofSpec) { p.claims["jti"] = strings.Repeat("a", MaxJTILength+1) }, code: CodeInvalidProof, inDesc: "jti"},
		{name: "htm missing", edit: func(p *proofSpec) { delete(p.claims, "htm") }, code: CodeInvalidProof, inDesc: "htm"},
		{name: "claims not an object", unsigned: true, raw: b64([]byte(`{"typ":"dpop+jwt","alg":"ES256"}`)) + "." + b64([]byte(`[1]`)) + ".AA", code: CodeInvalidProof},
		{name: "header bad JSON", unsigned: true, raw: b64([]byte(`{"typ":`)) + "." + b64([]byte(`{}`)) + ".AA", code: CodeInvalidProof, inDesc: "malformed"},
		{name: "bad base64", unsigned: true, raw: "!!!.???.***", code: CodeInvalidProof, inDesc: "malformed"},
		{name: "two parts", unsigned: true, raw: "abc.def", code: CodeInvalidProof, inDesc: "compact"},
		{name: "JSON serialization", unsigned: true, raw: `{"payload":"e30","protected":"e30","signature":"AA"}`, code: CodeInvalidProof},
		{name: "empty", unsigned: true, raw: "", code: CodeInvalidProof, inDesc: "missing"},
		{name: "oversized", unsigned: true, raw: strings.Repeat("a", MaxProofSize) + "..", code: CodeInvalidProof, inDesc: "too large"},
		{name: "oversized signed", edit: func(p *proofSpec) { p.claims["pad"] = strings.Repeat("x", MaxProofSize) }, code: CodeInvalidProof, inDesc: "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			alg, key := c.alg, c.key
			if alg == "" {
				alg, key = "ES256", keyP256
			}
			spec := newSpec(t, alg, keyP256) // HS256 and none keep keyP256's jwk
			spec.key = key
			if k, ok := key.(crypto.Signer); ok {
				spec.header["jwk"] = publicJWK(t, k)
			}
			if c.edit != nil {
				c.edit(spec)
			}
			proof := c.raw
			if !c.unsigned {
				proof = spec.sign(t)
			}
			r := req
			if c.req != nil {
				c.req(&r)
			}
			v := newTestVerifier(t)
			v.Algs = c.algs
			p, err := v.Verify(context.Background(), proof, r)
			if c.code == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p == nil || p.JKT == "" {
					t.Fatalf("proof = %+v", p)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error %s", err, c.code)
			}
			if e.Code != c.code || !strings.Contains(e.Description, c.inDesc) {
				t.Errorf("err = %q/%q, want code %q with %q", e.Code, e.Description, c.code, c.inDesc)
			}
			if g := v.Replay.(*MemoryGuard); g.Len() != 0 {
				t.Errorf("rejected proof reached the replay guard (Len %d)", g.Len())
			}
		})
	}
}

func TestVerifyReplay(t *testing.T) {
	loadKeys(t)
	v := newTestVerifier(t)
	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}
	spec := newSpec(t, "ES256", keyP256)
	proof := spec.sign(t)
	if _, err := v.Verify(context.Background(), proof, req); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(context.Background(), proof, req)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidProof || !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: err = %v, want invalid_dpop_proof wrapping ErrReplay", err)
	}
	// The same jti under another key is a different proof.
	other := newSpec(t, "ES256", keyP256b)
	other.claims["jti"] = spec.claims["jti"]
	if _, err := v.Verify(context.Background(), other.sign(t), req); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
}

func TestVerifyNonce(t *testing.T) {
	loadKeys(t)
	clock := &fixedClock{t: testNow}
	nonces, err := NewNonces([]byte(strings.Repeat("k", 32)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	nonces.Now = clock.Now
	stale := nonces.Current()
	clock.Add(2 * time.Minute)
	current := nonces.Current()

	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}
	for _, tc := range []struct {
		name  string
		nonce any // nil: claim absent
		code  string
	}{
		{"missing", nil, CodeUseNonce},
		{"empty", "", CodeUseNonce},
		{"stale", stale, CodeUseNonce},
		{"garbage", "xyz", CodeUseNonce},
		{"current", current, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(t)
			v.Nonces = nonces
			v.Now = clock.Now
			v.Replay = newMemoryGuard(10, 6*time.Minute, clock.Now)
			spec := newSpec(t, "ES256", keyP256)
			spec.claims["iat"] = clock.Now().Unix()
			if tc.nonce != nil {
				spec.claims["nonce"] = tc.nonce
			}
			p, err := v.Verify(context.Background(), spec.sign(t), req)
			if tc.code == "" {
				if err != nil || p.Nonce != current {
					t.Fatalf("Verify = %+v, %v", p, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || !errors.Is(err, ErrNonce) {
				t.Fatalf("err = %v, want %s wrapping ErrNonce", err, tc.code)
			}
		})
	}
}

func TestVerifyGuardFull(t *testing.T) {
	loadKeys(t)
	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}
	nonces, err := NewNonces([]byte(strings.Repeat("k", 32)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		nonces *Nonces
		code   string
	}{
		{"with nonces", nonces, CodeUseNonce},
		{"without nonces", nil, CodeInvalidProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verifier{Replay: newMemoryGuard(1, 6*time.Minute, func() time.Time { return testNow }),
				Now: func() time.Time { return testNow }, Nonces: tc.nonces}
			if tc.nonces != nil {
				tc.nonces.Now = v.Now
			}
			sign := func() string {
				s := newSpec(t, "EdDSA", keyEd)
				if tc.nonces != nil {
					s.claims["nonce"] = tc.nonces.Current()
				}
				return s.sign(t)
			}
			if _, err := v.Verify(context.Background(), sign(), req); err != nil {
				t.Fatal(err)
			}
			_, err := v.Verify(context.Background(), sign(), req)
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || !errors.Is(err, ErrFull) {
				t.Fatalf("err = %v, want %s wrapping ErrFull", err, tc.code)
			}
		})
	}
}

// errGuard stands for an unreachable cluster backend.
type errGuard struct{}

func (errGuard) Use(context.Context, string, time.Time) error {
	return errors.New("connection refused")
}

func TestVerifyGuardFailureFailsClosed(t *testing.T) {
	loadKeys(t)
	v := &Verifier{Replay: errGuard{}, Now: func() time.Time { return testNow }}
	p, err := v.Verify(context.Background(), newSpec(t, "EdDSA", keyEd).sign(t), Request{Method: "POST", URL: testURL, AccessToken: "tok"})
	var e *Error
	if err == nil || p != nil || errors.As(err, &e) {
		t.Fatalf("Verify = %v, %v; want a server-side (non-*Error) failure", p, err)
	}
	if _, err := (&Verifier{}).Verify(context.Background(), "x", Request{}); err == nil {
		t.Fatal("Verifier without Replay accepted a call")
	}
}

// TestVerifyConcurrentReplay: the same proof presented by 64 goroutines at once succeeds once.
func TestVerifyConcurrentReplay(t *testing.T) {
	loadKeys(t)
	const workers = 64
	iterations := 30
	if testing.Short() {
		iterations = 5
	}
	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}
	v := newTestVerifier(t)
	v.Replay = newMemoryGuard(1<<16, 6*time.Minute, func() time.Time { return testNow })
	for it := 0; it < iterations; it++ {
		proof := newSpec(t, "EdDSA", keyEd).sign(t)
		var ok, replay atomic.Int32
		var start, done sync.WaitGroup
		start.Add(1)
		for w := 0; w < workers; w++ {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				_, err := v.Verify(context.Background(), proof, req)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrReplay):
					replay.Add(1)
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		start.Done()
		done.Wait()
		if ok.Load() != 1 || replay.Load() != workers-1 {
			t.Fatalf("iteration %d: %d successes, %d replays; want 1 and %d", it, ok.Load(), replay.Load(), workers-1)
		}
	}
}

func TestAllowedAlgsAndCheckAlgs(t *testing.T) {
	if !slices.Equal(DefaultAlgs, SupportedAlgs()) {
		t.Errorf("DefaultAlgs = %v", DefaultAlgs)
	}
	if got := (&Verifier{}).AllowedAlgs(); len(got) != 10 || got[0] != "ES256" {
		t.Errorf("default AllowedAlgs = %v", got)
	}
	if got := (&Verifier{Algs: []string{"EdDSA", "HS256", "none"}}).AllowedAlgs(); len(got) != 1 || got[0] != "EdDSA" {
		t.Errorf("AllowedAlgs = %v, want [EdDSA]", got)
	}
	for _, tc := range []struct {
		algs []string
		ok   bool
	}{
		{[]string{"ES256", "EdDSA"}, true},
		{nil, true},
		{[]string{"none"}, false},
		{[]string{"HS256"}, false},
		{[]string{"es256"}, false},
	} {
		if err := CheckAlgs(tc.algs); (err == nil) != tc.ok {
			t.Errorf("CheckAlgs(%v) = %v", tc.algs, err)
		}
	}
}

func TestAccessTokenHash(t *testing.T) {
	// RFC 9449 §7.1 example: token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU".
	if got, want := AccessTokenHash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"), "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"; got != want {
		t.Errorf("AccessTokenHash = %q, want %q", got, want)
	}
}

func TestThumbprintRFC7638(t *testing.T) {
	// RFC 7638 §3.1 example key and thumbprint.
	const jwk = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON([]byte(jwk)); err != nil {
		t.Fatal(err)
	}
	if got, want := mustThumbprint(t, k), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("Thumbprint = %q, want %q", got, want)
	}
}

func mustThumbprint(t *testing.T, k jose.JSONWebKey) string {
	t.Helper()
	s, err := Thumbprint(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyReplayTTLCoversFutureIat(t *testing.T) {
	loadKeys(t)
	v := &Verifier{MaxAge: time.Minute, Skew: 10 * time.Second, Now: func() time.Time { return testNow }}
	if got := v.ReplayTTL(); got != 80*time.Second {
		t.Fatalf("ReplayTTL = %v, want 1m20s", got)
	}
	v.Replay = newMemoryGuard(10, v.ReplayTTL(), v.Now)
	spec := newSpec(t, "EdDSA", keyEd)
	spec.claims["iat"] = testNow.Add(10 * time.Second).Unix() // as far ahead as Skew allows
	if _, err := v.Verify(context.Background(), spec.sign(t), Request{Method: "POST", URL: testURL, AccessToken: "tok"}); err != nil {
		t.Fatal(err)
	}
}

// TestCheckConsumesNothing: Check verifies a proof without touching the replay guard, so
// checking it again succeeds; Record then consumes it once, and after that the proof is a
// replay for Record and Verify alike.
func TestCheckConsumesNothing(t *testing.T) {
	loadKeys(t)
	v := newTestVerifier(t)
	guard := v.Replay.(*MemoryGuard)
	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}
	proof := newSpec(t, "ES256", keyP256).sign(t)
	var p *Proof
	for i := range 3 {
		var err error
		if p, err = v.Check(proof, req); err != nil {
			t.Fatalf("Check #%d: %v", i+1, err)
		}
	}
	if guard.Len() != 0 {
		t.Fatalf("Check stored %d keys, want 0", guard.Len())
	}
	if err := v.Record(context.Background(), p); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if err := v.Record(context.Background(), p); !errors.Is(err, ErrReplay) {
		t.Fatalf("second Record: %v, want ErrReplay", err)
	}
	if _, err := v.Verify(context.Background(), proof, req); !errors.Is(err, ErrReplay) {
		t.Fatalf("Verify after Record: %v, want ErrReplay", err)
	}
	if guard.Len() != 1 {
		t.Errorf("guard holds %d keys, want 1", guard.Len())
	}
}

func TestRecordTakesACheckedProof(t *testing.T) {
	loadKeys(t)
	v := newTestVerifier(t)
	for name, p := range map[string]*Proof{
		"nil":            nil,
		"not from Check": {JKT: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", JTI: "x", IssuedAt: testNow},
	} {
		err := v.Record(context.Background(), p)
		var e *Error
		if err == nil || errors.As(err, &e) {
			t.Errorf("%s: Record = %v, want a programming error (not *Error)", name, err)
		}
	}
	p, err := v.Check(newSpec(t, "EdDSA", keyEd).sign(t), Request{Method: "POST", URL: testURL, AccessToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Verifier{}).Record(context.Background(), p); err == nil {
		t.Error("Record without a replay guard succeeded")
	}
}

// checkThenRecordOnce presents one proof from 64 goroutines at once, spread over the
// verifiers (instances sharing a replay store), each calling Check then Record. It fails
// unless exactly one Record succeeds and every other is a replay. A backend that fails to
// answer in time (a loaded machine) makes Record fail closed with a server-side error; with
// tolerateBackend such failures are allowed, and then at most one Record may succeed.
func checkThenRecordOnce(t *testing.T, verifiers []*Verifier, proof string, req Request, tolerateBackend bool) {
	t.Helper()
	const workers = 64
	var ok, replay, backend atomic.Int32
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range workers {
		v := verifiers[i%len(verifiers)]
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			p, err := v.Check(proof, req)
			if err == nil {
				err = v.Record(context.Background(), p)
			}
			var e *Error
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrReplay):
				replay.Add(1)
			case tolerateBackend && !errors.As(err, &e):
				backend.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	start.Done()
	done.Wait()
	if backend.Load() > 0 {
		if ok.Load() > 1 || ok.Load()+replay.Load()+backend.Load() != workers {
			t.Fatalf("%d successes, %d replays, %d backend failures; want at most 1 success", ok.Load(), replay.Load(), backend.Load())
		}
		t.Logf("%d Records failed closed on the backend (slow machine)", backend.Load())
		return
	}
	if ok.Load() != 1 || replay.Load() != workers-1 {
		t.Fatalf("%d successes, %d replays; want 1 and %d", ok.Load(), replay.Load(), workers-1)
	}
}

// TestCheckThenRecordIsExact: split verification stays exact with the memory guard and, when
// a test Redis is available, with the Redis guard shared by two instances.
func TestCheckThenRecordIsExact(t *testing.T) {
	loadKeys(t)
	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}
	t.Run("memory", func(t *testing.T) {
		v := newTestVerifier(t)
		for range 10 {
			checkThenRecordOnce(t, []*Verifier{v}, newSpec(t, "EdDSA", keyEd).sign(t), req, false)
		}
	})
	t.Run("redis", func(t *testing.T) {
		// The Redis guard compares expiries with the real clock. Two instances, each with its
		// own client (connection pool), as in TestRedisGuardConcurrent.
		now := time.Now()
		prefix := testPrefix(t)
		var instances []*Verifier
		for range 2 {
			instances = append(instances, &Verifier{Replay: NewRedisGuard(testRedis(t), prefix), Now: func() time.Time { return now }})
		}
		for range 5 {
			spec := newSpec(t, "EdDSA", keyEd)
			spec.claims["iat"] = now.Unix()
			checkThenRecordOnce(t, instances, spec.sign(t), req, true)
		}
	})
}

// TestReplayGuardForgetsExpiredProofs: a full memory guard accepts new proofs again once the
// proofs it holds can no longer be accepted — at most Skew (the margin for a verifier on
// another instance whose clock runs behind) plus one expiry bucket after iat+MaxAge — so it
// is full only under the load of the last ReplayTTL, never for good.
func TestReplayGuardForgetsExpiredProofs(t *testing.T) {
	loadKeys(t)
	clock := &fixedClock{t: testNow}
	v := &Verifier{MaxAge: time.Minute, Skew: 10 * time.Second, Now: clock.Now}
	guard := newMemoryGuard(3, v.ReplayTTL(), clock.Now)
	v.Replay = guard
	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}
	sign := func() string {
		s := newSpec(t, "EdDSA", keyEd)
		s.claims["iat"] = clock.Now().Unix()
		return s.sign(t)
	}
	var old []string
	for range 3 {
		p := sign()
		if _, err := v.Verify(context.Background(), p, req); err != nil {
			t.Fatal(err)
		}
		old = append(old, p)
	}
	if _, err := v.Verify(context.Background(), sign(), req); !errors.Is(err, ErrFull) {
		t.Fatalf("over capacity: %v, want ErrFull", err)
	}
	clock.Add(time.Minute + time.Second)
	for _, p := range old {
		if _, err := v.Check(p, req); err == nil || errors.Is(err, ErrReplay) {
			t.Fatalf("an expired proof: %v, want iat too old", err)
		}
	}
	clock.Add(v.skew() + guard.ttlSlack())
	if _, err := v.Verify(context.Background(), sign(), req); err != nil {
		t.Fatalf("after the held proofs expired: %v", err)
	}
	// Expired entries in other shards count until a sweep (the background sweeper's job, or
	// the next insert that finds the guard full); after one only the new proof is left.
	guard.sweep(guard.floorSec(clock.Now()))
	if guard.Len() != 1 {
		t.Errorf("guard holds %d keys after a sweep, want 1", guard.Len())
	}
}
