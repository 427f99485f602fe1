package authserver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/keys"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Config is the plain-Go configuration of one authorization server (one issuer).
// caddymodule fills it from the Caddyfile or JSON; library users fill it directly.
type Config struct {
	// Issuer is the absolute https (or loopback http) URL identifying the server. Endpoint
	// URLs are derived from it: Issuer + "/token", "/introspect", "/revoke", "/jwks".
	Issuer string

	// AccessTokenTTL is the default lifetime of access tokens (default 10 minutes).
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the default lifetime of refresh tokens (default 14 days).
	RefreshTokenTTL time.Duration
	// AccessTokenFormat is the default format for resources that set none: "jwt" (default)
	// or "opaque".
	AccessTokenFormat string
	// AccessTokenSigningAlg is the default JWS alg of JWT access tokens (default ES256).
	AccessTokenSigningAlg string
	// SigningAlgs are the algorithms the server keeps signing keys for (default RS256, ES256).
	SigningAlgs []string
	// KeyRotationPeriod rotates each signing key after this age; 0 disables scheduled rotation.
	KeyRotationPeriod time.Duration

	// EnforcePerClientResources requires a client↔resource link before a client may obtain
	// tokens for a resource (default true; nil means default).
	EnforcePerClientResources *bool
	// ResourceSeedMode decides how Resources below meet rows already stored:
	// "insert_only" (default), "merge" or "overwrite".
	ResourceSeedMode string
	// Resources declared in configuration, seeded at start.
	Resources []ResourceConfig
	// Clients declared in configuration; they are written to the store at start (the
	// configuration is their source of truth).
	Clients []ClientConfig

	// ClientAssertionMaxAge bounds exp-iat (and exp-now) of client assertions (default 5 min).
	ClientAssertionMaxAge time.Duration
	// ClientAssertionEndpointAudience also accepts the URL of the receiving endpoint as the aud
	// of a client assertion, for legacy clients; by default only the issuer identifier is
	// accepted, as the single aud value (draft-ietf-oauth-rfc7523bis).
	ClientAssertionEndpointAudience bool
	// OutboundAllowPrivate lets fetches of URLs that clients name (jwks_uri) reach private,
	// loopback and link-local addresses, and plain http URLs. Off by default: a client (with
	// dynamic registration, anyone) could otherwise aim the server at its own network.
	OutboundAllowPrivate bool

	// DPoPAlgs are the proof algorithms accepted at the token endpoint (default: dpop's).
	DPoPAlgs []string
	// DPoPNonceSecret, when set, makes the token endpoint demand server nonces in DPoP proofs
	// (RFC 9449 §8); instances sharing the secret accept each other's nonces.
	DPoPNonceSecret string

	// End-user flows.

	// Accounts declared in configuration; written to the store at start (the configuration
	// is their source of truth, like Clients).
	Accounts []AccountConfig
	// CodeTTL is the lifetime of authorization codes (default 60 s).
	CodeTTL time.Duration
	// SessionTTL is the absolute lifetime of a login session (default 14 days, like the
	// default refresh-token TTL); SessionIdleTTL ends a session unused for that long
	// (default 24 h; 0 keeps the default, negative disables the idle limit).
	SessionTTL     time.Duration
	SessionIdleTTL time.Duration
	// InteractionTTL bounds how long a user may take on the login and consent pages
	// (default 30 minutes).
	InteractionTTL time.Duration
	// RefreshGracePeriod, when positive, answers a rotated refresh token presented again within
	// this period with the same response instead of revoking the family, so a client that lost
	// the response to a concurrent refresh is not logged out (default 0: off).
	RefreshGracePeriod time.Duration
	// AllowPlainPKCE accepts code_challenge_method=plain (RFC 7636); off by default because
	// RFC 9700 §2.1.1 wants S256.
	AllowPlainPKCE bool
	// ACRValues are the authentication context classes this server claims to satisfy; an
	// acr_values request naming one of them gets it in the acr claim.
	ACRValues []string
	// TemplateDir holds page templates overriding the embedded ones (see authserver/ui).
	TemplateDir string
	// Login throttling (see LoginLimiterConfig): LoginFailuresPerAccount failed sign-ins of
	// one username from one client network (IPv4 address, IPv6 /64), and LoginFailuresPerIP
	// from one network across usernames, within LoginWindow, stop further attempts from that
	// network (defaults 5, 20, 15 minutes). A username's attempts from anywhere are not
	// stopped but slowed: after a few failures each waits LoginDelayBase, doubling per
	// further failure up to LoginDelayMax (defaults 1 s, 8 s; at most 30 s).
	LoginFailuresPerAccount int
	LoginFailuresPerIP      int
	LoginWindow             time.Duration
	LoginDelayBase          time.Duration
	LoginDelayMax           time.Duration
}

