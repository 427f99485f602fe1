package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// CreateAccessToken stores an opaque access token; ErrConflict if its hash exists. A token
// issued under a grant that is revoked by then is stored revoked, so a revocation racing
// the issuance still wins.
func (s *Store) CreateAccessToken(ctx context.Context, t *store.AccessToken) error {
	audience, err := encodeJSON(t.Audience)
	if err != nil {
		return err
	}
	extra, err := encodeJSON(t.Extra)
	if err != nil {
		return err
	}
	args := func(revoked bool) []any {
		return []any{t.Hash, t.ClientID, t.Subject, t.ResourceID, audience, t.Scope, t.JKT, t.X5TS256,
			extra, toMillis(t.IssuedAt), toMillis(t.ExpiresAt), revoked, t.GrantID}
	}
	if t.GrantID == "" {
		return s.exec(ctx, s.stmts.createAccessToken, func(_ sql.Result, err error) error {
			return s.writeErr("create access token", err)
		}, args(t.Revoked)...)
	}
	return s.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// A missing grant is no reason to refuse the token: it is the caller's to check.
		_, revoked, err := s.grantRevoked(ctx, tx, t.GrantID)
		if err != nil {
			return fmt.Errorf("sqlstore: create access token: %w", err)
		}
		_, err = tx.StmtContext(ctx, s.stmts.createAccessToken).ExecContext(ctx, args(t.Revoked || revoked)...)
		if err != nil || !revoked || !isLive(toMillis(t.ExpiresAt)) {
			return s.writeErr("create access token", err)
		}
		// Issued while its grant was being revoked: announced, since it may outlive the
		// grant's event.
		return s.appendEvents(ctx, tx, []*store.RevocationEvent{tokenHashEvent(t.Hash, t.ClientID, t.Subject, toMillis(t.ExpiresAt))})
	})
}

// tokenHashEvent is the event of one revoked opaque access token.
func tokenHashEvent(hash, clientID, subject string, expiresAt int64) *store.RevocationEvent {
	return &store.RevocationEvent{Kind: store.RevokedTokenHash, Value: hash, Subject: subject,
		ClientID: clientID, ExpiresAt: fromMillis(expiresAt)}
}

// GetAccessToken returns the token with hash, whether or not it has expired or was revoked.
func (s *Store) GetAccessToken(ctx context.Context, hash string) (*store.AccessToken, error) {
	var (
		t               store.AccessToken
		audience, extra sql.NullString
		issued, expires int64
	)
	err := s.stmts.getAccessToken.QueryRowContext(ctx, hash).Scan(&t.Hash, &t.ClientID, &t.Subject,
		&t.ResourceID, &audience, &t.Scope, &t.JKT, &t.X5TS256, &extra, &issued, &expires, &t.Revoked, &t.GrantID)
	if err != nil {
		return nil, readErr("get access token", err)
	}
	t.IssuedAt, t.ExpiresAt = fromMillis(issued), fromMillis(expires)
	if err := decodeJSON(audience, &t.Audience); err != nil {
		return nil, err
	}
	if err := decodeJSON(extra, &t.Extra); err != nil {
		return nil, err
	}
	return &t, nil
}

// RevokeAccessToken marks the token revoked; ErrNotFound if there is no such token. A
// token not revoked before that has not expired gets a RevokedTokenHash event.
func (s *Store) RevokeAccessToken(ctx context.Context, hash string) error {
	return s.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var (
			clientID, subject string
			expiresAt         int64
		)
		err := tx.StmtContext(ctx, s.stmts.revokeAccessToken).QueryRowContext(ctx, hash).Scan(&clientID, &subject, &expiresAt)
		if errors.Is(err, sql.ErrNoRows) {
			// Revoked before, or unknown.
			var one int
			if err := tx.StmtContext(ctx, s.stmts.accessTokenExists).QueryRowContext(ctx, hash).Scan(&one); err != nil {
				return readErr("revoke access token", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("sqlstore: revoke access token: %w", err)
		}
		if !isLive(expiresAt) {
			return nil
		}
		return s.appendEvents(ctx, tx, []*store.RevocationEvent{tokenHashEvent(hash, clientID, subject, expiresAt)})
	})
}

// RevokeClientAccessTokens revokes every opaque access token of the client and returns how
// many were not revoked before; each of those that has not expired gets a RevokedTokenHash
// event.
func (s *Store) RevokeClientAccessTokens(ctx context.Context, clientID string) (int, error) {
	if clientID == "" {
		return 0, nil
	}
	var n int
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.StmtContext(ctx, s.stmts.revokeClientAccessTokens).QueryContext(ctx, clientID)
		if err != nil {
			return fmt.Errorf("sqlstore: revoke client access tokens: %w", err)
		}
		var evs []*store.RevocationEvent
		n = 0
		for rows.Next() {
			var (
				hash, subject string
				expiresAt     int64
			)
			if err := rows.Scan(&hash, &subject, &expiresAt); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: revoke client access tokens: %w", err)
			}
			n++
			if isLive(expiresAt) {
				evs = append(evs, tokenHashEvent(hash, clientID, subject, expiresAt))
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: revoke client access tokens: %w", err)
		}
		slices.SortFunc(evs, func(a, b *store.RevocationEvent) int { return strings.Compare(a.Value, b.Value) })
		return s.appendEvents(ctx, tx, evs)
	})
	return n, err
}

