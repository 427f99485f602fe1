package remote

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// Keys are generated once: RSA generation is slow.
var (
	rsaPriv   = mustRSA(2048)
	rsaSmall  = mustRSA(1024)
	p256Priv  = mustEC(elliptic.P256())
	p384Priv  = mustEC(elliptic.P384())
	p521Priv  = mustEC(elliptic.P521())
	edPub, _  = mustEd()
	rsaPriv2  = mustRSA(2048)
	jwkRSA    = jose.JSONWebKey{Key: &rsaPriv.PublicKey, KeyID: "rsa", Use: "sig"}
	jwkRSA2   = jose.JSONWebKey{Key: &rsaPriv2.PublicKey, KeyID: "rsa2", Algorithm: "RS256"}
	jwkP256   = jose.JSONWebKey{Key: &p256Priv.PublicKey, KeyID: "p256"}
	jwkP384   = jose.JSONWebKey{Key: &p384Priv.PublicKey, KeyID: "p384"}
	jwkP521   = jose.JSONWebKey{Key: &p521Priv.PublicKey, KeyID: "p521"}
	jwkEd     = jose.JSONWebKey{Key: edPub, KeyID: "ed"}
	goodKeys  = []jose.JSONWebKey{jwkRSA, jwkRSA2, jwkP256, jwkP384, jwkP521, jwkEd}
	errServer = errors.New("server down")
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEd() (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return pub, priv
}

func jwksBody(t testing.TB, keys ...jose.JSONWebKey) string {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jwksServer serves a replaceable JWK Set and counts fetches.
type jwksServer struct {
	*httptest.Server
	body         atomic.Pointer[string]
	fail         atomic.Bool
	delay        atomic.Int64
	cacheControl string
	fetches      atomic.Int32
}

func newJWKSServer(t testing.TB, body string) *jwksServer {
	s := &jwksServer{}
	s.body.Store(&body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		select { // a hanging server, which lets go when the client gives up
		case <-time.After(time.Duration(s.delay.Load())):
		case <-r.Context().Done():
			return
		}
		if s.fail.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		if s.cacheControl != "" {
			w.Header().Set("Cache-Control", s.cacheControl)
		}
		_, _ = w.Write([]byte(*s.body.Load()))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body string) { s.body.Store(&body) }

func newTestCache(t testing.TB, s *jwksServer, clock *fakeClock) *JWKSCache {
	c, err := NewJWKSCache(s.Client(), s.URL+"/jwks", JWKSOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestJWKSKeyTypeMatchesAlg(t *testing.T) {
	s := newJWKSServer(t, jwksBody(t, goodKeys...))
	c := newTestCache(t, s, newClock())
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kid, alg string
		ok       bool
	}{
		{"rsa", "RS256", true}, {"rsa", "RS512", true}, {"rsa", "PS384", true},
		{"rsa", "ES256", false}, {"rsa", "EdDSA", false}, {"rsa", "HS256", false}, {"rsa", "none", false},
		{"rsa2", "RS256", true}, {"rsa2", "PS256", false}, // the key names its alg
		{"p256", "ES256", true}, {"p256", "ES384", false}, {"p256", "RS256", false},
		{"p384", "ES384", true}, {"p384", "ES256", false},
		{"p521", "ES512", true}, {"p521", "ES384", false},
		{"ed", "EdDSA", true}, {"ed", "Ed25519", true}, {"ed", "ES256", false},
		{"", "ES256", true},  // no kid: the only P-256 key
		{"", "RS256", false}, // no kid: two RSA keys fit, ambiguous
	}
	for _, tt := range tests {
		k, err := c.Key(context.Background(), tt.kid, tt.alg)
		if tt.ok != (err == nil) || tt.ok != (k != nil) {
			t.Errorf("Key(%q, %q) = %v, %v; want ok=%v", tt.kid, tt.alg, k, err, tt.ok)
		}
		if !tt.ok && !errors.Is(err, rsvalidate.ErrUnknownKey) {
			t.Errorf("Key(%q, %q) error = %v, want ErrUnknownKey", tt.kid, tt.alg, err)
		}
		if tt.ok && !k.IsPublic() {
			t.Errorf("Key(%q, %q) returned a non-public key", tt.kid, tt.alg)
		}
	}
	if n := s.fetches.Load(); n != 1 {
		t.Errorf("fetches = %d, want 1 (known kids never refetch, unknown ones are rate-limited)", n)
	}
}

func TestJWKSSkipsUnusableKeys(t *testing.T) {
	sym := jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "oct", Algorithm: "HS256"}
	body := jwksBody(t,
		jose.JSONWebKey{Key: rsaPriv, KeyID: "private-rsa"},
		jose.JSONWebKey{Key: p256Priv, KeyID: "private-ec"},
		jose.JSONWebKey{Key: &rsaSmall.PublicKey, KeyID: "rsa-1024"},
		jose.JSONWebKey{Key: &rsaPriv.PublicKey, KeyID: "enc", Use: "enc"},
		sym,
		jwkP256,
	)
	// Keys go-jose cannot parse must not spoil the rest of the set.
	body = strings.Replace(body, `"keys":[`, `"keys":[{"kty":"AKP","kid":"pq","alg":"ML-DSA-44","pub":"AAAA"},{"kty":"EC","kid":"bad-point","crv":"P-256","x":"AQ","y":"AQ"},`, 1)
	s := newJWKSServer(t, body)
	c := newTestCache(t, s, newClock())
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ kid, alg string }{
		{"private-rsa", "RS256"}, {"private-ec", "ES256"}, {"rsa-1024", "RS256"}, {"enc", "RS256"},
		{"oct", "HS256"}, {"oct", "RS256"}, {"pq", "ML-DSA-44"}, {"bad-point", "ES256"},
	} {
		if k, err := c.Key(context.Background(), tt.kid, tt.alg); !errors.Is(err, rsvalidate.ErrUnknownKey) {
			t.Errorf("Key(%q, %q) = %v, %v; want ErrUnknownKey", tt.kid, tt.alg, k, err)
		}
	}
	if _, err := c.Key(context.Background(), "p256", "ES256"); err != nil {
		t.Errorf("the good key was lost: %v", err)
	}
}

func TestJWKSNoUsableKeyIsAFailedFetch(t *testing.T) {
	s := newJWKSServer(t, jwksBody(t, jwkP256))
	c := newTestCache(t, s, newClock())
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.set(jwksBody(t, jose.JSONWebKey{Key: rsaPriv, KeyID: "private-rsa"}))
	if err := c.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "no usable") {
		t.Fatalf("Refresh = %v, want no usable key", err)
	}
	if _, err := c.Key(context.Background(), "p256", "ES256"); err != nil {
		t.Errorf("last good key not served: %v", err)
	}
}

func TestJWKSRotationRefetchesRateLimited(t *testing.T) {
	clock := newClock()
	s := newJWKSServer(t, jwksBody(t, jwkP256))
	c := newTestCache(t, s, clock)
	ctx := context.Background()
	if _, err := c.Key(ctx, "p256", "ES256"); err != nil { // first lookup fetches lazily
		t.Fatal(err)
	}
	rotated := jwkP384
	s.set(jwksBody(t, rotated))

	// Within the refetch interval an unknown kid is answered from the set we have.
	clock.Advance(5 * time.Second)
	if _, err := c.Key(ctx, "p384", "ES384"); !errors.Is(err, rsvalidate.ErrUnknownKey) {
		t.Fatalf("within the interval: %v, want ErrUnknownKey", err)
	}
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	clock.Advance(6 * time.Second)
	if _, err := c.Key(ctx, "p384", "ES384"); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if _, err := c.Key(ctx, "p256", "ES256"); !errors.Is(err, rsvalidate.ErrUnknownKey) {
		t.Errorf("retired key: %v, want ErrUnknownKey", err)
	}
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}
}

