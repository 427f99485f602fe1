package caddymodule

import (
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

func TestAccountPagesCaddyfile(t *testing.T) {
	base := "oauth_server {\n issuer https://a.example\n"
	tests := []struct{ name, input, want, wantErr string }{
		{name: "default", input: base + "}", want: `{"issuer":"https://a.example"}`},
		{name: "off", input: base + " account_pages off\n}", want: `{"issuer":"https://a.example","account_pages":{"disabled":true}}`},
		{name: "on", input: base + " account_pages on\n}", want: `{"issuer":"https://a.example","account_pages":{}}`},
		{name: "bad argument", input: base + " account_pages maybe\n}", wantErr: "want on or off"},
		{name: "no argument", input: base + " account_pages\n}", wantErr: "wrong argument count"},
		{name: "twice", input: base + " account_pages off\n account_pages on\n}", wantErr: "set twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

func TestAccountPagesConfig(t *testing.T) {
	for _, tt := range []struct {
		in   *AccountPages
		want authserver.AccountPagesConfig
	}{
		{nil, authserver.AccountPagesConfig{}},
		{&AccountPages{}, authserver.AccountPagesConfig{}},
		{&AccountPages{Disabled: true}, authserver.AccountPagesConfig{Disabled: true}},
	} {
		if got := tt.in.config(); got != tt.want {
			t.Errorf("%+v.config() = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
