package caddymodule

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestBackchannelLogoutCaddyfile(t *testing.T) {
	const base = "oauth_server {\n issuer https://a.example\n"
	tests := []struct {
		name, input string
		want        string
		wantErr     string
	}{
		{name: "full block", input: base + " backchannel_logout {\n timeout 3s\n max_age 2h\n workers 16\n }\n}",
			want: `{"issuer":"https://a.example","backchannel_logout":{"timeout":3000000000,"max_age":7200000000000,"workers":16}}`},
		{name: "empty block keeps defaults", input: base + " backchannel_logout {\n }\n}", want: `{"issuer":"https://a.example","backchannel_logout":{}}`},
		{name: "argument", input: base + " backchannel_logout on\n}", wantErr: "wrong argument count"},
		{name: "twice", input: base + " backchannel_logout\n backchannel_logout\n}", wantErr: "declared twice"},
		{name: "unknown subdirective", input: base + " backchannel_logout {\n retries 3\n }\n}", wantErr: `unknown backchannel_logout subdirective "retries"`},
		{name: "bad timeout", input: base + " backchannel_logout {\n timeout soon\n }\n}", wantErr: `timeout: invalid duration "soon"`},
		{name: "negative max_age", input: base + " backchannel_logout {\n max_age -1h\n }\n}", wantErr: "must not be negative"},
		{name: "zero workers", input: base + " backchannel_logout {\n workers 0\n }\n}", wantErr: "workers: want a number from 1 to 1000"},
		{name: "too many workers", input: base + " backchannel_logout {\n workers 5000\n }\n}", wantErr: "workers: want a number from 1 to 1000"},
		{name: "max_age shorter than timeout", input: base + " backchannel_logout {\n timeout 10s\n max_age 5s\n }\n}", wantErr: "max_age 5s is shorter than one attempt's timeout 10s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

func TestBackchannelLogoutJSON(t *testing.T) {
	tests := []struct{ name, json, wantErr string }{
		{"defaults", `{"issuer":"https://a.example","backchannel_logout":{}}`, ""},
		{"durations as strings", `{"issuer":"https://a.example","backchannel_logout":{"timeout":"2s","max_age":"1h","workers":4}}`, ""},
		{"negative workers", `{"issuer":"https://a.example","backchannel_logout":{"workers":-1}}`, "must not be negative"},
		{"max_age under timeout", `{"issuer":"https://a.example","backchannel_logout":{"timeout":"1m","max_age":"30s"}}`, "shorter than one attempt's timeout"},
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

// TestBackchannelLogoutAdapt: `caddy adapt` output loads back and reaches the server's config.
func TestBackchannelLogoutAdapt(t *testing.T) {
	cfg, err := adapt("https://auth.example {\n oauth_server {\n issuer https://auth.example\n backchannel_logout {\n timeout 2s\n max_age 30m\n workers 3\n }\n }\n}")
	if err != nil {
		t.Fatal(err)
	}
	handlers := findHandlers(t, cfg, "oauth_server")
	if len(handlers) != 1 {
		t.Fatalf("%d oauth_server handlers", len(handlers))
	}
	h := loadHandler(t, handlers[0])
	ac, err := h.authConfig(caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	if b := ac.BackchannelLogout; b.Timeout != 2*time.Second || b.MaxAge != 30*time.Minute || b.Workers != 3 {
		t.Errorf("backchannel_logout reached the server as %+v", b)
	}
}
