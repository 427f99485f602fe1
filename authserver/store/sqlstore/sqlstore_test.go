package sqlstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore/pgtest"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/storetest"
)

// backend opens stores of one dialect. newDSN returns the DSN of a new, empty database;
// stores opened on the same DSN share it.
type backend struct {
	driver string
	newDSN func(t testing.TB) string
}

func sqliteBackend() backend {
	return backend{DriverSQLite, func(t testing.TB) string {
		return filepath.Join(t.TempDir(), "data", "oauth.db")
	}}
}

// postgresBackend gives every DSN its own schema, dropped at cleanup, so test runs and
// subtests never see each other's rows. Without a configured server it skips the test, or
// fails it when PostgreSQL is required.
func postgresBackend(t testing.TB) backend {
	dsn := pgtest.ServerDSN(t)
	return backend{DriverPostgres, func(t testing.TB) string { return pgtest.FreshSchema(t, dsn) }}
}

func backends() map[string]func(t *testing.T) backend {
	return map[string]func(t *testing.T) backend{
		"sqlite":   func(*testing.T) backend { return sqliteBackend() },
		"postgres": func(t *testing.T) backend { return postgresBackend(t) },
	}
}

func (b backend) open(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), b.driver, dsn)
	if err != nil {
		t.Fatalf("Open(%s): %v", b.driver, err)
	}
	return s
}

func TestContract(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			storetest.Run(t, func(t *testing.T) store.Store { return b.open(t, b.newDSN(t)) })
		})
	}
}

func TestWithSearchPath(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://u:p@127.0.0.1:5432/db", "postgres://u:p@127.0.0.1:5432/db?search_path=s1"},
		{"postgresql://127.0.0.1/db?sslmode=disable", "postgresql://127.0.0.1/db?search_path=s1&sslmode=disable"},
		{"host=127.0.0.1 dbname=db", "host=127.0.0.1 dbname=db search_path=s1"},
	}
	for _, tc := range tests {
		if got := pgtest.WithSearchPath(tc.dsn, "s1"); got != tc.want {
			t.Errorf("WithSearchPath(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	tests := []struct{ driver, dsn string }{
		{"mysql", "x"},
		{DriverSQLite, ""},
		{DriverSQLite, ":memory:"},
		{DriverSQLite, filepath.Join(t.TempDir(), "a.db?mode=ro")},
		{DriverSQLite, "file:" + filepath.Join(t.TempDir(), "a.db")},
		{DriverPostgres, "postgres://127.0.0.1:1/nothing?connect_timeout=1"},
	}
	for _, tc := range tests {
		s, err := Open(t.Context(), tc.driver, tc.dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q, %q) succeeded, want an error", tc.driver, tc.dsn)
		}
	}
}

func TestSQLiteFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "dir")
	path := filepath.Join(dir, "oauth.db")
	s := sqliteBackend().open(t, path)
	defer s.Close()
	// Writing creates the WAL file.
	if err := s.UseOnce(t.Context(), "k", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {path, 0o600}, {path + "-wal", 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
	}
	var mode string
	if err := s.writer.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q (%v), want wal", mode, err)
	}
}

// TestSharedDatabase opens several stores on one database at once, as instances starting
// together do: migrations must apply exactly once and every store must see the others' writes.
func TestSharedDatabase(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			dsn := b.newDSN(t)
			const n = 4
			stores := make([]*Store, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { stores[i], errs[i] = Open(t.Context(), b.driver, dsn) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Open #%d: %v", i, err)
				}
				defer stores[i].Close()
			}

			migrations, err := fs.ReadDir(migrationsFS, "migrations/"+b.driver)
			if err != nil {
				t.Fatal(err)
			}
			var applied int
			err = stores[0].reader.QueryRow("SELECT count(*) FROM " + migrationTable + " WHERE version_id > 0").Scan(&applied)
			if err != nil || applied != len(migrations) {
				t.Errorf("applied migrations = %d (%v), want %d", applied, err, len(migrations))
			}

			exp := time.Now().Add(time.Hour)
			if err := stores[0].UseOnce(t.Context(), "jti", exp); err != nil {
				t.Fatal(err)
			}
			for i, s := range stores {
				if err := s.UseOnce(t.Context(), "jti", exp); !errors.Is(err, store.ErrConflict) {
					t.Errorf("store %d: replay gave %v, want ErrConflict", i, err)
				}
			}
			// Reopening an up-to-date database is a no-op.
			b.open(t, dsn).Close()
		})
	}
}

