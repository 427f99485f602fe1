package authserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// handleRevoke is RFC 7009 token revocation. It answers 200 for unknown, expired and foreign
// tokens alike (§2.2), so it is idempotent and tells a caller nothing about tokens that are
// not its own.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if err := s.revoke(r.Context(), w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) revoke(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := parsePostForm(w, r); err != nil {
		return err
	}
	caller, err := s.authenticateClient(r, pathRevoke)
	if err != nil {
		return err
	}
	token := formValue(r.PostForm, "token")
	if token == "" {
		return oautherr.Request("token is required")
	}
	if len(token) <= maxTokenLen && strings.Count(token, ".") != 2 {
		if done, err := s.revokeRefreshToken(ctx, caller, token); done || err != nil {
			return err
		}
	}
	info, err := s.activeToken(ctx, token)
	if err != nil || info == nil || info.clientID != caller.ID {
		return err
	}
	if info.jti != "" {
		// A self-contained token (JWT or sealed opaque) cannot be recalled, so remember its
		// jti until it would expire anyway.
		err = s.st.RevokeJTI(ctx, info.jti, time.Unix(info.expiresAt, 0))
	} else if err = s.st.RevokeAccessToken(ctx, info.hash); errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	if err == nil {
		s.noteRevoked(info) // in-process gateways refuse it from now on
		ref := audit.TokenRef(info.hash)
		if info.jti != "" {
			ref = zap.String("jti", info.jti)
		}
		s.audit.Event(audit.TokenRevoked, zap.String("client_id", caller.ID), zap.String("kind", "access_token"), ref)
	}
	return err
}

// revokeRefreshToken revokes the grant of a refresh token of the caller: RFC 7009 §2.1 wants
// the access tokens of the same grant revoked with it. done reports whether token was a
// refresh token (of anyone: a foreign one is silently left alone, §2.2).
func (s *Server) revokeRefreshToken(ctx context.Context, caller *store.Client, token string) (done bool, err error) {
	rt, err := s.st.GetRefreshToken(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	g, err := s.st.GetGrant(ctx, rt.GrantID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	} else if err != nil {
		return true, err
	}
	if g.ClientID != caller.ID {
		return true, nil
	}
	if err := s.revokeGrant(ctx, g.ID); err != nil {
		return true, err
	}
	s.audit.Event(audit.TokenRevoked, zap.String("client_id", caller.ID), zap.String("kind", "refresh_token"),
		zap.String("grant_id", g.ID), audit.TokenRef(rt.Hash))
	return true, nil
}
