package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// ListSigningKeys returns every signing key, oldest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	rows, err := s.stmts.listSigningKeys.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list signing keys: %w", err)
	}
	return collect(rows, "list signing keys", scanSigningKey)
}

// CreateSigningKey stores k; ErrConflict if its ID exists.
func (s *Store) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	_, err := s.stmts.createSigningKey.ExecContext(ctx, k.ID, k.Alg, nullBytes(k.PrivateSealed),
		k.PublicJWK, toMillis(k.CreatedAt), nullMillis(k.RetiredAt), nullMillis(k.PurgeAfter))
	return s.writeErr("create signing key", err)
}

// RetireSigningKey sets RetiredAt and PurgeAfter of the key; ErrNotFound if it is missing.
func (s *Store) RetireSigningKey(ctx context.Context, id string, retiredAt, purgeAfter time.Time) error {
	res, err := s.stmts.retireSigningKey.ExecContext(ctx, id, toMillis(retiredAt), toMillis(purgeAfter))
	return affectedOne("retire signing key", res, err)
}

// DeleteSigningKey deletes the key; ErrNotFound if it is missing.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	res, err := s.stmts.deleteSigningKey.ExecContext(ctx, id)
	return affectedOne("delete signing key", res, err)
}

func scanSigningKey(row scanner) (*store.SigningKey, error) {
	var (
		k                   store.SigningKey
		sealed              []byte
		created             int64
		retired, purgeAfter sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Alg, &sealed, &k.PublicJWK, &created, &retired, &purgeAfter); err != nil {
		return nil, err
	}
	k.PrivateSealed = fromBytes(sealed)
	k.CreatedAt = fromMillis(created)
	k.RetiredAt, k.PurgeAfter = fromNullMillis(retired), fromNullMillis(purgeAfter)
	return &k, nil
}
