package caddymodule

import (
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

// BackchannelLogout tunes the delivery of back-channel logout tokens to clients with a
// backchannel_logout_uri. Back-channel logout is always on; this only changes its limits.
// outbound_allow_private decides whether logout URIs may be private or loopback addresses.
type BackchannelLogout struct {
	// Timeout bounds one delivery attempt (default 5s).
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxAge is how long a delivery is retried before it is dropped with a log line
	// (default 24h).
	MaxAge caddy.Duration `json:"max_age,omitempty"`
	// Workers is how many deliveries one instance attempts at once (default 8).
	Workers int `json:"workers,omitempty"`
}

// config is the authserver form; nil (absent) means the defaults.
func (b *BackchannelLogout) config() authserver.BackchannelLogoutConfig {
	if b == nil {
		return authserver.BackchannelLogoutConfig{}
	}
	return authserver.BackchannelLogoutConfig{
		Timeout: time.Duration(b.Timeout),
		MaxAge:  time.Duration(b.MaxAge),
		Workers: b.Workers,
	}
}

// parseBackchannelLogout reads
//
//	backchannel_logout {
//	    timeout <duration>
//	    max_age <duration>
//	    workers <n>
//	}
func parseBackchannelLogout(d *caddyfile.Dispenser) (*BackchannelLogout, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	b := &BackchannelLogout{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "timeout":
			b.Timeout, err = durationArg(d)
		case "max_age":
			b.MaxAge, err = durationArg(d)
		case "workers":
			var s string
			if s, err = oneArg(d); err == nil {
				if b.Workers, err = strconv.Atoi(s); err != nil || b.Workers <= 0 || b.Workers > 1000 {
					err = d.Errf("workers: want a number from 1 to 1000, got %q", s)
				}
			}
		default:
			return nil, d.Errf("unknown backchannel_logout subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}
