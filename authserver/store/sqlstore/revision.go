package sqlstore

import (
	"context"
	"fmt"
)

// Revision returns the counter that triggers (migration 00008) bump in the transaction of
// every write of oauth_clients, oauth_resources and oauth_client_resources. On PostgreSQL
// it grows by one per statement, on SQLite by one per row written; callers only compare.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.stmts.revision.QueryRowContext(ctx).Scan(&rev); err != nil {
		return 0, fmt.Errorf("sqlstore: revision: %w", err)
	}
	return rev, nil
}
