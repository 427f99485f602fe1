package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
	"github.com/caddy-oauth/caddy-oauth/dpop/dpoptest"
)

const gatewaySecret = "Gw4Ay7Tq1Mz9Xc2Vb5Nl8Kj3Hf6Dg0Sa4Pe7Ro1Ui9Y"

// echoUpstream answers with the request's path and headers as JSON, so tests see exactly
// what the gateway forwarded.
func echoUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "header": r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv
}

type upstreamSaw struct {
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
}

// callAPI sends a GET with an optional bearer token and decodes the upstream echo on 200.
func callAPI(t *testing.T, u, token string, header http.Header) (*http.Response, upstreamSaw) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var saw upstreamSaw
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&saw); err != nil {
			t.Fatalf("GET %s: upstream body: %v", u, err)
		}
	}
	return resp, saw
}

// TestResourceIntegration runs one Caddy from a Caddyfile: a site that is its own issuer
// (in-process validation), a gateway for a remote issuer (discovery, JWKS, introspection)
// and a gateway whose issuer is down.
func TestResourceIntegration(t *testing.T) {
	tc := newTestCaddy(t)
	upstream := echoUpstream(t)
	remoteAS := startRemoteAS(t)
	gateway := "http://127.0.0.1:" + freePort(t)
	deadGateway := "http://127.0.0.1:" + freePort(t)
	deadIssuer := "http://127.0.0.1:" + freePort(t) // nothing listens there
	dpopGateway := "http://127.0.0.1:" + freePort(t)

	// The remote AS issues tokens for the gateway's resources.
	remoteAS.configure(t, authserver.Config{
		Resources: []authserver.ResourceConfig{
			{Identifier: gateway + "/jwt", AllowedScopes: []string{"read"}},
			{Identifier: gateway + "/opaque", AccessTokenFormat: "opaque"},
		},
		Clients: []authserver.ClientConfig{
			{ID: "remote-app", Secret: testSecret, GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"},
				Resources: []string{gateway + "/jwt", gateway + "/opaque"}},
			// The gateway's introspection_client: the opaque resource's server.
			{ID: "gateway", Secret: gatewaySecret, GrantTypes: []string{"refresh_token"}, Introspects: []string{gateway + "/opaque"}},
		},
	})

	cf := tc.globals() + fmt.Sprintf(`%[1]s {
	@api path /api/* /.well-known/oauth-protected-resource/api
	@opaque path /opaque/* /.well-known/oauth-protected-resource/opaque
	@admin path /api/admin/*
	oauth_server {
		issuer %[1]s
		%[2]s
		resource %[1]s/api {
			scopes read admin
			claim tier gold
		}
		resource %[1]s/opaque {
			access_token_format opaque
		}
		resource %[1]s/other
		client demo-service {
			secret %[3]s
			grant_types client_credentials
			scopes read admin
			resources %[1]s/api %[1]s/opaque %[1]s/other
		}
	}
	oauth_resource @api {
		resource %[1]s/api
		issuer %[1]s
		scopes read
		rule @admin {
			scopes admin
		}
		header_up X-User {oauth.sub}
		header_up X-Client {oauth.client_id}
		header_up X-Tier {oauth.claim.tier}
		header_up X-Auth-User {http.auth.user.id}
	}
	oauth_resource @opaque {
		resource %[1]s/opaque
		issuer %[1]s
		header_up X-User {oauth.sub}
	}
	reverse_proxy %[4]s
}
%[5]s {
	oauth_resource /jwt/* {
		resource %[5]s/jwt
		issuer %[6]s
		scopes read
		header_up X-User {oauth.sub}
	}
	oauth_resource /opaque/* {
		resource %[5]s/opaque
		issuer %[6]s
		introspection_client gateway %[7]s
		header_up X-User {oauth.sub}
	}
	reverse_proxy %[4]s
}
%[8]s {
	oauth_resource {
		resource %[8]s/api
		issuer %[9]s
	}
	reverse_proxy %[4]s
}
%[10]s {
	oauth_resource {
		resource %[10]s
		issuer %[1]s
		require_dpop
		dpop_algs ES256
		dpop_nonce %[11]s
		dpop_replay_capacity 1000
	}
	reverse_proxy %[4]s
}`, tc.issuer, tc.storage(), testSecret, upstream.URL, gateway, remoteAS.issuer, gatewaySecret, deadGateway, deadIssuer,
		dpopGateway, testMasterKey)
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}

	tokenURL := tc.issuer + "/token"
	api := tc.issuer + "/api/things"
	reader := requestToken(t, tokenURL, "demo-service", testSecret, tc.issuer+"/api", "read")

	t.Run("no token: 401 with Bearer challenge and resource_metadata", func(t *testing.T) {
		resp, _ := callAPI(t, api, "", nil)
		chall := strings.Join(resp.Header.Values("WWW-Authenticate"), "\n")
		want := `Bearer resource_metadata="` + tc.issuer + `/.well-known/oauth-protected-resource/api"`
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(chall, want) {
			t.Fatalf("status %d, WWW-Authenticate %q, want 401 with %q", resp.StatusCode, chall, want)
		}
	})

	t.Run("JWT reaches the upstream with identity headers and without credentials", func(t *testing.T) {
		resp, saw := callAPI(t, api, reader, http.Header{"X-User": {"mallory"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		want := map[string]string{"X-User": "demo-service", "X-Client": "demo-service", "X-Tier": "gold",
			"X-Auth-User": "demo-service", "Authorization": "", "Dpop": ""}
		for name, v := range want {
			if got := strings.Join(saw.Header.Values(name), ","); got != v {
				t.Errorf("upstream %s = %q, want %q", name, got, v)
			}
		}
		if saw.Path != "/api/things" {
			t.Errorf("upstream path = %q", saw.Path)
		}
	})

	t.Run("token for another resource: 401 invalid_token", func(t *testing.T) {
		other := requestToken(t, tokenURL, "demo-service", testSecret, tc.issuer+"/other", "")
		resp, _ := callAPI(t, api, other, nil)
		if chall := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(chall, `error="invalid_token"`) {
			t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, chall)
		}
	})

	t.Run("rule route without its scope: 403 insufficient_scope", func(t *testing.T) {
		resp, _ := callAPI(t, tc.issuer+"/api/admin/users", reader, nil)
		chall := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(chall, `error="insufficient_scope"`) || !strings.Contains(chall, `scope="admin"`) {
			t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, chall)
		}
		admin := requestToken(t, tokenURL, "demo-service", testSecret, tc.issuer+"/api", "read admin")
		if resp, _ := callAPI(t, tc.issuer+"/api/admin/users", admin, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("with the admin scope: status %d", resp.StatusCode)
		}
	})

	t.Run("opaque token in-process, then revoked", func(t *testing.T) {
		opaque := requestToken(t, tokenURL, "demo-service", testSecret, tc.issuer+"/opaque", "")
		resp, saw := callAPI(t, tc.issuer+"/opaque/x", opaque, nil)
		if resp.StatusCode != http.StatusOK || saw.Header.Get("X-User") != "demo-service" {
			t.Fatalf("status %d, upstream X-User %q", resp.StatusCode, saw.Header.Get("X-User"))
		}
		if status, body := postForm(t, tc.issuer+"/revoke", "demo-service", testSecret, url.Values{"token": {opaque}}); status != http.StatusOK {
			t.Fatalf("revoke = %d %s", status, body)
		}
		if resp, _ := callAPI(t, tc.issuer+"/opaque/x", opaque, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("revoked token: status %d, want 401", resp.StatusCode)
		}
	})

	t.Run("metadata document", func(t *testing.T) {
		var md struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
			ScopesSupported      []string `json:"scopes_supported"`
			BearerMethods        []string `json:"bearer_methods_supported"`
		}
		getJSON(t, tc.issuer+"/.well-known/oauth-protected-resource/api", &md)
		if md.Resource != tc.issuer+"/api" || len(md.AuthorizationServers) != 1 || md.AuthorizationServers[0] != tc.issuer ||
			strings.Join(md.ScopesSupported, " ") != "read admin" || strings.Join(md.BearerMethods, " ") != "header" {
			t.Fatalf("metadata = %+v", md)
		}
	})

	t.Run("DPoP options wire through", func(t *testing.T) {
		resp, _ := callAPI(t, dpopGateway+"/x", "", nil)
		chall := strings.Join(resp.Header.Values("WWW-Authenticate"), "\n")
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(chall, "Bearer") || !strings.Contains(chall, `DPoP algs="ES256"`) {
			t.Errorf("no token: status %d, WWW-Authenticate %q, want only a DPoP challenge with algs", resp.StatusCode, chall)
		}
		if resp, _ := callAPI(t, dpopGateway+"/x", reader, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("bearer token with require_dpop: status %d, want 401", resp.StatusCode)
		}
		// The DPoP scheme without a proof: an invalid_dpop_proof answer carries a fresh nonce.
		resp, _ = callAPI(t, dpopGateway+"/x", "", http.Header{"Authorization": {"DPoP " + reader}})
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("DPoP-Nonce") == "" {
			t.Errorf("missing proof: status %d, DPoP-Nonce %q, want 401 with a nonce", resp.StatusCode, resp.Header.Get("DPoP-Nonce"))
		}
		var md struct {
			Algs     []string `json:"dpop_signing_alg_values_supported"`
			Required bool     `json:"dpop_bound_access_tokens_required"`
		}
		getJSON(t, dpopGateway+"/.well-known/oauth-protected-resource", &md)
		if !md.Required || strings.Join(md.Algs, " ") != "ES256" {
			t.Errorf("metadata = %+v", md)
		}
		guardKey := "replay\x00" + tc.issuer + "\x00" + dpopGateway + "\x001000"
		if refs, _ := gatewayState.References(guardKey); refs != 1 {
			t.Errorf("replay guard with the configured capacity: %d references, want 1", refs)
		}
	})

	remoteJWT := requestToken(t, remoteAS.issuer+"/token", "remote-app", testSecret, gateway+"/jwt", "read")
	remoteOpaque := requestToken(t, remoteAS.issuer+"/token", "remote-app", testSecret, gateway+"/opaque", "")

	t.Run("remote issuer: JWT via discovery and JWKS, opaque via introspection", func(t *testing.T) {
		for name, tt := range map[string]struct{ path, token string }{
			"jwt":    {"/jwt/x", remoteJWT},
			"opaque": {"/opaque/x", remoteOpaque},
		} {
			resp, saw := callAPI(t, gateway+tt.path, tt.token, nil)
			if resp.StatusCode != http.StatusOK || saw.Header.Get("X-User") != "remote-app" || saw.Header.Get("Authorization") != "" {
				t.Errorf("%s: status %d, upstream headers %v", name, resp.StatusCode, saw.Header)
			}
		}
		// A local token is not the remote issuer's.
		if resp, _ := callAPI(t, gateway+"/jwt/x", reader, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("foreign issuer's token: status %d, want 401", resp.StatusCode)
		}
	})

	t.Run("remote issuer down: known keys keep serving", func(t *testing.T) {
		remoteAS.http.Close()
		if resp, _ := callAPI(t, gateway+"/jwt/x", remoteJWT, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("cached keys: status %d, want 200", resp.StatusCode)
		}
	})

	t.Run("reload keeps discovered keys and replay guards", func(t *testing.T) {
		issuerKey := "issuer\x00" + remoteAS.issuer
		guardKey := "replay\x00" + remoteAS.issuer + "\x00" + gateway + "/jwt\x00" + fmt.Sprint(defaultReplayCapacity)
		before := pooled(issuerKey)
		if err := tc.load(t, cf); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]int{issuerKey: 2, guardKey: 1} { // two handlers share the issuer
			if refs, _ := gatewayState.References(key); refs != want {
				t.Errorf("references to %q after reload = %d, want %d", key, refs, want)
			}
		}
		if after := pooled(issuerKey); before == nil || before != after {
			t.Error("reload replaced the remote issuer state")
		}
		// The issuer is still down: only the kept keys can verify this.
		if resp, _ := callAPI(t, gateway+"/jwt/x", remoteJWT, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("after reload with the issuer down: status %d, want 200", resp.StatusCode)
		}
	})

	t.Run("issuer never reached: 503, fail closed", func(t *testing.T) {
		for range 2 { // the second one hits the retry backoff
			resp, _ := callAPI(t, deadGateway+"/api/x", reader, nil)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", resp.StatusCode)
			}
		}
	})

	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"issuer\x00" + remoteAS.issuer, "issuer\x00" + deadIssuer} {
		if refs, ok := gatewayState.References(key); ok {
			t.Errorf("%q still referenced %d times after stop", key, refs)
		}
	}
}

