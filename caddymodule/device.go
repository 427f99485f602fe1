package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/device"
)

// DeviceAuthorization configures the device authorization grant (RFC 8628), on by default:
// only clients given the urn:ietf:params:oauth:grant-type:device_code grant can use it.
type DeviceAuthorization struct {
	// Disabled removes the endpoint, the verification page and the grant.
	Disabled bool `json:"disabled,omitempty"`
	// TTL is how long device and user codes are valid (default 10m; 10s to 1h).
	TTL caddy.Duration `json:"ttl,omitempty"`
	// Interval is the polling interval devices start with (default 5s; whole seconds, 1s to 1m).
	Interval caddy.Duration `json:"interval,omitempty"`
	// UserCodeCharset is base20 (default: consonants, RFC 8628 §6.1) or digits.
	UserCodeCharset string `json:"user_code_charset,omitempty"`
	// UserCodeMask shapes user codes: each * is a character, anything else a separator
	// (default ****-****). The format must give at least 29 bits.
	UserCodeMask string `json:"user_code_mask,omitempty"`
	// VerificationURI replaces the verification page's URL in responses (e.g. a short URL
	// that redirects to <issuer>/device).
	VerificationURI string `json:"verification_uri,omitempty"`
}

// config is the authserver form; nil (absent) is the defaults.
func (o *DeviceAuthorization) config() authserver.DeviceConfig {
	if o == nil {
		return authserver.DeviceConfig{}
	}
	return authserver.DeviceConfig{
		Disabled: o.Disabled,
		Config: device.Config{TTL: time.Duration(o.TTL), Interval: time.Duration(o.Interval),
			UserCodeCharset: o.UserCodeCharset, UserCodeMask: o.UserCodeMask},
		VerificationURI: o.VerificationURI,
	}
}

// parseDeviceAuthorization reads
//
//	device_authorization off
//	device_authorization {
//	    ttl <duration>
//	    interval <duration>
//	    user_code_charset base20|digits
//	    user_code_mask <mask>
//	    verification_uri <url>
//	}
//
// The values' rules are checked where the server is made (authserver.DeviceConfig).
func parseDeviceAuthorization(d *caddyfile.Dispenser) (*DeviceAuthorization, error) {
	o := &DeviceAuthorization{}
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() {
			return nil, d.Errf("device_authorization: want off or a block")
		}
		o.Disabled = true
		return o, nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "ttl":
			o.TTL, err = durationArg(d)
		case "interval":
			o.Interval, err = durationArg(d)
		case "user_code_charset":
			o.UserCodeCharset, err = enumArg(d, []string{device.CharsetBase20, device.CharsetDigits})
		case "user_code_mask":
			o.UserCodeMask, err = oneArg(d)
		case "verification_uri":
			o.VerificationURI, err = oneArg(d)
		default:
			return nil, d.Errf("unknown device_authorization subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}
