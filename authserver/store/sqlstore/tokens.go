package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
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
		return s.writeErr("create access token", err)
	})
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

// RevokeAccessToken marks the token revoked; ErrNotFound if there is no such token.
func (s *Store) RevokeAccessToken(ctx context.Context, hash string) error {
	res, err := s.stmts.revokeAccessToken.ExecContext(ctx, hash)
	return affectedOne("revoke access token", res, err)
}

// RevokeClientAccessTokens revokes every opaque access token of the client and returns how
// many were not revoked before.
func (s *Store) RevokeClientAccessTokens(ctx context.Context, clientID string) (int, error) {
	if clientID == "" {
		return 0, nil
	}
	res, err := s.stmts.revokeClientAccessTokens.ExecContext(ctx, clientID)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: revoke client access tokens: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: revoke client access tokens: %w", err)
	}
	return int(n), nil
}

// RevokeJTI records the JWT jti as revoked until expiresAt. Revoking it again keeps the
// later expiry.
func (s *Store) RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := s.stmts.revokeJTI.ExecContext(ctx, jti, toMillis(expiresAt))
	return s.writeErr("revoke jti", err)
}

// IsJTIRevoked reports whether jti was revoked. An entry counts until DeleteExpired removes
// it, so a token accepted with clock-skew leeway past its exp is still seen as revoked.
func (s *Store) IsJTIRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.stmts.isJTIRevoked.QueryRowContext(ctx, jti).Scan(&one)
	return exists("is jti revoked", err)
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

// DeleteExpired removes access tokens, revoked jtis, replay keys, sessions, authorization
// codes, refresh tokens, grant jtis and grants (with their refresh tokens and jtis) that
// expired at or before now, and signing keys whose PurgeAfter has passed. It deletes in
// batches so other writers get the database in between.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, stmt := range s.stmts.deleteExpired {
		for {
			res, err := stmt.ExecContext(ctx, toMillis(now), deleteBatch)
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
