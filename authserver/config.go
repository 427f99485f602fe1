package authserver

import (
	"fmt"
	"slices"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientidmeta"
	"github.com/caddy-oauth/caddy-oauth/authserver/delegated"
	"github.com/caddy-oauth/caddy-oauth/authserver/exchange"
	"github.com/caddy-oauth/caddy-oauth/authserver/extension"
	"github.com/caddy-oauth/caddy-oauth/authserver/jwtbearer"
	"github.com/caddy-oauth/caddy-oauth/authserver/keys"
	"github.com/caddy-oauth/caddy-oauth/authserver/registration"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/trust"
	"github.com/caddy-oauth/caddy-oauth/backchannel/ssf"
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
	// ClientIDMetadataDocuments resolves client_ids that are https URLs by fetching the
	// client's metadata document there (off by default; see package clientidmeta).
	// OutboundAllowPrivate implies its AllowPrivate.
	ClientIDMetadataDocuments clientidmeta.Config

	// CacheSyncInterval is how often the server checks the store for client, resource and link
	// changes made elsewhere (another instance sharing the database, or a direct write) and
	// drops its lookup caches when there are any: the longest such a change takes to apply
	// here (default 2 s; negative disables the check, leaving a 10-minute cache expiry).
	CacheSyncInterval time.Duration
	// ClientSecretRotationOverlap is how long a client's previous secret stays valid after a
	// runtime rotation that names no overlap (default 24 h), so deployed clients can switch
	// without downtime.
	ClientSecretRotationOverlap time.Duration

	// Registration is the dynamic client registration policy (RFC 7591/7592); off by default.
	Registration registration.Config
	// BackchannelLogout tunes the delivery of back-channel logout tokens to clients with a
	// backchannel_logout_uri (always on; see BackchannelLogoutConfig).
	BackchannelLogout BackchannelLogoutConfig
	// SharedSignals is the Shared Signals transmitter that streams revocations to gateways
	// (see package backchannel/ssf); on by default.
	SharedSignals ssf.Options

	// Secured authorization requests and responses (secured.go and the *_wiring.go files).

	// PAR configures pushed authorization requests (RFC 9126); the endpoint is always on.
	PAR PARConfig
	// RequestObjects configures JWT-secured authorization requests (RFC 9101).
	RequestObjects RequestObjectConfig
	// MTLS configures mutual-TLS client authentication and certificate-bound tokens (RFC 8705).
	MTLS MTLSConfig
	// TrustedIssuers are external issuers whose JWTs may be exchanged (TokenExchange) or
	// presented as grants (JWTBearer).
	TrustedIssuers []trust.Issuer
	// JWTBearer are the policies of the JWT bearer grant (RFC 7523), one per trusted issuer
	// whose assertions it accepts; the grant is served when there is one.
	JWTBearer []jwtbearer.Policy
	// TokenExchange is token exchange's policy (RFC 8693); the grant is served when it has rules.
	TokenExchange exchange.Policy

	// ExtensionGrants serve grant types of other modules at the token endpoint, and
	// ClaimContributors add claims to every access token (package extension).
	ExtensionGrants   []extension.Grant
	ClaimContributors []extension.ClaimContributor

	// CIBA configures client-initiated backchannel authentication (package ciba); off by default.
	CIBA CIBAConfig
	// Passkeys turns on WebAuthn sign-in (passkey_wiring.go); nil leaves it off.
	Passkeys *PasskeysConfig
	// DeviceAuthorization configures the device authorization grant (RFC 8628); on by default.
	DeviceAuthorization DeviceConfig
	// Delegated hands sign-in and consent to an external app (package delegated); off by
	// default.
	Delegated delegated.Config
	// Profile is the server's security profile (package profile): "" or "none", "fapi2" or
	// "fapi2_message_signing". A client's own profile overrides it.
	Profile string

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
	// CleanupInterval is how often expired rows (tokens, codes, sessions, events) are purged
	// from the store (default 10 minutes). Between two runs expired rows only take space:
	// every read checks expiry itself.
	CleanupInterval time.Duration
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
	// Branding is the product's name, logo, accent colour and links on every page
	// (config_pages.go).
	Branding Branding
	// ConsentRememberDefault ticks the consent page's "Remember this decision" from the start
	// (off by default: remembering is the user's choice).
	ConsentRememberDefault bool
	// ScopeDescriptions are what the consent page says of a scope, by scope and language
	// (BCP 47 tag): they replace the built-in description or the scope's name.
	ScopeDescriptions map[string]map[string]string
	// ResourceDescriptions name protected resources on the consent page, by resource
	// identifier and language, in place of the resource's configured name.
	ResourceDescriptions map[string]map[string]string
	// AccountPages configures the signed-in user's self-service pages (account_wiring.go);
	// on by default.
	AccountPages AccountPagesConfig
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

// AccountConfig, ResourceConfig and ClientConfig declare accounts, resources and clients; their
// rules live in package spec, the one validation contract every entry point shares.
type (
	AccountConfig  = spec.Account
	ResourceConfig = spec.Resource
	ClientConfig   = spec.Client
)

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
	DefaultCleanupInterval       = 10 * time.Minute
	DefaultIDTokenSigningAlg     = "RS256"
	DefaultCacheSyncInterval     = 2 * time.Second
	DefaultSecretRotationOverlap = 24 * time.Hour
)

