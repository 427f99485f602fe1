package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/ciba"
)

// CIBA turns on client-initiated backchannel authentication (OpenID CIBA Core 1.0): off
// unless present.
type CIBA struct {
	// DeliveryModes are the token delivery modes clients may register (default poll ping push).
	DeliveryModes []string `json:"delivery_modes,omitempty"`
	// Expiry is a request's lifetime when the client asks for none (default 5m); MaxExpiry
	// bounds requested_expiry (default 30m).
	Expiry    caddy.Duration `json:"expiry,omitempty"`
	MaxExpiry caddy.Duration `json:"max_expiry,omitempty"`
	// Interval is the polling interval clients start with (default 5s).
	Interval caddy.Duration `json:"interval,omitempty"`
	// Notifier is a URL that receives a JSON description of each new request, to ask the
	// user by other means (a push notification, a text message).
	Notifier string `json:"notifier,omitempty"`
}

func (c *CIBA) config() authserver.CIBAConfig {
	if c == nil {
		return authserver.CIBAConfig{}
	}
	return authserver.CIBAConfig{Enabled: true, Notifier: c.Notifier, Config: ciba.Config{DeliveryModes: c.DeliveryModes,
		Expiry: time.Duration(c.Expiry), MaxExpiry: time.Duration(c.MaxExpiry), Interval: time.Duration(c.Interval)}}
}

// parseCIBA reads
//
//	ciba {
//	    delivery_modes poll|ping|push...
//	    expiry <duration>
//	    max_expiry <duration>
//	    interval <duration>
//	    notifier <url>
//	}
func parseCIBA(d *caddyfile.Dispenser) (*CIBA, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	c := &CIBA{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "delivery_modes":
			c.DeliveryModes, err = enumArgs(d, ciba.Modes)
		case "expiry":
			c.Expiry, err = durationArg(d)
		case "max_expiry":
			c.MaxExpiry, err = durationArg(d)
		case "interval":
			c.Interval, err = durationArg(d)
		case "notifier":
			c.Notifier, err = oneArg(d)
		default:
			return nil, d.Errf("unknown ciba subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}
