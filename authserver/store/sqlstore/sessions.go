package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// CreateSession stores s; ErrConflict if its ID exists. A zero CreatedAt is set to now
// and written back.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	amr, err := encodeJSON(sess.AMR)
	if err != nil {
		return err
	}
	created := createdAt(sess.CreatedAt)
	err = s.exec(ctx, s.stmts.createSession, func(_ sql.Result, err error) error {
		return s.writeErr("create session", err)
	}, sess.ID, sess.SecretHash, sess.Subject, toMillis(sess.AuthTime), amr, sess.ACR,
		toMillis(created), toMillis(sess.LastSeenAt), toMillis(sess.ExpiresAt), sess.UserAgent, sess.RemoteIP, sess.PasskeyID)
	if err != nil {
		return err
	}
	sess.CreatedAt = created
	return nil
}

// GetSession returns the session with id, whether or not it has expired.
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	sess, err := scanSession(s.stmts.getSession.QueryRowContext(ctx, id))
	if err != nil {
		return nil, readErr("get session", err)
	}
	return sess, nil
}

// ListSessions returns the sessions of subject that have not expired by the store's clock,
// oldest first.
func (s *Store) ListSessions(ctx context.Context, subject string) ([]*store.Session, error) {
	rows, err := s.stmts.listSessions.QueryContext(ctx, subject, time.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list sessions: %w", err)
	}
	return collect(rows, "list sessions", scanSession)
}

// CountActiveSessions counts the sessions unexpired at now.
func (s *Store) CountActiveSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	if err := s.stmts.countActiveSessions.QueryRowContext(ctx, now.UnixMilli()).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlstore: count active sessions: %w", err)
	}
	return n, nil
}

func scanSession(row scanner) (*store.Session, error) {
	var (
		sess                                   store.Session
		amr                                    sql.NullString
		authTime, created, lastSeen, expiresAt int64
	)
	err := row.Scan(&sess.ID, &sess.SecretHash, &sess.Subject, &authTime, &amr, &sess.ACR,
		&created, &lastSeen, &expiresAt, &sess.UserAgent, &sess.RemoteIP, &sess.PasskeyID)
	if err != nil {
		return nil, err
	}
	sess.AuthTime, sess.CreatedAt = fromMillis(authTime), fromMillis(created)
	sess.LastSeenAt, sess.ExpiresAt = fromMillis(lastSeen), fromMillis(expiresAt)
	if err := decodeJSON(amr, &sess.AMR); err != nil {
		return nil, err
	}
	return &sess, nil
}

// TouchSession sets LastSeenAt of the session; ErrNotFound if it is gone.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	return s.exec(ctx, s.stmts.touchSession, func(res sql.Result, err error) error {
		return affectedOne("touch session", res, err)
	}, id, toMillis(lastSeen))
}

// DeleteSession removes the session; a missing session is not an error. The session's
// grants stay: RevokeSessionGrants revokes them.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.stmts.deleteSession.ExecContext(ctx, id); err != nil {
		return fmt.Errorf("sqlstore: delete session: %w", err)
	}
	return nil
}

// DeleteSubjectSessions removes every session of the account with subject and returns how
// many it removed.
func (s *Store) DeleteSubjectSessions(ctx context.Context, subject string) (int, error) {
	res, err := s.stmts.deleteSubjectSessions.ExecContext(ctx, subject)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete subject sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete subject sessions: %w", err)
	}
	return int(n), nil
}

// GetConsent returns the consent of subject to clientID.
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) (*store.Consent, error) {
	c, err := scanConsent(s.stmts.getConsent.QueryRowContext(ctx, subject, clientID))
	if err != nil {
		return nil, readErr("get consent", err)
	}
	return c, nil
}

// ListConsents returns the consents q selects, ordered by subject, then client ID.
func (s *Store) ListConsents(ctx context.Context, q store.ConsentQuery) ([]*store.Consent, error) {
	var l listQuery
	l.equal("subject", q.Subject)
	l.equal("client_id", q.ClientID)
	if q.After != "" {
		subject, clientID, err := store.ParseConsentCursor(q.After)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list consents: %w", err)
		}
		l.cond("(subject, client_id) > (" + l.param(subject) + ", " + l.param(clientID) + ")")
	}
	rows, err := s.reader.QueryContext(ctx, l.sql("SELECT "+consentCols+" FROM oauth_consents", "subject, client_id", q.Limit), l.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list consents: %w", err)
	}
	return collect(rows, "list consents", scanConsent)
}

func scanConsent(row scanner) (*store.Consent, error) {
	var (
		c                 store.Consent
		scopes, resources sql.NullString
		created, updated  int64
	)
	if err := row.Scan(&c.Subject, &c.ClientID, &scopes, &resources, &created, &updated); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = fromMillis(created), fromMillis(updated)
	if err := decodeStrings(stringsCol{scopes, &c.Scopes}, stringsCol{resources, &c.Resources}); err != nil {
		return nil, err
	}
	return &c, nil
}

// UpsertConsent replaces the consent of (c.Subject, c.ClientID), keeping the CreatedAt of
// an existing one. It writes the stored CreatedAt and the new UpdatedAt back into c.
func (s *Store) UpsertConsent(ctx context.Context, c *store.Consent) error {
	jsonCols, err := encodeStrings(c.Scopes, c.Resources)
	if err != nil {
		return err
	}
	updated := now()
	created := updated
	if !c.CreatedAt.IsZero() {
		created = c.CreatedAt
	}
	var storedCreated int64
	err = s.stmts.upsertConsent.QueryRowContext(ctx, c.Subject, c.ClientID, jsonCols[0], jsonCols[1],
		toMillis(created), toMillis(updated)).Scan(&storedCreated)
	if err != nil {
		return s.writeErr("upsert consent", err)
	}
	c.CreatedAt, c.UpdatedAt = fromMillis(storedCreated), updated
	return nil
}

// DeleteConsent removes the consent; ErrNotFound if there is none.
func (s *Store) DeleteConsent(ctx context.Context, subject, clientID string) error {
	res, err := s.stmts.deleteConsent.ExecContext(ctx, subject, clientID)
	return affectedOne("delete consent", res, err)
}

// createdAt returns t, or the current time when t is zero, at the precision the store keeps.
func createdAt(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return fromMillis(toMillis(t))
}