// AccountConfig declares a local account.
type AccountConfig struct {
	Username string
	// Subject is the stable sub; default: a value derived from nothing but a fresh random ID
	// at first seeding, kept afterwards.
	Subject string
	// Password in clear (hashed at start) or PasswordHash (argon2id PHC or bcrypt).
	Password     string
	PasswordHash string
	Claims       map[string]any
	Disabled     bool
}

// ResourceConfig declares a protected resource. Nil/empty fields inherit server defaults
// (and, in merge mode, leave the stored value alone).
type ResourceConfig struct {
	Identifier                    string
	Name                          string
	AccessTokenTTL                *time.Duration
	RefreshTokenTTL               *time.Duration
	AccessTokenFormat             string
	SigningAlg                    string
	SigningKeyID                  string
	AllowedScopes                 []string
	CustomClaims                  map[string]any
	DPoPBoundAccessTokensRequired *bool
	Disabled                      *bool
	Metadata                      map[string]any
}

// ClientConfig declares a client.
type ClientConfig struct {
	ID   string
	Name string
	// Secret is the client secret in clear (hashed before it is stored), or empty.
	Secret string
	// SecretHash is an already-encoded hash (sha256$… or $argon2id$…), as an alternative
	// to Secret so configuration files need not hold the clear secret.
	SecretHash                  string
	TokenEndpointAuthMethod     string // default client_secret_basic, or none without a secret
	TokenEndpointAuthSigningAlg string
	GrantTypes                  []string // default client_credentials
	RedirectURIs                []string
	// RedirectURIAnyLoopbackPort: see store.Client. Public clients need not set it.
	RedirectURIAnyLoopbackPort bool
	Scopes                     []string
	// Resources are the identifiers of the resources the client may obtain tokens for.
	Resources []string
	// Introspects are the identifiers of the resources whose server or gateway this client
	// is: it may introspect their tokens, whichever client they were issued to. This grants
	// no tokens for them (list a resource in Resources too for that).
	Introspects []string
	// DefaultResource is the resource identifier used when a request names none (RFC 8707
	// §2); with enforced links it must be one of Resources.
	DefaultResource       string
	JWKS                  string // raw JSON JWK Set
	JWKSURI               string
	DPoPBoundAccessTokens bool

	PostLogoutRedirectURIs      []string
	SubjectType                 string // "public" (default) or "pairwise"
	SectorIdentifier            string // host for pairwise subjects; default: the redirect URIs' host
	IDTokenSignedResponseAlg    string // default RS256
	SkipConsent                 bool
	PKCEOptional                bool
	RefreshWithoutOfflineAccess bool
}

// Seed modes for configured resources.
const (
	SeedInsertOnly = "insert_only"
	SeedMerge      = "merge"
	SeedOverwrite  = "overwrite"
)

// Defaults applied by withDefaults. Access tokens are short-lived (RFC 9700 §2.2 favours
// short TTLs); ES256 is the default access-token alg because it signs ~40× faster than RS256.
const (
	DefaultAccessTokenTTL        = 10 * time.Minute
	DefaultRefreshTokenTTL       = 14 * 24 * time.Hour
	DefaultAccessTokenSigningAlg = "ES256"
	DefaultClientAssertionMaxAge = 5 * time.Minute
	DefaultCodeTTL               = 60 * time.Second
	DefaultSessionTTL            = 14 * 24 * time.Hour
	DefaultSessionIdleTTL        = 24 * time.Hour
	DefaultInteractionTTL        = 30 * time.Minute
	DefaultIDTokenSigningAlg     = "RS256"
)

// DefaultSigningAlgs are the algorithms with a signing key unless configured otherwise:
// RS256 because OIDC requires it for ID tokens, ES256 for fast access tokens.
var DefaultSigningAlgs = []string{"RS256", "ES256"}

