package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// The revocation event log. Every revoking method appends its events in its own
// transaction (appendEvents), so a revocation and its announcement commit or fail
// together, and only when an access token it covers is still live: a gateway has nothing
// to learn about tokens that expired.

const eventCols = "seq, id, kind, value, subject, client_id, created_at, expires_at"

// eventIDsPerQuery bounds the IN list of one RevocationEventSeqs query.
const eventIDsPerQuery = 500

// randomID returns 128 random bits, base64url without padding: event and stream IDs.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// isLive reports whether a token expiring at expiresAt (unix ms) has not expired yet.
func isLive(expiresAt int64) bool { return expiresAt > time.Now().UnixMilli() }

// appendEvents inserts evs into the log in tx, filling in their ID, Seq and CreatedAt (unless
// set: a client cut-off's event carries the cut-off).
// tx must be a write transaction of this store; on PostgreSQL its caller has taken every
// row lock it needs already (see postgresDialect.lockEventLog).
func (s *Store) appendEvents(ctx context.Context, tx *sql.Tx, evs []*store.RevocationEvent) error {
	if len(evs) == 0 {
		return nil
	}
	if err := s.dialect.lockEventLog(ctx, tx); err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	insert := tx.StmtContext(ctx, s.stmts.appendEvent)
	created := now()
	for _, e := range evs {
		e.ID = randomID()
		if e.CreatedAt.IsZero() {
			e.CreatedAt = created
		}
		err := insert.QueryRowContext(ctx, e.ID, e.Kind, e.Value, e.Subject, e.ClientID,
			toMillis(e.CreatedAt), toMillis(e.ExpiresAt)).Scan(&e.Seq)
		if err != nil {
			return fmt.Errorf("sqlstore: append revocation event: %w", err)
		}
	}
	if err := s.dialect.announceEvents(ctx, tx); err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	if s.events != nil {
		s.events.appendedIn(tx)
	}
	return nil
}

// RevocationEventsAfter returns up to limit events (every one when limit < 1) with Seq
// above after that have not expired at now, by Seq.
func (s *Store) RevocationEventsAfter(ctx context.Context, after int64, now time.Time, limit int) ([]*store.RevocationEvent, error) {
	rows, err := s.stmts.eventsAfter.QueryContext(ctx, after, toMillis(now), limitArg(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: revocation events after: %w", err)
	}
	return collect(rows, "revocation events after", scanEvent)
}

// RevocationEventSeqs returns the Seq of each of ids that is still in the log.
func (s *Store) RevocationEventSeqs(ctx context.Context, ids []string) (map[string]int64, error) {
	seqs := make(map[string]int64, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), eventIDsPerQuery)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.reader.QueryContext(ctx, "SELECT id, seq FROM oauth_revocation_events WHERE id IN ("+placeholders(len(chunk))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: revocation event seqs: %w", err)
		}
		for rows.Next() {
			var (
				id  string
				seq int64
			)
			if err := rows.Scan(&id, &seq); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlstore: revocation event seqs: %w", err)
			}
			seqs[id] = seq
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlstore: revocation event seqs: %w", err)
		}
	}
	return seqs, nil
}

func scanEvent(row scanner) (*store.RevocationEvent, error) {
	var (
		e                store.RevocationEvent
		created, expires int64
	)
	if err := row.Scan(&e.Seq, &e.ID, &e.Kind, &e.Value, &e.Subject, &e.ClientID, &created, &expires); err != nil {
		return nil, err
	}
	e.CreatedAt, e.ExpiresAt = fromMillis(created), fromMillis(expires)
	return &e, nil
}

// limitArg turns "no limit" (< 1) into a LIMIT both databases accept.
func limitArg(limit int) int64 {
	if limit < 1 {
		return 1<<63 - 1
	}
	return int64(limit)
}

// revokedGrant is a grant a revocation statement changed, as its RETURNING clause lists it.
type revokedGrant struct{ id, clientID, subject string }

// grantEvents returns the events of newly revoked grants: one RevokedGrant event per grant
// with a live token, or, for a session (sessionID not empty), one RevokedSession event for
// all of them. liveUntil maps each grant of the revocation's scope to the latest exp of its
// live tokens, revoked before or not.
func grantEvents(revoked []revokedGrant, liveUntil map[string]int64, sessionID string) []*store.RevocationEvent {
	if len(revoked) == 0 {
		return nil
	}
	if sessionID != "" {
		var latest int64
		for _, exp := range liveUntil {
			latest = max(latest, exp)
		}
		if !isLive(latest) {
			return nil
		}
		e := &store.RevocationEvent{Kind: store.RevokedSession, Value: sessionID, ExpiresAt: fromMillis(latest)}
		e.Subject, e.ClientID = commonValues(revoked)
		return []*store.RevocationEvent{e}
	}
	var evs []*store.RevocationEvent
	for _, g := range revoked {
		if exp, ok := liveUntil[g.id]; ok && isLive(exp) {
			evs = append(evs, &store.RevocationEvent{Kind: store.RevokedGrant, Value: g.id,
				Subject: g.subject, ClientID: g.clientID, ExpiresAt: fromMillis(exp)})
		}
	}
	return evs
}

// commonValues returns the subject and client ID shared by every grant, each empty when
// the grants differ in it.
func commonValues(grants []revokedGrant) (subject, clientID string) {
	subject, clientID = grants[0].subject, grants[0].clientID
	for _, g := range grants[1:] {
		if g.subject != subject {
			subject = ""
		}
		if g.clientID != clientID {
			clientID = ""
		}
	}
	return subject, clientID
}

// qLiveGrantTokens returns, for each grant grantFilter selects ($1), the latest exp of its
// access tokens (opaque and JWT) still live at $2.
func qLiveGrantTokens(grantFilter string) string {
	return "SELECT grant_id, MAX(expires_at) FROM (" +
		"SELECT grant_id, expires_at FROM oauth_access_tokens WHERE " + grantFilter + " AND expires_at > $2" +
		" UNION ALL SELECT grant_id, expires_at FROM oauth_grant_jtis WHERE " + grantFilter + " AND expires_at > $2" +
		") AS live GROUP BY grant_id"
}

// returningGrant is appended to the grant revocation updates: what their events describe.
const returningGrant = " RETURNING id, client_id, subject"

// liveGrantTokens runs a qLiveGrantTokens statement in tx.
func liveGrantTokens(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt, arg string) (map[string]int64, error) {
	rows, err := tx.StmtContext(ctx, stmt).QueryContext(ctx, arg, time.Now().UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	live := map[string]int64{}
	for rows.Next() {
		var (
			id  string
			exp int64
		)
		if err := rows.Scan(&id, &exp); err != nil {
			return nil, err
		}
		live[id] = exp
	}
	return live, rows.Err()
}

// scanRevokedGrants reads the RETURNING rows of a grant revocation.
func scanRevokedGrants(rows *sql.Rows) ([]revokedGrant, error) {
	defer rows.Close()
	var out []revokedGrant
	for rows.Next() {
		var g revokedGrant
		if err := rows.Scan(&g.id, &g.clientID, &g.subject); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// sortedByID sorts grants by ID so that their events are appended in a stable order.
func sortedByID(gs []revokedGrant) []revokedGrant {
	slices.SortFunc(gs, func(a, b revokedGrant) int { return strings.Compare(a.id, b.id) })
	return gs
}
