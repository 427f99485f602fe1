package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

const publisherJWKS = `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"publisher"}]}`

// TestRegistrationCaddyfile: the registration block parses to its JSON, and the rules of
// registration.Config refuse the same mistakes from the Caddyfile and from JSON.
func TestRegistrationCaddyfile(t *testing.T) {
	const head = "oauth_server {\n issuer https://a.example\n"
	tests := []struct {
		name, input string
		want        string
		wantErr     string
	}{
		{name: "policy only", input: head + " registration {\n policy open\n }\n}",
			want: `{"issuer":"https://a.example","registration":{"policy":"open"}}`},
		{name: "every option", input: head + " resource https://api.example\n registration {\n policy initial_access_token\n initial_access_token {env.REGISTRATION_TOKEN}\n" +
			" grant_types authorization_code client_credentials\n scopes openid read\n resources https://api.example\n auth_methods client_secret_basic none\n" +
			" client_secret_ttl 720h\n redirect_uris_https_only\n redirect_hosts app.example 127.0.0.1\n software_statement_jwks `" + publisherJWKS + "`\n require_software_statement\n }\n}",
			want: `{"issuer":"https://a.example","resources":[{"identifier":"https://api.example"}],"registration":{"policy":"initial_access_token","initial_access_token":"{env.REGISTRATION_TOKEN}",` +
				`"grant_types":["authorization_code","client_credentials"],"scopes":["openid","read"],"resources":["https://api.example"],"auth_methods":["client_secret_basic","none"],` +
				`"client_secret_ttl":2592000000000000,"redirect_uris_https_only":true,"redirect_hosts":["app.example","127.0.0.1"],"software_statement_jwks":` + publisherJWKS + `,"require_software_statement":true}}`},
		{name: "unknown policy", input: head + " registration {\n policy anyone\n }\n}", wantErr: `policy: unsupported value "anyone"`},
		{name: "unknown option", input: head + " registration {\n allow everything\n }\n}", wantErr: `registration: unknown subdirective "allow"`},
		{name: "arguments on the block", input: head + " registration open\n}", wantErr: "wrong argument count"},
		{name: "twice", input: head + " registration {\n policy open\n }\n registration {\n policy off\n }\n}", wantErr: "registration: declared twice"},
		{name: "unknown grant type", input: head + " registration {\n policy open\n grant_types password\n }\n}", wantErr: `grant_types: "password" is unknown`},
		{name: "unknown auth method", input: head + " registration {\n policy open\n auth_methods client_secret_magic\n }\n}", wantErr: `auth_methods: unsupported value "client_secret_magic"`},
		{name: "short static token", input: head + " registration {\n policy initial_access_token\n initial_access_token short\n }\n}", wantErr: "initial_access_token: must be at least 32 characters"},
		{name: "static token with open policy", input: head + " registration {\n policy open\n initial_access_token " + strings.Repeat("x", 40) + "\n }\n}", wantErr: "applies only to policy initial_access_token"},
		{name: "jwks not JSON", input: head + " registration {\n policy open\n software_statement_jwks nope\n }\n}", wantErr: "software_statement_jwks must be a JSON JWK Set"},
		{name: "private key in jwks", input: head + " registration {\n policy open\n software_statement_jwks `{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}`\n }\n}", wantErr: "software_statement_jwks: must hold valid public keys only"},
		{name: "statements required without keys", input: head + " registration {\n policy open\n require_software_statement\n }\n}", wantErr: "require_software_statement: needs software_statement_jwks"},
		{name: "bad resource", input: head + " registration {\n policy open\n resources /api\n }\n}", wantErr: "must be an absolute URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

func TestRegistrationJSON(t *testing.T) {
	tests := []struct{ name, json, wantErr string }{
		{"off by default", `{"issuer":"https://a.example"}`, ""},
		{"open", `{"issuer":"https://a.example","registration":{"policy":"open"}}`, ""},
		{"unknown policy", `{"issuer":"https://a.example","registration":{"policy":"anyone"}}`, "registration: policy: want one of off, initial_access_token, open"},
		{"negative secret ttl", `{"issuer":"https://a.example","registration":{"policy":"open","client_secret_ttl":-1}}`, "client_secret_ttl: must not be negative"},
		{"short static token", `{"issuer":"https://a.example","registration":{"policy":"initial_access_token","initial_access_token":"short"}}`, "at least 32 characters"},
		{"placeholder token is fine at adapt time", `{"issuer":"https://a.example","registration":{"policy":"initial_access_token","initial_access_token":"{env.T}"}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
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