// pooled returns the shared gateway state under key without taking a reference.
func pooled(key string) any {
	var found any
	gatewayState.Range(func(k, v any) bool {
		if k == key {
			found = v
		}
		return found == nil
	})
	return found
}

// remoteAuthServer is an authorization server outside this Caddy, reached over HTTP only.
type remoteAuthServer struct {
	issuer string
	ln     net.Listener
	http   *httptest.Server
	// requests counts the requests it answered.
	requests atomic.Int64
	// hangIntrospection makes its introspection endpoint hold every request unanswered.
	hangIntrospection atomic.Bool
}

// startRemoteAS reserves the listener first, because the issuer URL (its address) is part
// of the server's configuration; configure then starts serving.
func startRemoteAS(t *testing.T) *remoteAuthServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &remoteAuthServer{issuer: "http://" + ln.Addr().String(), ln: ln}
}

func (ra *remoteAuthServer) configure(t *testing.T, cfg authserver.Config) {
	t.Helper()
	ctx := context.Background()
	cfg.Issuer = ra.issuer
	st, err := sqlstore.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "remote.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seal, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := authserver.New(ctx, cfg, authserver.Deps{Store: st, Sealer: seal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ra.http = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ra.requests.Add(1)
		if r.URL.Path == "/introspect" && ra.hangIntrospection.Load() {
			_ = r.ParseForm()    // read the body, so that a client hanging up is noticed
			<-r.Context().Done() // answer nothing until the client gives up
			return
		}
		srv.ServeHTTP(w, r)
	}))
	ra.http.Listener.Close()
	ra.http.Listener = ra.ln
	ra.http.Start()
	t.Cleanup(ra.http.Close)
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// TestResourceGuardsSiblings runs a real Caddy where oauth_resource shares each block with a
// handler that answers by itself. Without a token every one of them must stay silent (and
// php_fastcgi must not even connect to its FastCGI server); with one, each answers.
func TestResourceGuardsSiblings(t *testing.T) {
	tc := newTestCaddy(t)
	root := t.TempDir()
	for name, content := range map[string]string{
		"files/secret.txt": "file secret",
		"tmpl/page.html":   `<p>{{"rendered"}} template secret</p>`,
		"index.php":        "<?php // served by the FastCGI server below",
	} {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var upstreamHits atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		_, _ = w.Write([]byte("proxied secret"))
	}))
	t.Cleanup(upstream.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	phpServer := &countingListener{Listener: ln}
	t.Cleanup(func() { ln.Close() })
	go fcgi.Serve(phpServer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("php secret"))
	}))

	guard := fmt.Sprintf("oauth_resource {\n resource %[1]s/guarded\n issuer %[1]s\n }", tc.issuer)
	cf := tc.globals() + fmt.Sprintf(`%[1]s {
	oauth_server {
		issuer %[1]s
		%[2]s
		resource %[1]s/guarded
		client demo-service {
			secret %[3]s
			grant_types client_credentials
			resources %[1]s/guarded
		}
	}
	handle /respond/* {
		respond "respond secret" 200
		%[4]s
	}
	handle /metrics {
		%[4]s
		metrics
	}
	handle /files/* {
		root * %[5]s
		file_server
		%[4]s
	}
	handle /tmpl/* {
		root * %[5]s
		templates
		file_server
		%[4]s
	}
	handle /proxy/* {
		reverse_proxy %[6]s
		%[4]s
	}
	handle /php/* {
		root * %[5]s
		php_fastcgi %[7]s
		%[4]s
	}
}`, tc.issuer, tc.storage(), testSecret, guard, root, upstream.URL, ln.Addr())
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}
	token := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, tc.issuer+"/guarded", "")

	tests := []struct{ path, wantBody string }{
		{"/respond/x", "respond secret"},
		{"/metrics", "# HELP"},
		{"/files/secret.txt", "file secret"},
		{"/tmpl/page.html", "<p>rendered template secret</p>"},
		{"/proxy/x", "proxied secret"},
		{"/php/x", "php secret"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body := getWithToken(t, tc.issuer+tt.path, "")
			if status != http.StatusUnauthorized || strings.Contains(body, "secret") || strings.Contains(body, "# HELP") {
				t.Errorf("without a token: %d %.80q, want 401 and nothing of the content", status, body)
			}
			status, body = getWithToken(t, tc.issuer+tt.path, token)
			if status != http.StatusOK || !strings.Contains(body, tt.wantBody) {
				t.Errorf("with a token: %d %.80q, want 200 with %q", status, body, tt.wantBody)
			}
		})
	}
	// Each sibling above was reached exactly once: with the token.
	if n := upstreamHits.Load(); n != 1 {
		t.Errorf("reverse_proxy upstream was called %d times, want 1", n)
	}
	if n := phpServer.accepted.Load(); n != 1 {
		t.Errorf("the FastCGI server accepted %d connections, want 1", n)
	}
}

