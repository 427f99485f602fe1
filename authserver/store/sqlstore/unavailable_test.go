package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// TestUnavailableClassifiesDatabaseFailures: real failures of both drivers (a full SQLite
// file, a PostgreSQL server that cannot be reached) are "unavailable"; requests the database
// refuses on their merits, and lookups that find nothing, are not.
func TestUnavailableClassifiesDatabaseFailures(t *testing.T) {
	var s *Store // Unavailable reads nothing of the store
	ctx := context.Background()

	// A SQLite database that cannot grow: max_page_count caps it (one connection, so the
	// pragma holds for every statement).
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{"CREATE TABLE t (v BLOB)", "PRAGMA max_page_count = 3"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, full := db.ExecContext(ctx, "INSERT INTO t VALUES (randomblob(100000))")
	if full == nil || !strings.Contains(full.Error(), "full") {
		t.Fatalf("inserting into a full database: %v", full)
	}
	_, unique := db.ExecContext(ctx, "CREATE TABLE t (v BLOB)") // already exists: a plain SQL error
	if unique == nil {
		t.Fatal("creating a table twice succeeded")
	}

	// A PostgreSQL server that is not there.
	pg, err := sql.Open("pgx", "postgres://nobody:x@127.0.0.1:1/none?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	refused := pg.PingContext(pingCtx)
	if refused == nil {
		t.Fatal("reached a PostgreSQL server on port 1")
	}

	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"SQLite database full", fmt.Errorf("sqlstore: create access token: %w", full), true},
		{"PostgreSQL unreachable", fmt.Errorf("sqlstore: get client: %w", refused), true},
		{"PostgreSQL shutting down", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"PostgreSQL disk full", &pgconn.PgError{Code: "53100"}, true},
		{"PostgreSQL serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"a timeout", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"a connection gone from the pool", sql.ErrConnDone, true},
		{"PostgreSQL unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"SQLite SQL error", unique, false},
		{"not found", store.ErrNotFound, false},
		{"anything else", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if got := s.Unavailable(tt.err); got != tt.want {
			t.Errorf("%s (%v): Unavailable = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
	var _ store.ErrorClassifier = (*Store)(nil)
}
