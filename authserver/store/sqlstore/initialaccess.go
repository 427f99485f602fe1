package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// CreateInitialAccessToken stores t; ErrConflict if its ID or hash exists. An empty ID is
// filled in with a random one and a zero CreatedAt with now; both are written back.
func (s *Store) CreateInitialAccessToken(ctx context.Context, t *store.InitialAccessToken) error {
	id := t.ID
	if id == "" {
		id = uuid.NewString()
	}
	created := createdAt(t.CreatedAt)
	_, err := s.stmts.createIAT.ExecContext(ctx, id, t.Hash, t.Description, nullMillis(t.ExpiresAt),
		nullUses(t.UsesLeft), toMillis(created))
	if err != nil {
		return s.writeErr("create initial access token", err)
	}
	t.ID, t.CreatedAt = id, created
	return nil
}

// ListInitialAccessTokens returns every token, used up or expired included, oldest first.
func (s *Store) ListInitialAccessTokens(ctx context.Context) ([]*store.InitialAccessToken, error) {
	rows, err := s.stmts.listIATs.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list initial access tokens: %w", err)
	}
	return collect(rows, "list initial access tokens", scanIAT)
}

// DeleteInitialAccessToken deletes the token with id; ErrNotFound if there is none.
func (s *Store) DeleteInitialAccessToken(ctx context.Context, id string) error {
	res, err := s.stmts.deleteIAT.ExecContext(ctx, id)
	return affectedOne("delete initial access token", res, err)
}

// UseInitialAccessToken spends one use of the token with hash and returns the token after
// it; ErrNotFound if the token is unknown, expired at now or used up.
func (s *Store) UseInitialAccessToken(ctx context.Context, hash string, now time.Time) (*store.InitialAccessToken, error) {
	t, err := scanIAT(s.stmts.useIAT.QueryRowContext(ctx, hash, toMillis(now)))
	if err != nil {
		return nil, readErr("use initial access token", err)
	}
	return t, nil
}

func nullUses(n *int) any {
	if n == nil {
		return nil
	}
	return int64(*n)
}

func scanIAT(row scanner) (*store.InitialAccessToken, error) {
	var (
		t       store.InitialAccessToken
		expires sql.NullInt64
		uses    sql.NullInt64
		created int64
	)
	if err := row.Scan(&t.ID, &t.Hash, &t.Description, &expires, &uses, &created); err != nil {
		return nil, err
	}
	t.ExpiresAt, t.CreatedAt = fromNullMillis(expires), fromMillis(created)
	if uses.Valid {
		n := int(uses.Int64)
		t.UsesLeft = &n
	}
	return &t, nil
}
