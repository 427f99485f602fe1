package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver/registration"
)

// Registration is the dynamic client registration policy (RFC 7591/7592) of one issuer; see
// registration.Config for each field's meaning and default.
type Registration struct {
	// Policy is off (default), initial_access_token or open.
	Policy string `json:"policy,omitempty"`
	// InitialAccessToken is a static token accepted besides those of the admin API
	// (placeholders such as {env.REGISTRATION_TOKEN} are resolved at provision).
	InitialAccessToken string   `json:"initial_access_token,omitempty"`
	GrantTypes         []string `json:"grant_types,omitempty"`
	Scopes             []string `json:"scopes,omitempty"`
	Resources          []string `json:"resources,omitempty"`
	AuthMethods        []string `json:"auth_methods,omitempty"`
	// ClientSecretTTL ends registered clients' secrets (client_secret_expires_at); 0: never.
	ClientSecretTTL       caddy.Duration `json:"client_secret_ttl,omitempty"`
	RedirectURIsHTTPSOnly bool           `json:"redirect_uris_https_only,omitempty"`
	RedirectHosts         []string       `json:"redirect_hosts,omitempty"`
	// SoftwareStatementJWKS is the JWK Set of trusted software statement publishers.
	SoftwareStatementJWKS    json.RawMessage `json:"software_statement_jwks,omitempty"`
	RequireSoftwareStatement bool            `json:"require_software_statement,omitempty"`
}

// config translates r into the authorization server's plain-Go policy; resolve resolves the
// static token's placeholders (nil leaves them for Validate to tolerate).
func (r *Registration) config(resolve func(string) (string, error)) (registration.Config, error) {
	if r == nil {
		return registration.Config{}, nil
	}
	token, err := resolve(r.InitialAccessToken)
	if err != nil {
		return registration.Config{}, errors.New("registration: initial_access_token: unresolved or empty placeholder")
	}
	return registration.Config{
		Policy:                   r.Policy,
		InitialAccessToken:       token,
		GrantTypes:               r.GrantTypes,
		Scopes:                   r.Scopes,
		Resources:                r.Resources,
		AuthMethods:              r.AuthMethods,
		ClientSecretTTL:          time.Duration(r.ClientSecretTTL),
		RedirectURIsHTTPSOnly:    r.RedirectURIsHTTPSOnly,
		RedirectHosts:            r.RedirectHosts,
		SoftwareStatementJWKS:    string(r.SoftwareStatementJWKS),
		RequireSoftwareStatement: r.RequireSoftwareStatement,
	}, nil
}

// parseRegistration reads a registration block:
//
//	registration {
//	    policy off|initial_access_token|open
//	    initial_access_token <token>
//	    grant_types <grant...>
//	    scopes <scope...>
//	    resources <identifier...>
//	    auth_methods <method...>
//	    client_secret_ttl <duration>
//	    redirect_uris_https_only [true|false]
//	    redirect_hosts <host...>
//	    software_statement_jwks <JWK Set JSON>
//	    require_software_statement [true|false]
//	}
func parseRegistration(d *caddyfile.Dispenser) (*Registration, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	r := &Registration{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "policy":
			r.Policy, err = enumArg(d, registration.Policies)
		case "initial_access_token":
			r.InitialAccessToken, err = oneArg(d)
		case "grant_types":
			r.GrantTypes, err = atLeastOneArg(d)
		case "scopes":
			r.Scopes, err = scopeArgs(d)
		case "resources":
			r.Resources, err = atLeastOneArg(d)
		case "auth_methods":
			r.AuthMethods, err = enumArgs(d, authMethods)
		case "client_secret_ttl":
			r.ClientSecretTTL, err = durationArg(d)
		case "redirect_uris_https_only":
			r.RedirectURIsHTTPSOnly, err = boolArg(d)
		case "redirect_hosts":
			r.RedirectHosts, err = atLeastOneArg(d)
		case "software_statement_jwks":
			var raw string
			if raw, err = oneArg(d); err == nil {
				var buf bytes.Buffer
				if json.Compact(&buf, []byte(raw)) != nil {
					return nil, d.Err("registration: software_statement_jwks must be a JSON JWK Set (quote it with backticks)")
				}
				r.SoftwareStatementJWKS = buf.Bytes()
			}
		case "require_software_statement":
			r.RequireSoftwareStatement, err = boolArg(d)
		default:
			return nil, d.Errf("registration: unknown subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}
