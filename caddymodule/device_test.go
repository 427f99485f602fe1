package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestCaddyfileDeviceAuthorization(t *testing.T) {
	const head = "oauth_server {\n issuer https://a.example\n "
	tests := []struct {
		name, input, want, wantErr string
	}{
		{name: "every option", input: head + "device_authorization {\n ttl 5m\n interval 3s\n user_code_charset digits\n user_code_mask ***-***-***\n verification_uri https://a.example/go\n }\n}",
			want: `{"issuer":"https://a.example","device_authorization":{"ttl":300000000000,"interval":3000000000,"user_code_charset":"digits","user_code_mask":"***-***-***","verification_uri":"https://a.example/go"}}`},
		{name: "off", input: head + "device_authorization off\n}",
			want: `{"issuer":"https://a.example","device_authorization":{"disabled":true}}`},
		{name: "empty block", input: head + "device_authorization {\n }\n}",
			want: `{"issuer":"https://a.example","device_authorization":{}}`},
		{name: "on is not a word", input: head + "device_authorization on\n}", wantErr: "want off or a block"},
		{name: "twice", input: head + "device_authorization off\n device_authorization off\n}", wantErr: "set twice"},
		{name: "unknown subdirective", input: head + "device_authorization {\n lifetime 30s\n }\n}",
			wantErr: `unknown device_authorization subdirective "lifetime"`},
		{name: "bad charset", input: head + "device_authorization {\n user_code_charset hex\n }\n}", wantErr: "user_code_charset"},
		{name: "bad ttl", input: head + "device_authorization {\n ttl soon\n }\n}", wantErr: `ttl: invalid duration "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

// TestValidateJSONDeviceAuthorization: a JSON config skips the Caddyfile parser, and Validate
// still applies the grant's rules.
func TestValidateJSONDeviceAuthorization(t *testing.T) {
	tests := []struct{ name, json, wantErr string }{
		{"ok", `{"issuer":"https://a.example","device_authorization":{"ttl":"15m","user_code_mask":"*****-*****"}}`, ""},
		{"weak mask", `{"issuer":"https://a.example","device_authorization":{"user_code_mask":"****"}}`, "bits"},
		{"ttl too long", `{"issuer":"https://a.example","device_authorization":{"ttl":"2h"}}`, "device_authorization ttl"},
		{"fractional interval", `{"issuer":"https://a.example","device_authorization":{"interval":"2500ms"}}`, "device_authorization interval"},
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

// TestIntegrationDeviceAuthorization: through a real Caddy, discovery advertises the endpoint,
// a device gets codes in the configured format, the verification page is served, and polling
// answers authorization_pending; "off" removes all of it.
func TestIntegrationDeviceAuthorization(t *testing.T) {
	tc := newTestCaddy(t)
	extra := `device_authorization {
			user_code_charset digits
			user_code_mask ***-***-***
			interval 2s
		}
		client tv {
			auth_method none
			grant_types urn:ietf:params:oauth:grant-type:device_code
			scopes openid
		}`
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), extra)); err != nil {
		t.Fatalf("loading: %v", err)
	}
	var meta map[string]any
	getJSON(t, tc.issuer+"/.well-known/openid-configuration", &meta)
	if meta["device_authorization_endpoint"] != tc.issuer+"/device_authorization" {
		t.Fatalf("discovery: %v", meta["device_authorization_endpoint"])
	}
	status, body := postPublic(t, tc.issuer+"/device_authorization", url.Values{"client_id": {"tv"}, "scope": {"openid"}})
	var codes map[string]any
	if err := json.Unmarshal(body, &codes); err != nil || status != http.StatusOK {
		t.Fatalf("device authorization: %d %s", status, body)
	}
	if !regexp.MustCompile(`^\d{3}-\d{3}-\d{3}$`).MatchString(codes["user_code"].(string)) || codes["interval"] != float64(2) ||
		codes["verification_uri"] != tc.issuer+"/device" {
		t.Fatalf("codes: %v", codes)
	}
	status, page := get(t, codes["verification_uri_complete"].(string))
	if status != http.StatusOK || !strings.Contains(page, `name="user_code"`) {
		t.Fatalf("verification page: %d %s", status, page)
	}
	status, body = postPublic(t, tc.issuer+"/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"client_id": {"tv"}, "device_code": {codes["device_code"].(string)}})
	if status != http.StatusBadRequest || !strings.Contains(string(body), "authorization_pending") {
		t.Fatalf("poll: %d %s", status, body)
	}

	off := "device_authorization off\n" + extra[strings.Index(extra, "client tv"):]
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), off)); err != nil {
		t.Fatalf("loading with the grant off: %v", err)
	}
	meta = nil
	getJSON(t, tc.issuer+"/.well-known/openid-configuration", &meta)
	if _, ok := meta["device_authorization_endpoint"]; ok {
		t.Fatal("discovery still advertises the device endpoint")
	}
	// The path falls through to the next handler of the site.
	if status, page := get(t, tc.issuer+"/device"); strings.Contains(page, `name="user_code"`) {
		t.Fatalf("the verification page is still served: %d %s", status, page)
	}
}

// postPublic posts form as a public client: no Authorization header.
func postPublic(t *testing.T, endpoint string, form url.Values) (int, []byte) {
	t.Helper()
	resp, err := client.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