// DefaultSigningAlgs are the algorithms with a signing key unless configured otherwise:
// RS256 because OIDC requires it for ID tokens, ES256 for fast access tokens.
var DefaultSigningAlgs = []string{"RS256", "ES256"}

// withDefaults returns a copy of c with every unset field at its default, or an error that
// names the first invalid field.
func (c Config) withDefaults() (Config, error) { return c.normalize(false) }

// normalize is withDefaults, tolerating run-time placeholders when asked to.
func (c Config) normalize(placeholders bool) (Config, error) {
	if err := spec.ValidateServerIssuer(c.Issuer); err != nil {
		return c, err
	}
	if c.AccessTokenTTL == 0 {
		c.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if c.RefreshTokenTTL == 0 {
		c.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	for name, d := range map[string]time.Duration{"access_token_ttl": c.AccessTokenTTL, "refresh_token_ttl": c.RefreshTokenTTL,
		"key_rotation": c.KeyRotationPeriod, "client_assertion_max_age": c.ClientAssertionMaxAge,
		"client_secret_rotation_overlap": c.ClientSecretRotationOverlap} {
		if d < 0 {
			return c, fmt.Errorf("%s: must not be negative", name)
		}
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
	if c.CacheSyncInterval == 0 {
		c.CacheSyncInterval = DefaultCacheSyncInterval
	}
	if c.ClientSecretRotationOverlap == 0 {
		c.ClientSecretRotationOverlap = DefaultSecretRotationOverlap
	}
	if err := c.pagesDefaults(); err != nil {
		return c, err
	}
	if err := c.endUserDefaults(); err != nil {
		return c, err
	}
	if err := c.securedDefaults(); err != nil {
		return c, err
	}
	if err := c.DeviceAuthorization.withDefaults(); err != nil {
		return c, err
	}
	if err := c.Delegated.Validate(placeholders); err != nil {
		return c, err
	}
	if err := c.extensionDefaults(); err != nil {
		return c, err
	}
	if err := c.trustDefaults(); err != nil {
		return c, err
	}
	if err := c.CIBA.withDefaults(); err != nil {
		return c, err
	}
	if err := c.passkeyDefaults(); err != nil {
		return c, err
	}
	if err := c.Registration.Validate(placeholders); err != nil {
		return c, err
	}
	backchannel, err := c.BackchannelLogout.withDefaults()
	if err != nil {
		return c, err
	}
	c.BackchannelLogout = backchannel
	if err := c.SharedSignals.Validate(); err != nil {
		return c, err
	}
	documents, err := c.ClientIDMetadataDocuments.WithDefaults()
	if err != nil {
		return c, err
	}
	documents.AllowPrivate = documents.AllowPrivate || c.OutboundAllowPrivate
	c.ClientIDMetadataDocuments = documents
	env := c.specEnv(placeholders)
	seen := map[string]bool{}
	for _, rc := range c.Resources {
		if err := spec.ValidateResource(rc, env); err != nil {
			return c, err
		}
		if seen[rc.Identifier] {
			return c, fmt.Errorf("resource %q: declared twice", rc.Identifier)
		}
		seen[rc.Identifier] = true
	}
	clientIDs := map[string]bool{}
	clients := make([]ClientConfig, len(c.Clients))
	for i, cc := range c.Clients {
		n, err := spec.NormalizeClient(cc, env)
		if err != nil {
			return c, err
		}
		if clientIDs[n.ID] {
			return c, fmt.Errorf("client %q: declared twice", n.ID)
		}
		clientIDs[n.ID] = true
		clients[i] = n
	}
	c.Clients = clients
	return c, nil
}

// specEnv is what the client and resource rules need to know about this server (c has its
// defaults).
func (c Config) specEnv(placeholders bool) spec.Env {
	return spec.Env{SigningAlgs: c.SigningAlgs, EnforceLinks: c.EnforcePerClientResources == nil || *c.EnforcePerClientResources,
		Placeholders: placeholders, Profile: c.Profile, ExtensionGrantTypes: c.extensionGrantTypes()}
}

// Validate applies every rule to c without touching storage, as New would: `caddy adapt` and
// `caddy validate` call it through caddymodule. With placeholders, values holding Caddy
// placeholders that only resolve at run time are tolerated.
func (c Config) Validate(placeholders bool) error {
	_, err := c.normalize(placeholders)
	return err
}

// ValidateIssuer enforces OIDC Discovery §3 / RFC 8414 §2 (see spec.ValidateIssuer).
func ValidateIssuer(iss string) error { return spec.ValidateIssuer(iss) }

// IsLoopbackHost reports whether host is localhost or a loopback IP address.
func IsLoopbackHost(host string) bool { return spec.IsLoopbackHost(host) }