func TestJWKSConcurrentUnknownKidsShareOneFetch(t *testing.T) {
	// With a slow server the lookups join one fetch in flight; with a fast one they arrive
	// after it and the rate limit must stop them.
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			clock := newClock()
			s := newJWKSServer(t, jwksBody(t, jwkP256))
			c := newTestCache(t, s, clock)
			if err := c.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
			s.delay.Store(int64(delay))
			var wg sync.WaitGroup
			for i := range 100 {
				wg.Go(func() {
					if _, err := c.Key(context.Background(), "unknown-"+string(rune('a'+i%26)), "ES256"); !errors.Is(err, rsvalidate.ErrUnknownKey) {
						t.Errorf("Key = %v, want ErrUnknownKey", err)
					}
				})
			}
			wg.Wait()
			if n := s.fetches.Load(); n != 2 {
				t.Errorf("fetches = %d, want 2 (the warm-up and one refetch for 100 lookups)", n)
			}
		})
	}
}

func TestJWKSKeepsLastGoodKeysWhileDown(t *testing.T) {
	clock := newClock()
	s := newJWKSServer(t, jwksBody(t, jwkP256))
	c := newTestCache(t, s, clock)
	ctx := context.Background()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	s.fail.Store(true)
	clock.Advance(time.Hour)
	if err := c.Refresh(ctx); err == nil {
		t.Fatal("Refresh succeeded against a failing server")
	}
	if _, err := c.Key(ctx, "p256", "ES256"); err != nil {
		t.Errorf("last good key: %v", err)
	}
	clock.Advance(time.Minute)
	if _, err := c.Key(ctx, "other", "ES256"); !errors.Is(err, rsvalidate.ErrUnknownKey) || errors.Is(err, rsvalidate.ErrUnavailable) {
		t.Errorf("unknown kid while down: %v, want ErrUnknownKey only", err)
	}
	s.Close() // connection refused from now on
	clock.Advance(time.Minute)
	if _, err := c.Key(ctx, "p256", "ES256"); err != nil {
		t.Errorf("last good key with the server gone: %v", err)
	}
}

