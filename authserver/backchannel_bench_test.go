package authserver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// BenchmarkLogoutFanout100: one session with a grant for each of 100 clients, each with its
// own back-channel logout receiver on loopback, is signed out by an operator; the time until
// all 100 receivers have their token is reported as ms/fanout (default 8 workers).
func BenchmarkLogoutFanout100(b *testing.B) {
	const receivers = 100
	var got atomic.Int32
	all := make(chan struct{}, 1)
	targets := map[string]logoutTarget{}
	for i := range receivers {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if got.Add(1) == receivers {
				all <- struct{}{}
			}
			w.WriteHeader(http.StatusOK)
		}))
		b.Cleanup(srv.Close)
		targets[fmt.Sprintf("rp-%03d", i)] = logoutTarget{uri: srv.URL, sidInToken: true}
	}
	ts := newLogoutServer(b, serverOptions{edit: func(c *Config) {
		for id := range targets {
			c.Clients = append(c.Clients, ClientConfig{ID: id, Secret: webSecret, GrantTypes: []string{"authorization_code"},
				RedirectURIs: []string{"https://" + id + ".example.test/cb"}})
		}
	}}, targets)
	ctx := context.Background()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sid := newSessionWithGrants(b, ts, targets)
		got.Store(0)
		b.StartTimer()
		start := time.Now()
		if _, err := ts.srv.Manage().RevokeSessions(ctx, "", sid); err != nil {
			b.Fatal(err)
		}
		select {
		case <-all:
		case <-time.After(time.Minute):
			b.Fatalf("%d of %d receivers got their token within a minute", got.Load(), receivers)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/fanout")
}

// newSessionWithGrants stores a session of alice with one grant for each client of targets.
func newSessionWithGrants(b testing.TB, ts *testServer, targets map[string]logoutTarget) string {
	return newSessionUntil(b, ts, targets, time.Unix(ts.now.Load(), 0).Add(time.Hour))
}

// newSessionUntil is newSessionWithGrants for a session that expires at expires.
func newSessionUntil(b testing.TB, ts *testServer, targets map[string]logoutTarget, expires time.Time) string {
	ctx := context.Background()
	now := time.Unix(ts.now.Load(), 0)
	sess := &store.Session{ID: newJTI(), SecretHash: hashToken(newTokenValue()), Subject: "alice-sub",
		AuthTime: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: expires}
	if err := ts.srv.st.CreateSession(ctx, sess); err != nil {
		b.Fatal(err)
	}
	for id := range targets {
		g := &store.Grant{ClientID: id, Subject: "alice-sub", SessionID: sess.ID, Scopes: []string{"openid"},
			AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := ts.srv.st.CreateGrant(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
	return sess.ID
}
