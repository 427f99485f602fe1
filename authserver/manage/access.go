package manage

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// What an account allowed (consents), what it holds (grants) and where it is signed in
// (sessions): listed and revoked by an operator.

// ListConsents returns the consents q selects; store.ErrInvalidCursor for a bad q.After.
func (s *Service) ListConsents(ctx context.Context, q store.ConsentQuery) ([]*store.Consent, error) {
	return s.d.Store.ListConsents(ctx, q)
}

// RevokeConsents deletes the consents of a subject, of a client, or the one of both, and
// returns how many: the next authorization asks the user again. Tokens already issued stay
// valid (revoke the grants for that).
func (s *Service) RevokeConsents(ctx context.Context, subject, clientID string) (int, error) {
	if subject == "" && clientID == "" {
		return 0, invalid("consents", spec.CodeInvalidValue, "subject", "name a subject, a client_id or both")
	}
	consents, err := s.d.Store.ListConsents(ctx, store.ConsentQuery{Subject: subject, ClientID: clientID})
	if err != nil {
		return 0, err
	}
	for _, c := range consents {
		if err := s.d.Store.DeleteConsent(ctx, c.Subject, c.ClientID); err != nil {
			return 0, err
		}
	}
	s.d.Audit.Event(audit.ConsentWithdrawn, zap.String("sub", subject), zap.String("client_id", clientID), zap.Int("consents", len(consents)))
	return len(consents), nil
}

// ListGrants returns the live grants q selects.
func (s *Service) ListGrants(ctx context.Context, q store.GrantQuery) ([]*store.Grant, error) {
	return s.d.Store.ListGrants(ctx, q)
}

// GrantFilter names the grants to revoke: exactly one field is set.
type GrantFilter struct {
	Subject  string
	ClientID string
	GrantID  string
}

// RevokeGrants revokes the grants f names, with their refresh and access tokens, and returns
// how many it revoked. By client it also revokes the client's opaque access tokens issued
// without a grant (client_credentials). An unknown grant ID is ErrNotFound.
func (s *Service) RevokeGrants(ctx context.Context, f GrantFilter) (int, error) {
	set := 0
	for _, v := range []string{f.Subject, f.ClientID, f.GrantID} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return 0, invalid("grants", spec.CodeInvalidValue, "subject", "name exactly one of subject, client_id or grant_id")
	}
	defer s.d.Changed() // cached in-process validations may hold the revoked tokens
	switch {
	case f.ClientID != "":
		return s.RevokeClientGrants(ctx, f.ClientID)
	case f.Subject != "":
		n, err := s.d.Store.RevokeSubjectGrants(ctx, f.Subject)
		if err == nil {
			s.d.Audit.Event(audit.GrantRevoked, zap.String("sub", f.Subject), zap.Int("grants_revoked", n))
		}
		return n, err
	}
	g, err := s.d.Store.GetGrant(ctx, f.GrantID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("grant %q: %w", f.GrantID, ErrNotFound)
	} else if err != nil {
		return 0, err
	}
	if g.Revoked {
		return 0, nil
	}
	if err := s.d.Store.RevokeGrant(ctx, g.ID); err != nil {
		return 0, err
	}
	s.d.Audit.Event(audit.GrantRevoked, zap.String("grant_id", g.ID), zap.String("client_id", g.ClientID), zap.String("sub", g.Subject))
	return 1, nil
}

// ListSessions returns the unexpired sessions of the account with subject, oldest first.
func (s *Service) ListSessions(ctx context.Context, subject string) ([]*store.Session, error) {
	if subject == "" {
		return nil, invalid("sessions", spec.CodeInvalidValue, "subject", "is required")
	}
	return s.d.Store.ListSessions(ctx, subject)
}

// RevokeSessions ends the sessions of a subject, or one session by ID (exactly one is set),
// revoking the grants made in them, and returns how many sessions it ended. An unknown
// session ID is ErrNotFound.
func (s *Service) RevokeSessions(ctx context.Context, subject, sessionID string) (int, error) {
	if (subject == "") == (sessionID == "") {
		return 0, invalid("sessions", spec.CodeInvalidValue, "subject", "name exactly one of subject or session_id")
	}
	defer s.d.Changed()
	var sessions []*store.Session
	if sessionID != "" {
		se, err := s.d.Store.GetSession(ctx, sessionID)
		if errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("session %q: %w", sessionID, ErrNotFound)
		} else if err != nil {
			return 0, err
		}
		sessions = []*store.Session{se}
	} else {
		var err error
		if sessions, err = s.d.Store.ListSessions(ctx, subject); err != nil {
			return 0, err
		}
	}
	grants := 0
	for _, se := range sessions {
		id := se.ID
		s.d.SessionEnding(ctx, se.Subject, id)
		// Deleted first: from then on the session signs nobody in, even if revoking fails.
		if err := s.d.Store.DeleteSession(ctx, id); err != nil {
			return 0, err
		}
		n, err := s.d.Store.RevokeSessionGrants(ctx, id)
		if err != nil {
			return 0, err
		}
		grants += n
	}
	s.d.Audit.Event(audit.SessionsRevoked, zap.String("sub", subject), zap.String("session_id", sessionID),
		zap.Int("sessions", len(sessions)), zap.Int("grants_revoked", grants))
	return len(sessions), nil
}
