package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
	"github.com/caddy-oauth/caddy-oauth/dpop"
)

const (
	testIssuer   = "http://127.0.0.1:9999"
	svcSecret    = "kR7vQ2mXn9pL4sT8wY1zB6cF3hJ5dG0aE2uI7oP9qWx"
	otherSecret  = "Zq8Wm3Nv6Bx1Lk4Jh7Gf0Ds2Ap5Oi9Uy3Tr6Ee8Ww1Q"
	gwSecret     = "Gw4Ay7Tq1Mz9Xc2Vb5Nl8Kj3Hf6Dg0Sa4Pe7Ro1Ui9Y"
	weakSecret   = "hunter2hunter2"
	jwtResource  = "https://api.example.test"
	rsResource   = "https://rs.example.test"
	opqResource  = "https://opaque.example.test"
	offResource  = "https://off.example.test"
	loneResource = "https://lone.example.test"
)

type testServer struct {
	t   testing.TB
	srv *Server
	now atomic.Int64 // unix seconds
}

func newTestServer(t testing.TB) *testServer {
	return newTestServerWith(t, nil)
}

// newTestServerWith builds the standard test server; edit, when set, changes its config first.
func newTestServerWith(t testing.TB, edit func(*Config)) *testServer {
	t.Helper()
	return newTestServerOpts(t, serverOptions{edit: edit})
}

// serverOptions vary the test server: its configuration, a wrapper around its store (fault
// injection), and the database (default: a new SQLite file). Servers given the same driver
// and DSN share one database, like instances of one deployment.
type serverOptions struct {
	edit        func(*Config)
	wrap        func(store.Store) store.Store
	driver, dsn string
	// dpopReplay replaces the Server's own DPoP replay guard.
	dpopReplay dpop.ReplayGuard
	// observer and logger, when set, hear the server's metrics events and logs.
	observer Observer
	logger   *zap.Logger
}

