package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// checkCaddyfile unmarshals input into a fresh handler of type H and checks the outcome: the
// JSON it must adapt to (want), or a substring of the error it must fail with (wantErr). Every
// Caddyfile table test of the package runs its rows through it.
func checkCaddyfile[H any, P interface {
	*H
	caddyfile.Unmarshaler
}](t *testing.T, input, want, wantErr string) {
	t.Helper()
	h := P(new(H))
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error = %v, want it to contain %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	got, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, got, []byte(want))
}

func TestProfileCaddyfile(t *testing.T) {
	base := "oauth_server {\n issuer https://a.example\n"
	tests := []struct{ name, input, want, wantErr string }{
		{name: "fapi2", input: base + " profile fapi2\n}", want: `{"issuer":"https://a.example","profile":"fapi2"}`},
		{name: "message signing", input: base + " profile fapi2_message_signing\n}", want: `{"issuer":"https://a.example","profile":"fapi2_message_signing"}`},
		{name: "unknown profile", input: base + " profile fapi1\n}", wantErr: `profile "fapi1"`},
		{name: "plain PKCE under a profile", input: base + " profile fapi2\n allow_plain_pkce\n}", wantErr: "allow_plain_pkce must be off"},
		{name: "long codes under a profile", input: base + " profile fapi2\n code_ttl 2m\n}", wantErr: "code_ttl 2m0s is longer than 1m0s"},
		{name: "no FAPI signing alg", input: base + " profile fapi2\n signing_algs RS256\n access_token_signing_alg RS256\n}", wantErr: "signing_algs needs one of PS256, ES256, EdDSA"},
		{name: "missing argument", input: base + " profile\n}", wantErr: "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

func TestClientSecurityCaddyfile(t *testing.T) {
	client := func(body string) string {
		return "oauth_server {\n issuer https://a.example\n client c {\n" + body + "\n }\n}"
	}
	const jwks = "jwks `" + `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}` + "`"
	tests := []struct{ name, input, want, wantErr string }{
		{name: "mTLS client", input: client(" auth_method tls_client_auth\n tls_client_auth_subject_dn \"CN=client,O=Example\"\n tls_client_certificate_bound_access_tokens"),
			want: `{"issuer":"https://a.example","clients":[{"client_id":"c","auth_method":"tls_client_auth","tls_client_auth_subject_dn":"CN=client,O=Example","tls_client_certificate_bound_access_tokens":true}]}`},
		{name: "secured requests", input: client(" " + jwks + "\n require_pushed_authorization_requests\n require_signed_request_object\n request_object_signing_alg ES256\n authorization_signed_response_alg ES256\n profile fapi2"),
			want: `{"issuer":"https://a.example","clients":[{"client_id":"c","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]},"require_pushed_authorization_requests":true,"require_signed_request_object":true,"request_object_signing_alg":"ES256","authorization_signed_response_alg":"ES256","profile":"fapi2"}]}`},
		{name: "flag set off", input: client(" " + jwks + "\n require_pushed_authorization_requests false"), want: `{"issuer":"https://a.example","clients":[{"client_id":"c","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}]}`},
		{name: "two names for tls_client_auth", input: client(" auth_method tls_client_auth\n tls_client_auth_san_dns a.example\n tls_client_auth_san_email x@a.example"), wantErr: "needs exactly one of"},
		{name: "profile with a secret", input: client(" secret s3cret-s3cret-s3cret-s3cret\n profile fapi2"), wantErr: "profile fapi2 allows only"},
		{name: "unknown profile", input: client(" " + jwks + "\n profile fapi9"), wantErr: "profile"},
		{name: "string field without a value", input: client(" request_object_signing_alg"), wantErr: "wrong argument count"},
		{name: "still unknown", input: client(" tls_client_auth_san_phone 123"), wantErr: `unknown client subdirective "tls_client_auth_san_phone"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

func TestRequestObjectsCaddyfile(t *testing.T) {
	base := "oauth_server {\n issuer https://a.example\n"
	tests := []struct{ name, input, want, wantErr string }{
		{name: "off", input: base + " request_objects off\n}", want: `{"issuer":"https://a.example","request_objects":{"disabled":true}}`},
		{name: "required", input: base + " request_objects {\n required\n max_lifetime 10m\n }\n}", want: `{"issuer":"https://a.example","request_objects":{"required":true,"max_lifetime":600000000000}}`},
		{name: "bad argument", input: base + " request_objects on\n}", wantErr: "want off or a block"},
		{name: "lifetime too long", input: base + " request_objects {\n max_lifetime 48h\n }\n}", wantErr: "want 1m to 24h"},
		{name: "encryption", input: base + " request_objects {\n encryption\n }\n}", want: `{"issuer":"https://a.example","request_objects":{"encryption":true}}`},
		{name: "unknown", input: base + " request_objects {\n encrypted\n }\n}", wantErr: `unknown request_objects subdirective "encrypted"`},
		{name: "twice", input: base + " request_objects off\n request_objects off\n}", wantErr: "set twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}
