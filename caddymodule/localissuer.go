package caddymodule

import (
	"context"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// localIssuer lets rsvalidate ask an authorization server of this Caddy directly: the two
// packages do not import each other, so this adapter copies between their types.
type localIssuer struct{ srv *authserver.Server }

func (l localIssuer) Issuer() string { return l.srv.Issuer() }

func (l localIssuer) ActiveAccessToken(ctx context.Context, token string) (*rsvalidate.TokenInfo, error) {
	info, err := l.srv.ActiveAccessToken(ctx, token)
	if err != nil || info == nil {
		return nil, err
	}
	return &rsvalidate.TokenInfo{
		Issuer:    info.Issuer,
		Subject:   info.Subject,
		ClientID:  info.ClientID,
		Scope:     info.Scope,
		Audience:  info.Audience,
		IssuedAt:  info.IssuedAt,
		ExpiresAt: info.ExpiresAt,
		JTI:       info.JTI,
		JKT:       info.JKT,
		X5TS256:   info.X5TS256,
		Claims:    info.Claims,
	}, nil
}

func (l localIssuer) ResourcePolicy(ctx context.Context, identifier string) (*rsvalidate.ResourcePolicy, error) {
	p, err := l.srv.ResourcePolicy(ctx, identifier)
	// A disabled resource gets no tokens and must accept none: report it as unknown.
	if err != nil || p == nil || p.Disabled {
		return nil, err
	}
	return &rsvalidate.ResourcePolicy{
		DPoPBoundAccessTokensRequired: p.DPoPBoundAccessTokensRequired,
		ScopesSupported:               p.AllowedScopes,
	}, nil
}

var _ rsvalidate.LocalIssuer = localIssuer{}
