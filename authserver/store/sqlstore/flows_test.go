package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// TestGrantEdges covers what the contract leaves open: issuance under a revoked grant,
// rows of missing grants, and the empty grant and session IDs.
func TestGrantEdges(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			s := b.open(t, b.newDSN(t))
			defer s.Close()
			ctx := t.Context()
			exp := time.Now().Add(time.Hour)
			must(t, s.CreateGrant(ctx, &store.Grant{ID: "g", ClientID: "c", ExpiresAt: exp}))
			must(t, s.RevokeGrant(ctx, "g"))

			// Tokens issued under a grant revoked meanwhile are stored revoked.
			must(t, s.CreateAccessToken(ctx, &store.AccessToken{Hash: "late", GrantID: "g", ExpiresAt: exp}))
			if tok, err := s.GetAccessToken(ctx, "late"); err != nil || !tok.Revoked {
				t.Errorf("access token under a revoked grant: %+v, %v; want revoked", tok, err)
			}
			must(t, s.RecordGrantJTI(ctx, "g", "late-jti", exp))
			if ok, err := s.IsJTIRevoked(ctx, "late-jti"); err != nil || !ok {
				t.Errorf("jti under a revoked grant: revoked = %v, %v; want true", ok, err)
			}

			// Rows of a missing grant are refused, except opaque access tokens.
			if err := s.RecordGrantJTI(ctx, "missing", "j", exp); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("RecordGrantJTI(missing grant) = %v, want ErrNotFound", err)
			}
			err := s.CreateRefreshToken(ctx, &store.RefreshToken{Hash: "r", GrantID: "missing", ExpiresAt: exp})
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("CreateRefreshToken(missing grant) = %v, want ErrNotFound", err)
			}
			must(t, s.CreateAccessToken(ctx, &store.AccessToken{Hash: "orphan", GrantID: "missing", ExpiresAt: exp}))

			// "" names no grant and no session: nothing is revoked through it.
			g := &store.Grant{ClientID: "c", ExpiresAt: exp}
			must(t, s.CreateGrant(ctx, g))
			if g.ID == "" {
				t.Fatal("CreateGrant left the ID empty")
			}
			must(t, s.CreateAccessToken(ctx, &store.AccessToken{Hash: "no-grant", ExpiresAt: exp}))
			must(t, s.RevokeGrant(ctx, ""))
			if n, err := s.RevokeSessionGrants(ctx, ""); err != nil || n != 0 {
				t.Errorf("RevokeSessionGrants(\"\") = %d, %v; want 0", n, err)
			}
			if tok, err := s.GetAccessToken(ctx, "no-grant"); err != nil || tok.Revoked {
				t.Errorf("token without grant: %+v, %v; want not revoked", tok, err)
			}
			if got, err := s.GetGrant(ctx, g.ID); err != nil || got.Revoked {
				t.Errorf("grant without session: %+v, %v; want not revoked", got, err)
			}
		})
	}
}

// TestRaceRevokeGrantAndIssue issues tokens under a grant while it is revoked: every token
// stored, whichever side won, must end up revoked.
func TestRaceRevokeGrantAndIssue(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			s := b.open(t, b.newDSN(t))
			defer s.Close()
			ctx := t.Context()
			exp := time.Now().Add(time.Hour)
			const workers, perWorker = 8, 10
			for round := range 3 {
				grant := fmt.Sprintf("g%d", round)
				must(t, s.CreateGrant(ctx, &store.Grant{ID: grant, ClientID: "c", SessionID: "sid-" + grant, ExpiresAt: exp}))
				var wg sync.WaitGroup
				for w := range workers {
					wg.Go(func() {
						for i := range perWorker {
							id := fmt.Sprintf("%s-%d-%d", grant, w, i)
							if err := s.CreateAccessToken(ctx, &store.AccessToken{Hash: id, GrantID: grant, ExpiresAt: exp}); err != nil {
								t.Errorf("CreateAccessToken: %v", err)
							}
							if err := s.RecordGrantJTI(ctx, grant, id, exp); err != nil {
								t.Errorf("RecordGrantJTI: %v", err)
							}
						}
					})
				}
				wg.Go(func() {
					time.Sleep(time.Duration(round) * time.Millisecond)
					var err error
					if round%2 == 0 {
						err = s.RevokeGrant(ctx, grant)
					} else {
						_, err = s.RevokeSessionGrants(ctx, "sid-"+grant)
					}
					if err != nil {
						t.Errorf("revoke: %v", err)
					}
				})
				wg.Wait()
				for w := range workers {
					for i := range perWorker {
						id := fmt.Sprintf("%s-%d-%d", grant, w, i)
						tok, err := s.GetAccessToken(ctx, id)
						if err != nil || !tok.Revoked {
							t.Errorf("access token %s: %+v, %v; want revoked", id, tok, err)
						}
						if ok, err := s.IsJTIRevoked(ctx, id); err != nil || !ok {
							t.Errorf("jti %s revoked = %v, %v; want true", id, ok, err)
						}
					}
				}
			}
		})
	}
}

// TestMigrationDownUp migrates down to the first version and up again: the down migrations
// work, and a client stored before the end-user flows reads back with their fields unset.
func TestMigrationDownUp(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			dsn := b.newDSN(t)
			s := b.open(t, dsn)
			d := s.dialect
			must(t, s.Close())
			driver := map[string]string{DriverSQLite: "sqlite", DriverPostgres: "pgx"}[b.driver]
			db, err := sql.Open(driver, dsn)
			must(t, err)
			defer db.Close()
			ctx := t.Context()
			p, err := migrationProvider(d, db)
			must(t, err)
			if _, err := p.DownTo(ctx, 1); err != nil {
				t.Fatalf("DownTo(1): %v", err)
			}
			_, err = db.ExecContext(ctx, "INSERT INTO oauth_clients (id, name, secret_hash, token_endpoint_auth_method,"+
				" token_endpoint_auth_signing_alg, jwks, jwks_uri, dpop_bound_access_tokens, disabled, created_at, updated_at)"+
				" VALUES ('old', 'Old', '', 'none', '', '', '', FALSE, FALSE, 1, 1)")
			must(t, err)
			db.Close()

			s = b.open(t, dsn)
			defer s.Close()
			c, err := s.GetClient(ctx, "old")
			must(t, err)
			if c.Name != "Old" || c.PostLogoutRedirectURIs != nil || c.SubjectType != "" || c.SkipConsent ||
				c.PKCEOptional || c.RefreshWithoutOfflineAccess || c.IDTokenSignedResponseAlg != "" || c.RedirectURIAnyLoopbackPort || c.DefaultResource != "" {
				t.Errorf("client from before the migration: %+v", c)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
