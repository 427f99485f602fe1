// Package pgtest gives tests a real PostgreSQL database of their own: a fresh schema on the
// server named by CADDY_OAUTH_TEST_POSTGRES_DSN (scripts/with-postgres.sh starts one), dropped
// when the test ends. Without a server the test is skipped, or fails when
// CADDY_OAUTH_REQUIRE_POSTGRES=1 (make unit sets it, so the PostgreSQL leg cannot vanish).
package pgtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Environment variables read by DSN.
const (
	EnvDSN     = "CADDY_OAUTH_TEST_POSTGRES_DSN"
	EnvRequire = "CADDY_OAUTH_REQUIRE_POSTGRES"
)

// ServerDSN returns the configured server's DSN, skipping (or failing) t without one.
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s=1 but %s is not set", EnvRequire, EnvDSN)
		}
		t.Skipf("%s not set", EnvDSN)
	}
	return dsn
}

// DSN returns the DSN of a new, empty schema on the configured server.
func DSN(t testing.TB) string {
	t.Helper()
	return FreshSchema(t, ServerDSN(t))
}

// FreshSchema creates a schema on the server of dsn, drops it at cleanup, and returns dsn
// with that schema as its search_path.
func FreshSchema(t testing.TB, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [8]byte
	rand.Read(b[:])
	schema := "oauth_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return WithSearchPath(dsn, schema)
}

// WithSearchPath adds a search_path run-time parameter to a URL or keyword/value DSN.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}
