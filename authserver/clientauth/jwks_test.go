package clientauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/outbound"
)

// jwksServer publishes a JWK Set that tests can swap, and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   string
	status int
	hits   atomic.Int32
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = body, status
}

// newURIAuthenticator registers client "remote" with jwks_uri pointing at srv.
func newURIAuthenticator(clk *clock, uri string) *Authenticator {
	a := newTestAuthenticator(clk.Now)
	clients := a.Clients.(fakeClients)
	clients["remote"] = &store.Client{ID: "remote", TokenEndpointAuthMethod: MethodPrivateKeyJWT, JWKSURI: uri}
	return a
}

func TestJWKSURIRotation(t *testing.T) {
	k := keys()
	jwksA := jwksJSON([]jose.JSONWebKey{{Key: &k.rotA.PublicKey, KeyID: "a"}})
	jwksB := jwksJSON([]jose.JSONWebKey{{Key: &k.rotB.PublicKey, KeyID: "b"}})
	srv := newJWKSServer(t, jwksA)
	clk := &clock{t: testNow}
	a := newURIAuthenticator(clk, srv.URL)
	a.Fetcher = NewJWKSFetcher(true)

	// claims are stamped with the moving clock so assertions stay valid as it advances.
	assert := func(key any, kid string) string {
		now := clk.Now()
		return sign(t, jose.ES256, key, kid, claims("remote", func(c map[string]any) {
			c["iat"], c["exp"] = now.Unix(), now.Add(time.Minute).Unix()
		}))
	}
	steps := []struct {
		name     string
		advance  time.Duration
		publish  string // new document, if any
		status   int
		key      any
		kid      string
		wantOK   bool
		wantHits int32
	}{
		{name: "first use fetches", key: k.rotA, kid: "a", wantOK: true, wantHits: 1},
		{name: "cached", advance: time.Second, key: k.rotA, kid: "a", wantOK: true, wantHits: 1},
		{name: "rotated, but refetch is rate-limited", publish: jwksB, key: k.rotB, kid: "b", wantOK: false, wantHits: 1},
		{name: "unknown kid refetches once", advance: jwksMinInterval, key: k.rotB, kid: "b", wantOK: true, wantHits: 2},
		{name: "old key is gone", advance: time.Second, key: k.rotA, kid: "a", wantOK: false, wantHits: 2},
		{name: "made-up kid refetches", advance: jwksMinInterval, key: k.rotB, kid: "zzz", wantOK: false, wantHits: 3},
		{name: "made-up kid again does not", advance: time.Second, key: k.rotB, kid: "zzz", wantOK: false, wantHits: 3},
		{name: "no kid tries the cached keys", advance: time.Second, key: k.rotB, wantOK: true, wantHits: 3},
		{name: "expired cache refetches", advance: jwksTTL, key: k.rotB, kid: "b", wantOK: true, wantHits: 4},
		{name: "server down: last good keys serve", advance: jwksTTL, status: http.StatusInternalServerError, key: k.rotB, kid: "b", wantOK: true, wantHits: 5},
		{name: "server down: failures are rate-limited", advance: time.Second, key: k.rotB, kid: "b", wantOK: true, wantHits: 5},
		{name: "server down too long", advance: jwksMaxStale, key: k.rotB, kid: "b", wantOK: false, wantHits: 6},
		{name: "server back", advance: jwksMinInterval, publish: jwksB, status: http.StatusOK, key: k.rotB, kid: "b", wantOK: true, wantHits: 7},
	}
	body := jwksA
	status := http.StatusOK
	for _, s := range steps {
		clk.Add(s.advance)
		if s.publish != "" {
			body = s.publish
		}
		if s.status != 0 {
			status = s.status
		}
		srv.set(body, status)
		_, err := a.Authenticate(newRequest(assertionForm(assert(s.key, s.kid))), tokenURL, Methods())
		if (err == nil) != s.wantOK {
			t.Fatalf("%s: err = %v (cause %v), want ok=%v", s.name, err, causeOf(err), s.wantOK)
		}
		if got := srv.hits.Load(); got != s.wantHits {
			t.Fatalf("%s: %d fetches, want %d", s.name, got, s.wantHits)
		}
	}
}

