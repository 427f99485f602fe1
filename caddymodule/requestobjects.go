package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

// RequestObjects configures JWT-secured authorization requests (RFC 9101), accepted by default.
type RequestObjects struct {
	// Disabled refuses the request parameter (request_not_supported).
	Disabled bool `json:"disabled,omitempty"`
	// Required makes every client send signed request objects (require_signed_request_object).
	Required bool `json:"required,omitempty"`
	// MaxLifetime bounds how far ahead a request object's exp may be (default 60m).
	MaxLifetime caddy.Duration `json:"max_lifetime,omitempty"`
	// Encryption accepts request objects encrypted to the server's RSA-OAEP-256 and ECDH-ES
	// keys, which are then kept, rotated and published with use "enc".
	Encryption bool `json:"encryption,omitempty"`
}

func (o *RequestObjects) config() authserver.RequestObjectConfig {
	if o == nil {
		return authserver.RequestObjectConfig{}
	}
	return authserver.RequestObjectConfig{Disabled: o.Disabled, Required: o.Required, MaxLifetime: time.Duration(o.MaxLifetime), Encryption: o.Encryption}
}

// parseRequestObjects reads
//
//	request_objects off
//	request_objects {
//	    required [true|false]
//	    max_lifetime <duration>
//	    encryption [true|false]
//	}
func parseRequestObjects(d *caddyfile.Dispenser) (*RequestObjects, error) {
	o := &RequestObjects{}
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() {
			return nil, d.Errf("request_objects: want off or a block")
		}
		o.Disabled = true
		return o, nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "required":
			o.Required, err = boolArg(d)
		case "max_lifetime":
			o.MaxLifetime, err = durationArg(d)
		case "encryption":
			o.Encryption, err = boolArg(d)
		default:
			return nil, d.Errf("unknown request_objects subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}
