package logout

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore/pgtest"
)

func TestSessionEndedQueuesClientsWithURI(t *testing.T) {
	st := openSQLite(t)
	st.addSession("sid-1", "with-uri", "without-uri", "deleted")
	cl := newClients(
		&store.Client{ID: "with-uri", BackchannelLogoutURI: "https://rp.example/logout"},
		&store.Client{ID: "without-uri"},
	)
	d, err := New(Deps{Store: st, Issuer: testIssuer, Signer: newSigner(t), Client: cl.get, Subject: publicSubject}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 { // queueing a session twice keeps one delivery per client
		if err := d.SessionEnded(ctx, "sub-1", "sid-1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SessionEnded(ctx, "sub-1", "no-such-session"); err != nil {
		t.Fatal(err)
	}
	queued := st.pending()
	if len(queued) != 1 {
		t.Fatalf("%d deliveries queued, want 1", len(queued))
	}
	for _, ld := range queued {
		if ld.ClientID != "with-uri" || ld.Subject != "sub-1" || ld.SessionID != "sid-1" || len(ld.JTI) != 22 {
			t.Errorf("queued %+v", ld)
		}
		if got := ld.ExpiresAt.Sub(ld.CreatedAt); got != DefaultMaxAge {
			t.Errorf("expires %v after queueing, want %v", got, DefaultMaxAge)
		}
	}
}

func TestNewRequiresDeps(t *testing.T) {
	if _, err := New(Deps{}, Options{}); err == nil {
		t.Fatal("New without deps succeeded")
	}
}

// A receiver that fails three times, then accepts, gets one token accepted after four
// requests, all with the same jti.
func TestRetryUntilAccepted(t *testing.T) {
	for _, failure := range []int{http.StatusServiceUnavailable, http.StatusBadRequest, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(failure), func(t *testing.T) {
			rcv := newReceiver(t, func(n int) int {
				if n <= 3 {
					return failure
				}
				return http.StatusOK
			})
			st := openSQLite(t)
			st.addSession("sid-1", "app")
			signer := newSigner(t)
			cl := newClients(&store.Client{ID: "app", BackchannelLogoutURI: rcv.URL, BackchannelLogoutSessionRequired: true})
			d := startDeliverer(t, st, cl, signer, fastOptions(zap.NewNop()))
			if err := d.SessionEnded(context.Background(), "sub-1", "sid-1"); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the delivery to leave the outbox", func() bool { return st.count() == 0 })
			if received, accepted := rcv.counts(); received != 4 || accepted != 1 {
				t.Fatalf("received %d, accepted %d; want 4 and 1", received, accepted)
			}
			var jtis []any
			for _, tok := range rcv.tokens {
				_, claims := verify(t, signer, tok)
				jtis = append(jtis, claims["jti"])
			}
			for _, j := range jtis[1:] {
				if j != jtis[0] {
					t.Fatalf("jti changed between attempts: %v", jtis)
				}
			}
		})
	}
}

// A receiver down past the maximum age gets nothing after it, and the drop is logged.
func TestDropAfterMaxAge(t *testing.T) {
	var up atomic.Bool
	rcv := newReceiver(t, func(int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusBadGateway
	})
	st := openSQLite(t)
	st.addSession("sid-1", "app")
	core, logs := observer.New(zapcore.InfoLevel)
	opts := fastOptions(zap.New(core))
	opts.MaxAge = 300 * time.Millisecond
	cl := newClients(&store.Client{ID: "app", BackchannelLogoutURI: rcv.URL})
	d := startDeliverer(t, st, cl, newSigner(t), opts)
	if err := d.SessionEnded(context.Background(), "sub-1", "sid-1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the delivery to be dropped", func() bool { return st.count() == 0 })
	up.Store(true)
	received, _ := rcv.counts()
	if received == 0 {
		t.Fatal("no attempt was made before the maximum age")
	}
	dropped := logs.FilterMessage("back-channel logout dropped").All()
	if len(dropped) != 1 || dropped[0].Level != zapcore.WarnLevel {
		t.Fatalf("drop log lines: %v", dropped)
	}
	f := dropped[0].ContextMap()
	if f["client_id"] != "app" || f["sid"] != "sid-1" || f["attempts"] != int64(received) || !strings.Contains(fmt.Sprint(f["last_error"]), "502") {
		t.Errorf("drop logged with %v (receiver saw %d attempts)", f, received)
	}
	// Give the workers several poll intervals: nothing more may reach the receiver.
	time.Sleep(10 * opts.PollInterval)
	if again, accepted := rcv.counts(); again != received || accepted != 0 {
		t.Fatalf("receiver got %d requests after the drop (accepted %d)", again-received, accepted)
	}
}

// A delivery whose client was deleted, or lost its URI, while it waited is discarded.
func TestClientGoneOrURIRemoved(t *testing.T) {
	rcv := newReceiver(t, always(http.StatusOK))
	st := openSQLite(t)
	st.addSession("sid-1", "gone", "no-uri", "kept")
	cl := newClients(
		&store.Client{ID: "gone", BackchannelLogoutURI: rcv.URL},
		&store.Client{ID: "no-uri", BackchannelLogoutURI: rcv.URL},
		&store.Client{ID: "kept", BackchannelLogoutURI: rcv.URL},
	)
	core, logs := observer.New(zapcore.InfoLevel)
	d, err := New(Deps{Store: st, Issuer: testIssuer, Signer: newSigner(t), Client: cl.get, Subject: publicSubject}, fastOptions(zap.New(core)))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SessionEnded(context.Background(), "sub-1", "sid-1"); err != nil {
		t.Fatal(err)
	}
	cl.remove("gone")
	cl.put(&store.Client{ID: "no-uri"})
	d.Start()
	t.Cleanup(d.Close)
	eventually(t, 10*time.Second, "the outbox to empty", func() bool { return st.count() == 0 })
	if received, accepted := rcv.counts(); received != 1 || accepted != 1 {
		t.Fatalf("received %d, accepted %d; want only the kept client's token", received, accepted)
	}
	if n := logs.FilterMessage("back-channel logout discarded").Len(); n != 2 {
		t.Errorf("%d discard log lines, want 2", n)
	}
}

// A receiver that hangs, or streams an endless body, occupies one worker for at most the
// timeout; the others deliver meanwhile.
func TestSlowReceiversDoNotStallOthers(t *testing.T) {
	hangRelease := make(chan struct{})
	var hanging atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hanging.Add(1)
		defer hanging.Add(-1)
		select {
		case <-hangRelease:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(huge.Close)
	rcv := newReceiver(t, always(http.StatusNoContent))

	st := openSQLite(t)
	cl := newClients(
		&store.Client{ID: "hang", BackchannelLogoutURI: hang.URL},
		&store.Client{ID: "huge", BackchannelLogoutURI: huge.URL},
		&store.Client{ID: "ok", BackchannelLogoutURI: rcv.URL},
	)
	st.addSession("sid-1", "hang", "huge")
	st.addSession("sid-2", "ok")
	opts := fastOptions(zap.NewNop())
	opts.Timeout = time.Minute // far longer than the test may wait
	opts.Workers = 2           // the hanging receiver holds one; the rest share the other
	d := startDeliverer(t, st, cl, newSigner(t), opts)
	t.Cleanup(func() { close(hangRelease) }) // before Close, which waits for the attempt
	if err := d.SessionEnded(context.Background(), "sub-1", "sid-1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the hanging receiver to hold a worker", func() bool { return hanging.Load() == 1 })
	// Queued now, with one worker held and the other busy retrying the endless body.
	if err := d.SessionEnded(context.Background(), "sub-1", "sid-2"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the healthy receiver's token", func() bool { _, ok := rcv.counts(); return ok == 1 })
	if hanging.Load() != 1 {
		t.Fatalf("the hanging receiver holds %d requests, want 1 still open while the other delivered", hanging.Load())
	}
}

// Closing a Deliverer lets the attempt under way finish and record its outcome.
func TestCloseFinishesAttemptInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var answered atomic.Bool
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		answered.Store(true)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(slow.Close)
	st := openSQLite(t)
	st.addSession("sid-1", "app")
	cl := newClients(&store.Client{ID: "app", BackchannelLogoutURI: slow.URL})
	d, err := New(Deps{Store: st, Issuer: testIssuer, Signer: newSigner(t), Client: cl.get, Subject: publicSubject}, fastOptions(zap.NewNop()))
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	if err := d.SessionEnded(context.Background(), "sub-1", "sid-1"); err != nil {
		t.Fatal(err)
	}
	<-entered
	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while an attempt was under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	if n := st.count(); n != 0 || !answered.Load() {
		t.Fatalf("after Close: %d pending, answered %v; want the finished delivery recorded", n, answered.Load())
	}
}

// Two Deliverers on one database (two instances): each token reaches its receiver once.
func TestTwoDeliverersSendOnce(t *testing.T) {
	cases := []struct {
		name string
		open func(t *testing.T) (a, b *testStore)
	}{
		{"SQLite", func(t *testing.T) (a, b *testStore) {
			dsn := filepath.Join(t.TempDir(), "shared.db")
			return openStore(t, sqlstore.DriverSQLite, dsn), openStore(t, sqlstore.DriverSQLite, dsn)
		}},
		{"PostgreSQL", func(t *testing.T) (a, b *testStore) {
			dsn := pgtest.DSN(t)
			return openStore(t, sqlstore.DriverPostgres, dsn), openStore(t, sqlstore.DriverPostgres, dsn)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := c.open(t)
			testSendOnce(t, a, b, a)
		})
	}
}

// testSendOnce ends 50 sessions of 2 clients each through two Deliverers on stA and stB (one
// database) and checks that each receiver got each token exactly once.
func testSendOnce(t *testing.T, stA, stB Store, seed interface{ addSession(string, ...string) }) {
	const sessions = 50
	rcvA := newReceiver(t, always(http.StatusOK))
	rcvB := newReceiver(t, always(http.StatusOK))
	cl := newClients(
		&store.Client{ID: "a", BackchannelLogoutURI: rcvA.URL},
		&store.Client{ID: "b", BackchannelLogoutURI: rcvB.URL},
	)
	for i := range sessions {
		seed.addSession(fmt.Sprintf("sid-%d", i), "a", "b")
	}
	signer := newSigner(t)
	opts := fastOptions(zap.NewNop())
	opts.Workers = 4
	d1 := startDeliverer(t, stA, cl, signer, opts)
	d2 := startDeliverer(t, stB, cl, signer, opts)
	for i := range sessions {
		d := []*Deliverer{d1, d2}[i%2]
		if err := d.SessionEnded(context.Background(), "sub", fmt.Sprintf("sid-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []*receiver{rcvA, rcvB} {
		eventually(t, 30*time.Second, "every token", func() bool { _, ok := r.counts(); return ok >= sessions })
	}
	time.Sleep(10 * opts.PollInterval) // a second delivery would have shown by now
	for name, r := range map[string]*receiver{"a": rcvA, "b": rcvB} {
		seen := map[string]int{}
		for _, tok := range r.acceptedTokens() {
			_, claims := verify(t, signer, tok)
			seen[claims["jti"].(string)+"/"+fmt.Sprint(claims["sub"])]++
		}
		received, _ := r.counts()
		if len(seen) != sessions || received != sessions {
			t.Errorf("receiver %s: %d requests, %d distinct tokens; want %d of each", name, received, len(seen), sessions)
		}
	}
}
