package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// EnqueueLogoutDeliveries stores ds in one transaction; ErrConflict, and nothing stored, if
// an ID exists. Empty IDs are filled in with random ones and zero CreatedAt with now, both
// written back. A delivery whose (SessionID, ClientID) is already queued is skipped and left
// as passed in (an empty ID stays empty, so the caller can tell).
func (s *Store) EnqueueLogoutDeliveries(ctx context.Context, ds []*store.LogoutDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	type stored struct {
		id      string
		created time.Time
	}
	inserted := make([]*stored, len(ds))
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		insert := tx.StmtContext(ctx, s.stmts.enqueueLogout)
		for i, d := range ds {
			id := d.ID
			if id == "" {
				id = randomID()
			}
			created := createdAt(d.CreatedAt)
			res, err := insert.ExecContext(ctx, id, d.ClientID, d.Subject, d.SessionID, d.JTI, d.Attempts,
				d.LastError, toMillis(d.NextAttemptAt), toMillis(created), toMillis(d.ExpiresAt))
			if err != nil {
				return s.writeErr("enqueue logout delivery", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("sqlstore: enqueue logout delivery: %w", err)
			}
			inserted[i] = nil
			if n == 1 {
				inserted[i] = &stored{id, created}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Written back only once committed, so a failed call leaves ds as they were.
	for i, d := range ds {
		if inserted[i] != nil {
			d.ID, d.CreatedAt = inserted[i].id, inserted[i].created
		}
	}
	return nil
}

// ClaimLogoutDeliveries leases up to limit deliveries due at now, oldest due first, until
// leaseUntil, counting the attempt, and returns them as they are after the claim, ordered
// by CreatedAt, then ID. A limit below 1 claims nothing. On PostgreSQL concurrent claims
// skip each other's rows (FOR UPDATE SKIP LOCKED); SQLite runs them one at a time.
func (s *Store) ClaimLogoutDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*store.LogoutDelivery, error) {
	if limit < 1 {
		return nil, nil
	}
	var claimed []*store.LogoutDelivery
	err := s.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, qClaimLogoutDeliveries(s.dialect), toMillis(now), toMillis(leaseUntil), limit)
		if err != nil {
			return fmt.Errorf("sqlstore: claim logout deliveries: %w", err)
		}
		claimed, err = collect(rows, "claim logout deliveries", scanLogoutDelivery)
		return err
	})
	if err != nil {
		return nil, err
	}
	// RETURNING has no order.
	slices.SortFunc(claimed, func(a, b *store.LogoutDelivery) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return claimed, nil
}

func scanLogoutDelivery(row scanner) (*store.LogoutDelivery, error) {
	var (
		d                      store.LogoutDelivery
		next, created, expires int64
	)
	err := row.Scan(&d.ID, &d.ClientID, &d.Subject, &d.SessionID, &d.JTI, &d.Attempts, &d.LastError,
		&next, &created, &expires)
	if err != nil {
		return nil, err
	}
	d.NextAttemptAt, d.CreatedAt, d.ExpiresAt = fromMillis(next), fromMillis(created), fromMillis(expires)
	return &d, nil
}

// RetryLogoutDelivery records a failed attempt; ErrNotFound if the delivery is gone.
func (s *Store) RetryLogoutDelivery(ctx context.Context, id string, nextAttemptAt time.Time, lastError string) error {
	return s.exec(ctx, s.stmts.retryLogout, func(res sql.Result, err error) error {
		return affectedOne("retry logout delivery", res, err)
	}, id, toMillis(nextAttemptAt), lastError)
}

// DeleteLogoutDelivery removes a delivery; ErrNotFound if it is gone.
func (s *Store) DeleteLogoutDelivery(ctx context.Context, id string) error {
	return s.exec(ctx, s.stmts.deleteLogout, func(res sql.Result, err error) error {
		return affectedOne("delete logout delivery", res, err)
	}, id)
}

// CountLogoutDeliveries returns how many deliveries are queued.
func (s *Store) CountLogoutDeliveries(ctx context.Context) (int, error) {
	var n int
	if err := s.stmts.countLogouts.QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlstore: count logout deliveries: %w", err)
	}
	return n, nil
}