// withDefaults returns a copy of c with every unset field at its default, or an error that
// names the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if err := ValidateIssuer(c.Issuer); err != nil {
		return c, err
	}
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	if c.AccessTokenTTL == 0 {
		c.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if c.RefreshTokenTTL == 0 {
		c.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if c.AccessTokenTTL < 0 || c.RefreshTokenTTL < 0 {
		return c, errors.New("token TTLs must be positive")
	}
	switch c.AccessTokenFormat {
	case "":
		c.AccessTokenFormat = store.FormatJWT
	case store.FormatJWT, store.FormatOpaque:
	default:
		return c, fmt.Errorf("access_token_format %q: want jwt or opaque", c.AccessTokenFormat)
	}
	if len(c.SigningAlgs) == 0 {
		c.SigningAlgs = DefaultSigningAlgs
	}
	for _, alg := range c.SigningAlgs {
		if !keys.Supported(alg) {
			return c, fmt.Errorf("signing alg %q is not supported", alg)
		}
	}
	if c.AccessTokenSigningAlg == "" {
		c.AccessTokenSigningAlg = DefaultAccessTokenSigningAlg
	}
	if !slices.Contains(c.SigningAlgs, c.AccessTokenSigningAlg) {
		return c, fmt.Errorf("access_token_signing_alg %s has no signing key: add it to signing_algs", c.AccessTokenSigningAlg)
	}
	if c.EnforcePerClientResources == nil {
		on := true
		c.EnforcePerClientResources = &on
	}
	switch c.ResourceSeedMode {
	case "":
		c.ResourceSeedMode = SeedInsertOnly
	case SeedInsertOnly, SeedMerge, SeedOverwrite:
	default:
		return c, fmt.Errorf("resource_seed_mode %q: want insert_only, merge or overwrite", c.ResourceSeedMode)
	}
	if c.ClientAssertionMaxAge == 0 {
		c.ClientAssertionMaxAge = DefaultClientAssertionMaxAge
	}
	if err := c.endUserDefaults(); err != nil {
		return c, err
	}
	seen := map[string]bool{}
	for _, rc := range c.Resources {
		if err := ValidateResourceIdentifier(rc.Identifier); err != nil {
			return c, err
		}
		if seen[rc.Identifier] {
			return c, fmt.Errorf("resource %s is declared twice", rc.Identifier)
		}
		seen[rc.Identifier] = true
		if rc.SigningAlg != "" && !slices.Contains(c.SigningAlgs, rc.SigningAlg) {
			return c, fmt.Errorf("resource %s: signing_alg %s has no signing key: add it to signing_algs", rc.Identifier, rc.SigningAlg)
		}
		switch rc.AccessTokenFormat {
		case "", store.FormatJWT, store.FormatOpaque:
		default:
			return c, fmt.Errorf("resource %s: access_token_format %q: want jwt or opaque", rc.Identifier, rc.AccessTokenFormat)
		}
	}
	clientIDs := map[string]bool{}
	for _, cc := range c.Clients {
		if cc.ID == "" {
			return c, errors.New("a client needs an id")
		}
		if clientIDs[cc.ID] {
			return c, fmt.Errorf("client %s is declared twice", cc.ID)
		}
		clientIDs[cc.ID] = true
		for _, res := range slices.Concat(cc.Resources, cc.Introspects) {
			if !seen[res] {
				// Linking to a resource that exists only in the store is fine, but it must
				// at least be a valid identifier.
				if err := ValidateResourceIdentifier(res); err != nil {
					return c, fmt.Errorf("client %s: %w", cc.ID, err)
				}
			}
		}
		if err := ValidateDefaultResource(cc.DefaultResource, cc.Resources, *c.EnforcePerClientResources); err != nil {
			return c, fmt.Errorf("client %s: %w", cc.ID, err)
		}
	}
	return c, nil
}

// ValidateIssuer enforces OIDC Discovery §3 / RFC 8414 §2: an https URL without user info,
// query or fragment; plain http only on loopback, for development.
func ValidateIssuer(iss string) error {
	if iss == "" {
		return errors.New("issuer is required")
	}
	u, err := url.Parse(iss)
	if err != nil || u.Host == "" {
		return fmt.Errorf("issuer %q is not an absolute URL", iss)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(iss, "#?") {
		return fmt.Errorf("issuer %q must not have user info, a query or a fragment", iss)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("issuer %q: http is allowed only on loopback; use https", iss)
		}
	default:
		return fmt.Errorf("issuer %q must use https", iss)
	}
	return nil
}

// IsLoopbackHost reports whether host is localhost or a loopback IP address.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidateDefaultResource checks a client's default_resource (empty: none) against the
// resources it is linked to: a resource identifier and, where links are enforced, one of
// them (a default the client may not use would only fail every request that relies on it).
func ValidateDefaultResource(def string, linked []string, enforceLinks bool) error {
	if def == "" {
		return nil
	}
	if err := ValidateResourceIdentifier(def); err != nil {
		return fmt.Errorf("default_resource: %w", err)
	}
	if enforceLinks && !slices.Contains(linked, def) {
		return fmt.Errorf("default_resource %q must be one of the client's resources (enforce_per_client_resources is on)", def)
	}
	return nil
}

// ValidateResourceIdentifier enforces RFC 8707 §2: an absolute URI without a fragment.
func ValidateResourceIdentifier(id string) error {
	u, err := url.Parse(id)
	if err != nil || !u.IsAbs() || strings.Contains(id, "#") {
		return fmt.Errorf("resource %q must be an absolute URI without a fragment (RFC 8707)", id)
	}
	return nil
}
