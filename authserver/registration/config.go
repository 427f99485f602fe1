// Package registration serves OAuth 2.0 Dynamic Client Registration (RFC 7591) at
// {issuer}/register and its management protocol (RFC 7592) at {issuer}/register/{client_id}.
//
// It owns the registration policy (who may register, what a registered client may get),
// software statements and registration access tokens. It knows the authorization server only
// through Deps: the client management service (every write goes through it, so the one
// validation contract of package spec applies) and a few store methods.
package registration

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
)

// Policies: who may register.
const (
	// PolicyOff does not serve the endpoint, and discovery does not advertise it (default).
	PolicyOff = "off"
	// PolicyInitialAccessToken requires a Bearer initial access token (RFC 7591 §3): one made
	// through the admin API (limited in time and uses) or the static token of the config.
	PolicyInitialAccessToken = "initial_access_token"
	// PolicyOpen lets anyone register. Only public clients unless AuthMethods explicitly
	// allows others: an open endpoint handing out secrets lets anyone mint confidential
	// clients that then pass client authentication.
	PolicyOpen = "open"
)

// Policies are the valid Config.Policy values.
var Policies = []string{PolicyOff, PolicyInitialAccessToken, PolicyOpen}

// Defaults of what a registered client may get.
var (
	// DefaultGrantTypes leave client_credentials out: a client that registers itself then
	// acts on its own behalf is what an operator should opt into.
	DefaultGrantTypes = []string{"authorization_code", "refresh_token"}
	// DefaultScopes are the OpenID Connect identity scopes; API scopes need the operator.
	DefaultScopes = []string{"openid", "profile", "email", "offline_access"}
)

// MinStaticTokenLength keeps the static initial access token guess-proof (256 bits in
// base64 is 43 characters; a random hex string of 32 characters is 128 bits).
const MinStaticTokenLength = 32

// MaxBodyBytes bounds a registration request; client metadata with a JWK Set fits easily.
const MaxBodyBytes = 128 << 10

// Config is the registration policy of one issuer.
type Config struct {
	// Policy is PolicyOff (default), PolicyInitialAccessToken or PolicyOpen.
	Policy string
	// InitialAccessToken is a static token accepted besides the store's (as oidc-provider's
	// string initialAccessToken): convenient for one trusted deployment pipeline; prefer
	// tokens from the admin API, which expire and run out. At least MinStaticTokenLength.
	InitialAccessToken string

	// GrantTypes a registered client may use (default DefaultGrantTypes).
	GrantTypes []string
	// Scopes a registered client may request (default DefaultScopes). A registration that
	// names no scope gets all of them.
	Scopes []string
	// Resources are the identifiers of the resources a registered client may be linked to
	// (tokens only; default none).
	Resources []string
	// AuthMethods are the token endpoint authentication methods a registered client may use
	// (default: "none" under PolicyOpen, every method otherwise).
	AuthMethods []string
	// ClientSecretTTL ends a registered client's secret after this long
	// (client_secret_expires_at); 0: it does not expire.
	ClientSecretTTL time.Duration
	// RedirectURIsHTTPSOnly refuses every redirect URI that is not https (loopback http and
	// private-use schemes of native apps included), and the same of logout URIs.
	RedirectURIsHTTPSOnly bool
	// RedirectHosts, when set, are the only hosts redirect URIs (and the back- and
	// front-channel logout URIs) may point at.
	RedirectHosts []string

	// SoftwareStatementJWKS is the JWK Set (JSON) of the publishers whose software
	// statements (RFC 7591 §2.3) are trusted.
	SoftwareStatementJWKS string
	// RequireSoftwareStatement refuses registrations without a trusted software statement.
	RequireSoftwareStatement bool
}

// Enabled reports whether the endpoint is served.
func (c Config) Enabled() bool { return c.Policy != "" && c.Policy != PolicyOff }

