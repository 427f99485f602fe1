package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore/pgtest"
)

// TestPARAcrossInstances: two servers on one database, as instances behind a load balancer.
// A request pushed at one is authorized at the other, and a request_uri raced across both is
// used once. On one SQLite file and on PostgreSQL.
func TestPARAcrossInstances(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			dsn := t.TempDir() + "/shared.db"
			if driver == "postgres" {
				dsn = pgtest.DSN(t)
			}
			a := newFlowServerOpts(t, serverOptions{driver: driver, dsn: dsn})
			b := newFlowServerOpts(t, serverOptions{driver: driver, dsn: dsn})

			cb := b.browser().signIn(parAuthURL("web", a.mustPush(nil), url.Values{"redirect_uri": {webRedirect}}))
			if res := a.redeem(cb.Get("code"), nil); res.status != http.StatusOK {
				t.Fatalf("redeem: %d %s", res.status, res.raw)
			}

			uri := a.mustPush(nil)
			const n = 16
			var wg sync.WaitGroup
			results := make([]page, n)
			for i := range n {
				srv := a
				if i%2 == 1 {
					srv = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = srv.browser().do(http.MethodGet, parAuthURL("web", uri, nil), nil)
				}()
			}
			wg.Wait()
			wins := 0
			for _, p := range results {
				switch {
				case p.status == http.StatusOK && strings.Contains(p.body, `name="password"`):
					wins++
				case !strings.Contains(p.body, "invalid_request_uri"):
					t.Errorf("loser: %d %s", p.status, p.body)
				}
			}
			if wins != 1 {
				t.Fatalf("%d authorization requests across two instances used one request_uri, want 1", wins)
			}
		})
	}
}