func TestJWKSURIFailures(t *testing.T) {
	k := keys()
	good := jwksJSON([]jose.JSONWebKey{{Key: &k.rotA.PublicKey, KeyID: "a"}})
	cases := []struct {
		name   string
		body   string
		status int
	}{
		{"not found", good, http.StatusNotFound},
		{"not JSON", "<html>", http.StatusOK},
		{"too large", `{"keys":[],"pad":"` + strings.Repeat("x", jwksMaxBytes) + `"}`, http.StatusOK},
		{"too many keys", `{"keys":[` + strings.Repeat(`{"kty":"XYZ"},`, maxJWKSKeys) + `{"kty":"XYZ"}]}`, http.StatusOK},
		{"no usable key", `{"keys":[{"kty":"oct","kid":"a","k":"AAAA"}]}`, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newJWKSServer(t, c.body)
			srv.set(c.body, c.status)
			clk := &clock{t: testNow}
			a := newURIAuthenticator(clk, srv.URL)
			a.Fetcher = NewJWKSFetcher(true)
			assertion := sign(t, jose.ES256, k.rotA, "a", claims("remote", nil))
			authCase{name: c.name, form: assertionForm(assertion), wantCode: badClient, wantStatus: 401, wantDesc: descFailed}.run(t, a)
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		srv := newJWKSServer(t, good)
		uri := srv.URL
		srv.Close()
		a := newURIAuthenticator(&clock{t: testNow}, uri)
		assertion := sign(t, jose.ES256, k.rotA, "a", claims("remote", nil))
		authCase{name: "closed", form: assertionForm(assertion), wantCode: badClient, wantStatus: 401}.run(t, a)
	})
}

// TestJWKSURIConcurrent checks that a burst of requests fetches the document once.
func TestJWKSURIConcurrent(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwksJSON([]jose.JSONWebKey{{Key: &k.rotA.PublicKey, KeyID: "a"}}))
	a := newURIAuthenticator(&clock{t: testNow}, srv.URL)
	a.Fetcher = NewJWKSFetcher(true)
	assertions := make([]string, 8)
	for i := range assertions {
		assertions[i] = sign(t, jose.ES256, k.rotA, "a", claims("remote", nil))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(assertions))
	for _, as := range assertions {
		wg.Go(func() {
			if _, err := a.Authenticate(newRequest(assertionForm(as)), tokenURL, Methods()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent request failed: %v (cause %v)", err, causeOf(err))
	}
	if got := srv.hits.Load(); got != 1 {
		t.Errorf("%d fetches for one burst, want 1", got)
	}
}

func causeOf(err error) error {
	if e, ok := err.(interface{ Unwrap() error }); ok {
		return e.Unwrap()
	}
	return nil
}

// TestJWKSURIOutboundGuard: a jwks_uri is chosen by the client, so it must not reach our own
// network unless the operator allowed it (the httptest servers here are loopback).
func TestJWKSURIOutboundGuard(t *testing.T) {
	k := keys()
	good := jwksJSON([]jose.JSONWebKey{{Key: &k.rotA.PublicKey, KeyID: "a"}})
	srv := newJWKSServer(t, good)
	elsewhere := newJWKSServer(t, good)
	redirecting := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusFound))
	t.Cleanup(redirecting.Close)
	cases := []struct {
		name    string
		uri     string
		fetcher *outbound.Fetcher
		wantOK  bool
	}{
		{"default refuses loopback", srv.URL, nil, false},
		{"strict fetcher refuses loopback", srv.URL, NewJWKSFetcher(false), false},
		{"strict fetcher refuses a name resolving to loopback", strings.Replace(srv.URL, "http://127.0.0.1", "https://localhost", 1), NewJWKSFetcher(false), false},
		{"strict fetcher refuses the metadata service", "https://169.254.169.254/jwks", NewJWKSFetcher(false), false},
		{"allowed private", srv.URL, NewJWKSFetcher(true), true},
		{"redirect to another host", redirecting.URL, NewJWKSFetcher(true), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := srv.hits.Load() + elsewhere.hits.Load()
			a := newURIAuthenticator(&clock{t: testNow}, c.uri)
			a.Fetcher = c.fetcher
			assertion := sign(t, jose.ES256, k.rotA, "a", claims("remote", nil))
			_, err := a.Authenticate(newRequest(assertionForm(assertion)), tokenURL, Methods())
			if (err == nil) != c.wantOK {
				t.Fatalf("err = %v (cause %v), want ok=%v", err, causeOf(err), c.wantOK)
			}
			hits := srv.hits.Load() + elsewhere.hits.Load() - before
			if !c.wantOK && hits != 0 {
				t.Errorf("a refused jwks_uri was fetched %d times", hits)
			}
			if !c.wantOK {
				authCase{name: c.name, form: assertionForm(sign(t, jose.ES256, k.rotA, "a", claims("remote", nil))), wantCode: badClient, wantStatus: 401, wantDesc: descFailed}.run(t, a)
			}
		})
	}
}
