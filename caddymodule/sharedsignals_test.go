package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestSharedSignalsCaddyfile: the shared_signals subdirective parses to its JSON, and the
// transmitter's rules refuse the same mistakes from the Caddyfile and from JSON.
func TestSharedSignalsCaddyfile(t *testing.T) {
	const head = "oauth_server {\n issuer https://a.example\n"
	tests := []struct{ name, input, want, wantErr string }{
		{name: "on by default", input: head + "}", want: `{"issuer":"https://a.example"}`},
		{name: "options", input: head + " shared_signals {\n long_poll 30s\n stream_inactivity 72h\n }\n}",
			want: `{"issuer":"https://a.example","shared_signals":{"long_poll":30000000000,"stream_inactivity":259200000000000}}`},
		{name: "off", input: head + " shared_signals off\n}", want: `{"issuer":"https://a.example","shared_signals":{"enabled":false}}`},
		{name: "empty block", input: head + " shared_signals {\n }\n}", want: `{"issuer":"https://a.example","shared_signals":{}}`},
		{name: "unknown argument", input: head + " shared_signals on\n}", wantErr: "shared_signals: want `off` or a block"},
		{name: "off with a block", input: head + " shared_signals off {\n long_poll 1s\n }\n}", wantErr: "takes no block"},
		{name: "unknown option", input: head + " shared_signals {\n push https://gw.example\n }\n}", wantErr: `shared_signals: unknown subdirective "push"`},
		{name: "bad duration", input: head + " shared_signals {\n long_poll soon\n }\n}", wantErr: `long_poll: invalid duration "soon"`},
		{name: "long poll too long", input: head + " shared_signals {\n long_poll 10m\n }\n}", wantErr: "long_poll must be at most 5m0s"},
		{name: "twice", input: head + " shared_signals off\n shared_signals off\n}", wantErr: "shared_signals: declared twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

func TestSharedSignalsJSON(t *testing.T) {
	tests := []struct{ name, json, wantErr string }{
		{"off", `{"issuer":"https://a.example","shared_signals":{"enabled":false}}`, ""},
		{"options", `{"issuer":"https://a.example","shared_signals":{"long_poll":1000000000,"stream_inactivity":3600000000000}}`, ""},
		{"negative inactivity", `{"issuer":"https://a.example","shared_signals":{"stream_inactivity":-1}}`, "must not be negative"},
		{"long poll too long", `{"issuer":"https://a.example","shared_signals":{"long_poll":600000000000}}`, "long_poll must be at most"},
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
