package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// envRequireNginx, set by scripts/with-nginx.sh (make unit), turns a missing nginx into a
// failure: the forward-auth test must not vanish from CI by skipping.
const envRequireNginx = "CADDY_OAUTH_REQUIRE_NGINX"

// proxyAddr is the loopback address the trusted nginx connects to Caddy from (proxy_bind);
// Caddy's trusted_proxies lists it alone, so anything from 127.0.0.1 is an untrusted peer.
const proxyAddr = "127.0.0.2"

// startNginx runs a throwaway nginx (scripts/nginx.sh) with site, server blocks for the http
// context, until the test ends.
func startNginx(t *testing.T, site string) {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			if os.Getenv(envRequireNginx) == "1" {
				t.Fatalf("%s=1 but nginx is not installed (scripts/nginx.sh bin installs it)", envRequireNginx)
			}
			t.Skip("nginx is not installed; scripts/with-nginx.sh installs it and makes this test required")
		}
	}
	script, err := filepath.Abs("../scripts/nginx.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "site.conf")
	if err := os.WriteFile(conf, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "CADDY_OAUTH_NGINX_DIR="+filepath.Join(dir, "nginx"))
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command(script, args...)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	if out, err := run("start", conf); err != nil {
		t.Fatalf("scripts/nginx.sh start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "nginx", "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", b)
			}
		}
		if out, err := run("stop"); err != nil {
			t.Errorf("scripts/nginx.sh stop: %v\n%s", err, out)
		}
	})
}

// nginxAPIServer is an nginx server block that asks Caddy's forward-auth endpoint about every
// request before proxying it to upstream, passing Caddy's challenges and identity headers on
// (the configuration the README shows). originalHeaders are the proxy_set_header lines that
// describe the original request; bind is the proxy_bind address ("" for none); extra goes in
// the proxied location.
func nginxAPIServer(listen, authAddr, upstream, originalHeaders, bind, extra string) string {
	bindLine := ""
	if bind != "" {
		bindLine = "proxy_bind " + bind + ";"
	}
	return fmt.Sprintf(`server {
	listen %[1]s;
	location / {
		auth_request /_oauth;
		auth_request_set $auth_user $upstream_http_x_user;
		auth_request_set $auth_scope $upstream_http_x_scope;
		auth_request_set $auth_challenge $upstream_http_www_authenticate;
		auth_request_set $auth_nonce $upstream_http_dpop_nonce;
		add_header WWW-Authenticate $auth_challenge always;
		add_header DPoP-Nonce $auth_nonce always;
		proxy_set_header X-User $auth_user;
		proxy_set_header X-Scope $auth_scope;
		%[6]s
		proxy_pass http://%[3]s;
	}
	location = /_oauth {
		internal;
		%[5]s
		proxy_pass http://%[2]s/auth;
		proxy_pass_request_body off;
		proxy_set_header Content-Length "";
		%[4]s
	}
}
`, listen, authAddr, upstream, originalHeaders, bindLine, extra)
}

const (
	// nginx's own variables, in the two header families forward_auth reads.
	nginxOriginalHeaders = `proxy_set_header X-Original-Method $request_method;
		proxy_set_header X-Original-URL $scheme://$http_host$request_uri;`
	nginxForwardedHeaders = `proxy_set_header X-Forwarded-Method $request_method;
		proxy_set_header X-Forwarded-Proto $scheme;
		proxy_set_header X-Forwarded-Host $http_host;
		proxy_set_header X-Forwarded-Uri $request_uri;`
)

