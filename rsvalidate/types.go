// Package rsvalidate is resource-server validation: it extracts the access token (and DPoP
// proof) from a request, validates it against the resource's issuer — in-process when the
// issuer is served by the same Caddy, otherwise through discovery, a JWKS cache and RFC 7662
// introspection — and answers RFC 6750 / RFC 9449 challenges. It never imports Caddy.
package rsvalidate

import (
	"context"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4"
)

var (
	// ErrUnknownKey: the issuer publishes no key with that kid (after a refetch).
	ErrUnknownKey = errors.New("rsvalidate: unknown signing key")
	// ErrUnavailable: the authorization server cannot be reached and nothing valid is cached.
	// Validation fails closed on it (503), never open.
	ErrUnavailable = errors.New("rsvalidate: authorization server unavailable")
)

// TokenInfo is what an issuer vouches for about an active access token.
type TokenInfo struct {
	Issuer    string
	Subject   string
	ClientID  string
	Scope     string // space-separated
	Audience  []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	NotBefore time.Time // zero when absent
	JTI       string
	// JKT is cnf.jkt: the DPoP key thumbprint the token is bound to (RFC 9449 §6).
	JKT string
	// X5TS256 is cnf.x5t#S256: the client certificate thumbprint it is bound to (RFC 8705 §3).
	X5TS256 string
	// Claims holds every claim (JWT) or introspection member, for claim policies and
	// placeholders. Values are as decoded from JSON.
	Claims map[string]any
}

// ResourcePolicy is the issuer's policy for a resource, when the issuer can tell it.
type ResourcePolicy struct {
	DPoPBoundAccessTokensRequired bool
	ScopesSupported               []string
}

// KeySource yields the public key that verifies a JWT with kid and alg. A remote JWKS cache
// refetches on an unknown kid (rate-limited) and keeps the last good keys while the issuer
// is unreachable.
type KeySource interface {
	Key(ctx context.Context, kid, alg string) (*jose.JSONWebKey, error)
}

// Introspector answers RFC 7662 introspection for opaque tokens. It returns (nil, nil) for an
// inactive token and ErrUnavailable when the authorization server cannot be reached and no
// cached answer is valid.
type Introspector interface {
	Introspect(ctx context.Context, token string) (*TokenInfo, error)
}

// LocalIssuer is an authorization server in the same process: validation asks it directly
// (its keys and token store), with no HTTP round trip, and sees revocations at once.
type LocalIssuer interface {
	Issuer() string
	// ActiveAccessToken returns the token's info when it is an active access token of this
	// issuer (JWT or opaque; signature, expiry, revocation and resource existence checked),
	// or (nil, nil) when it is not.
	ActiveAccessToken(ctx context.Context, token string) (*TokenInfo, error)
	// ResourcePolicy returns the stored policy of the resource, or (nil, nil) if unknown.
	ResourcePolicy(ctx context.Context, identifier string) (*ResourcePolicy, error)
}
