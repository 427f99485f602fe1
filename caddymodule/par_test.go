package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestCaddyfilePushedAuthorizationRequests(t *testing.T) {
	const head = "oauth_server {\n issuer https://a.example\n "
	tests := []struct {
		name, input, want, wantErr string
	}{
		{name: "required and ttl", input: head + "pushed_authorization_requests {\n required\n ttl 30s\n }\n}",
			want: `{"issuer":"https://a.example","pushed_authorization_requests":{"required":true,"ttl":30000000000}}`},
		{name: "required false", input: head + "pushed_authorization_requests {\n required false\n }\n}",
			want: `{"issuer":"https://a.example","pushed_authorization_requests":{}}`},
		{name: "empty block", input: head + "pushed_authorization_requests {\n }\n}",
			want: `{"issuer":"https://a.example","pushed_authorization_requests":{}}`},
		{name: "argument", input: head + "pushed_authorization_requests on\n}", wantErr: "wrong argument count"},
		{name: "twice", input: head + "pushed_authorization_requests\n pushed_authorization_requests\n}", wantErr: "set twice"},
		{name: "unknown subdirective", input: head + "pushed_authorization_requests {\n lifetime 30s\n }\n}",
			wantErr: `unknown pushed_authorization_requests subdirective "lifetime"`},
		{name: "bad ttl", input: head + "pushed_authorization_requests {\n ttl soon\n }\n}", wantErr: `ttl: invalid duration "soon"`},
		{name: "bad required", input: head + "pushed_authorization_requests {\n required maybe\n }\n}", wantErr: "required: want true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

// TestIntegrationPushedAuthorizationRequests: through a real Caddy, discovery advertises the
// PAR endpoint and the requirement, a push answers with the configured expires_in, a plain
// authorization request is refused and the pushed one reaches the login page; a TTL of 10
// minutes or more does not adapt.
func TestIntegrationPushedAuthorizationRequests(t *testing.T) {
	tc := newTestCaddy(t)
	const redirect = "https://app.example/cb"
	extra := `pushed_authorization_requests {
			required
			ttl 45s
		}
		client web {
			secret ` + testSecret + `
			grant_types authorization_code
			redirect_uris ` + redirect + `
		}`
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), extra)); err != nil {
		t.Fatalf("loading: %v", err)
	}
	var meta map[string]any
	getJSON(t, tc.issuer+"/.well-known/oauth-authorization-server", &meta)
	if meta["pushed_authorization_request_endpoint"] != tc.issuer+"/par" || meta["require_pushed_authorization_requests"] != true {
		t.Fatalf("discovery: %v, %v", meta["pushed_authorization_request_endpoint"], meta["require_pushed_authorization_requests"])
	}
	params := url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {redirect}, "state": {"s"},
		"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
	status, body := postForm(t, tc.issuer+"/par", "web", testSecret, params)
	var pushed struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &pushed); err != nil || status != http.StatusCreated || pushed.ExpiresIn != 45 {
		t.Fatalf("push: %d %s", status, body)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(tc.issuer + "/authorize?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "error=invalid_request") {
		t.Fatalf("plain request: %d %q, want a redirect with invalid_request", resp.StatusCode, loc)
	}
	status, page := get(t, tc.issuer+"/authorize?"+url.Values{"client_id": {"web"}, "request_uri": {pushed.RequestURI}}.Encode())
	if status != http.StatusOK || !strings.Contains(page, `name="password"`) {
		t.Fatalf("pushed request: %d %s", status, page)
	}

	tooLong := strings.Replace(extra, "ttl 45s", "ttl 10m", 1)
	if _, err := adapt(tc.caddyfile(t, tc.storage(), tooLong)); err == nil || !strings.Contains(err.Error(), "pushed_authorization_requests ttl") {
		t.Fatalf("ttl 10m adapted: %v", err)
	}
}

// TestValidateJSONPushedAuthorizationRequests: a JSON config skips the Caddyfile parser, and
// Validate still applies the TTL's bounds.
func TestValidateJSONPushedAuthorizationRequests(t *testing.T) {
	tests := []struct{ name, json, wantErr string }{
		{"ok", `{"issuer":"https://a.example","pushed_authorization_requests":{"required":true,"ttl":"90s"}}`, ""},
		{"ttl 10m", `{"issuer":"https://a.example","pushed_authorization_requests":{"ttl":"10m"}}`, "pushed_authorization_requests ttl 10m0s"},
		{"negative ttl", `{"issuer":"https://a.example","pushed_authorization_requests":{"ttl":"-1s"}}`, "pushed_authorization_requests ttl -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			if err := caddy.StrictUnmarshalJSON([]byte(tt.json), &h); err != nil {
				t.Fatal(err)
			}
			err := h.Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
