package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// GetAccount returns the account with subject.
func (s *Store) GetAccount(ctx context.Context, subject string) (*store.Account, error) {
	a, err := scanAccount(s.stmts.getAccount.QueryRowContext(ctx, subject))
	if err != nil {
		return nil, readErr("get account", err)
	}
	return a, nil
}

// GetAccountByUsername returns the account whose username is exactly username.
func (s *Store) GetAccountByUsername(ctx context.Context, username string) (*store.Account, error) {
	a, err := scanAccount(s.stmts.getAccountByUsername.QueryRowContext(ctx, username))
	if err != nil {
		return nil, readErr("get account by username", err)
	}
	return a, nil
}

// ListAccounts returns every account ordered by username.
func (s *Store) ListAccounts(ctx context.Context) ([]*store.Account, error) {
	rows, err := s.stmts.listAccounts.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list accounts: %w", err)
	}
	return collect(rows, "list accounts", scanAccount)
}

// UpsertAccount inserts a or replaces every field of the account with a.Subject except
// CreatedAt; ErrConflict if another account has a.Username. It writes the stored CreatedAt
// and the new UpdatedAt back into a.
func (s *Store) UpsertAccount(ctx context.Context, a *store.Account) error {
	claims, err := encodeJSON(a.Claims)
	if err != nil {
		return err
	}
	updated := now()
	created := updated
	if !a.CreatedAt.IsZero() {
		created = a.CreatedAt
	}
	var storedCreated int64
	err = s.stmts.upsertAccount.QueryRowContext(ctx, a.Subject, a.Username, a.PasswordHash, claims,
		a.Disabled, toMillis(created), toMillis(updated)).Scan(&storedCreated)
	if err != nil {
		return s.writeErr("upsert account", err)
	}
	a.CreatedAt, a.UpdatedAt = fromMillis(storedCreated), updated
	return nil
}

// DeleteAccount deletes the account; ErrNotFound if there is none. Its sessions, consents
// and grants are left to expire or to be revoked by the caller.
func (s *Store) DeleteAccount(ctx context.Context, subject string) error {
	res, err := s.stmts.deleteAccount.ExecContext(ctx, subject)
	return affectedOne("delete account", res, err)
}

func scanAccount(row scanner) (*store.Account, error) {
	var (
		a                store.Account
		claims           sql.NullString
		created, updated int64
	)
	err := row.Scan(&a.Subject, &a.Username, &a.PasswordHash, &claims, &a.Disabled, &created, &updated)
	if err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = fromMillis(created), fromMillis(updated)
	if err := decodeJSON(claims, &a.Claims); err != nil {
		return nil, err
	}
	return &a, nil
}
