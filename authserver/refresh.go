package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/dpop"
)

var badRefresh = oautherr.New(oautherr.InvalidGrant, "the refresh token is invalid, expired or revoked")

// refreshTokenGrant is RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every refresh returns a
// new refresh token and retires the presented one. A retired token presented again means one
// of the two copies was stolen, so the whole grant is revoked — unless the opt-in grace period
// says it is the same client retrying a refresh whose response it lost, which then gets that
// same response again.
func (s *Server) refreshTokenGrant(ctx context.Context, r *http.Request, client *store.Client) (*tokenResponse, error) {
	value := formValue(r.PostForm, "refresh_token")
	if value == "" {
		return nil, oautherr.Request("refresh_token is required")
	}
	if len(value) > maxTokenLen {
		return nil, badRefresh
	}
	hash := hashToken(value)
	old, err := s.st.GetRefreshToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, badRefresh
	} else if err != nil {
		return nil, err
	}
	g, err := s.st.GetGrant(ctx, old.GrantID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, badRefresh
	} else if err != nil {
		return nil, err
	}
	if g.ClientID != client.ID {
		return nil, badRefresh
	}
	if g.Revoked {
		return nil, badRefresh
	}
	proof, err := s.refreshProof(r, client, g)
	if err != nil {
		return nil, err
	}
	if old.UsedAt != nil {
		// The proof is spent before the reuse is judged: an exact replay of an earlier
		// request is refused for its proof, and neither gets the grace answer nor revokes.
		if err := s.recordTokenProof(ctx, proof); err != nil {
			return nil, err
		}
		return s.refreshReused(ctx, g, old)
	}
	acc, err := s.refreshAccount(ctx, old, g)
	if err != nil {
		return nil, err
	}
	if acc == nil {
		return nil, badRefresh
	}
	now := s.now()
	if err := s.recordTokenProof(ctx, proof); err != nil {
		return nil, err
	}
	jkt := proofJKT(proof)
	scopes := old.Scopes
	if param := formValue(r.PostForm, "scope"); param != "" {
		requested, ok := parseScope(param)
		if !ok {
			return nil, oautherr.New(oautherr.InvalidScope, "scope is malformed")
		}
		for _, sc := range requested {
			if !slices.Contains(old.Scopes, sc) {
				return nil, oautherr.New(oautherr.InvalidScope, "scope names a scope that was not granted")
			}
		}
		scopes = requested // down-scoping (RFC 6749 §6)
	}
	resp, next, err := s.issueUserTokens(ctx, r, client, g, acc, scopes, "", jkt)
	if err != nil {
		return nil, err
	}
	if next == nil {
		// Down-scoped without offline_access: the client keeps no refresh token from now on,
		// but the presented one is still retired.
		next = &store.RefreshToken{Hash: hashToken(newTokenValue()), GrantID: g.ID, Scopes: scopes, CreatedAt: now, ExpiresAt: now}
	}
	sealed, err := s.sealRefreshResponse(hash, resp)
	if err != nil {
		return nil, err
	}
	err = s.st.RotateRefreshToken(ctx, hash, now, sealed, next)
	if errors.Is(err, store.ErrAlreadyUsed) {
		// A concurrent refresh won the rotation: what we minted is never delivered.
		s.discard(ctx, resp)
		again, gerr := s.st.GetRefreshToken(ctx, hash)
		if gerr != nil {
			return nil, gerr
		}
		return s.refreshReused(ctx, g, again)
	}
	if err != nil {
		s.discard(ctx, resp)
		return nil, err
	}
	return resp, nil
}

// refreshAccount checks what ends an unused refresh token of a live grant besides
// revocation: its own expiry, its grant's, and its account (a deleted or disabled account's
// grants end with it). It returns the account, or nil when the token has ended.
func (s *Server) refreshAccount(ctx context.Context, rt *store.RefreshToken, g *store.Grant) (*store.Account, error) {
	now := s.now()
	if !now.Before(rt.ExpiresAt) || !now.Before(g.ExpiresAt) {
		return nil, nil
	}
	acc, err := s.accounts.Account(ctx, g.Subject)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, account.ErrDisabled) {
		return nil, nil
	}
	return acc, err
}

// refreshProof checks (without spending it) the proof of a refresh request: a grant bound to
// a key (public client) needs a proof with that key; otherwise a proof only binds the new
// access token.
func (s *Server) refreshProof(r *http.Request, client *store.Client, g *store.Grant) (*dpop.Proof, error) {
	proof, err := s.tokenProof(r, client.DPoPBoundAccessTokens || g.JKT != "")
	if err != nil {
		return nil, err
	}
	if g.JKT != "" && proofJKT(proof) != g.JKT {
		return nil, oautherr.New(oautherr.InvalidGrant, "the refresh token is bound to another DPoP key")
	}
	if err := s.checkRefreshCertificate(r, g); err != nil {
		return nil, err
	}
	return proof, nil
}

// refreshReused answers a rotated refresh token presented again.
func (s *Server) refreshReused(ctx context.Context, g *store.Grant, old *store.RefreshToken) (*tokenResponse, error) {
	if s.cfg.RefreshGracePeriod > 0 && old.UsedAt != nil && s.now().Sub(*old.UsedAt) <= s.cfg.RefreshGracePeriod && len(old.ResponseSealed) > 0 {
		if resp, err := s.openRefreshResponse(old.Hash, old.ResponseSealed); err == nil {
			return resp, nil
		}
	}
	s.audit.Event(audit.RefreshReuse, zap.String("client_id", g.ClientID), zap.String("grant_id", g.ID),
		zap.String("sub", g.Subject))
	if err := s.revokeGrant(ctx, g.ID); err != nil {
		return nil, err
	}
	return nil, badRefresh
}

// discard revokes the access token of a response that will not be delivered.
func (s *Server) discard(ctx context.Context, resp *tokenResponse) {
	var err error
	if resp.jti != "" {
		err = s.st.RevokeJTI(ctx, resp.jti, resp.exp)
	} else if resp.AccessToken != "" {
		err = s.st.RevokeAccessToken(ctx, hashToken(resp.AccessToken))
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("could not revoke an undelivered access token", zap.Error(err))
	}
}

// sealRefreshResponse keeps the response of a rotation, sealed, for the grace period (the
// unexported fields of tokenResponse are not marshalled and not needed again).
func (s *Server) sealRefreshResponse(oldHash string, resp *tokenResponse) ([]byte, error) {
	if s.cfg.RefreshGracePeriod <= 0 {
		return nil, nil // nothing to answer again: keep no copy of the tokens
	}
	plain, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	return s.deps.Sealer.Seal(plain, []byte("refresh response "+oldHash))
}

func (s *Server) openRefreshResponse(oldHash string, sealed []byte) (*tokenResponse, error) {
	plain, err := s.deps.Sealer.Open(sealed, []byte("refresh response "+oldHash))
	if err != nil {
		return nil, err
	}
	var resp tokenResponse
	if err := json.Unmarshal(plain, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
