package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestResourceForwardAuthCaddyfile(t *testing.T) {
	const base = "resource https://api.example\n issuer https://auth.example\n"
	block := func(lines string) string { return "oauth_resource {\n " + base + lines + "\n}" }
	const ok = `"resource":"https://api.example","issuer":"https://auth.example"`
	tests := []struct {
		name, input, want, wantErr string
	}{
		{name: "on", input: block("forward_auth\n external_url https://api.example\n header_up X-User {oauth.sub}"),
			want: `{` + ok + `,"external_url":"https://api.example","header_up":{"X-User":"{oauth.sub}"},"forward_auth":true}`},
		{name: "envoy path prefix", input: block("forward_auth {\n path_prefix /ext_authz\n }\n hosts api.example"),
			want: `{` + ok + `,"hosts":["api.example"],"forward_auth":true,"forward_auth_path_prefix":"/ext_authz"}`},
		{name: "with exchange", input: block("forward_auth\n hosts api.example\n exchange {\n resource https://orders.internal\n client_id gw\n }"),
			want: `{` + ok + `,"hosts":["api.example"],"forward_auth":true,"exchange":{"resource":"https://orders.internal","client_id":"gw"}}`},
		{name: "argument", input: block("forward_auth on"), wantErr: "wrong argument count"},
		{name: "twice", input: block("forward_auth\n forward_auth"), wantErr: "forward_auth: set twice"},
		{name: "unknown option", input: block("forward_auth {\n style nginx\n }"), wantErr: `unknown forward_auth subdirective "style"`},
		{name: "path prefix without value", input: block("forward_auth {\n path_prefix\n }"), wantErr: "wrong argument count"},
		{name: "relative path prefix", input: block("forward_auth {\n path_prefix ext_authz\n }"), wantErr: "want a path without a trailing slash"},
		{name: "path prefix with trailing slash", input: block("forward_auth {\n path_prefix /ext_authz/\n }"), wantErr: "want a path without a trailing slash"},
		{name: "keep_credentials", input: block("forward_auth\n keep_credentials"), wantErr: "keep_credentials: has no effect with forward_auth"},
		{name: "token_in_query", input: block("forward_auth\n token_in_query"), wantErr: "token_in_query: not with forward_auth"},
		{name: "token_in_body", input: block("forward_auth\n token_in_body"), wantErr: "token_in_body: not with forward_auth"},
		{name: "header_up of a framing header", input: block("forward_auth\n header_up Content-Length {oauth.sub}"), wantErr: `header_up "Content-Length"`},
		{name: "header_up of a challenge header", input: block("forward_auth\n header_up www-authenticate {oauth.sub}"), wantErr: "Www-Authenticate describes the response"},
		{name: "header_up Authorization with exchange", input: block("forward_auth\n header_up Authorization {oauth.sub}\n exchange {\n resource https://o.internal\n client_id gw\n }"),
			wantErr: "forward_auth answers the exchanged token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[ResourceHandler](t, tt.input, tt.want, tt.wantErr) })
	}
}

func TestResourceForwardAuthValidateJSON(t *testing.T) {
	const ok = `"resource":"https://api.example","issuer":"https://auth.example"`
	tests := []struct{ name, json, wantErr string }{
		{"on", `{` + ok + `,"forward_auth":true}`, ""},
		{"prefix without forward_auth", `{` + ok + `,"forward_auth_path_prefix":"/ext_authz"}`, "only with forward_auth"},
		{"prefix with query", `{` + ok + `,"forward_auth":true,"forward_auth_path_prefix":"/x?y"}`, "want a path"},
		{"keep_credentials", `{` + ok + `,"forward_auth":true,"keep_credentials":true}`, "keep_credentials"},
		{"set-cookie", `{` + ok + `,"forward_auth":true,"header_up":{"Set-Cookie":"{oauth.sub}"}}`, "Set-Cookie"},
		{"set-cookie without forward_auth", `{` + ok + `,"header_up":{"Set-Cookie":"{oauth.sub}"}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h ResourceHandler
			if err := caddy.StrictUnmarshalJSON([]byte(tt.json), &h); err != nil {
				t.Fatal(err)
			}
			err := h.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestResourceForwardAuthAdapt: in a site, forward_auth does not take the origin from the
// site's addresses (they are where the proxy asks, not where clients call), and the adapted
// JSON loads back into the same handler.
func TestResourceForwardAuthAdapt(t *testing.T) {
	_, err := adapt(`http://127.0.0.1:9091 {
	oauth_resource {
		resource https://api.example.com
		issuer https://auth.example.com
		forward_auth
	}
}`)
	if err == nil || !strings.Contains(err.Error(), "forward_auth: set external_url") {
		t.Fatalf("forward_auth without an origin: error = %v, want one asking for external_url or hosts", err)
	}

	cfg, err := adapt(`http://127.0.0.1:9091 {
	@admin path /admin/*
	oauth_resource {
		resource https://api.example.com
		issuer https://auth.example.com
		hosts api.example.com
		forward_auth {
			path_prefix /ext_authz
		}
		rule @admin {
			scopes admin
		}
		header_up X-User {oauth.sub}
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	handlers := findHandlers(t, cfg, "oauth_resource")
	if len(handlers) != 1 {
		t.Fatalf("found %d oauth_resource handlers, want 1:\n%s", len(handlers), cfg)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(handlers[0], &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj, "handler")
	stripped, _ := json.Marshal(obj)
	var h ResourceHandler
	if err := caddy.StrictUnmarshalJSON(stripped, &h); err != nil {
		t.Fatalf("adapted JSON does not load: %v\n%s", err, stripped)
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("adapted JSON does not validate: %v", err)
	}
	again, _ := json.Marshal(&h)
	assertJSONEqual(t, again, stripped)
	assertJSONEqual(t, stripped, []byte(`{
		"resource": "https://api.example.com",
		"issuer": "https://auth.example.com",
		"hosts": ["api.example.com"],
		"forward_auth": true,
		"forward_auth_path_prefix": "/ext_authz",
		"rules": [{"match": [{"path": ["/admin/*"]}], "scopes": ["admin"]}],
		"header_up": {"X-User": "{oauth.sub}"}
	}`))
}

// TestForwardAuthEnvoyShape: Envoy's ext_authz HTTP service asks with the original method and
// Host and the original path behind its path_prefix; X-Forwarded-Proto is allowed through.
// No Envoy package exists for this system, so the test sends what Envoy sends, from the
// trusted proxy address, to a real Caddy. The site accepts any host, as the README's does:
// the Host is the client's, and a site address it missed would leave Caddy's empty 200.
func TestForwardAuthEnvoyShape(t *testing.T) {
	tc := newTestCaddy(t)
	authAddr := "127.0.0.1:" + freePort(t)
	front := "127.0.0.1:" + freePort(t)    // where clients call Envoy; nothing listens there
	deadAddr := "127.0.0.1:" + freePort(t) // a forward-auth endpoint whose issuer is down
	api := "http://" + front + "/api"
	// h2c: Envoy may ask over HTTP/2, and a gRPC call's refusal must still reach it as a
	// non-2xx status.
	globals := strings.Replace(tc.globals(), "persist_config off",
		"persist_config off\n servers {\n trusted_proxies static "+proxyAddr+"/32\n protocols h1 h2 h2c\n }", 1)
	cf := globals + fmt.Sprintf(`%[1]s {
	oauth_server {
		issuer %[1]s
		%[2]s
		resource %[3]s {
			scopes read write
		}
		client demo-service {
			secret %[4]s
			grant_types client_credentials
			scopes read write
			resources %[3]s
		}
	}
}
http://:%[5]s {
	bind 127.0.0.1
	oauth_resource {
		resource %[3]s
		issuer %[1]s
		external_url http://%[6]s
		forward_auth {
			path_prefix /ext_authz
		}
		rule /api/admin/* {
			scopes write
		}
		header_up X-User {oauth.sub}
	}
}
http://:%[7]s {
	bind 127.0.0.1
	oauth_resource {
		resource %[3]s
		issuer %[8]s
		external_url http://%[6]s
		forward_auth {
			path_prefix /ext_authz
		}
	}
}`, tc.issuer, tc.storage(), api, testSecret, strings.TrimPrefix(authAddr, "127.0.0.1:"), front,
		strings.TrimPrefix(deadAddr, "127.0.0.1:"), "http://127.0.0.1:"+freePort(t))
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}
	read := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, api, "read")
	prover := newDPoPProver(t)
	bound := dpopToken(t, prover, tc.issuer, api, "read")
	envoy := func(method, path string, h http.Header) *http.Response {
		if h.Get("X-Forwarded-Proto") == "" {
			h.Set("X-Forwarded-Proto", "http")
		}
		h.Set("Host", front) // Envoy passes the original :authority on
		return fromTrustedProxy(t, method, "http://"+authAddr+"/ext_authz"+path, h)
	}

	tests := []struct {
		name, method, path string
		header             http.Header
		wantStatus         int
	}{
		{"bearer", "GET", "/api/hello?x=1", http.Header{"Authorization": {"Bearer " + read}}, 200},
		{"no token", "GET", "/api/hello", http.Header{}, 401},
		{"the rule sees the path behind the prefix", "GET", "/api/admin/x", http.Header{"Authorization": {"Bearer " + read}}, 403},
		{"dpop proof for the original", "PUT", "/api/items/1", http.Header{"Authorization": {"DPoP " + bound},
			"Dpop": {prover.proof("PUT", api+"/items/1", bound)}}, 200},
		{"dpop proof naming the prefix", "PUT", "/api/items/1", http.Header{"Authorization": {"DPoP " + bound},
			"Dpop": {prover.proof("PUT", "http://"+front+"/ext_authz/api/items/1", bound)}}, 401},
		{"a path outside the prefix", "GET", "", http.Header{"Authorization": {"Bearer " + read}}, 400},
		{"the metadata path of the original is protected like any other", "GET", "/.well-known/oauth-protected-resource/api",
			http.Header{}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			if tt.path == "" {
				h := tt.header.Clone()
				h.Set("X-Forwarded-Proto", "http")
				resp = fromTrustedProxy(t, tt.method, "http://"+authAddr+"/api/hello", h)
			} else {
				resp = envoy(tt.method, tt.path, tt.header.Clone())
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (WWW-Authenticate %q), want %d", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tt.wantStatus)
			}
			if tt.wantStatus == 200 && resp.Header.Get("X-User") != "demo-service" {
				t.Errorf("X-User %q, want demo-service", resp.Header.Get("X-User"))
			}
		})
	}

	t.Run("a gRPC call's refusal is a plain 401, asked over HTTP/2", func(t *testing.T) {
		h := http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}, "X-Forwarded-Proto": {"http"}, "Host": {front}}
		resp := fromTrustedProxyWith(t, "POST", "http://"+authAddr+"/ext_authz/orders.v1.Orders/Get", h, true)
		if resp.ProtoMajor != 2 {
			t.Fatalf("asked over %s, want HTTP/2", resp.Proto)
		}
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("status %d WWW-Authenticate %q, want 401 with the challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("fails closed when the issuer is down", func(t *testing.T) {
		h := http.Header{"Authorization": {"Bearer " + read}, "X-Forwarded-Proto": {"http"}, "Host": {front}}
		resp := fromTrustedProxy(t, "GET", "http://"+deadAddr+"/ext_authz/api/hello", h)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})
}

// TestForwardAuthReadmeCaddyfile adapts the README's forward-auth Caddyfile as shown.
func TestForwardAuthReadmeCaddyfile(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Forward auth (nginx, Traefik, HAProxy, Envoy)")
	if !ok {
		t.Fatal("README: no forward auth section")
	}
	_, block, ok := strings.Cut(section, "```caddyfile\n")
	if !ok {
		t.Fatal("README forward auth section: no caddyfile block")
	}
	block, _, _ = strings.Cut(block, "```")
	cfg, err := adapt(block)
	if err != nil {
		t.Fatalf("README's forward-auth Caddyfile: %v", err)
	}
	if h := findHandlers(t, cfg, "oauth_resource"); len(h) != 1 || !strings.Contains(string(h[0]), `"forward_auth":true`) {
		t.Fatalf("adapted: %s", cfg)
	}
}

// TestForwardAuthWriter: to a proxy every 2xx is a pass, so only the accepting answer may
// write one; the challenges leave in one line.
func TestForwardAuthWriter(t *testing.T) {
	newWriter := func() (*httptest.ResponseRecorder, *forwardAuthWriter) {
		rec := httptest.NewRecorder()
		return rec, &forwardAuthWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: rec}}
	}

	rec, w := newWriter()
	w.Header().Add("WWW-Authenticate", `Bearer error="invalid_token"`)
	w.Header().Add("WWW-Authenticate", `DPoP algs="ES256"`)
	w.WriteHeader(http.StatusUnauthorized)
	if got := rec.Header().Values("WWW-Authenticate"); rec.Code != 401 || len(got) != 1 || got[0] != `Bearer error="invalid_token", DPoP algs="ES256"` {
		t.Errorf("401: status %d, WWW-Authenticate %q", rec.Code, got)
	}

	for name, write := range map[string]func(w *forwardAuthWriter){
		"WriteHeader(200)": func(w *forwardAuthWriter) { w.WriteHeader(http.StatusOK) },
		"Write":            func(w *forwardAuthWriter) { _, _ = w.Write([]byte("grpc-status 16")) },
		"WriteHeader(204)": func(w *forwardAuthWriter) { w.WriteHeader(http.StatusNoContent) },
	} {
		rec, w := newWriter()
		write(w)
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("%s without the accepting answer: status %d, want 500", name, rec.Code)
		}
	}

	rec, w = newWriter()
	r := httptest.NewRequest("GET", "/", nil)
	h := &ResourceHandler{}
	if err := (forwardAuthAnswer{h: h, authRequest: r}).ServeHTTP(w, r); err != nil || rec.Code != http.StatusOK {
		t.Errorf("the accepting answer: %d %v, want 200", rec.Code, err)
	}
}

// TestForwardAuthBehindCaddyForwardAuth: Caddy's own forward_auth directive (Caddy as the
// proxy, X-Forwarded-Method/-Uri with reverse_proxy's -Proto/-Host) asking another site of the
// same Caddy, whose server alone trusts the loopback peer.
func TestForwardAuthBehindCaddyForwardAuth(t *testing.T) {
	tc := newTestCaddy(t)
	upstream := echoUpstream(t)
	authPort, frontPort := freePort(t), freePort(t)
	front := "127.0.0.1:" + frontPort
	api := "http://" + front + "/api"
	globals := strings.Replace(tc.globals(), "persist_config off",
		"persist_config off\n servers 127.0.0.1:"+authPort+" {\n trusted_proxies static 127.0.0.1/32\n }", 1)
	cf := globals + fmt.Sprintf(`%[1]s {
	oauth_server {
		issuer %[1]s
		%[2]s
		resource %[3]s {
			scopes read write
		}
		client demo-service {
			secret %[4]s
			grant_types client_credentials
			scopes read write
			resources %[3]s
		}
	}
}
http://:%[5]s {
	bind 127.0.0.1
	@writes method POST PUT PATCH DELETE
	oauth_resource {
		resource %[3]s
		issuer %[1]s
		hosts %[6]s
		forward_auth
		rule @writes {
			scopes write
		}
		header_up X-User {oauth.sub}
	}
}
http://%[6]s {
	forward_auth 127.0.0.1:%[5]s {
		uri /auth
		copy_headers X-User
	}
	reverse_proxy %[7]s
}`, tc.issuer, tc.storage(), api, testSecret, authPort, front, upstream.URL)
	if err := tc.load(t, cf); err != nil {
		t.Fatal(err)
	}
	read := requestToken(t, tc.issuer+"/token", "demo-service", testSecret, api, "read")
	prover := newDPoPProver(t)
	bound := dpopToken(t, prover, tc.issuer, api, "read")

	tests := []struct {
		name, method, path string
		header             http.Header
		wantStatus         int
		wantChall          string
	}{
		{"bearer", "GET", "/api/x", http.Header{"Authorization": {"Bearer " + read}, "X-User": {"admin"}}, 200, ""},
		{"no token", "GET", "/api/x", http.Header{}, 401, `Bearer resource_metadata="`},
		{"the write rule sees the original method", "DELETE", "/api/x", http.Header{"Authorization": {"Bearer " + read}}, 403, `scope="write"`},
		{"dpop proof for the original", "GET", "/api/x?q=1", http.Header{"Authorization": {"DPoP " + bound},
			"Dpop": {prover.proof("GET", api+"/x", bound)}}, 200, ""},
		{"dpop proof for another path", "GET", "/api/x", http.Header{"Authorization": {"DPoP " + bound},
			"Dpop": {prover.proof("GET", api+"/y", bound)}}, 401, `DPoP error="invalid_dpop_proof"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://"+front+tt.path, nil)
			req.Header = tt.header
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var saw upstreamSaw
			if resp.StatusCode == 200 {
				if err := json.NewDecoder(resp.Body).Decode(&saw); err != nil {
					t.Fatalf("200 without the upstream's answer: %v", err)
				}
			}
			chall := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != tt.wantStatus || !strings.Contains(chall, tt.wantChall) {
				t.Fatalf("status %d WWW-Authenticate %q, want %d with %q", resp.StatusCode, chall, tt.wantStatus, tt.wantChall)
			}
			if tt.wantStatus == 200 && saw.Header.Get("X-User") != "demo-service" {
				t.Errorf("upstream X-User %q, want demo-service", saw.Header.Get("X-User"))
			}
		})
	}
}
