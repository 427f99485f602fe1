package caddymodule

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/exchange"
	"github.com/caddy-oauth/caddy-oauth/authserver/jwtbearer"
	"github.com/caddy-oauth/caddy-oauth/authserver/trust"
)

// TrustedIssuer is an external issuer whose JWTs token exchange may accept as subject or
// actor tokens, and, with JWTBearer, the JWT bearer grant as assertions.
type TrustedIssuer struct {
	Issuer string `json:"issuer"`
	// JWKS is its public JWK Set; JWKSURI is where it publishes one (exactly one of them).
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`
	// Algs are the signature algorithms accepted from it (default: every asymmetric one).
	Algs []string `json:"algs,omitempty"`
	// JWTBearer, when present, accepts its JWTs as authorization grants (RFC 7523 §2.1).
	JWTBearer *JWTBearerPolicy `json:"jwt_bearer,omitempty"`
}

// JWTBearerPolicy says what a trusted issuer's assertions may obtain.
type JWTBearerPolicy struct {
	// Subject maps the assertion's sub: account (a local account's subject), client (the
	// presenting client's ID) or external (kept as is).
	Subject string `json:"subject"`
	// Clients may present the issuer's assertions.
	Clients []string `json:"clients"`
	// Scopes and Resources bound the tokens (omitted: the clients' own allowlists and links).
	Scopes    []string `json:"scopes,omitempty"`
	Resources []string `json:"resources,omitempty"`
	// MaxLifetime bounds how far ahead an assertion's exp may be (default 1h).
	MaxLifetime caddy.Duration `json:"max_lifetime,omitempty"`
}

// TokenExchange is token exchange's policy (RFC 8693): served when it has rules.
type TokenExchange struct {
	Rules []TokenExchangeRule `json:"rules,omitempty"`
}

// TokenExchangeRule allows clients to exchange some issuers' tokens for some resources.
type TokenExchangeRule struct {
	Clients []string `json:"clients"`
	// SubjectIssuers: "self" (this server's access and ID tokens) and trusted issuers (default self).
	SubjectIssuers []string `json:"subject_issuers,omitempty"`
	Resources      []string `json:"resources,omitempty"`
	Scopes         []string `json:"scopes,omitempty"`
	// Actor is optional (default), required or forbidden.
	Actor string `json:"actor,omitempty"`
}

// trustConfig fills cfg's trusted issuers and the policies of the grants that use them.
func (h *Handler) trustConfig(cfg *authserver.Config) {
	for _, ti := range h.TrustedIssuers {
		cfg.TrustedIssuers = append(cfg.TrustedIssuers, trust.Issuer{Issuer: ti.Issuer, JWKS: string(ti.JWKS), JWKSURI: ti.JWKSURI, Algs: ti.Algs})
		if p := ti.JWTBearer; p != nil {
			cfg.JWTBearer = append(cfg.JWTBearer, jwtbearer.Policy{Issuer: ti.Issuer, Subject: p.Subject, Clients: p.Clients,
				Scopes: p.Scopes, Resources: p.Resources, MaxLifetime: time.Duration(p.MaxLifetime)})
		}
	}
	if h.TokenExchange != nil {
		for _, r := range h.TokenExchange.Rules {
			cfg.TokenExchange.Rules = append(cfg.TokenExchange.Rules, exchange.Rule{Clients: r.Clients, SubjectIssuers: r.SubjectIssuers,
				Resources: r.Resources, Scopes: r.Scopes, Actor: r.Actor})
		}
	}
}

// parseTrustedIssuer reads
//
//	trusted_issuer <issuer> {
//	    jwks_uri <url>            # or:
//	    jwks <JWK Set JSON>
//	    algs <alg>...
//	    jwt_bearer {
//	        subject account|client|external
//	        clients <client_id>...
//	        scopes <scope>...
//	        resources <identifier>...
//	        max_lifetime <duration>
//	    }
//	}
func parseTrustedIssuer(d *caddyfile.Dispenser) (TrustedIssuer, error) {
	var ti TrustedIssuer
	var err error
	if ti.Issuer, err = oneArg(d); err != nil {
		return ti, err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "jwks_uri":
			ti.JWKSURI, err = oneArg(d)
		case "jwks":
			var raw string
			if raw, err = oneArg(d); err == nil {
				var buf bytes.Buffer
				if json.Compact(&buf, []byte(raw)) != nil {
					return ti, d.Errf("trusted_issuer %q: jwks must be a JSON JWK Set (quote it with backticks)", ti.Issuer)
				}
				ti.JWKS = buf.Bytes()
			}
		case "algs":
			ti.Algs, err = enumArgs(d, asymmetricAlgs)
		case "jwt_bearer":
			if ti.JWTBearer != nil {
				return ti, d.Errf("trusted_issuer %q: jwt_bearer set twice", ti.Issuer)
			}
			ti.JWTBearer, err = parseJWTBearer(d)
		default:
			return ti, d.Errf("unknown trusted_issuer subdirective %q", d.Val())
		}
		if err != nil {
			return ti, err
		}
	}
	return ti, nil
}

func parseJWTBearer(d *caddyfile.Dispenser) (*JWTBearerPolicy, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	p := &JWTBearerPolicy{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "subject":
			p.Subject, err = enumArg(d, []string{jwtbearer.SubjectAccount, jwtbearer.SubjectClient, jwtbearer.SubjectExternal})
		case "clients":
			p.Clients, err = atLeastOneArg(d)
		case "scopes":
			p.Scopes, err = scopeArgs(d)
		case "resources":
			p.Resources, err = atLeastOneArg(d)
		case "max_lifetime":
			p.MaxLifetime, err = durationArg(d)
		default:
			return nil, d.Errf("unknown jwt_bearer subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// parseTokenExchange reads
//
//	token_exchange {
//	    rule {
//	        clients <client_id>...
//	        subject_issuers self|<issuer>...
//	        resources <identifier>...
//	        scopes <scope>...
//	        actor optional|required|forbidden
//	    }
//	}
func parseTokenExchange(d *caddyfile.Dispenser) (*TokenExchange, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	te := &TokenExchange{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "rule" {
			return nil, d.Errf("unknown token_exchange subdirective %q (want rule)", d.Val())
		}
		if d.NextArg() {
			return nil, d.ArgErr()
		}
		var r TokenExchangeRule
		for inner := d.Nesting(); d.NextBlock(inner); {
			var err error
			switch d.Val() {
			case "clients":
				r.Clients, err = atLeastOneArg(d)
			case "subject_issuers":
				r.SubjectIssuers, err = atLeastOneArg(d)
			case "resources":
				r.Resources, err = atLeastOneArg(d)
			case "scopes":
				r.Scopes, err = scopeArgs(d)
			case "actor":
				r.Actor, err = enumArg(d, []string{exchange.ActorOptional, exchange.ActorRequired, exchange.ActorForbidden})
			default:
				return nil, d.Errf("unknown token_exchange rule subdirective %q", d.Val())
			}
			if err != nil {
				return nil, err
			}
		}
		te.Rules = append(te.Rules, r)
	}
	return te, nil
}
