package sqlstore

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func toMillis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// now is the current time at the precision the store keeps.
func now() time.Time { return fromMillis(time.Now().UnixMilli()) }

func nullMillis(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func fromNullMillis(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMillis(v.Int64)
	return &t
}

func nullInt64(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func fromNullInt64(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}

// nullBytes stores an empty byte slice as NULL; it reads back as nil.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func fromBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// encodeJSON stores a nil slice or map as NULL and anything else as JSON text, so nil
// ("unset") and empty survive a round trip.
func encodeJSON[T ~[]string | ~map[string]any](v T) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: encode JSON column: %w", err)
	}
	return string(b), nil
}

func decodeJSON[T ~[]string | ~map[string]any](s sql.NullString, dst *T) error {
	if !s.Valid {
		*dst = nil
		return nil
	}
	if err := json.Unmarshal([]byte(s.String), dst); err != nil {
		return fmt.Errorf("sqlstore: decode JSON column: %w", err)
	}
	return nil
}

// writeErr maps a failed insert or update to the store's sentinel errors.
func (s *Store) writeErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrNotFound)
	case s.dialect.isUniqueViolation(err):
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrConflict)
	case s.dialect.isForeignKeyViolation(err):
		return fmt.Errorf("sqlstore: %s: referenced row: %w", op, store.ErrNotFound)
	default:
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
}

// readErr maps a failed lookup: no rows becomes store.ErrNotFound.
func readErr(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// affectedOne turns "no row matched" of an update or delete into store.ErrNotFound.
func affectedOne(op string, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrNotFound)
	}
	return nil
}
