package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

// PushedAuthorizationRequests configures the PAR endpoint (RFC 9126), which is always on.
type PushedAuthorizationRequests struct {
	// Required makes every client push its authorization requests
	// (require_pushed_authorization_requests in discovery).
	Required bool `json:"required,omitempty"`
	// TTL is how long a request_uri stays valid (default 60s; at least 1s, below 10m).
	TTL caddy.Duration `json:"ttl,omitempty"`
}

// config is the authserver form; nil (absent) is the defaults.
func (p *PushedAuthorizationRequests) config() authserver.PARConfig {
	if p == nil {
		return authserver.PARConfig{}
	}
	return authserver.PARConfig{Required: p.Required, TTL: time.Duration(p.TTL)}
}

// parsePushedAuthorizationRequests reads
//
//	pushed_authorization_requests {
//	    required [true|false]
//	    ttl <duration>
//	}
//
// The TTL's bounds are checked where the server is made (authserver.PARConfig).
func parsePushedAuthorizationRequests(d *caddyfile.Dispenser) (*PushedAuthorizationRequests, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	p := &PushedAuthorizationRequests{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "required":
			p.Required, err = boolArg(d)
		case "ttl":
			p.TTL, err = durationArg(d)
		default:
			return nil, d.Errf("unknown pushed_authorization_requests subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}
