package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestCaddyfileDelegatedLogin(t *testing.T) {
	const head = "oauth_server {\n issuer https://a.example\n "
	tests := []struct {
		name, input, want, wantErr string
	}{
		{name: "every option", input: head + "delegated_login {\n login_url https://login.example/in\n consent_url https://login.example/consent\n api_secret {env.LOGIN_APP_SECRET}\n ttl 5m\n }\n}",
			want: `{"issuer":"https://a.example","delegated_login":{"login_url":"https://login.example/in","consent_url":"https://login.example/consent","api_secret":"{env.LOGIN_APP_SECRET}","ttl":300000000000}}`},
		{name: "argument", input: head + "delegated_login https://login.example/in\n}", wantErr: "wrong argument count"},
		{name: "twice", input: head + "delegated_login {\n }\n delegated_login {\n }\n}", wantErr: "set twice"},
		{name: "unknown subdirective", input: head + "delegated_login {\n secret x\n }\n}", wantErr: `unknown delegated_login subdirective "secret"`},
		{name: "bad ttl", input: head + "delegated_login {\n ttl soon\n }\n}", wantErr: `ttl: invalid duration "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

// TestValidateJSONDelegatedLogin: JSON skips the Caddyfile parser; Validate applies the rules
// of delegated.Config (placeholders in the secret resolve only at run time).
func TestValidateJSONDelegatedLogin(t *testing.T) {
	tests := []struct{ name, json, wantErr string }{
		{"ok", `{"issuer":"https://a.example","delegated_login":{"login_url":"https://login.example/in","api_secret":"0123456789abcdef0123456789abcdef"}}`, ""},
		{"placeholder secret", `{"issuer":"https://a.example","delegated_login":{"login_url":"https://login.example/in","api_secret":"{env.S}"}}`, ""},
		{"short secret", `{"issuer":"https://a.example","delegated_login":{"login_url":"https://login.example/in","api_secret":"short"}}`, "api_secret"},
		{"no url", `{"issuer":"https://a.example","delegated_login":{"api_secret":"0123456789abcdef0123456789abcdef"}}`, "login_url or consent_url"},
		{"relative url", `{"issuer":"https://a.example","delegated_login":{"consent_url":"/consent","api_secret":"0123456789abcdef0123456789abcdef"}}`, "consent_url"},
		{"ttl too long", `{"issuer":"https://a.example","delegated_login":{"login_url":"https://l.example/","api_secret":"0123456789abcdef0123456789abcdef","ttl":"2h"}}`, "delegated_login ttl"},
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
