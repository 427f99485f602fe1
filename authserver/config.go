package authserver

import (
	"time"
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
	Scopes                      []string
	// Resources are resource identifiers the client is linked to.
	Resources             []string
	JWKS                  string // raw JSON JWK Set
	JWKSURI               string
	DPoPBoundAccessTokens bool
}