func newTestServerOpts(t testing.TB, o serverOptions) *testServer {
	t.Helper()
	ctx := context.Background()
	if o.driver == "" {
		o.driver, o.dsn = "sqlite", filepath.Join(t.TempDir(), "oauth.db")
	}
	st, err := sqlstore.Open(ctx, o.driver, o.dsn)
	if err != nil {
		t.Fatal(err)
	}
	edit, wrap := o.edit, o.wrap
	t.Cleanup(func() { st.Close() })
	seal, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t}
	ts.now.Store(time.Now().Unix())
	yes := true
	fiveMin := 5 * time.Minute
	cfg := Config{
		Issuer: testIssuer,
		Resources: []ResourceConfig{
			{Identifier: jwtResource, Name: "API", AllowedScopes: []string{"read", "write"},
				CustomClaims: map[string]any{"tenant": "acme", "iss": "https://evil.example"}, AccessTokenTTL: &fiveMin},
			{Identifier: rsResource, SigningAlg: "RS256"},
			{Identifier: opqResource, AccessTokenFormat: "opaque", AllowedScopes: []string{"read"}, CustomClaims: map[string]any{"tier": "gold"}},
			{Identifier: offResource, Disabled: &yes},
			{Identifier: loneResource},
		},
		Clients: []ClientConfig{
			{ID: "svc", Secret: svcSecret, Scopes: []string{"read", "write", "admin"},
				Resources: []string{jwtResource, rsResource, opqResource, offResource}},
			{ID: "poster", Secret: otherSecret, TokenEndpointAuthMethod: "client_secret_post", Resources: []string{jwtResource}},
			{ID: "weak", Secret: weakSecret, Resources: []string{jwtResource}},
			// The server of the opaque and JWT resources: it introspects their tokens.
			{ID: "gateway", Secret: gwSecret, Introspects: []string{opqResource, jwtResource}, GrantTypes: []string{"refresh_token"}},
			{ID: "public", GrantTypes: []string{"authorization_code"}},
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	var served store.Store = st
	if wrap != nil {
		served = wrap(st)
	}
	srv, err := New(ctx, cfg, Deps{Store: served, Sealer: seal, DPoPReplay: o.dpopReplay, Observer: o.observer, Logger: o.logger,
		Now: func() time.Time { return time.Unix(ts.now.Load(), 0) },
		// Sign-ins slowed by the login limiter move the clock instead of sleeping.
		Sleep: func(d time.Duration) { ts.now.Add(int64((d + time.Second - 1) / time.Second)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts.srv = srv
	return ts
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (ts *testServer) do(method, path string, form url.Values, auth [2]string) response {
	ts.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, testIssuer+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth[0] != "" {
		req.SetBasicAuth(url.QueryEscape(auth[0]), url.QueryEscape(auth[1]))
	}
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &res.body)
	if rec.Code >= 500 {
		ts.t.Fatalf("%s %s answered %d: %s", method, path, rec.Code, rec.Body.String())
	}
	return res
}

func (ts *testServer) token(client, secret string, form url.Values) response {
	form.Set("grant_type", "client_credentials")
	return ts.do(http.MethodPost, "/token", form, [2]string{client, secret})
}

func (ts *testServer) mustToken(client, secret, resource, scope string) string {
	ts.t.Helper()
	form := url.Values{"resource": {resource}}
	if scope != "" {
		form.Set("scope", scope)
	}
	res := ts.token(client, secret, form)
	if res.status != http.StatusOK {
		ts.t.Fatalf("token for %s: %d %s", resource, res.status, res.raw)
	}
	return res.body["access_token"].(string)
}

func (ts *testServer) introspect(client, secret, token string) map[string]any {
	ts.t.Helper()
	res := ts.do(http.MethodPost, "/introspect", url.Values{"token": {token}}, [2]string{client, secret})
	if res.status != http.StatusOK {
		ts.t.Fatalf("introspect: %d %s", res.status, res.raw)
	}
	return res.body
}

func TestDiscoveryTellsTheTruth(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		res := ts.do(http.MethodGet, path, nil, [2]string{})
		if res.status != http.StatusOK {
			t.Fatalf("%s: %d", path, res.status)
		}
		b := res.body
		if b["issuer"] != testIssuer || b["token_endpoint"] != testIssuer+"/token" || b["jwks_uri"] != testIssuer+"/jwks" ||
			b["introspection_endpoint"] != testIssuer+"/introspect" || b["revocation_endpoint"] != testIssuer+"/revoke" {
			t.Errorf("%s: wrong endpoints: %v", path, b)
		}
		for _, absent := range []string{"registration_endpoint", "backchannel_authentication_endpoint"} {
			if _, ok := b[absent]; ok {
				t.Errorf("%s advertises %s, which is not served", path, absent)
			}
		}
		if algs, _ := b["dpop_signing_alg_values_supported"].([]any); len(algs) == 0 || slices.Contains(algs, any("none")) {
			t.Errorf("dpop_signing_alg_values_supported = %v", b["dpop_signing_alg_values_supported"])
		}
		if gt, _ := json.Marshal(b["grant_types_supported"]); string(gt) != `["authorization_code","refresh_token","client_credentials","urn:ietf:params:oauth:grant-type:device_code"]` {
			t.Errorf("grant_types_supported = %s", gt)
		}
		// Every advertised endpoint is actually served.
		for _, k := range []string{"token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint",
			"authorization_endpoint", "userinfo_endpoint", "end_session_endpoint", "pushed_authorization_request_endpoint",
			"device_authorization_endpoint"} {
			if !ts.srv.OwnsPath(strings.TrimPrefix(b[k].(string), testIssuer)) {
				t.Errorf("%s is advertised but not routed", k)
			}
		}
	}
	if res := ts.do(http.MethodPost, "/jwks", url.Values{}, [2]string{}); res.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /jwks: %d", res.status)
	}
}

// verifyAccessToken checks a JWT access token against the served JWKS and returns its claims.
func (ts *testServer) verifyAccessToken(token, wantAlg string) map[string]any {
	ts.t.Helper()
	return ts.verifyJWT(token, wantAlg, "at+jwt")
}

// verifyIDToken checks an ID token against the served JWKS and returns its claims.
func (ts *testServer) verifyIDToken(token, wantAlg string) map[string]any {
	ts.t.Helper()
	return ts.verifyJWT(token, wantAlg, "JWT")
}

func (ts *testServer) verifyJWT(token, wantAlg, wantTyp string) map[string]any {
	ts.t.Helper()
	res := ts.do(http.MethodGet, "/jwks", nil, [2]string{})
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(res.raw), &set); err != nil {
		ts.t.Fatal(err)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(wantAlg)})
	if err != nil {
		ts.t.Fatalf("parse: %v", err)
	}
	hdr := jws.Signatures[0].Header
	if typ, _ := hdr.ExtraHeaders["typ"].(string); typ != wantTyp { // "" wants no typ
		ts.t.Errorf("typ = %v, want %s", hdr.ExtraHeaders["typ"], wantTyp)
	}
	keys := set.Key(hdr.KeyID)
	if len(keys) != 1 {
		ts.t.Fatalf("kid %q not in JWKS", hdr.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		ts.t.Fatalf("verify: %v", err)
	}
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	return claims
}

func TestClientCredentialsJWT(t *testing.T) {
	ts := newTestServer(t)
	res := ts.token("svc", svcSecret, url.Values{"resource": {jwtResource}, "scope": {"read"}})
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	if res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", res.header.Get("Cache-Control"))
	}
	if res.body["token_type"] != "Bearer" || res.body["expires_in"] != float64(300) || res.body["scope"] != "read" {
		t.Errorf("response = %v", res.body)
	}
	claims := ts.verifyAccessToken(res.body["access_token"].(string), "ES256")
	want := map[string]any{"iss": testIssuer, "sub": "svc", "aud": jwtResource, "client_id": "svc", "scope": "read", "tenant": "acme"}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if claims["exp"].(float64)-claims["iat"].(float64) != 300 || claims["jti"] == "" {
		t.Errorf("exp/iat/jti = %v/%v/%v", claims["exp"], claims["iat"], claims["jti"])
	}

	// The resource's own algorithm is honoured.
	rs := ts.mustToken("svc", svcSecret, rsResource, "")
	ts.verifyAccessToken(rs, "RS256")

	// No scope: the intersection of what client and resource allow.
	res = ts.token("svc", svcSecret, url.Values{"resource": {jwtResource}})
	if res.body["scope"] != "read write" {
		t.Errorf("default scope = %v", res.body["scope"])
	}
	// client_secret_post and a slow-hashed (low-entropy) secret both work.
	res = ts.do(http.MethodPost, "/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"poster"}, "client_secret": {otherSecret}, "resource": {jwtResource}}, [2]string{})
	if res.status != http.StatusOK {
		t.Errorf("client_secret_post: %d %s", res.status, res.raw)
	}
	ts.mustToken("weak", weakSecret, jwtResource, "")
	// A client linked to exactly one resource may omit resource.
	res = ts.token("weak", weakSecret, url.Values{})
	if res.status != http.StatusOK {
		t.Errorf("default resource: %d %s", res.status, res.raw)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	ts := newTestServer(t)
	basic := [2]string{"svc", svcSecret}
	cc := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	cases := []struct {
		name       string
		method     string
		form       url.Values
		auth       [2]string
		wantStatus int
		wantError  string
		wantBasic  bool
	}{
		{"GET", http.MethodGet, nil, basic, 405, "invalid_request", false},
		{"no grant_type", "", url.Values{"resource": {jwtResource}}, basic, 400, "invalid_request", false},
		{"unknown grant", "", url.Values{"grant_type": {"password"}}, basic, 400, "unsupported_grant_type", false},
		{"repeated parameter", "", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, basic, 400, "invalid_request", false},
		{"wrong secret", "", cc("resource", jwtResource), [2]string{"svc", "nope"}, 401, "invalid_client", true},
		{"unknown client", "", cc("resource", jwtResource), [2]string{"ghost", svcSecret}, 401, "invalid_client", true},
		{"no credentials", "", cc("resource", jwtResource), [2]string{}, 401, "invalid_client", false},
		{"unknown resource", "", cc("resource", "https://nowhere.example"), basic, 400, "invalid_target", false},
		{"disabled resource", "", cc("resource", offResource), basic, 400, "invalid_target", false},
		{"unlinked resource", "", cc("resource", loneResource), basic, 400, "invalid_target", false},
		{"relative resource", "", cc("resource", "/api"), basic, 400, "invalid_target", false},
		{"resource with fragment", "", cc("resource", jwtResource+"#x"), basic, 400, "invalid_target", false},
		{"two resources", "", cc("resource", jwtResource, "resource", rsResource), basic, 400, "invalid_target", false},
		{"several linked, none named", "", cc(), basic, 400, "invalid_target", false},
		{"scope outside resource", "", cc("resource", jwtResource, "scope", "admin"), basic, 400, "invalid_scope", false},
		{"scope outside client", "", cc("resource", jwtResource, "scope", "read delete"), basic, 400, "invalid_scope", false},
		{"malformed scope", "", cc("resource", jwtResource, "scope", "read  write"), basic, 400, "invalid_scope", false},
		{"grant not allowed", "", cc("resource", opqResource), [2]string{"gateway", gwSecret}, 400, "unauthorized_client", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			res := ts.do(method, "/token", c.form, c.auth)
			if res.status != c.wantStatus || res.body["error"] != c.wantError {
				t.Fatalf("got %d %s, want %d %s", res.status, res.raw, c.wantStatus, c.wantError)
			}
			if res.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", res.header.Get("Cache-Control"))
			}
			if got := strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Basic"); got != c.wantBasic {
				t.Errorf("WWW-Authenticate = %q", res.header.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, testIssuer+"/token", strings.NewReader(`{"grant_type":"client_credentials"}`))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "invalid_request") {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	})
	t.Run("huge body", func(t *testing.T) {
		form := cc("resource", strings.Repeat("a", maxFormBytes))
		res := ts.do(http.MethodPost, "/token", form, basic)
		if res.status != http.StatusRequestEntityTooLarge || res.body["error"] != "invalid_request" {
			t.Fatalf("%d %s", res.status, res.raw)
		}
	})
}

func TestIntrospection(t *testing.T) {
	ts := newTestServer(t)
	jwtTok := ts.mustToken("svc", svcSecret, jwtResource, "read write")
	opqTok := ts.mustToken("svc", svcSecret, opqResource, "read")

	got := ts.introspect("svc", svcSecret, jwtTok)
	if got["active"] != true || got["client_id"] != "svc" || got["sub"] != "svc" || got["aud"] != jwtResource ||
		got["scope"] != "read write" || got["iss"] != testIssuer || got["tenant"] != "acme" || got["token_type"] != "Bearer" || got["jti"] == nil {
		t.Errorf("JWT introspection = %v", got)
	}
	got = ts.introspect("svc", svcSecret, opqTok)
	if got["active"] != true || got["aud"] != opqResource || got["scope"] != "read" || got["tier"] != "gold" {
		t.Errorf("opaque introspection = %v", got)
	}
	// The resource's gateway may introspect; an unrelated client learns nothing.
	if got := ts.introspect("gateway", gwSecret, opqTok); got["active"] != true {
		t.Errorf("the resource's gateway: %v", got)
	}
	if got := ts.introspect("weak", weakSecret, opqTok); len(got) != 1 || got["active"] != false {
		t.Errorf("unrelated client: %v", got)
	}
	if got := ts.introspect("gateway", gwSecret, ts.mustToken("svc", svcSecret, rsResource, "")); got["active"] != false {
		t.Errorf("gateway not introspecting the rs resource: %v", got)
	}
	for _, garbage := range []string{"x", "a.b.c", jwtTok + "x", strings.Repeat("A", maxTokenLen+1), "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."} {
		if got := ts.introspect("svc", svcSecret, garbage); got["active"] != false {
			t.Errorf("garbage %.20q active: %v", garbage, got)
		}
	}
	// Expiry.
	ts.now.Add(301)
	if got := ts.introspect("svc", svcSecret, jwtTok); got["active"] != false {
		t.Errorf("expired JWT active: %v", got)
	}
	if got := ts.introspect("svc", svcSecret, opqTok); got["active"] != true {
		t.Errorf("opaque token (10 min TTL) expired early: %v", got)
	}
	ts.now.Add(600)
	if got := ts.introspect("svc", svcSecret, opqTok); got["active"] != false {
		t.Errorf("expired opaque active: %v", got)
	}
	// Errors.
	if res := ts.do(http.MethodPost, "/introspect", url.Values{}, [2]string{"svc", svcSecret}); res.status != 400 || res.body["error"] != "invalid_request" {
		t.Errorf("missing token: %d %s", res.status, res.raw)
	}
	if res := ts.do(http.MethodPost, "/introspect", url.Values{"token": {jwtTok}}, [2]string{"svc", "bad"}); res.status != 401 || res.body["error"] != "invalid_client" {
		t.Errorf("bad credentials: %d %s", res.status, res.raw)
	}
}

func TestRevocation(t *testing.T) {
	ts := newTestServer(t)
	jwtTok := ts.mustToken("svc", svcSecret, jwtResource, "")
	opqTok := ts.mustToken("svc", svcSecret, opqResource, "")
	revoke := func(client, secret, token string) response {
		return ts.do(http.MethodPost, "/revoke", url.Values{"token": {token}}, [2]string{client, secret})
	}
	// Someone else's revocation is a no-op, answered like success.
	if res := revoke("weak", weakSecret, opqTok); res.status != 200 {
		t.Fatalf("foreign revoke: %d", res.status)
	}
	if got := ts.introspect("svc", svcSecret, opqTok); got["active"] != true {
		t.Fatal("a foreign client revoked the token")
	}
	for _, tok := range []string{jwtTok, opqTok} {
		// Introspect first, so a cached verification is in place when the token is revoked.
		if got := ts.introspect("svc", svcSecret, tok); got["active"] != true {
			t.Fatalf("fresh token inactive: %v", got)
		}
		for i := 0; i < 2; i++ { // idempotent
			if res := revoke("svc", svcSecret, tok); res.status != 200 || res.raw != "" {
				t.Fatalf("revoke: %d %q", res.status, res.raw)
			}
		}
		if got := ts.introspect("svc", svcSecret, tok); got["active"] != false {
			t.Errorf("revoked token still active: %v", got)
		}
	}
	if res := revoke("svc", svcSecret, "never-issued"); res.status != 200 {
		t.Errorf("unknown token: %d", res.status)
	}
	if res := ts.do(http.MethodPost, "/revoke", url.Values{}, [2]string{"svc", svcSecret}); res.status != 400 || res.body["error"] != "invalid_request" {
		t.Errorf("missing token: %d %s", res.status, res.raw)
	}
	if res := revoke("svc", "wrong", opqTok); res.status != 401 || res.body["error"] != "invalid_client" {
		t.Errorf("bad credentials: %d %s", res.status, res.raw)
	}
}

func TestDeletedResourceKillsItsTokens(t *testing.T) {
	ts := newTestServer(t)
	jwtTok := ts.mustToken("svc", svcSecret, jwtResource, "")
	opqTok := ts.mustToken("svc", svcSecret, opqResource, "")
	for _, tok := range []string{jwtTok, opqTok} { // warm the verified-token cache
		if got := ts.introspect("svc", svcSecret, tok); got["active"] != true {
			t.Fatalf("fresh token inactive: %v", got)
		}
	}
	for _, id := range []string{jwtResource, opqResource} {
		if err := ts.srv.DeleteResource(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	for _, tok := range []string{jwtTok, opqTok} {
		if got := ts.introspect("svc", svcSecret, tok); got["active"] != false {
			t.Errorf("token of a deleted resource is active: %v", got)
		}
	}
	if res := ts.token("svc", svcSecret, url.Values{"resource": {jwtResource}}); res.body["error"] != "invalid_target" {
		t.Errorf("token for deleted resource: %d %s", res.status, res.raw)
	}
}

func TestReservedCustomClaimsAreStripped(t *testing.T) {
	ts := newTestServer(t)
	r, err := ts.srv.st.GetResourceByIdentifier(context.Background(), jwtResource)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.CustomClaims["iss"]; ok || r.CustomClaims["tenant"] != "acme" {
		t.Errorf("custom claims = %v", r.CustomClaims)
	}
}

func TestKeyRotationKeepsOldTokensValid(t *testing.T) {
	ts := newTestServer(t)
	before := ts.mustToken("svc", svcSecret, jwtResource, "")
	kid, err := ts.srv.RotateKeys(context.Background(), "ES256")
	if err != nil {
		t.Fatal(err)
	}
	after := ts.mustToken("svc", svcSecret, jwtResource, "")
	ts.verifyAccessToken(before, "ES256")
	ts.verifyAccessToken(after, "ES256")
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(after, ".")[0])
	if !strings.Contains(string(hdr), kid) {
		t.Errorf("new token header %s does not use the new key %s", hdr, kid)
	}
	if got := ts.introspect("svc", svcSecret, before); got["active"] != true {
		t.Errorf("token signed before rotation no longer introspects: %v", got)
	}
}

func TestInProcessValidation(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	jwtTok := ts.mustToken("svc", svcSecret, jwtResource, "read")
	opqTok := ts.mustToken("svc", svcSecret, opqResource, "read")
	for _, tok := range []string{jwtTok, opqTok} {
		info, err := ts.srv.ActiveAccessToken(ctx, tok)
		if err != nil || info == nil || info.ClientID != "svc" || info.Scope != "read" || info.Issuer != testIssuer || len(info.Audience) != 1 {
			t.Fatalf("ActiveAccessToken = %+v, %v", info, err)
		}
	}
	info, _ := ts.srv.ActiveAccessToken(ctx, jwtTok)
	if info.Claims["tenant"] != "acme" || info.Audience[0] != jwtResource || info.JTI == "" {
		t.Errorf("JWT info = %+v", info)
	}
	ts.srv.gateway.Wait() // both results are now cached: revocation must still apply at once
	for _, tok := range []string{jwtTok, opqTok} {
		if res := ts.do(http.MethodPost, "/revoke", url.Values{"token": {tok}}, [2]string{"svc", svcSecret}); res.status != 200 {
			t.Fatal(res.raw)
		}
		if info, err := ts.srv.ActiveAccessToken(ctx, tok); info != nil || err != nil {
			t.Errorf("revoked token still active in-process: %+v %v", info, err)
		}
	}
	// A deleted resource takes cached results with it.
	other := ts.mustToken("svc", svcSecret, rsResource, "")
	if info, _ := ts.srv.ActiveAccessToken(ctx, other); info == nil {
		t.Fatal("fresh token inactive")
	}
	ts.srv.gateway.Wait()
	if err := ts.srv.DeleteResource(ctx, rsResource); err != nil {
		t.Fatal(err)
	}
	if info, err := ts.srv.ActiveAccessToken(ctx, other); info != nil || err != nil {
		t.Errorf("token of a deleted resource still active in-process: %+v %v", info, err)
	}
	if info, err := ts.srv.ActiveAccessToken(ctx, "garbage"); info != nil || err != nil {
		t.Errorf("garbage: %+v %v", info, err)
	}
	pol, err := ts.srv.ResourcePolicy(ctx, opqResource)
	if err != nil || pol == nil || len(pol.AllowedScopes) != 1 || pol.DPoPBoundAccessTokensRequired {
		t.Errorf("policy = %+v %v", pol, err)
	}
	if pol, err := ts.srv.ResourcePolicy(ctx, "https://unknown.example"); pol != nil || err != nil {
		t.Errorf("unknown policy = %+v %v", pol, err)
	}
}
