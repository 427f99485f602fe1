package manage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Initial access tokens authorize dynamic client registration (RFC 7591 §3). Defaults keep
// a forgotten token harmless: one registration within a day.
const (
	DefaultInitialAccessTokenTTL  = 24 * time.Hour
	DefaultInitialAccessTokenUses = 1
	maxDescription                = 200
)

// InitialAccessTokenInput creates an initial access token; zero fields take the defaults.
type InitialAccessTokenInput struct {
	ExpiresIn   time.Duration
	Uses        int
	Description string
}

// CreateInitialAccessToken makes a token of 256 random bits and stores only its hash. The
// token is returned once.
func (s *Service) CreateInitialAccessToken(ctx context.Context, in InitialAccessTokenInput) (string, *store.InitialAccessToken, error) {
	const subject = "initial access token"
	switch {
	case in.ExpiresIn < 0:
		return "", nil, invalid(subject, spec.CodeInvalidValue, "expires_in", "must not be negative")
	case in.Uses < 0:
		return "", nil, invalid(subject, spec.CodeInvalidValue, "uses", "must be at least 1")
	case len(in.Description) > maxDescription || strings.ContainsFunc(in.Description, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", nil, invalid(subject, spec.CodeInvalidValue, "description", fmt.Sprintf("must be at most %d characters without control characters", maxDescription))
	}
	if in.ExpiresIn == 0 {
		in.ExpiresIn = DefaultInitialAccessTokenTTL
	}
	if in.Uses == 0 {
		in.Uses = DefaultInitialAccessTokenUses
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	expires := s.d.Now().Add(in.ExpiresIn).UTC().Truncate(time.Millisecond)
	uses := in.Uses
	t := &store.InitialAccessToken{Hash: InitialAccessTokenHash(token), Description: in.Description,
		ExpiresAt: &expires, UsesLeft: &uses, CreatedAt: s.d.Now().UTC()}
	if err := s.d.Store.CreateInitialAccessToken(ctx, t); err != nil {
		return "", nil, err
	}
	s.d.Audit.Event(audit.InitialAccessTokenCreated, zap.String("id", t.ID), zap.Time("expires_at", expires), zap.Int("uses", uses))
	return token, t, nil
}

// InitialAccessTokenHash is how an initial access token is stored and looked up
// (store.UseInitialAccessToken): SHA-256, base64url without padding.
func InitialAccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ListInitialAccessTokens returns every token (never the token itself), oldest first.
func (s *Service) ListInitialAccessTokens(ctx context.Context) ([]*store.InitialAccessToken, error) {
	return s.d.Store.ListInitialAccessTokens(ctx)
}

// DeleteInitialAccessToken revokes the token with id; ErrNotFound if there is none.
func (s *Service) DeleteInitialAccessToken(ctx context.Context, id string) error {
	err := s.d.Store.DeleteInitialAccessToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("initial access token %q: %w", id, ErrNotFound)
	} else if err != nil {
		return err
	}
	s.d.Audit.Event(audit.InitialAccessTokenDeleted, zap.String("id", id))
	return nil
}
