package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

const pushedRequestCols = "hash, client_id, params, expires_at, created_at"

// qConsumePushedRequest spends a pushed request in one statement: the DELETE takes the row
// lock (PostgreSQL) or the single writer (SQLite), so of concurrent consumers exactly one
// gets the row back. An expired row matches nothing and waits for DeleteExpired.
const qConsumePushedRequest = "DELETE FROM oauth_pushed_requests WHERE hash = $1 AND expires_at > $2" +
	" RETURNING " + pushedRequestCols

// pushedRequestStmts are the prepared statements of pushed authorization requests.
type pushedRequestStmts struct {
	createPushedRequest, consumePushedRequest *sql.Stmt
}

func (st *pushedRequestStmts) defs() []stmtDef {
	return []stmtDef{
		{&st.createPushedRequest, true, "INSERT INTO oauth_pushed_requests (" + pushedRequestCols + ") VALUES (" +
			colParams(pushedRequestCols) + ")"},
		{&st.consumePushedRequest, true, qConsumePushedRequest},
	}
}

// CreatePushedRequest stores r; ErrConflict if its hash exists.
func (s *Store) CreatePushedRequest(ctx context.Context, r *store.PushedRequest) error {
	created := createdAt(r.CreatedAt)
	_, err := s.stmts.createPushedRequest.ExecContext(ctx, r.Hash, r.ClientID, string(r.Params),
		toMillis(r.ExpiresAt), toMillis(created))
	if err != nil {
		return s.writeErr("create pushed request", err)
	}
	r.CreatedAt = created
	return nil
}

// ConsumePushedRequest removes and returns the pushed request with hash; ErrNotFound if it is
// unknown, consumed or expired at now.
func (s *Store) ConsumePushedRequest(ctx context.Context, hash string, now time.Time) (*store.PushedRequest, error) {
	var (
		r                store.PushedRequest
		params           string
		expires, created int64
	)
	err := s.stmts.consumePushedRequest.QueryRowContext(ctx, hash, toMillis(now)).
		Scan(&r.Hash, &r.ClientID, &params, &expires, &created)
	if err != nil {
		return nil, readErr("consume pushed request", err)
	}
	r.Params, r.ExpiresAt, r.CreatedAt = []byte(params), fromMillis(expires), fromMillis(created)
	return &r, nil
}
