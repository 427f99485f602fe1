package clientauth

import (
	"context"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/jwksource"
	"github.com/caddy-oauth/caddy-oauth/outbound"
)

// The jwks_uri cache policy is package jwksource's (shared with trusted issuers); these names
// keep this package's tests readable.
const (
	jwksTTL         = jwksource.TTL
	jwksMinInterval = jwksource.MinInterval
	jwksMaxStale    = jwksource.MaxStale
	jwksMaxBytes    = jwksource.MaxBytes
	maxJWKSKeys     = jwksource.MaxKeys
)

// NewJWKSFetcher returns the fetcher for client jwks_uri documents: the jwks_uri is chosen by
// the client (and, with dynamic registration, by anyone), so it gets the outbound guard;
// allowPrivate lifts the address rule (clients on a private network, development).
func NewJWKSFetcher(allowPrivate bool) *outbound.Fetcher { return jwksource.NewFetcher(allowPrivate) }

// remoteKeys returns the keys published at uri. refresh asks for a fetch even if the cached
// document is fresh (an unknown kid); it is still rate-limited.
func (a *Authenticator) remoteKeys(ctx context.Context, uri string, refresh bool) ([]jose.JSONWebKey, error) {
	return a.jwks.Keys(ctx, a.Fetcher, a.now, uri, refresh)
}

// parseJWKS decodes a client's JWK Set (jwksource.Parse).
func parseJWKS(data []byte) ([]jose.JSONWebKey, error) { return jwksource.Parse(data) }