func TestJWKSNeverGoodIsUnavailable(t *testing.T) {
	for name, setup := range map[string]func(s *jwksServer){
		"5xx":           func(s *jwksServer) { s.fail.Store(true) },
		"not JSON":      func(s *jwksServer) { s.set("<html>") },
		"no keys":       func(s *jwksServer) { s.set(`{"keys":[]}`) },
		"oversized":     func(s *jwksServer) { s.set(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`) },
		"server closed": func(s *jwksServer) { s.Close() },
	} {
		t.Run(name, func(t *testing.T) {
			clock := newClock()
			s := newJWKSServer(t, jwksBody(t, jwkP256))
			setup(s)
			c := newTestCache(t, s, clock)
			_, err := c.Key(context.Background(), "p256", "ES256")
			if !errors.Is(err, rsvalidate.ErrUnavailable) {
				t.Fatalf("Key = %v, want ErrUnavailable", err)
			}
			// Rate-limited retry: still unavailable, with the cause, and no new request.
			before := s.fetches.Load()
			if _, err := c.Key(context.Background(), "p256", "ES256"); !errors.Is(err, rsvalidate.ErrUnavailable) || err.Error() == rsvalidate.ErrUnavailable.Error() {
				t.Errorf("second Key = %v, want ErrUnavailable with its cause", err)
			}
			if s.fetches.Load() != before {
				t.Error("refetch within the interval")
			}
		})
	}
}

func TestJWKSStartAndClose(t *testing.T) {
	s := newJWKSServer(t, jwksBody(t, jwkP256))
	s.cacheControl = "max-age=60"
	c := newTestCache(t, s, newClock())
	c.Start(context.Background())
	c.Start(context.Background()) // second Start is a no-op
	deadline := time.Now().Add(5 * time.Second)
	for c.set.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if c.set.Load() == nil {
		t.Fatal("Start did not fetch the keys")
	}
	if got := time.Duration(c.nextRefresh.Load()); got != time.Minute {
		t.Errorf("next refresh in %v, want 1m from max-age", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if _, err := c.Key(context.Background(), "p256", "ES256"); err != nil {
		t.Errorf("Key after Close: %v", err)
	}

	idle := newTestCache(t, s, newClock())
	done := make(chan struct{})
	go func() { _ = idle.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Close of a never-started cache blocked")
	}
}

func TestRefreshInterval(t *testing.T) {
	tests := map[string]time.Duration{
		"":                             5 * time.Minute,
		"max-age=600":                  10 * time.Minute,
		"public, max-age=120":          2 * time.Minute,
		"MAX-AGE=180, must-revalidate": 3 * time.Minute,
		`max-age="240"`:                4 * time.Minute,
		"max-age=5":                    time.Minute,
		"max-age=0":                    time.Minute,
		"max-age=86400":                time.Hour,
		"max-age=99999999999999999999": 5 * time.Minute, // overflows: ignored
		"max-age=-3":                   5 * time.Minute,
		"max-age=abc":                  5 * time.Minute,
		"no-store":                     time.Minute,
		"no-cache, max-age=600":        time.Minute,
		"s-maxage=600":                 5 * time.Minute,
	}
	for cc, want := range tests {
		if got := refreshInterval(cc); got != want {
			t.Errorf("refreshInterval(%q) = %v, want %v", cc, got, want)
		}
	}
}

func TestNewJWKSCacheRejectsBadURI(t *testing.T) {
	for _, uri := range []string{"", "jwks.json", "file:///etc/jwks", "https://user:pw@as.example/jwks"} {
		if _, err := NewJWKSCache(nil, uri, JWKSOptions{}); err == nil {
			t.Errorf("NewJWKSCache(%q) succeeded", uri)
		}
	}
}
