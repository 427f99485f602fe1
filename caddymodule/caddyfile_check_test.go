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
