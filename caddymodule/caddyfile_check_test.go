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