// RevokeJTI records the JWT jti as revoked until expiresAt. Revoking it again keeps the
// later expiry. Unless expiresAt has passed, it appends a RevokedJTI event.
func (s *Store) RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error {
	return s.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.stmts.revokeJTI).ExecContext(ctx, jti, toMillis(expiresAt)); err != nil {
			return s.writeErr("revoke jti", err)
		}
		return s.appendJTIEvent(ctx, tx, jti, toMillis(expiresAt))
	})
}

// appendJTIEvent appends the RevokedJTI event of a JWT access token expiring at expiresAt,
// unless it has expired, described by the grant it was recorded under, if any.
func (s *Store) appendJTIEvent(ctx context.Context, tx *sql.Tx, jti string, expiresAt int64) error {
	if !isLive(expiresAt) {
		return nil
	}
	e := &store.RevocationEvent{Kind: store.RevokedJTI, Value: jti, ExpiresAt: fromMillis(expiresAt)}
	err := tx.StmtContext(ctx, s.stmts.jtiOwner).QueryRowContext(ctx, jti).Scan(&e.Subject, &e.ClientID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlstore: revoke jti: grant: %w", err)
	}
	return s.appendEvents(ctx, tx, []*store.RevocationEvent{e})
}

// IsJTIRevoked reports whether jti was revoked. An entry counts until DeleteExpired removes
// it, so a token accepted with clock-skew leeway past its exp is still seen as revoked.
func (s *Store) IsJTIRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.stmts.isJTIRevoked.QueryRowContext(ctx, jti).Scan(&one)
	return exists("is jti revoked", err)
}

// SetClientTokenCutoff records the client's cut-off (store.RevocationStore).
// Unless expiresAt has passed, it appends a RevokedClient event whose CreatedAt is the
// cut-off, so gateways refuse the client's tokens issued until then too.
func (s *Store) SetClientTokenCutoff(ctx context.Context, clientID string, cutoff, expiresAt time.Time) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.stmts.setClientTokenCutoff).ExecContext(ctx, clientID, toMillis(cutoff), toMillis(expiresAt)); err != nil {
			return s.writeErr("set client token cutoff", err)
		}
		if !isLive(toMillis(expiresAt)) {
			return nil
		}
		return s.appendEvents(ctx, tx, []*store.RevocationEvent{{Kind: store.RevokedClient, Value: clientID,
			ClientID: clientID, CreatedAt: cutoff, ExpiresAt: expiresAt}})
	})
}

// ClientTokenCutoff returns the client's cut-off, or the zero time when it has none. An
// expired one still counts until DeleteExpired removes it: it covers only expired tokens.
func (s *Store) ClientTokenCutoff(ctx context.Context, clientID string) (time.Time, error) {
	var ms int64
	err := s.stmts.clientTokenCutoff.QueryRowContext(ctx, clientID).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	} else if err != nil {
		return time.Time{}, readErr("client token cutoff", err)
	}
	return fromMillis(ms), nil
}

// UseOnce records key until expiresAt; ErrConflict if it is recorded and not yet expired.
func (s *Store) UseOnce(ctx context.Context, key string, expiresAt time.Time) error {
	return s.exec(ctx, s.stmts.useOnce, func(res sql.Result, err error) error {
		if err != nil {
			return s.writeErr("use once", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlstore: use once: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("sqlstore: use once: %w", store.ErrConflict)
		}
		return nil
	}, key, toMillis(expiresAt), time.Now().UnixMilli())
}

// DeleteExpired removes access tokens, revoked jtis, replay keys, authorization codes,
// refresh tokens, grant jtis, grants (with their refresh tokens and jtis) and revocation
// events that expired at or before now, sessions that expired at least sessionPurgeGrace
// before now, and signing keys whose PurgeAfter has passed. It deletes in batches so other
// writers get the database in between. The logout outbox is left alone: its worker drops
// (and logs) deliveries past their ExpiresAt.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for i, stmt := range s.stmts.deleteExpired {
		before := toMillis(now.Add(-expiredDeletes[i].grace))
		for {
			res, err := stmt.ExecContext(ctx, before, deleteBatch)
			if err != nil {
				return total, fmt.Errorf("sqlstore: delete expired: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("sqlstore: delete expired: %w", err)
			}
			total += n
			if n < deleteBatch {
				break
			}
		}
	}
	return total, nil
}
