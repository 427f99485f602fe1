package sqlstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// SessionClientIDs returns, sorted, the clients that had a grant (revoked or not) in the
// session. The empty session ID, which grants made without a session carry, has none.
func (s *Store) SessionClientIDs(ctx context.Context, sessionID string) ([]string, error) {
	if sessionID == "" {
		return nil, nil
	}
	rows, err := s.stmts.sessionClientIDs.QueryContext(ctx, sessionID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: session client IDs: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlstore: session client IDs: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: session client IDs: %w", err)
	}
	return ids, nil
}

// ListEndedSessions returns up to limit sessions (every one when limit < 1), oldest
// (CreatedAt) first, that expired at now or were last seen before idleBefore (zero: no idle
// limit).
func (s *Store) ListEndedSessions(ctx context.Context, now, idleBefore time.Time, limit int) ([]*store.Session, error) {
	idle := int64(math.MinInt64) // below every last_seen_at
	if !idleBefore.IsZero() {
		idle = toMillis(idleBefore)
	}
	rows, err := s.stmts.listEndedSessions.QueryContext(ctx, toMillis(now), idle, limitArg(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list ended sessions: %w", err)
	}
	return collect(rows, "list ended sessions", scanSession)
}
