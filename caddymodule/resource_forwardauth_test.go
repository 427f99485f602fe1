package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
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