// TestLinksFollowClients covers what the contract leaves open: links need both sides to
// exist, and deleting a client deletes its links.
func TestLinksFollowClients(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			s := b.open(t, b.newDSN(t))
			defer s.Close()
			ctx := t.Context()
			if err := s.UpsertClient(ctx, &store.Client{ID: "c"}); err != nil {
				t.Fatal(err)
			}
			r := &store.Resource{Identifier: "https://api.example"}
			if err := s.CreateResource(ctx, r); err != nil {
				t.Fatal(err)
			}
			for _, l := range []store.ClientResource{{ClientID: "nobody", ResourceID: r.ID}, {ClientID: "c", ResourceID: "nothing"}} {
				if err := s.LinkClientResource(ctx, &l); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("LinkClientResource(%s, %s) = %v, want ErrNotFound", l.ClientID, l.ResourceID, err)
				}
			}
			if err := s.LinkClientResource(ctx, &store.ClientResource{ClientID: "c", ResourceID: r.ID, Tokens: true}); err != nil {
				t.Fatal(err)
			}
			// Re-registering a client must not delete its links (an upsert is not delete+insert).
			if err := s.UpsertClient(ctx, &store.Client{ID: "c", Name: "again"}); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.IsClientLinked(ctx, "c", r.ID); err != nil || !ok {
				t.Fatalf("after upsert: linked = %v, %v; want true", ok, err)
			}
			if err := s.DeleteClient(ctx, "c"); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.IsClientLinked(ctx, "c", r.ID); err != nil || ok {
				t.Errorf("after DeleteClient: linked = %v, %v; want false", ok, err)
			}
		})
	}
}

// TestCanceledWrite checks that a write whose context has ended reports it and stores nothing.
func TestCanceledWrite(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			s := b.open(t, b.newDSN(t))
			defer s.Close()
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			tok := &store.AccessToken{Hash: "h", ExpiresAt: time.Now().Add(time.Hour)}
			if err := s.CreateAccessToken(ctx, tok); !errors.Is(err, context.Canceled) {
				t.Errorf("CreateAccessToken = %v, want context.Canceled", err)
			}
			if _, err := s.GetAccessToken(t.Context(), "h"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetAccessToken = %v, want ErrNotFound", err)
			}
			s.Close()
			if err := s.CreateAccessToken(t.Context(), tok); err == nil {
				t.Error("CreateAccessToken after Close succeeded")
			}
		})
	}
}

// TestLinkGrantsMigration: links made before migration 5 keep granting tokens and grant no
// introspection, which until then any linked client had implicitly.
func TestLinkGrantsMigration(t *testing.T) {
	const before = 4
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			dsn := b.newDSN(t)
			ctx := t.Context()
			s := b.open(t, dsn)
			if err := s.UpsertClient(ctx, &store.Client{ID: "c"}); err != nil {
				t.Fatal(err)
			}
			r := &store.Resource{Identifier: "https://api.example"}
			if err := s.CreateResource(ctx, r); err != nil {
				t.Fatal(err)
			}
			// The opposite of what the migration must produce, so the test sees it apply.
			if err := s.LinkClientResource(ctx, &store.ClientResource{ClientID: "c", ResourceID: r.ID, Introspect: true}); err != nil {
				t.Fatal(err)
			}
			p, err := migrationProvider(s.dialect, s.writer)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.DownTo(ctx, before); err != nil {
				t.Fatalf("down to %d: %v", before, err)
			}
			s.Close()

			s = b.open(t, dsn) // migrates up again
			defer s.Close()
			links, err := s.ListClientResources(ctx, "c")
			if err != nil || len(links) != 1 || !links[0].Tokens || links[0].Introspect {
				t.Fatalf("after migrating: %+v, %v; want one link granting tokens only", links, err)
			}
		})
	}
}
