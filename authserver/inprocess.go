package authserver

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// AccessTokenInfo describes an active access token to a resource server in the same process.
type AccessTokenInfo struct {
	Issuer    string
	Subject   string
	ClientID  string
	Scope     string
	Audience  []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	JTI       string
	JKT       string // cnf.jkt
	X5TS256   string // cnf.x5t#S256
	// Claims are the token's claims beyond the registered ones (custom claims of the resource).
	Claims map[string]any
}

// ActiveAccessToken validates an access token of this server for a gateway in the same
// process: signature (cached), expiry, revocation and the resource's existence, exactly as
// introspection does, but without client authentication or HTTP. It returns (nil, nil) for
// anything that is not an active access token.
func (s *Server) ActiveAccessToken(ctx context.Context, token string) (*AccessTokenInfo, error) {
	info, err := s.activeToken(ctx, token)
	if err != nil || info == nil {
		return nil, err
	}
	out := &AccessTokenInfo{
		Issuer:    s.cfg.Issuer,
		Subject:   info.subject,
		ClientID:  info.clientID,
		Scope:     info.scope,
		Audience:  slices.Clone(info.audience),
		IssuedAt:  time.Unix(info.issuedAt, 0),
		ExpiresAt: time.Unix(info.expiresAt, 0),
		JTI:       info.jti,
		JKT:       info.jkt,
		Claims:    maps.Clone(info.extra),
	}
	return out, nil
}

// ResourcePolicy is the part of a resource's stored policy a gateway enforces.
type ResourcePolicy struct {
	DPoPBoundAccessTokensRequired bool
	// AllowedScopes is nil when the resource accepts any scope.
	AllowedScopes []string
	Disabled      bool
}

// ResourcePolicy returns the policy of the resource with identifier, or (nil, nil) when no
// such resource exists.
func (s *Server) ResourcePolicy(ctx context.Context, identifier string) (*ResourcePolicy, error) {
	r, err := s.lookups.resourceByIdentifier(ctx, identifier)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &ResourcePolicy{
		DPoPBoundAccessTokensRequired: r.DPoPBoundAccessTokensRequired,
		AllowedScopes:                 slices.Clone(r.AllowedScopes),
		Disabled:                      r.Disabled,
	}, nil
}
