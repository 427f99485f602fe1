package authserver

import (
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore/pgtest"
)

// TestInstancesShareEndUserFlows runs two servers on one database with one master key, as
// instances behind a load balancer: every step of a sign-in may land on either, and a code or
// refresh token raced across both is still used once. On PostgreSQL (the multi-instance
// store) and on one SQLite file.
func TestInstancesShareEndUserFlows(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			dsn := t.TempDir() + "/shared.db"
			if driver == "postgres" {
				dsn = pgtest.DSN(t)
			}
			a := newFlowServerOpts(t, serverOptions{driver: driver, dsn: dsn})
			b := newFlowServerOpts(t, serverOptions{driver: driver, dsn: dsn})

			// Login page from a, credentials posted to b, resume on a, consent posted to b.
			br := a.browser()
			p := br.do(http.MethodGet, authURL(nil), nil)
			br.ts = b
			p = br.submit(p, url.Values{"username": {"alice"}, "password": {alicePassword}, "decision": {"approve"}})
			br.ts = a
			p = br.follow(p)
			br.ts = b
			cb := callback(t, br.submit(p, url.Values{"decision": {"approve"}, "remember": {"1"}}), webRedirect)

			// Redeemed on b, refreshed on a; the session from b serves prompt=none on a.
			res := b.redeem(cb.Get("code"), nil)
			if res.status != http.StatusOK {
				t.Fatalf("redeem on the other instance: %d %s", res.status, res.raw)
			}
			if r := a.refresh(res.body["refresh_token"].(string), nil); r.status != http.StatusOK {
				t.Fatalf("refresh on the other instance: %d %s", r.status, r.raw)
			}
			br.ts = a
			cb = callback(t, br.do(http.MethodGet, authURL(url.Values{"prompt": {"none"}}), nil), webRedirect)
			if cb.Get("code") == "" {
				t.Fatalf("session not shared: %v", cb)
			}

			// One code raced on both instances: exactly one redemption wins.
			const n = 16
			var wg sync.WaitGroup
			wins := make(chan string, n)
			for i := range n {
				srv := a
				if i%2 == 1 {
					srv = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r := srv.redeem(cb.Get("code"), nil); r.status == http.StatusOK {
						wins <- r.body["refresh_token"].(string)
					} else if r.body["error"] != "invalid_grant" {
						t.Errorf("loser: %d %s", r.status, r.raw)
					}
				}()
			}
			wg.Wait()
			close(wins)
			if len(wins) != 1 {
				t.Fatalf("%d redemptions of one code succeeded across two instances, want 1", len(wins))
			}
			// The replays revoked what the winner got (RFC 6749 §4.1.2), on both instances.
			rt := <-wins
			for _, srv := range []*testServer{a, b} {
				if r := srv.refresh(rt, nil); r.body["error"] != "invalid_grant" {
					t.Fatalf("the replayed code's refresh token still works: %s", r.raw)
				}
			}
		})
	}
}
