package caddymodule

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"github.com/go-jose/go-jose/v4"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/dpop"
	"github.com/caddy-oauth/caddy-oauth/internal/benchcpu"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

const (
	unitIssuer   = "https://auth.example"
	unitResource = "https://api.example/v1"
)

// fakeIssuer is an in-process issuer that knows a fixed set of tokens.
type fakeIssuer map[string]*rsvalidate.TokenInfo

func (f fakeIssuer) Issuer() string { return unitIssuer }
func (f fakeIssuer) ActiveAccessToken(_ context.Context, token string) (*rsvalidate.TokenInfo, error) {
	return f[token], nil
}
func (f fakeIssuer) ResourcePolicy(context.Context, string) (*rsvalidate.ResourcePolicy, error) {
	return &rsvalidate.ResourcePolicy{}, nil
}

func unitToken(scope string, claims map[string]any) *rsvalidate.TokenInfo {
	now := time.Now()
	return &rsvalidate.TokenInfo{
		Issuer: unitIssuer, Subject: "alice", ClientID: "app", Scope: scope,
		Audience: []string{unitResource}, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		JTI: "jti-1", Claims: claims,
	}
}

// unitReplayCapacity is the replay guard capacity of newUnitHandler's validators; the
// benchmark raises it to fit its proofs.
var unitReplayCapacity = 1000

