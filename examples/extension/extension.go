// Package oauthext is an example of caddy-oauth extension modules, small enough to copy:
//
//   - oauth.grants.api_key, a custom grant: a service presents a long-lived API key (known to
//     the server only by its SHA-256) and gets a short-lived access token for the key's
//     subject, so APIs behind oauth_resource see OAuth tokens while legacy callers keep their keys;
//   - oauth.claims.static, a claim contributor: fixed claims (environment, region, tier) added
//     to the access tokens of chosen resources or clients.
//
// Build it in with `xcaddy build --with github.com/caddy-oauth/caddy-oauth/examples/extension`,
// or import it in a Go program beside caddy-oauth. README "Writing an extension" walks through it.
package oauthext

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver/extension"
)

func init() {
	caddy.RegisterModule(APIKeyGrant{})
	caddy.RegisterModule(StaticClaims{})
}

// APIKeyGrantType is the grant_type clients send (an absolute URI, RFC 6749 §4.5).
const APIKeyGrantType = "urn:caddy-oauth:params:grant-type:api-key"

// APIKeyGrant exchanges an API key (parameter api_key) for an access token.
type APIKeyGrant struct {
	Keys []APIKey `json:"keys,omitempty"`

	bySum map[string]APIKey
}

// APIKey is one key the grant accepts.
type APIKey struct {
	// SHA256 is the key's SHA-256, in hex: the configuration never holds the key itself
	// (`printf %s "$KEY" | sha256sum`).
	SHA256 string `json:"sha256"`
	// Subject is the sub of the tokens the key gets.
	Subject string `json:"subject"`
	// Scopes, when set, are the scopes its tokens get whatever the request asks; else the
	// request's scope parameter decides (both within the client's and resource's allowlists).
	Scopes []string `json:"scopes,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (APIKeyGrant) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "oauth.grants.api_key", New: func() caddy.Module { return new(APIKeyGrant) }}
}

// Provision indexes the keys by hash.
func (g *APIKeyGrant) Provision(caddy.Context) error {
	g.bySum = make(map[string]APIKey, len(g.Keys))
	for _, k := range g.Keys {
		g.bySum[k.SHA256] = k
	}
	return nil
}

// Validate checks every key: a 64-digit hex hash, a subject, no hash twice.
func (g *APIKeyGrant) Validate() error {
	seen := map[string]bool{}
	for i, k := range g.Keys {
		if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("api_key: key %d: sha256 must be 64 hex digits", i)
		}
		if k.Subject == "" {
			return fmt.Errorf("api_key: key %d: a subject is required", i)
		}
		if seen[k.SHA256] {
			return fmt.Errorf("api_key: key %d: listed twice", i)
		}
		seen[k.SHA256] = true
	}
	return nil
}

// GrantType implements extension.Grant.
func (g *APIKeyGrant) GrantType() string { return APIKeyGrantType }

// Token implements extension.Grant. The key is looked up by its SHA-256: neither the map
// lookup nor its timing can reveal a key, only whether some key has that hash.
func (g *APIKeyGrant) Token(_ context.Context, req *extension.GrantRequest) (*extension.Decision, error) {
	key := req.Params.Get("api_key")
	if key == "" {
		return nil, extension.Error(extension.InvalidRequest, "api_key is required")
	}
	sum := sha256.Sum256([]byte(key))
	k, ok := g.bySum[hex.EncodeToString(sum[:])]
	if !ok {
		return nil, extension.Error(extension.InvalidGrant, "the API key is not valid")
	}
	return &extension.Decision{
		Subject: k.Subject,
		Scopes:  slices.Clone(k.Scopes),
		// A short, non-secret key id for audit logs and gateway rules.
		Claims: map[string]any{"api_key_id": k.SHA256[:8]},
	}, nil
}

// UnmarshalCaddyfile reads
//
//	grant api_key {
//	    key <sha256-hex> <subject> [<scope>...]
//	}
func (g *APIKeyGrant) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	for d.NextBlock(0) {
		if d.Val() != "key" {
			return d.Errf("unknown api_key subdirective %q", d.Val())
		}
		args := d.RemainingArgs()
		if len(args) < 2 {
			return d.Err("usage: key <sha256-hex> <subject> [<scope>...]")
		}
		g.Keys = append(g.Keys, APIKey{SHA256: args[0], Subject: args[1], Scopes: args[2:]})
	}
	return nil
}

// StaticClaims adds fixed claims to the access tokens of chosen resources and clients.
type StaticClaims struct {
	Claims map[string]string `json:"claims,omitempty"`
	// Resources and Clients narrow which tokens get the claims (empty: all).
	Resources []string `json:"resources,omitempty"`
	Clients   []string `json:"clients,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (StaticClaims) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "oauth.claims.static", New: func() caddy.Module { return new(StaticClaims) }}
}

// AccessTokenClaims implements extension.ClaimContributor.
func (c *StaticClaims) AccessTokenClaims(_ context.Context, req extension.ClaimsRequest) (map[string]any, error) {
	if len(c.Resources) > 0 && !slices.Contains(c.Resources, req.Resource) ||
		len(c.Clients) > 0 && !slices.Contains(c.Clients, req.ClientID) {
		return nil, nil
	}
	out := make(map[string]any, len(c.Claims))
	for k, v := range c.Claims {
		out[k] = v
	}
	return out, nil
}

// UnmarshalCaddyfile reads
//
//	claims static {
//	    claim <name> <value>
//	    resources <identifier>...
//	    clients <client_id>...
//	}
func (c *StaticClaims) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	for d.NextBlock(0) {
		switch d.Val() {
		case "claim":
			var name, value string
			if !d.AllArgs(&name, &value) {
				return d.Err("usage: claim <name> <value>")
			}
			if c.Claims == nil {
				c.Claims = map[string]string{}
			}
			c.Claims[name] = value
		case "resources":
			c.Resources = append(c.Resources, d.RemainingArgs()...)
		case "clients":
			c.Clients = append(c.Clients, d.RemainingArgs()...)
		default:
			return d.Errf("unknown static subdirective %q", d.Val())
		}
	}
	return nil
}

// Interface guards.
var (
	_ extension.Grant            = (*APIKeyGrant)(nil)
	_ caddy.Provisioner          = (*APIKeyGrant)(nil)
	_ caddy.Validator            = (*APIKeyGrant)(nil)
	_ caddyfile.Unmarshaler      = (*APIKeyGrant)(nil)
	_ extension.ClaimContributor = (*StaticClaims)(nil)
	_ caddyfile.Unmarshaler      = (*StaticClaims)(nil)
)
