package authserver

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore/pgtest"
	"github.com/caddy-oauth/caddy-oauth/backchannel/logout"
)

// logoutReceiver is a client's back-channel logout endpoint on loopback: it records every
// logout_token posted to it and answers 200, or 503 while it is down.
type logoutReceiver struct {
	*httptest.Server
	down   atomic.Bool
	mu     sync.Mutex
	tokens []string // accepted tokens, in order
	tries  atomic.Int32
	// delay holds each answer back, so that deliveries are still in flight while a test
	// moves on.
	delay atomic.Int64
}

func newLogoutReceiver(t testing.TB) *logoutReceiver {
	t.Helper()
	r := &logoutReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.tries.Add(1)
		time.Sleep(time.Duration(r.delay.Load()))
		if r.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if err := req.ParseForm(); err != nil || req.Method != http.MethodPost || req.PostForm.Get("logout_token") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.tokens = append(r.tokens, req.PostForm.Get("logout_token"))
		r.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *logoutReceiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tokens)
}

// waitTokens waits until the receiver accepted n tokens and returns them.
func (r *logoutReceiver) waitTokens(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(r.received()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("receiver got %d logout tokens, want %d", len(r.received()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r.received()
}

// logoutTarget is a client's back-channel registration in these tests.
type logoutTarget struct {
	uri        string
	sidInToken bool
}

// newLogoutServer is the flow server with back-channel logout URIs for some of its clients
// (declared in the configuration, as in a Caddyfile), loopback allowed.
func newLogoutServer(t testing.TB, o serverOptions, targets map[string]logoutTarget) *testServer {
	t.Helper()
	edit := o.edit
	o.edit = func(c *Config) {
		c.OutboundAllowPrivate = true
		c.BackchannelLogout.Timeout = 2 * time.Second
		if edit != nil {
			edit(c)
		}
		for i, cc := range c.Clients {
			if target, ok := targets[cc.ID]; ok {
				c.Clients[i].BackchannelLogoutURI, c.Clients[i].BackchannelLogoutSessionRequired = target.uri, target.sidInToken
			}
		}
	}
	return newFlowServerOpts(t, o)
}

func TestDiscoveryAdvertisesBackchannelLogout(t *testing.T) {
	ts := newTestServer(t)
	md := ts.do(http.MethodGet, "/.well-known/openid-configuration", nil, [2]string{}).body
	if md["backchannel_logout_supported"] != true || md["backchannel_logout_session_supported"] != true {
		t.Fatalf("metadata: backchannel_logout_supported %v, backchannel_logout_session_supported %v",
			md["backchannel_logout_supported"], md["backchannel_logout_session_supported"])
	}
}

// TestLogoutTokenClaims: RP-initiated logout through the real endpoint sends each client of
// the session one logout token, verified here against the served JWKS: typ logout+jwt, the
// client's sub (pairwise for a pairwise client), sid only when the client asked, no nonce.
func TestLogoutTokenClaims(t *testing.T) {
	web, first := newLogoutReceiver(t), newLogoutReceiver(t)
	ts := newLogoutServer(t, serverOptions{}, map[string]logoutTarget{
		"web":   {uri: web.URL, sidInToken: true},
		"first": {uri: first.URL},
	})
	b := ts.browser()
	res := ts.redeem(b.signIn(authURL(nil)).Get("code"), nil)
	webID := ts.verifyIDToken(res.body["id_token"].(string), "RS256")

	// The same session signs in to the pairwise first-party client.
	q := url.Values{"client_id": {"first"}, "redirect_uri": {"https://first.example.test/cb"}, "scope": {"openid"}, "resource": nil}
	cb := callback(t, b.do(http.MethodGet, authURL(q), nil), "https://first.example.test/cb")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {"https://first.example.test/cb"}, "code_verifier": {testVerifier}}
	firstRes := ts.do(http.MethodPost, "/token", form, [2]string{"first", webSecret})
	if firstRes.status != http.StatusOK {
		t.Fatalf("first client's token: %d %s", firstRes.status, firstRes.raw)
	}
	firstID := ts.verifyIDToken(firstRes.body["id_token"].(string), "RS256")
	if firstID["sub"] == webID["sub"] || firstID["sid"] != webID["sid"] {
		t.Fatalf("fixture: pairwise sub %v vs %v, sid %v vs %v", firstID["sub"], webID["sub"], firstID["sid"], webID["sid"])
	}

	confirm := b.do(http.MethodGet, testIssuer+"/end_session?client_id=web", nil)
	if p := b.submit(confirm, url.Values{"decision": {"approve"}}); p.status != http.StatusOK {
		t.Fatalf("logout: %d %s", p.status, p.body)
	}
	for _, c := range []struct {
		name     string
		rcv      *logoutReceiver
		idToken  map[string]any
		wantKeys []string
	}{
		{"web", web, webID, []string{"aud", "events", "exp", "iat", "iss", "jti", "sid", "sub"}},
		{"first", first, firstID, []string{"aud", "events", "exp", "iat", "iss", "jti", "sub"}},
	} {
		tokens := c.rcv.waitTokens(t, 1)
		claims := ts.verifyJWT(tokens[0], "RS256", "logout+jwt")
		if keys := slices.Sorted(maps.Keys(claims)); !slices.Equal(keys, c.wantKeys) {
			t.Errorf("%s: claims %v, want exactly %v", c.name, keys, c.wantKeys)
		}
		now := float64(ts.now.Load())
		if claims["iss"] != testIssuer || claims["aud"] != c.name || claims["sub"] != c.idToken["sub"] ||
			claims["iat"] != now || claims["exp"] != now+120 || len(claims["jti"].(string)) < 22 {
			t.Errorf("%s: claims %v (ID token sub %v)", c.name, claims, c.idToken["sub"])
		}
		if _, ok := claims["sid"]; ok && claims["sid"] != c.idToken["sid"] {
			t.Errorf("%s: sid %v, ID token's %v", c.name, claims["sid"], c.idToken["sid"])
		}
		events, _ := claims["events"].(map[string]any)
		if _, ok := events["http://schemas.openid.net/event/backchannel-logout"]; !ok || len(events) != 1 {
			t.Errorf("%s: events %v", c.name, claims["events"])
		}
	}
	// Clients that had no grant in the session, or no URI, hear nothing; nothing is left queued.
	waitOutboxEmpty(t, ts)
	if n := len(web.received()) + len(first.received()); n != 2 {
		t.Fatalf("%d tokens in all, want 2", n)
	}
}

func waitOutboxEmpty(t testing.TB, ts *testServer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := ts.srv.st.CountLogoutDeliveries(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d logout deliveries still pending", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEverySessionEndSendsLogout: each way a session ends tells the session's client once,
// with the ended session's sid.
func TestEverySessionEndSendsLogout(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		end  func(t *testing.T, ts *testServer, b *browser, sid string)
	}{
		{"RP-initiated logout", func(t *testing.T, ts *testServer, b *browser, sid string) {
			b.submit(b.do(http.MethodGet, testIssuer+"/end_session", nil), url.Values{"decision": {"approve"}})
		}},
		{"new sign-in in the same browser", func(t *testing.T, ts *testServer, b *browser, sid string) {
			p := b.do(http.MethodGet, authURL(url.Values{"prompt": {"login"}}), nil)
			if p = b.submit(p, url.Values{"username": {"carol"}, "password": {carolPassword}, "decision": {"approve"}}); p.status != http.StatusSeeOther {
				t.Fatalf("second sign-in: %d %s", p.status, p.body)
			}
		}},
		{"admin sign-out of the session", func(t *testing.T, ts *testServer, b *browser, sid string) {
			if n, err := ts.srv.Manage().RevokeSessions(ctx, "", sid); n != 1 || err != nil {
				t.Fatalf("RevokeSessions = %d, %v", n, err)
			}
		}},
		{"admin sign-out of the account", func(t *testing.T, ts *testServer, b *browser, sid string) {
			if n, err := ts.srv.Manage().RevokeSessions(ctx, carolSubject(t, ts), ""); n != 1 || err != nil {
				t.Fatalf("RevokeSessions = %d, %v", n, err)
			}
		}},
		{"account disabled", func(t *testing.T, ts *testServer, b *browser, sid string) {
			if _, _, err := ts.srv.PutAccount(ctx, AccountInput{Username: "carol", Disabled: ptr(true)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"password changed", func(t *testing.T, ts *testServer, b *browser, sid string) {
			if _, _, err := ts.srv.PutAccount(ctx, AccountInput{Username: "carol", Password: carolNew}); err != nil {
				t.Fatal(err)
			}
		}},
		{"account deleted", func(t *testing.T, ts *testServer, b *browser, sid string) {
			if err := ts.srv.DeleteAccount(ctx, "carol"); err != nil {
				t.Fatal(err)
			}
		}},
		{"idle expiry", func(t *testing.T, ts *testServer, b *browser, sid string) {
			ts.now.Add(int64((DefaultSessionIdleTTL + time.Minute) / time.Second))
			ts.srv.endEndedSessions(ctx)
			passExpiryHold(ts)
		}},
		{"absolute expiry", func(t *testing.T, ts *testServer, b *browser, sid string) {
			// Keep it in use (idle limit off) until the absolute lifetime ends.
			ts.now.Add(int64((DefaultSessionTTL + time.Minute) / time.Second))
			ts.srv.endEndedSessions(ctx)
			passExpiryHold(ts)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rcv := newLogoutReceiver(t)
			ts := newLogoutServer(t, serverOptions{edit: func(cfg *Config) {
				if c.name == "absolute expiry" {
					cfg.SessionIdleTTL = -1
				}
			}}, map[string]logoutTarget{"web": {uri: rcv.URL, sidInToken: true}})
			if _, _, err := ts.srv.PutAccount(ctx, AccountInput{Username: "carol", Password: carolPassword}); err != nil {
				t.Fatal(err)
			}
			b := ts.browser()
			res := b.tokensAs("carol", carolPassword)
			sid := jwtClaims(t, res.body["id_token"].(string))["sid"].(string)
			if len(rcv.received()) != 0 {
				t.Fatal("a token arrived before the session ended")
			}
			c.end(t, ts, b, sid)
			tokens := rcv.waitTokens(t, 1)
			if got := jwtClaims(t, tokens[0])["sid"]; got != sid {
				t.Fatalf("logout token sid %v, want the ended session %s", got, sid)
			}
			if _, err := ts.srv.st.GetSession(ctx, sid); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the ended session is still stored (err %v)", err)
			}
			waitOutboxEmpty(t, ts)
			if n := len(rcv.received()); n != 1 {
				t.Errorf("%d tokens, want 1", n)
			}
		})
	}
}

// passExpiryHold moves the server's clock past the hold of the logouts its expiry pass queued.
func passExpiryHold(ts *testServer) { ts.now.Add(int64(logout.DefaultExpiryHold/time.Second) + 1) }

func carolSubject(t *testing.T, ts *testServer) string {
	t.Helper()
	acc, err := ts.srv.st.GetAccountByUsername(context.Background(), "carol")
	if err != nil {
		t.Fatal(err)
	}
	return acc.Subject
}

// TestLogoutSurvivesRestart: an instance queues a logout while the receiver is down and
// stops; the next instance on the same database delivers it once the receiver is back.
func TestLogoutSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	rcv := newLogoutReceiver(t)
	rcv.down.Store(true)
	targets := map[string]logoutTarget{"web": {uri: rcv.URL, sidInToken: true}}
	db := serverOptions{driver: "sqlite", dsn: t.TempDir() + "/shared.db"}
	a := newLogoutServer(t, db, targets)
	b := a.browser()
	sid := jwtClaims(t, a.redeem(b.signIn(authURL(nil)).Get("code"), nil).body["id_token"].(string))["sid"].(string)
	if n, err := a.srv.Manage().RevokeSessions(ctx, "", sid); n != 1 || err != nil {
		t.Fatalf("RevokeSessions = %d, %v", n, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for rcv.tries.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no delivery attempt")
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.srv.Close()
	if n, err := a.srv.st.CountLogoutDeliveries(ctx); n != 1 || err != nil {
		t.Fatalf("after the failed attempt and Close: %d pending, %v; want 1", n, err)
	}
	if len(rcv.received()) != 0 {
		t.Fatal("a token was accepted while the receiver was down")
	}

	rcv.down.Store(false)
	next := newLogoutServer(t, db, targets)
	// The failed attempt's retry is due within the first backoff step (at most 1 s).
	next.now.Store(a.now.Load() + 2)
	tokens := rcv.waitTokens(t, 1)
	if claims := next.verifyJWT(tokens[0], "RS256", "logout+jwt"); claims["sid"] != sid {
		t.Fatalf("sid %v, want %s", claims["sid"], sid)
	}
	waitOutboxEmpty(t, next)
}

// TestTwoInstancesSendEachLogoutOnce: two servers on one database end 50 sessions between
// them, half by an operator on either instance and half by expiry, with both instances
// running their expiry pass at once: each client gets each session's token exactly once.
func TestTwoInstancesSendEachLogoutOnce(t *testing.T) {
	const sessions = 50
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			dsn := t.TempDir() + "/shared.db"
			if driver == "postgres" {
				dsn = pgtest.DSN(t)
			}
			web, first := newLogoutReceiver(t), newLogoutReceiver(t)
			// Slow receivers keep the operator's logouts in flight while the sessions expire.
			web.delay.Store(int64(time.Second))
			first.delay.Store(int64(time.Second))
			targets := map[string]logoutTarget{"web": {uri: web.URL, sidInToken: true}, "first": {uri: first.URL, sidInToken: true}}
			// The POST timeout stays far above the receivers' delay: an attempt that timed out
			// after the receiver took its token is retried with the same jti (at least once, by
			// design), which is not what this test is about. With 2 s for a 1 s receiver, a
			// loaded CI machine once made two such retries.
			// The observers tell a failure's cause: a duplicate with no retry is a double claim.
			opts := serverOptions{driver: driver, dsn: dsn, edit: func(c *Config) { c.BackchannelLogout.Timeout = 10 * time.Second }}
			obsA, obsB := &recordingObserver{}, &recordingObserver{}
			opts.observer = obsA
			a := newLogoutServer(t, opts, targets)
			opts.observer = obsB
			b := newLogoutServer(t, opts, targets)
			b.now.Store(a.now.Load())

			soon := time.Unix(a.now.Load(), 0).Add(time.Minute)
			var byOperator, byExpiry []string
			for i := range sessions {
				if i%2 == 0 {
					byOperator = append(byOperator, newSessionWithGrants(t, a, targets))
				} else {
					byExpiry = append(byExpiry, newSessionUntil(t, a, targets, soon))
				}
			}
			// Both clocks move past the expiring sessions' end before any delivery is claimed.
			// Instances must agree on the time within a lease (timeout + 10 s): had one clock
			// jumped while the other instance held leases, it would take those deliveries over
			// as abandoned and send them again.
			for _, ts := range []*testServer{a, b} {
				ts.now.Add(120)
			}
			var wg sync.WaitGroup
			for i, sid := range byOperator {
				srv := []*testServer{a, b}[i%2]
				wg.Go(func() {
					if n, err := srv.srv.Manage().RevokeSessions(ctx, "", sid); n != 1 || err != nil {
						t.Errorf("RevokeSessions(%s) = %d, %v", sid, n, err)
					}
				})
			}
			for _, ts := range []*testServer{a, b} {
				wg.Go(func() { ts.srv.endEndedSessions(ctx) })
			}
			wg.Wait()
			passExpiryHold(a)
			passExpiryHold(b)

			want := map[string]bool{}
			for _, sid := range append(byOperator, byExpiry...) {
				want[sid] = true
			}
			for name, rcv := range map[string]*logoutReceiver{"web": web, "first": first} {
				rcv.waitTokens(t, sessions)
				waitOutboxEmpty(t, a)
				time.Sleep(200 * time.Millisecond) // a second delivery would show by now
				sids, jtis := map[string]int{}, map[string]bool{}
				for _, tok := range rcv.received() {
					claims := a.verifyJWT(tok, "RS256", "logout+jwt")
					sids[claims["sid"].(string)]++
					jtis[claims["jti"].(string)] = true
				}
				if len(rcv.received()) != sessions || len(jtis) != sessions || len(sids) != sessions {
					t.Errorf("%s: %d tokens, %d jtis, %d sessions; want %d of each (failed attempts retried: %d)",
						name, len(rcv.received()), len(jtis), len(sids), sessions, obsA.count("delivery logout retry")+obsB.count("delivery logout retry"))
				}
				for sid, n := range sids {
					if !want[sid] || n != 1 {
						t.Errorf("%s: session %s told %d times (one of ours: %v)", name, sid, n, want[sid])
					}
				}
			}
		})
	}
}

// TestConfiguredAccountDisabledAtStartSendsLogout: a restart that disables a configured
// account ends its sessions while the server is being built; their logouts are queued then
// and delivered once it runs.
func TestConfiguredAccountDisabledAtStartSendsLogout(t *testing.T) {
	rcv := newLogoutReceiver(t)
	targets := map[string]logoutTarget{"web": {uri: rcv.URL, sidInToken: true}}
	db := serverOptions{driver: "sqlite", dsn: t.TempDir() + "/oauth.db"}
	first := newLogoutServer(t, db, targets)
	sid := jwtClaims(t, first.redeem(first.browser().signIn(authURL(nil)).Get("code"), nil).body["id_token"].(string))["sid"]
	first.srv.Close()

	db.edit = func(c *Config) {
		for i := range c.Accounts {
			if c.Accounts[i].Username == "Alice" {
				c.Accounts[i].Disabled = true
			}
		}
	}
	next := newLogoutServer(t, db, targets)
	if got := jwtClaims(t, rcv.waitTokens(t, 1)[0])["sid"]; got != sid {
		t.Fatalf("logout token sid %v, want %v", got, sid)
	}
	waitOutboxEmpty(t, next)
}

// failingOutbox refuses every logout queued.
type failingOutbox struct{ store.Store }

func (failingOutbox) EnqueueLogoutDeliveries(context.Context, []*store.LogoutDelivery) error {
	return errors.New("outbox unavailable")
}

// A failure to queue the logouts never keeps a session alive: signing out, an operator's
// sign-out and a password change end it regardless (the lost logouts are logged).
func TestQueueFailureStillEndsTheSession(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		end  func(t *testing.T, ts *testServer, b *browser, sid string)
	}{
		{"RP-initiated logout", func(t *testing.T, ts *testServer, b *browser, sid string) {
			if p := b.submit(b.do(http.MethodGet, testIssuer+"/end_session", nil), url.Values{"decision": {"approve"}}); p.status != http.StatusOK {
				t.Fatalf("sign-out: %d", p.status)
			}
		}},
		{"operator sign-out", func(t *testing.T, ts *testServer, b *browser, sid string) {
			if n, err := ts.srv.Manage().RevokeSessions(ctx, "", sid); n != 1 || err != nil {
				t.Fatalf("RevokeSessions = %d, %v", n, err)
			}
		}},
		{"password changed", func(t *testing.T, ts *testServer, b *browser, sid string) {
			if _, _, err := ts.srv.PutAccount(ctx, AccountInput{Username: "carol", Password: carolNew}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rcv := newLogoutReceiver(t)
			ts := newLogoutServer(t, serverOptions{wrap: func(st store.Store) store.Store { return failingOutbox{st} }},
				map[string]logoutTarget{"web": {uri: rcv.URL}})
			if _, _, err := ts.srv.PutAccount(ctx, AccountInput{Username: "carol", Password: carolPassword}); err != nil {
				t.Fatal(err)
			}
			b := ts.browser()
			sid := jwtClaims(t, b.tokensAs("carol", carolPassword).body["id_token"].(string))["sid"].(string)
			c.end(t, ts, b, sid)
			if _, err := ts.srv.st.GetSession(ctx, sid); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the session survived a failed queue (err %v)", err)
			}
		})
	}
}