// TestForwardAuthBehindNginx runs a real Caddy whose oauth_resource answers a real nginx's
// auth_request subrequests, and checks what clients and the upstream see through nginx.
func TestForwardAuthBehindNginx(t *testing.T) {
	tc := newTestCaddy(t)
	var upstreamHits atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "header": r.Header})
	}))
	t.Cleanup(upstream.Close)
	upstreamAddr := strings.TrimPrefix(upstream.URL, "http://")

	authAddr := "127.0.0.1:" + freePort(t)  // Caddy's forward-auth site
	nginxOrig := "127.0.0.1:" + freePort(t) // nginx, X-Original-* headers
	nginxFwd := "127.0.0.1:" + freePort(t)  // nginx, X-Forwarded-* headers
	nginxUntr := "127.0.0.1:" + freePort(t) // nginx asking from an address Caddy does not trust
	api := "http://" + nginxOrig + "/api"   // the resource: clients call it through nginx
	authXAddr := "127.0.0.1:" + freePort(t) // Caddy's forward-auth site with token exchange
	nginxX := "127.0.0.1:" + freePort(t)    // nginx sending the exchanged token upstream
	const orders = "https://orders.internal"
	startNginx(t, nginxAPIServer(nginxOrig, authAddr, upstreamAddr, nginxOriginalHeaders, proxyAddr, "")+
		nginxAPIServer(nginxFwd, authAddr, upstreamAddr, nginxForwardedHeaders, proxyAddr, "")+
		nginxAPIServer(nginxUntr, authAddr, upstreamAddr, nginxOriginalHeaders, "", "")+
		nginxAPIServer(nginxX, authXAddr, upstreamAddr, nginxOriginalHeaders, proxyAddr,
			`auth_request_set $auth_authorization $upstream_http_authorization;
		proxy_set_header Authorization $auth_authorization;`))

	globals := strings.Replace(tc.globals(), "persist_config off",
		"persist_config off\n servers {\n trusted_proxies static "+proxyAddr+"/32\n }", 1)
	cf := globals + fmt.Sprintf(`%[1]s {
	oauth_server {
		issuer %[1]s
		%[2]s
		resource %[3]s {
			scopes read write admin
		}
		client demo-service {
			secret %[4]s
			grant_types client_credentials
			scopes read write admin
			resources %[3]s
		}
		resource %[10]s {
			scopes read
		}
		client gw {
			secret %[4]s
			grant_types urn:ietf:params:oauth:grant-type:token-exchange
			scopes read
			resources %[10]s
		}
		token_exchange {
			rule {
				clients gw
				resources %[10]s
				scopes read
			}
		}
	}
}
http://%[9]s {
	oauth_resource {
		resource %[3]s
		issuer %[1]s
		hosts %[11]s
		forward_auth
		exchange {
			resource %[10]s
			client_id gw
		}
		header_up X-User {oauth.sub}
	}
}
http://%[5]s {
	@writes method POST PUT PATCH DELETE
	oauth_resource {
		resource %[3]s
		issuer %[1]s
		hosts %[6]s %[7]s %[8]s
		forward_auth
		scopes read
		rule @writes {
			scopes write
		}
		rule /api/admin/* {
			scopes admin
		}
		header_up X-User {oauth.sub}
		header_up X-Scope {oauth.scope}
	}
}`, tc.issuer, tc.storage(), api, testSecret, authAddr, nginxOrig, nginxFwd, nginxUntr, authXAddr, orders, nginxX)
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}

	read := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, api, "read")
	readWrite := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, api, "read write")
	prover := newDPoPProver(t)
	bound := dpopToken(t, prover, tc.issuer, api, "read")

	type call struct {
		method, url string
		header      http.Header
	}
	do := func(t *testing.T, c call) (*http.Response, upstreamSaw) {
		t.Helper()
		req, _ := http.NewRequest(c.method, c.url, strings.NewReader(""))
		for k, v := range c.header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var saw upstreamSaw
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(body, &saw); err != nil {
				t.Fatalf("%s %s: 200 without the upstream's answer: %s", c.method, c.url, body)
			}
		}
		return resp, saw
	}
	bearer := func(tok string, kv ...string) http.Header {
		h := http.Header{"Authorization": {"Bearer " + tok}}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	dpop := func(method, htu string) http.Header {
		return http.Header{"Authorization": {"DPoP " + bound}, "Dpop": {prover.proof(method, htu, bound)}}
	}

	for _, via := range []struct{ name, addr string }{{"X-Original-*", nginxOrig}, {"X-Forwarded-*", nginxFwd}} {
		base := "http://" + via.addr
		t.Run(via.name, func(t *testing.T) {
			tests := []struct {
				name       string
				call       call
				wantStatus int
				wantChall  []string // substrings of WWW-Authenticate
				wantUser   string
			}{
				{name: "bearer token passes, identity upstream", wantStatus: 200, wantUser: "demo-service",
					call: call{"GET", base + "/api/hello", bearer(read)}},
				{name: "a client's own X-User is replaced", wantStatus: 200, wantUser: "demo-service",
					call: call{"GET", base + "/api/hello", bearer(read, "X-User", "admin")}},
				{name: "no token", wantStatus: 401,
					wantChall: []string{`Bearer resource_metadata="http://` + nginxOrig + `/.well-known/oauth-protected-resource/api"`, `DPoP algs="`},
					call:      call{"GET", base + "/api/hello", nil}},
				{name: "invalid token", wantStatus: 401, wantChall: []string{`Bearer error="invalid_token"`},
					call: call{"GET", base + "/api/hello", bearer("not-a-token")}},
				{name: "write rule sees the original method", wantStatus: 403,
					wantChall: []string{`error="insufficient_scope"`, `scope="write"`},
					call:      call{"POST", base + "/api/hello", bearer(read)}},
				{name: "write scope passes the write rule", wantStatus: 200, wantUser: "demo-service",
					call: call{"POST", base + "/api/hello", bearer(readWrite)}},
				{name: "path rule sees the original path", wantStatus: 403, wantChall: []string{`scope="admin"`},
					call: call{"GET", base + "/api/admin/users", bearer(readWrite)}},
				{name: "dpop proof for the original request", wantStatus: 200, wantUser: "demo-service",
					call: call{"GET", base + "/api/hello", dpop("GET", base+"/api/hello")}},
				{name: "dpop proof for another path", wantStatus: 401, wantChall: []string{`DPoP error="invalid_dpop_proof"`},
					call: call{"GET", base + "/api/hello", dpop("GET", base+"/api/other")}},
				{name: "dpop proof for another method", wantStatus: 401, wantChall: []string{`DPoP error="invalid_dpop_proof"`},
					call: call{"DELETE", base + "/api/hello", dpop("GET", base+"/api/hello")}},
				{name: "dpop proof for the auth endpoint", wantStatus: 401, wantChall: []string{`DPoP error="invalid_dpop_proof"`},
					call: call{"GET", base + "/api/hello", dpop("GET", "http://"+authAddr+"/auth")}},
				{name: "bound token as bearer", wantStatus: 401, wantChall: []string{`error="invalid_token"`},
					call: call{"GET", base + "/api/hello", bearer(bound)}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := upstreamHits.Load()
					resp, saw := do(t, tt.call)
					chall := resp.Header.Get("WWW-Authenticate")
					if resp.StatusCode != tt.wantStatus {
						t.Fatalf("status %d (WWW-Authenticate %q), want %d", resp.StatusCode, chall, tt.wantStatus)
					}
					for _, want := range tt.wantChall {
						if !strings.Contains(chall, want) {
							t.Errorf("WWW-Authenticate %q lacks %q", chall, want)
						}
					}
					reached := upstreamHits.Load() > before
					if tt.wantStatus != 200 {
						if reached {
							t.Error("a refused request reached the upstream")
						}
						return
					}
					u, _ := url.Parse(tt.call.url)
					if saw.Path != u.Path || saw.Header.Get("X-User") != tt.wantUser || saw.Header.Get("X-Scope") == "" {
						t.Errorf("upstream saw path %q X-User %q X-Scope %q, want %q %q and the scopes",
							saw.Path, saw.Header.Get("X-User"), saw.Header.Get("X-Scope"), u.Path, tt.wantUser)
					}
				})
			}
		})
	}

	t.Run("exchange: the upstream gets its own token, never the client's", func(t *testing.T) {
		resp, saw := do(t, call{"GET", "http://" + nginxX + "/api/orders/7", bearer(read)})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		got, ok := strings.CutPrefix(saw.Header.Get("Authorization"), "Bearer ")
		if !ok || got == read {
			t.Fatalf("upstream Authorization %q: want the exchanged token", saw.Header.Get("Authorization"))
		}
		if claims := payloadOf(t, got); claims["aud"] != orders || claims["client_id"] != "gw" || claims["sub"] != "demo-service" {
			t.Fatalf("exchanged token claims: %v", claims)
		}
		if saw.Header.Get("X-User") != "demo-service" {
			t.Errorf("X-User %q", saw.Header.Get("X-User"))
		}
	})

	t.Run("a proof is accepted once", func(t *testing.T) {
		h := dpop("GET", "http://"+nginxOrig+"/api/hello")
		if resp, _ := do(t, call{"GET", "http://" + nginxOrig + "/api/hello", h}); resp.StatusCode != 200 {
			t.Fatalf("first use: %d", resp.StatusCode)
		}
		resp, _ := do(t, call{"GET", "http://" + nginxOrig + "/api/hello", h})
		if resp.StatusCode != 401 {
			t.Fatalf("replay: %d, want 401", resp.StatusCode)
		}
	})

	t.Run("a client's forwarded headers through nginx are not believed", func(t *testing.T) {
		// nginx sets X-Original-* and passes the client's X-Forwarded-* along: two families,
		// refused, so the client cannot name another path (nginx answers 500 to a 400).
		before := upstreamHits.Load()
		resp, _ := do(t, call{"GET", "http://" + nginxOrig + "/api/admin/users",
			bearer(read, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/api/hello")})
		if resp.StatusCode != http.StatusInternalServerError || upstreamHits.Load() != before {
			t.Fatalf("status %d, upstream reached %v; want nginx's 500 and no upstream", resp.StatusCode, upstreamHits.Load() != before)
		}
	})

	t.Run("nginx at an untrusted address is not believed", func(t *testing.T) {
		before := upstreamHits.Load()
		resp, _ := do(t, call{"GET", "http://" + nginxUntr + "/api/hello", bearer(read)})
		if resp.StatusCode != http.StatusInternalServerError || upstreamHits.Load() != before {
			t.Fatalf("status %d, upstream reached %v; want nginx's 500 and no upstream", resp.StatusCode, upstreamHits.Load() != before)
		}
	})

	t.Run("an untrusted peer's forwarded headers are ignored", func(t *testing.T) {
		// A valid token and a well-formed description, straight from 127.0.0.1: refused,
		// never answered as if the request were described by a proxy.
		h := bearer(read, "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http",
			"X-Forwarded-Host", nginxOrig, "X-Forwarded-Uri", "/api/hello")
		req, _ := http.NewRequest("GET", "http://"+authAddr+"/auth", nil)
		req.Header = h
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "trusted proxy") {
			t.Fatalf("status %d %q, want 400 naming the trusted proxy rule", resp.StatusCode, body)
		}
		if resp.Header.Get("X-User") != "" {
			t.Errorf("identity answered to an untrusted peer: X-User %q", resp.Header.Get("X-User"))
		}
	})

	t.Run("the same description from the trusted address passes", func(t *testing.T) {
		// The control for the test above: only the peer's address differs.
		h := bearer(read, "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http",
			"X-Forwarded-Host", nginxOrig, "X-Forwarded-Uri", "/api/hello")
		resp := fromTrustedProxy(t, "GET", "http://"+authAddr+"/auth", h)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-User") != "demo-service" {
			t.Fatalf("status %d X-User %q, want 200 demo-service", resp.StatusCode, resp.Header.Get("X-User"))
		}
	})

	t.Run("metadata is served at the endpoint itself", func(t *testing.T) {
		status, body := get(t, "http://"+authAddr+"/.well-known/oauth-protected-resource/api")
		if status != http.StatusOK || !strings.Contains(body, `"resource":"`+api+`"`) {
			t.Fatalf("metadata: %d %s", status, body)
		}
	})
}

// fromTrustedProxy sends a request from proxyAddr, the address trusted_proxies lists.
func fromTrustedProxy(t *testing.T, method, u string, h http.Header) *http.Response {
	return fromTrustedProxyWith(t, method, u, h, false)
}

// fromTrustedProxyWith is fromTrustedProxy, over h2c (HTTP/2 without TLS) when h2c is set.
func fromTrustedProxyWith(t *testing.T, method, u string, h http.Header, h2c bool) *http.Response {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(proxyAddr)}, Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext:       func(ctx context.Context, n, a string) (net.Conn, error) { return dialer.DialContext(ctx, n, a) },
		DisableKeepAlives: true,
	}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	c := &http.Client{Transport: tr}
	req, _ := http.NewRequest(method, u, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	if host := h.Get("Host"); host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// dpopToken obtains a DPoP-bound client_credentials token of demo-service with scope.
func dpopToken(t *testing.T, p *dpopProver, issuer, resource, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", p.proof(http.MethodPost, issuer+"/token", ""))
	req.SetBasicAuth("demo-service", testSecret)
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
