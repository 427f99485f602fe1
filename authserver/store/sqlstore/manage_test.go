package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// TestManageMigration: clients stored before migration 8 come out of it owned by the
// configuration, and the revision counter works after migrating down and up again.
func TestManageMigration(t *testing.T) {
	const before = 7
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			dsn := b.newDSN(t)
			ctx := t.Context()
			s := b.open(t, dsn)
			// The opposite of what the migration must produce, so the test sees it apply.
			if err := s.UpsertClient(ctx, &store.Client{ID: "old", Source: store.SourceAdmin, RegistrationTokenHash: "x"}); err != nil {
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
			c, err := s.GetClient(ctx, "old")
			if err != nil || c.Source != store.SourceConfig || c.RegistrationTokenHash != "" {
				t.Fatalf("after migrating: %+v, %v; want source config and no registration token", c, err)
			}
			rev, err := s.Revision(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.UpsertClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			if next, err := s.Revision(ctx); err != nil || next <= rev {
				t.Errorf("revision %d -> %d (%v) after a client write, want it to grow", rev, next, err)
			}
		})
	}
}

// TestRevisionAcrossInstances: a write through one store is seen in the revision read by
// another store on the same database, and a failed write leaves it alone.
func TestRevisionAcrossInstances(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			dsn := b.newDSN(t)
			ctx := t.Context()
			writer, reader := b.open(t, dsn), b.open(t, dsn)
			defer writer.Close()
			defer reader.Close()
			rev := func() int64 {
				t.Helper()
				r, err := reader.Revision(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			start := rev()
			if err := writer.CreateClient(ctx, &store.Client{ID: "c"}); err != nil {
				t.Fatal(err)
			}
			afterCreate := rev()
			if afterCreate <= start {
				t.Fatalf("revision %d -> %d after another instance created a client", start, afterCreate)
			}
			// A refused write rolls back its trigger with it.
			if err := writer.CreateClient(ctx, &store.Client{ID: "c"}); err == nil {
				t.Fatal("duplicate CreateClient succeeded")
			}
			if err := writer.DeleteClient(ctx, "missing"); err == nil {
				t.Fatal("DeleteClient of a missing client succeeded")
			}
			if got := rev(); got != afterCreate {
				t.Errorf("revision %d -> %d after refused writes, want unchanged", afterCreate, got)
			}
		})
	}
}

// TestManageQueriesUseIndexes checks SQLite's plans for the lookups that must not scan a
// table: a client by ID (the token endpoint's lookup, O(1) in the number of clients as far
// as a B-tree goes) and the by-client and by-source listings and revocations.
func TestManageQueriesUseIndexes(t *testing.T) {
	b := sqliteBackend()
	s := b.open(t, b.newDSN(t))
	defer s.Close()
	tests := []struct {
		query string
		args  []any
		want  string
	}{
		{"SELECT " + clientCols + " FROM oauth_clients WHERE id = $1", []any{"c"}, "USING PRIMARY KEY (id=?)"},
		{"SELECT id FROM oauth_clients WHERE source = $1 AND id > $2 ORDER BY id LIMIT 10", []any{"admin", "a"}, "USING COVERING INDEX oauth_clients_source (source=? AND id>?)"},
		{qRevokeClientGrants, []any{"c"}, "USING INDEX oauth_grants_client (client_id=?)"},
		{"SELECT id FROM oauth_grants WHERE client_id = $1 AND id > $2 ORDER BY id", []any{"c", "g"}, "oauth_grants_client (client_id=? AND id>?)"},
		{"SELECT subject FROM oauth_consents WHERE client_id = $1 ORDER BY subject", []any{"c"}, "oauth_consents_client (client_id=?)"},
		{"DELETE FROM oauth_consents WHERE client_id = $1", []any{"c"}, "oauth_consents_client (client_id=?)"},
		{"UPDATE oauth_access_tokens SET revoked = TRUE WHERE client_id = $1 AND NOT revoked", []any{"c"}, "USING INDEX oauth_access_tokens_client (client_id=?)"},
		{"SELECT id FROM oauth_sessions WHERE subject = $1", []any{"u"}, "oauth_sessions_subject (subject=?)"},
		{qUseIAT, []any{"h", int64(0)}, "(hash=?)"},
	}
	for _, tc := range tests {
		plan := queryPlan(t, s.reader, tc.query, tc.args...)
		// A full scan or a sort would grow with the table.
		if !strings.Contains(plan, tc.want) || strings.Contains(plan, "SCAN ") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("plan of %q:\n%s\nwant it to contain %q, and no scan or sort", tc.query, plan, tc.want)
		}
	}
}

func queryPlan(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %q: %v", query, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// seedClients stores n clients named client-0 … client-(n-1) in one transaction (one
// commit per client would make seeding 100,000 of them take minutes).
func seedClients(tb testing.TB, s *Store, n int) {
	tb.Helper()
	ctx := context.Background()
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	stmt := tx.StmtContext(ctx, s.stmts.createClient)
	for i := range n {
		c := &store.Client{
			ID: fmt.Sprintf("client-%d", i), Name: "Bench client", SecretHash: "$argon2id$v=19$x",
			TokenEndpointAuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"},
			Scopes: []string{"read"}, Source: store.SourceAdmin,
		}
		args, _, _, err := clientArgs(c)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}
