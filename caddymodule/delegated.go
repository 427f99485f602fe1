package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver/delegated"
)

// DelegatedLogin hands sign-in and consent to an external app with login and consent
// challenges (package delegated; README "Bring your own login app").
type DelegatedLogin struct {
	// LoginURL receives the browser with ?login_challenge=… when the user must sign in.
	LoginURL string `json:"login_url,omitempty"`
	// ConsentURL receives the browser with ?consent_challenge=… when consent is needed
	// (without it the built-in consent page asks).
	ConsentURL string `json:"consent_url,omitempty"`
	// APISecret authenticates the app at the API (Authorization: Bearer); placeholders such
	// as {env.LOGIN_APP_SECRET} are resolved. At least 32 characters.
	APISecret string `json:"api_secret,omitempty"`
	// TTL bounds how long a challenge waits for the app (default 10m; 10s to 1h).
	TTL caddy.Duration `json:"ttl,omitempty"`
}

// config is the authserver form; nil (absent) is off.
func (o *DelegatedLogin) config(resolve func(string) (string, error)) (delegated.Config, error) {
	if o == nil {
		return delegated.Config{}, nil
	}
	secret, err := resolve(o.APISecret)
	if err != nil {
		return delegated.Config{}, fmt.Errorf("delegated_login api_secret: unresolved or empty placeholder")
	}
	return delegated.Config{LoginURL: o.LoginURL, ConsentURL: o.ConsentURL, APISecret: secret, TTL: time.Duration(o.TTL)}, nil
}

// parseDelegatedLogin reads
//
//	delegated_login {
//	    login_url <url>
//	    consent_url <url>
//	    api_secret <secret>
//	    ttl <duration>
//	}
//
// The values' rules are checked where the server is made (delegated.Config.Validate).
func parseDelegatedLogin(d *caddyfile.Dispenser) (*DelegatedLogin, error) {
	o := &DelegatedLogin{}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "login_url":
			o.LoginURL, err = oneArg(d)
		case "consent_url":
			o.ConsentURL, err = oneArg(d)
		case "api_secret":
			o.APISecret, err = oneArg(d)
		case "ttl":
			o.TTL, err = durationArg(d)
		default:
			return nil, d.Errf("unknown delegated_login subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}