// getWithToken sends a GET with an optional bearer token and returns status and body.
func getWithToken(t *testing.T, u, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// dpopProver signs DPoP proofs with one key, for tests against a real Caddy.
type dpopProver struct {
	t *testing.T
	*dpoptest.Key
}

func newDPoPProver(t *testing.T) *dpopProver {
	t.Helper()
	return &dpopProver{t, dpoptest.NewKey(t)}
}

// proof returns a fresh proof for method and htu; with an access token, its ath too.
func (p *dpopProver) proof(method, htu, accessToken string) string {
	return p.ProofWith(p.t, method, htu, dpoptest.Options{AccessToken: accessToken})
}

// token obtains a DPoP-bound client_credentials token for resource.
func (p *dpopProver) token(issuer, clientID, secret, resource string) string {
	t := p.t
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", p.proof(http.MethodPost, issuer+"/token", ""))
	req.SetBasicAuth(clientID, secret)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.TokenType != "DPoP" {
		t.Fatalf("DPoP token request: %d %+v %v", resp.StatusCode, out, err)
	}
	return out.AccessToken
}

// TestResourceDPoPOriginFromSite: the origin DPoP proofs must name comes from the site's
// addresses, never from the client's Host header. Another gateway of the same resource at
// 127.0.0.1:<other port> (Caddy routes by host name, not port) must not be able to pass its
// clients' proofs to this one.
func TestResourceDPoPOriginFromSite(t *testing.T) {
	tc := newTestCaddy(t)
	upstream := echoUpstream(t)
	port := strings.TrimPrefix(tc.issuer, "http://127.0.0.1:")
	otherGateway := "127.0.0.1:" + freePort(t)
	cf := tc.globals() + fmt.Sprintf(`%[1]s, http://localhost:%[2]s {
	oauth_server {
		issuer %[1]s
		%[3]s
		resource %[1]s/api
		client demo-service {
			secret %[4]s
			grant_types client_credentials
			resources %[1]s/api
		}
	}
	@api path /api/* /.well-known/oauth-protected-resource/api
	handle @api {
		oauth_resource {
			resource %[1]s/api
			issuer %[1]s
		}
		reverse_proxy %[5]s
	}
}`, tc.issuer, port, tc.storage(), testSecret, upstream.URL)
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}
	prover := newDPoPProver(t)
	bound := prover.token(tc.issuer, "demo-service", testSecret, tc.issuer+"/api")
	bearer := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, tc.issuer+"/api", "")

	tests := []struct {
		name, host, htu string
		dpop            bool
		wantStatus      int
	}{
		{"proof for this site", "127.0.0.1:" + port, "http://127.0.0.1:" + port, true, http.StatusOK},
		{"proof for its other address", "localhost:" + port, "http://localhost:" + port, true, http.StatusOK},
		{"Host names the proof's port, not this site's", otherGateway, "http://" + otherGateway, true, http.StatusUnauthorized},
		{"proof for the site, Host of another port", otherGateway, "http://127.0.0.1:" + port, true, http.StatusUnauthorized},
		{"Bearer token: Host does not matter", otherGateway, "", false, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tc.issuer+"/api/x", nil)
			req.Host = tt.host
			if tt.dpop {
				req.Header.Set("Authorization", "DPoP "+bound)
				req.Header.Set("DPoP", prover.proof(http.MethodGet, tt.htu+"/api/x", bound))
			} else {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			chall := strings.Join(resp.Header.Values("WWW-Authenticate"), "\n")
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (WWW-Authenticate %q), want %d", resp.StatusCode, chall, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusUnauthorized && !strings.Contains(chall, `DPoP error="invalid_dpop_proof"`) {
				t.Errorf("WWW-Authenticate %q, want a DPoP challenge with invalid_dpop_proof", chall)
			}
		})
	}

	t.Run("metadata does not follow the Host header", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, tc.issuer+"/.well-known/oauth-protected-resource/api", nil)
		req.Host = otherGateway
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var md struct {
			Resource string `json:"resource"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || md.Resource != tc.issuer+"/api" {
			t.Fatalf("metadata resource = %q (%v), want %q", md.Resource, err, tc.issuer+"/api")
		}
	})
}

// TestResourceAnyHostNeedsExternalURL: a site that accepts any host cannot name the origin
// clients use, so a gateway there must be told it.
func TestResourceAnyHostNeedsExternalURL(t *testing.T) {
	for _, site := range []string{":8080", "http://", "http://127.0.0.1:9080, :8080"} {
		_, err := adapt(site + ` {
	oauth_resource {
		resource https://api.example
		issuer https://auth.example
	}
	respond ok
}`)
		if err == nil || !strings.Contains(err.Error(), "accepts any host") || !strings.Contains(err.Error(), "external_url") {
			t.Errorf("site %q: error = %v, want one that asks for external_url", site, err)
		}
	}

	// JSON skips the Caddyfile: provisioning refuses a handler with neither.
	newTestCaddy(t)
	cfg := fmt.Sprintf(`{"admin": {"disabled": true}, "apps": {"http": {"servers": {"gw": {
		"listen": ["127.0.0.1:%s"],
		"routes": [{"handle": [{"handler": "oauth_resource", "resource": "https://api.example", "issuer": "https://auth.example"}]}]
	}}}}}`, freePort(t))
	err := caddy.Load([]byte(cfg), false)
	if err == nil || !strings.Contains(err.Error(), "set external_url") || !strings.Contains(err.Error(), "hosts") {
		t.Fatalf("JSON without hosts or external_url: error = %v, want one that asks for them", err)
	}
}