// WithDefaults validates c and fills in its defaults.
func (c Config) WithDefaults() (Config, error) {
	if c.Policy == "" {
		c.Policy = PolicyOff
	}
	if !slices.Contains(Policies, c.Policy) {
		return c, configError("policy", "want one of %s", strings.Join(Policies, ", "))
	}
	if c.GrantTypes == nil {
		c.GrantTypes = slices.Clone(DefaultGrantTypes)
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(spec.GrantTypes, g) {
			return c, configError("grant_types", "%q is unknown", g)
		}
	}
	if c.Scopes == nil {
		c.Scopes = slices.Clone(DefaultScopes)
	}
	for _, s := range c.Scopes {
		if !spec.ValidScopeToken(s) {
			return c, configError("scopes", "%q is not a scope token", s)
		}
	}
	for _, r := range c.Resources {
		if err := spec.ValidateResourceIdentifier("resources", r); err != nil {
			return c, fmt.Errorf("registration: %w", err)
		}
	}
	if c.AuthMethods == nil {
		c.AuthMethods = slices.Clone(spec.AuthMethods)
		if c.Policy == PolicyOpen {
			c.AuthMethods = []string{spec.AuthNone}
		}
	}
	for _, m := range c.AuthMethods {
		if !slices.Contains(spec.AuthMethods, m) {
			return c, configError("auth_methods", "%q is not supported (want one of %s)", m, strings.Join(spec.AuthMethods, ", "))
		}
	}
	if c.ClientSecretTTL < 0 {
		return c, configError("client_secret_ttl", "must not be negative")
	}
	if c.InitialAccessToken != "" && len(c.InitialAccessToken) < MinStaticTokenLength {
		return c, configError("initial_access_token", "must be at least %d characters (use a random value)", MinStaticTokenLength)
	}
	if c.InitialAccessToken != "" && c.Policy != PolicyInitialAccessToken {
		return c, configError("initial_access_token", "applies only to policy %s", PolicyInitialAccessToken)
	}
	if c.SoftwareStatementJWKS != "" {
		if _, err := parseTrustedKeys(c.SoftwareStatementJWKS); err != nil {
			return c, err
		}
	} else if c.RequireSoftwareStatement {
		return c, configError("require_software_statement", "needs software_statement_jwks (the keys statements are signed with)")
	}
	return c, nil
}

// parseTrustedKeys reads the JWK Set of software statement publishers: public keys only.
func parseTrustedKeys(raw string) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(raw), &set); err != nil || len(set.Keys) == 0 {
		return nil, configError("software_statement_jwks", `must be a JWK Set ({"keys": [...]}) with at least one key`)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			return nil, configError("software_statement_jwks", "must hold valid public keys only")
		}
	}
	return &set, nil
}

func configError(field, format string, args ...any) error {
	return fmt.Errorf("registration: %s: %s", field, fmt.Sprintf(format, args...))
}

// hashToken is how registration and initial access tokens are stored: SHA-256, base64url
// without padding (they are 256-bit random values, so a fast hash is enough).
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Validate checks c as WithDefaults does. With placeholders (`caddy adapt`), a static token or
// JWK Set that holds a Caddy placeholder, resolved only at run time, is not checked.
func (c Config) Validate(placeholders bool) error {
	if placeholders {
		if hasPlaceholder(c.InitialAccessToken) {
			c.InitialAccessToken = strings.Repeat("x", MinStaticTokenLength)
		}
		if hasPlaceholder(c.SoftwareStatementJWKS) && !json.Valid([]byte(c.SoftwareStatementJWKS)) { // JSON has braces too
			c.SoftwareStatementJWKS, c.RequireSoftwareStatement = "", false
		}
	}
	_, err := c.WithDefaults()
	return err
}

func hasPlaceholder(v string) bool {
	i := strings.IndexByte(v, '{')
	return i >= 0 && strings.IndexByte(v[i:], '}') > 0
}
