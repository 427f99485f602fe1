package authserver

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore/pgtest"
)

// TestInstancesSeeEachOthersClientChanges runs two servers on one database: a client disabled
// behind the back of one (a change by another instance, or straight in the database) stops
// working there within its cache sync interval, and not before when syncing is off, which
// shows the cache did hold it.
func TestInstancesSeeEachOthersClientChanges(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			for _, tc := range []struct {
				name     string
				interval time.Duration
				seen     bool
			}{
				{"synced", 50 * time.Millisecond, true},
				{"sync off", -1, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					dsn := t.TempDir() + "/shared.db"
					if driver == "postgres" {
						dsn = pgtest.DSN(t)
					}
					edit := func(c *Config) { c.CacheSyncInterval = tc.interval }
					a := newTestServerOpts(t, serverOptions{driver: driver, dsn: dsn, edit: edit})
					b := newTestServerOpts(t, serverOptions{driver: driver, dsn: dsn, edit: edit})
					b.mustToken("svc", svcSecret, jwtResource, "read")
					b.srv.lookups.clients.Wait() // ristretto applies sets asynchronously: b now caches svc

					ctx := context.Background()
					c, err := a.srv.st.GetClient(ctx, "svc")
					if err != nil {
						t.Fatal(err)
					}
					c.Disabled = true
					if err := a.srv.st.UpsertClient(ctx, c); err != nil {
						t.Fatal(err)
					}

					refusedAt := waitForStatus(t, b, http.StatusUnauthorized, time.Second)
					switch {
					case tc.seen && refusedAt < 0:
						t.Fatal("the other instance still accepts the disabled client after 1 s")
					case !tc.seen && refusedAt >= 0:
						t.Fatalf("refused after %v with syncing off: the client was not cached, so this test shows nothing", refusedAt)
					}
				})
			}
		})
	}
}

// waitForStatus asks ts for a token as svc until it answers status, for at most limit; it
// returns how long that took, or -1.
func waitForStatus(t *testing.T, ts *testServer, status int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		res := ts.token("svc", svcSecret, url.Values{"resource": {jwtResource}})
		if res.status == status {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return -1
}

// TestInstancesEndADeletedClientsTokensInProcess: a gateway on another instance stops
// accepting the JWT access tokens of a client deleted through the first within the cache
// sync interval, although it had just validated (and cached) one: the revision check drops
// its cached in-process validations along with its lookups, not only after gatewayTTL.
func TestInstancesEndADeletedClientsTokensInProcess(t *testing.T) {
	dsn := t.TempDir() + "/shared.db"
	edit := func(c *Config) { c.CacheSyncInterval = 50 * time.Millisecond }
	a := newTestServerOpts(t, serverOptions{driver: "sqlite", dsn: dsn, edit: edit})
	b := newTestServerOpts(t, serverOptions{driver: "sqlite", dsn: dsn, edit: edit})
	ctx := context.Background()
	created, err := a.srv.Manage().CreateClient(ctx, spec.Client{ID: "rt", Scopes: []string{"read"}, Resources: []string{jwtResource}}, store.SourceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	token := a.mustToken("rt", created.Secret, jwtResource, "read")
	if info, err := b.srv.ActiveAccessToken(ctx, token); info == nil || err != nil {
		t.Fatalf("the other instance does not accept the token: %v", err)
	}
	b.srv.gateway.Wait() // b now caches the validation

	if err := a.srv.Manage().DeleteClient(ctx, "rt"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < gatewayTTL/2 {
		if info, err := b.srv.ActiveAccessToken(ctx, token); err != nil {
			t.Fatal(err)
		} else if info == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the other instance still accepts the deleted client's token after %v (sync interval 50ms)", gatewayTTL/2)
}