// newUnitHandler provisions h by hand (no Caddy) with the fake issuer as its validator.
func newUnitHandler(t testing.TB, h *ResourceHandler, tokens fakeIssuer) *ResourceHandler {
	t.Helper()
	h.Resource, h.Issuer = unitResource, unitIssuer
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	h.logger = zap.NewNop()
	for name, tmpl := range h.HeaderUp {
		h.headers = append(h.headers, upHeader{name, tmpl})
	}
	if h.Hosts == nil && h.ExternalURL == "" {
		h.Hosts = []string{"api.example", "gw.example"} // the hosts the unit tests call
	}
	if err := h.provisionOrigins(); err != nil {
		t.Fatal(err)
	}
	h.metaPath, h.base.ResourceMetadataURL = resourceMetadataLocation(h.Resource)
	guard := dpop.NewMemoryGuard(unitReplayCapacity, 0)
	t.Cleanup(guard.Close)
	v, err := rsvalidate.New(rsvalidate.Config{
		Resource: h.Resource, Issuer: h.Issuer, Local: tokens, AllowQueryToken: h.TokenInQuery,
		DPoP: &dpop.Verifier{Replay: guard}, ResourceMetadataURL: h.base.ResourceMetadataURL, Origin: h.requestOrigin,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	slot := &issuerSlot{cfg: h.primaryIssuer()}
	slot.validator.Store(v)
	h.slots = []*issuerSlot{slot}
	return h
}

// serve runs one request through h and returns the response and the request the next
// handler saw (nil when it was not called).
func serve(t testing.TB, h *ResourceHandler, r *http.Request) (*httptest.ResponseRecorder, *http.Request) {
	t.Helper()
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	var seen *http.Request
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen = r
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w, seen
}

func TestResourceServeHTTP(t *testing.T) {
	tokens := fakeIssuer{
		"reader": unitToken("read", map[string]any{"tier": "gold", "roles": []any{"a", "b"}, "level": float64(3)}),
		"admin":  unitToken("read admin", nil),
		"silver": unitToken("read", map[string]any{"tier": "silver"}),
	}
	adminRule := ResourceRule{Scopes: []string{"admin"}, matchers: caddyhttp.MatcherSets{{caddyhttp.MatchPath{"/admin/*"}}}}
	newHandler := func(keep bool) *ResourceHandler {
		return newUnitHandler(t, &ResourceHandler{
			Scopes:          []string{"read"},
			KeepCredentials: keep,
			Rules:           []ResourceRule{adminRule},
			HeaderUp: map[string]string{
				"X-User": "{oauth.sub}", "X-Client": "{oauth.client_id}", "X-Scope": "{oauth.scope}",
				"X-Tier": "{oauth.claim.tier}", "X-Roles": "{oauth.claim.roles}", "X-Level": "{oauth.claim.level}",
				"X-Auth-User": "{http.auth.user.id}", "X-Missing": "{oauth.claim.nope}",
			},
		}, tokens)
	}
	strip, keep := newHandler(false), newHandler(true)

	tests := []struct {
		name       string
		h          *ResourceHandler
		path       string
		token      string
		extra      http.Header
		wantStatus int
		wantChall  string            // substring of WWW-Authenticate
		wantUp     map[string]string // headers the next handler must see ("" = absent)
	}{
		{name: "no token", h: strip, path: "/x", wantStatus: 401,
			wantChall: `Bearer resource_metadata="https://api.example/.well-known/oauth-protected-resource/v1"`},
		{name: "unknown token", h: strip, path: "/x", token: "nope", wantStatus: 401, wantChall: `error="invalid_token"`},
		{name: "valid", h: strip, path: "/x", token: "reader", wantStatus: 204,
			extra: http.Header{"X-User": {"mallory"}, "X-Missing": {"forged"}, "Dpop": {"x"}},
			wantUp: map[string]string{
				"X-User": "alice", "X-Client": "app", "X-Scope": "read", "X-Tier": "gold", "X-Roles": "a,b",
				"X-Level": "3", "X-Auth-User": "alice", "X-Missing": "", "Authorization": "", "Dpop": "",
			}},
		{name: "keep credentials", h: keep, path: "/x", token: "reader", wantStatus: 204,
			wantUp: map[string]string{"Authorization": "Bearer reader", "X-User": "alice"}},
		{name: "rule needs admin", h: strip, path: "/admin/users", token: "reader", wantStatus: 403,
			wantChall: `error="insufficient_scope", error_description="insufficient scope", scope="admin"`},
		{name: "rule satisfied", h: strip, path: "/admin/users", token: "admin", wantStatus: 204,
			wantUp: map[string]string{"X-User": "alice", "X-Scope": "read admin", "X-Tier": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://api.example"+tt.path, nil)
			for k, v := range tt.extra {
				r.Header[k] = v
			}
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w, up := serve(t, tt.h, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if chall := strings.Join(w.Header().Values("WWW-Authenticate"), "\n"); !strings.Contains(chall, tt.wantChall) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", chall, tt.wantChall)
			}
			if (up != nil) != (tt.wantStatus == 204) {
				t.Fatalf("next handler called = %v", up != nil)
			}
			for name, want := range tt.wantUp {
				if got := strings.Join(up.Header.Values(name), ","); got != want {
					t.Errorf("upstream %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestResourceStripsQueryToken(t *testing.T) {
	h := newUnitHandler(t, &ResourceHandler{TokenInQuery: true}, fakeIssuer{"reader": unitToken("read", nil)})
	w, up := serve(t, h, httptest.NewRequest(http.MethodGet, "https://api.example/x?a=1&access_token=reader&b=2", nil))
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if up.URL.RawQuery != "a=1&b=2" {
		t.Errorf("upstream query = %q, want the token removed", up.URL.RawQuery)
	}
}

func TestResourceClaimPolicy(t *testing.T) {
	h := newUnitHandler(t, &ResourceHandler{Claims: map[string][]string{"tier": {"gold", "platinum"}}}, fakeIssuer{
		"gold":   unitToken("", map[string]any{"tier": "gold"}),
		"silver": unitToken("", map[string]any{"tier": "silver"}),
		"none":   unitToken("", nil),
	})
	for token, want := range map[string]int{"gold": 204, "silver": 403, "none": 403} {
		r := httptest.NewRequest(http.MethodGet, "https://api.example/x", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		if w, _ := serve(t, h, r); w.Code != want {
			t.Errorf("tier %s: status %d, want %d", token, w.Code, want)
		}
	}
}

func TestResourceMetadataLocation(t *testing.T) {
	tests := []struct{ resource, path, url string }{
		{"https://api.example", "/.well-known/oauth-protected-resource", "https://api.example/.well-known/oauth-protected-resource"},
		{"https://api.example/", "/.well-known/oauth-protected-resource", "https://api.example/.well-known/oauth-protected-resource"},
		{"https://api.example:8443/v1/items", "/.well-known/oauth-protected-resource/v1/items", "https://api.example:8443/.well-known/oauth-protected-resource/v1/items"},
		{"https://api.example/v1/", "/.well-known/oauth-protected-resource/v1/", "https://api.example/.well-known/oauth-protected-resource/v1/"},
		{"urn:example:api", "/.well-known/oauth-protected-resource", ""},
	}
	for _, tt := range tests {
		path, u := resourceMetadataLocation(tt.resource)
		if path != tt.path || u != tt.url {
			t.Errorf("%s: got %q %q, want %q %q", tt.resource, path, u, tt.path, tt.url)
		}
	}
}

func TestResourceServesMetadata(t *testing.T) {
	h := newUnitHandler(t, &ResourceHandler{}, fakeIssuer{})
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/.well-known/oauth-protected-resource/v1", 200},
		{http.MethodHead, "/.well-known/oauth-protected-resource/v1", 200},
		{http.MethodPost, "/.well-known/oauth-protected-resource/v1", 401}, // not the document: protected
		{http.MethodGet, "/.well-known/oauth-protected-resource", 401},     // another resource's location
	} {
		w, _ := serve(t, h, httptest.NewRequest(tt.method, "https://api.example"+tt.path, nil))
		if w.Code != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, w.Code, tt.want)
		}
		if tt.want == 200 && tt.method == http.MethodGet && !strings.Contains(w.Body.String(), `"resource":"`+unitResource+`"`) {
			t.Errorf("metadata = %s", w.Body)
		}
	}
}

// TestResourceRequestOrigin: the origin a DPoP proof must name is external_url, or the
// request's scheme and Host when that Host is one of hosts; otherwise there is none.
func TestResourceRequestOrigin(t *testing.T) {
	site := []string{"api.example:8080", "*.gw.example", "127.0.0.1:9080", "[::1]:8443", "plain.example"}
	tests := []struct {
		name, host   string
		hosts        []string // default: site
		configured   string
		tls, trusted bool
		forwarded    string
		want         string // "" → no origin
	}{
		{name: "plain", host: "api.example:8080", want: "http://api.example:8080"},
		{name: "tls", host: "api.example:8080", tls: true, want: "https://api.example:8080"},
		{name: "host case", host: "API.Example:8080", want: "http://api.example:8080"},
		{name: "untrusted forwarded proto ignored", host: "api.example:8080", forwarded: "https", want: "http://api.example:8080"},
		{name: "trusted forwarded proto", host: "api.example:8080", trusted: true, forwarded: "https, http", want: "https://api.example:8080"},
		{name: "trusted garbage proto", host: "api.example:8080", trusted: true, forwarded: "gopher", want: "http://api.example:8080"},
		{name: "configured wins", host: "evil.example", configured: "https://public.example", trusted: true, forwarded: "http", want: "https://public.example"},
		{name: "another host", host: "evil.example:8080"},
		{name: "another port", host: "api.example:9090"},
		{name: "port omitted: the default is not the site's", host: "api.example"},
		{name: "no port in hosts: default port", host: "plain.example", tls: true, want: "https://plain.example"},
		{name: "no port in hosts: default port written out", host: "plain.example:443", tls: true, want: "https://plain.example"},
		{name: "no port in hosts: other port", host: "plain.example:8443", tls: true},
		{name: "no port in hosts, plain http", host: "plain.example", want: "http://plain.example"},
		{name: "wildcard: one label", host: "a.gw.example", tls: true, want: "https://a.gw.example"},
		{name: "wildcard: not two labels", host: "a.b.gw.example", tls: true},
		{name: "wildcard: not zero labels", host: "gw.example", tls: true},
		{name: "wildcard: not an odd label", host: "a%2F.gw.example", tls: true},
		{name: "ip", host: "127.0.0.1:9080", want: "http://127.0.0.1:9080"},
		{name: "ipv6", host: "[::1]:8443", tls: true, want: "https://[::1]:8443"},
		{name: "ipv6 other port", host: "[::1]:8444", tls: true},
		{name: "garbage host", host: "api.example:8080:1"},
		{name: "empty host", host: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &ResourceHandler{ExternalURL: tt.configured, Hosts: tt.hosts}
			if h.Hosts == nil && h.ExternalURL == "" {
				h.Hosts = site
			}
			if err := h.provisionOrigins(); err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, "http://placeholder/x", nil)
			r.Host = tt.host
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.forwarded != "" {
				r.Header.Set("X-Forwarded-Proto", tt.forwarded)
			}
			r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, nil)
			caddyhttp.SetVar(r.Context(), caddyhttp.TrustedProxyVarKey, tt.trusted)
			got, ok := h.requestOrigin(r)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("requestOrigin = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestClaimString(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, ""}, {"x", "x"}, {true, "true"}, {float64(3), "3"}, {1.5, "1.5"}, {float64(1e21), "1000000000000000000000"},
		{[]any{"a", float64(2)}, "a,2"}, {[]string{"a", "b"}, "a,b"},
		{map[string]any{"k": "v"}, `{"k":"v"}`},
	}
	for _, tt := range tests {
		if got := claimString(tt.in); got != tt.want {
			t.Errorf("claimString(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// BenchmarkResourceServeHTTP measures the glue around validation (placeholders, headers,
// credential stripping) with an in-process issuer whose lookup is a map read. "dpop" adds a
// fresh ES256 proof per request (signed before the timer starts) for a DPoP-bound token:
// the gateway's DPoP path whole, to set beside dpop's BenchmarkES256SignatureOnly.
func BenchmarkResourceServeHTTP(b *testing.B) {
	unitReplayCapacity = 1 << 22
	defer func() { unitReplayCapacity = 1000 }()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(jose.JSONWebKey{Key: &priv.PublicKey})
	if err != nil {
		b.Fatal(err)
	}
	bound := unitToken("read", nil)
	bound.JKT = jkt
	h := newUnitHandler(b, &ResourceHandler{
		Scopes:   []string{"read"},
		HeaderUp: map[string]string{"X-User": "{oauth.sub}"},
	}, fakeIssuer{"reader": unitToken("read", nil), "bound": bound})
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "https://api.example/x", nil)
	// Caddy prepares every request anyway; "setup" measures that alone, for subtraction.
	for _, run := range []struct {
		name  string
		serve bool
		dpop  bool
	}{{"setup", false, false}, {"oauth_resource", true, false}, {"dpop", true, true}} {
		b.Run(run.name, func(b *testing.B) {
			var proofs []string
			if run.dpop {
				proofs = make([]string, b.N)
				for i := range proofs {
					proofs[i] = signUnitProof(b, priv, "GET", "https://api.example/x", "bound")
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			stop := benchcpu.Start(b)
			for i := range b.N {
				req := caddyhttp.PrepareRequest(r.Clone(r.Context()), caddy.NewReplacer(), w, nil)
				if run.dpop {
					req.Header.Set("Authorization", "DPoP bound")
					req.Header.Set("DPoP", proofs[i])
				} else {
					req.Header.Set("Authorization", "Bearer reader")
				}
				if run.serve {
					if err := h.ServeHTTP(w, req, next); err != nil {
						b.Fatal(err)
					}
					if w.Code != http.StatusOK {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			}
			stop()
		})
	}
}

// signUnitProof signs a DPoP proof with priv for method and htu, bound to token.
func signUnitProof(t testing.TB, priv *ecdsa.PrivateKey, method, htu, token string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: &priv.PublicKey})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"jti": rand.Text(), "htm": method, "htu": htu, "iat": time.Now().Unix(), "ath": dpop.AccessTokenHash(token)})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestResourceDPoPAfterRewrite: under handle_path (or any rewrite) the proof's htu still names
// the URL the client called, so validation must use the original request's URL.
func TestResourceDPoPAfterRewrite(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(jose.JSONWebKey{Key: &priv.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	bound := unitToken("read", nil)
	bound.JKT = jkt
	h := newUnitHandler(t, &ResourceHandler{}, fakeIssuer{"bound": bound})

	proof := func(htu string) string {
		opts := (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: &priv.PublicKey})
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, opts)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(map[string]any{"jti": rand.Text(), "htm": "GET", "htu": htu, "iat": time.Now().Unix(), "ath": dpop.AccessTokenHash("bound")})
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s
	}
	for _, c := range []struct {
		htu  string
		want int
	}{
		{"http://gw.example/api/items", http.StatusNoContent}, // what the client called
		{"http://gw.example/items", http.StatusUnauthorized},  // the rewritten path is not it
	} {
		r := httptest.NewRequest(http.MethodGet, "http://gw.example/api/items", nil)
		r.Header.Set("Authorization", "DPoP bound")
		r.Header.Set("DPoP", proof(c.htu))
		w := httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		r.URL.Path = "/items" // what handle_path /api/* leaves
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		})
		if err := h.ServeHTTP(w, r, next); err != nil {
			t.Fatal(err)
		}
		if w.Code != c.want {
			t.Errorf("htu %s: %d %s, want %d", c.htu, w.Code, w.Body.String(), c.want)
		}
	}
}
