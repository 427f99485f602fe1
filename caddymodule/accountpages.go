package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

// AccountPages configures the signed-in user's self-service pages (/account below the
// issuer): on by default.
type AccountPages struct {
	// Disabled removes the pages (/account and everything below it answers 404).
	Disabled bool `json:"disabled,omitempty"`
}

func (o *AccountPages) config() authserver.AccountPagesConfig {
	if o == nil {
		return authserver.AccountPagesConfig{}
	}
	return authserver.AccountPagesConfig{Disabled: o.Disabled}
}

// parseAccountPages reads
//
//	account_pages off|on
func parseAccountPages(d *caddyfile.Dispenser) (*AccountPages, error) {
	v, err := oneArg(d)
	if err != nil {
		return nil, err
	}
	switch v {
	case "off":
		return &AccountPages{Disabled: true}, nil
	case "on":
		return &AccountPages{}, nil
	}
	return nil, d.Errf("account_pages: want on or off, got %q", v)
}
