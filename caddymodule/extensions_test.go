package caddymodule

import (
	"strings"
	"testing"

	_ "github.com/caddy-oauth/caddy-oauth/examples/extension" // oauth.grants.api_key, oauth.claims.static
)

func TestCaddyfileExtensionModules(t *testing.T) {
	const head = "oauth_server {\n issuer https://a.example\n "
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		name, input, want, wantErr string
	}{
		{name: "grant and claims", input: head + "grant api_key {\n key " + hash + " bot read\n }\n claims static {\n claim env prod\n }\n}",
			want: `{"issuer":"https://a.example","grants":[{"grant":"api_key","keys":[{"sha256":"` + hash + `","subject":"bot","scopes":["read"]}]}],` +
				`"claim_contributors":[{"claims":{"env":"prod"},"contributor":"static"}]}`},
		{name: "two contributors keep their order", input: head + "claims static {\n claim a 1\n }\n claims static {\n claim b 2\n }\n}",
			want: `{"issuer":"https://a.example","claim_contributors":[{"claims":{"a":"1"},"contributor":"static"},{"claims":{"b":"2"},"contributor":"static"}]}`},
		{name: "a client given the extension's grant type", input: head + "grant api_key\n client c {\n secret s0123456789abcdef0123456789abcdef\n grant_types urn:caddy-oauth:params:grant-type:api-key\n }\n}",
			want: `{"issuer":"https://a.example","grants":[{"grant":"api_key"}],"clients":[{"client_id":"c","secret":"s0123456789abcdef0123456789abcdef","grant_types":["urn:caddy-oauth:params:grant-type:api-key"]}]}`},
		{name: "a grant type no extension serves", input: head + "client c {\n secret s0123456789abcdef0123456789abcdef\n grant_types urn:caddy-oauth:params:grant-type:api-key\n }\n}",
			wantErr: "is unknown"},
		{name: "unknown grant module", input: head + "grant magic {\n }\n}", wantErr: "oauth.grants.magic"},
		{name: "unknown claims module", input: head + "claims magic\n}", wantErr: "oauth.claims.magic"},
		{name: "grant without a name", input: head + "grant\n}", wantErr: "wrong argument count"},
		{name: "the module's own subdirectives", input: head + "grant api_key {\n secret x\n }\n}", wantErr: `unknown api_key subdirective "secret"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}
