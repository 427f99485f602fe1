package authserver

import (
	"context"
	"crypto/sha256"
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
	// Claims are the token's claims beyond the registered ones: custom claims of the resource,
	// and grant_id and sid when the token was issued under a grant (and its login session).
	Claims map[string]any
}

// gatewayTTL bounds how long an in-process validation result is reused. Revocations and
// client or resource changes made through this Server apply at once (revokedLocally, cache
// clears); client and resource changes made by another instance sharing the store apply
// within cache_sync_interval (the revision check clears this cache too); the TTL only bounds
// how late another instance's revocation of a token or grant is seen.
const gatewayTTL = 5 * time.Second

// ActiveAccessToken validates an access token of this server for a gateway in the same
// process: signature, expiry, revocation and the resource's existence, exactly as
// introspection does, but without client authentication or HTTP. Results are cached briefly
// (keyed by the token's SHA-256, digest compared on a hit) so a repeated token costs no store
// read; expiry and this server's own revocations are checked on every call. It returns
// (nil, nil) for anything that is not an active access token.
func (s *Server) ActiveAccessToken(ctx context.Context, token string) (*AccessTokenInfo, error) {
	if token == "" || len(token) > maxTokenLen {
		return nil, nil
	}
	digest := sha256.Sum256([]byte(token))
	key := string(digest[:])
	info, hit := s.gatewayHit(key, digest)
	if !hit {
		epoch := s.gatewayGuard.begin()
		var err error
		if info, err = s.activeToken(ctx, token); err != nil || info == nil {
			return nil, err
		}
		if ttl := min(gatewayTTL, time.Until(time.Unix(info.expiresAt, 0))); ttl > 0 {
			s.gatewayGuard.fill(epoch, func() { s.gateway.SetWithTTL(key, verifiedToken{digest: digest, info: info}, 1, ttl) })
		}
	}
	if info.expiresAt <= s.now().Unix() || s.revokedLocally(info) {
		return nil, nil
	}
	claims := maps.Clone(info.extra)
	if match := info.matchClaims(); len(match) > 0 {
		if claims == nil {
			claims = make(map[string]any, len(match))
		}
		maps.Copy(claims, match)
	}
	return &AccessTokenInfo{
		Issuer:    s.cfg.Issuer,
		Subject:   info.subject,
		ClientID:  info.clientID,
		Scope:     info.scope,
		Audience:  slices.Clone(info.audience),
		IssuedAt:  time.Unix(info.issuedAt, 0),
		ExpiresAt: time.Unix(info.expiresAt, 0),
		JTI:       info.jti,
		JKT:       info.jkt,
		X5TS256:   info.x5t,
		Claims:    claims,
	}, nil
}

// clearGateway drops every cached in-process validation after a revocation or deletion; a
// validation in flight that read the store before it is not cached (fillGuard).
func (s *Server) clearGateway() { s.gatewayGuard.clear(s.gateway.Clear) }

func (s *Server) gatewayHit(key string, digest [sha256.Size]byte) (*tokenInfo, bool) {
	if v, ok := s.gateway.Get(key); ok && v.digest == digest {
		return v.info, true
	}
	return nil, false
}

// revocationKey names a token in revokedLocal: its jti (JWT, sealed opaque) or its hash
// (opaque stored as a row).
func revocationKey(info *tokenInfo) string {
	if info.jti != "" {
		return "jti:" + info.jti
	}
	return "hash:" + info.hash
}

// noteRevoked records a revocation made through this server, so cached in-process results
// stop validating at once. Entries are dropped after the token's expiry by the cleanup loop.
func (s *Server) noteRevoked(info *tokenInfo) {
	s.revokedLocal.Store(revocationKey(info), info.expiresAt)
}

func (s *Server) revokedLocally(info *tokenInfo) bool {
	_, ok := s.revokedLocal.Load(revocationKey(info))
	return ok
}

// forgetExpiredRevocations drops revokedLocal entries of tokens that have expired anyway.
func (s *Server) forgetExpiredRevocations(now time.Time) {
	s.revokedLocal.Range(func(k, exp any) bool {
		if exp.(int64) <= now.Unix() {
			s.revokedLocal.Delete(k)
		}
		return true
	})
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
