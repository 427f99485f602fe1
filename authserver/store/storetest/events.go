package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Whether a revocation covers a live token is decided by the store's clock, so the event
// tests build their tokens around the wall clock rather than epoch.

// wallTime returns the current time plus d at the store's precision.
func wallTime(d time.Duration) time.Time { return fromStoreMillis(time.Now().Add(d)) }

// eventView is what a test expects of an event; ID, Seq and CreatedAt are checked apart.
type eventView struct {
	Kind, Value, Subject, ClientID string
	ExpiresAt                      time.Time
}

func viewOf(evs []*store.RevocationEvent) []eventView {
	out := []eventView{}
	for _, e := range evs {
		out = append(out, eventView{e.Kind, e.Value, e.Subject, e.ClientID, e.ExpiresAt})
	}
	return out
}

// allEvents returns the whole unexpired log, checking the properties every event has.
func allEvents(t *testing.T, s store.Store) []*store.RevocationEvent {
	t.Helper()
	evs, err := s.RevocationEventsAfter(t.Context(), 0, time.Now(), 0)
	mustNil(t, err, "RevocationEventsAfter")
	seen := map[string]bool{}
	var last int64
	for _, e := range evs {
		if e.Seq <= last {
			t.Errorf("event seq %d after %d: not strictly increasing", e.Seq, last)
		}
		last = e.Seq
		if len(e.ID) != 22 || seen[e.ID] {
			t.Errorf("event ID %q: want 22 base64url characters (128 bits), unique", e.ID)
		}
		seen[e.ID] = true
		if d := time.Since(e.CreatedAt); d < -time.Minute || d > time.Minute {
			t.Errorf("event CreatedAt %v is not now", e.CreatedAt)
		}
	}
	return evs
}

// liveGrant stores a grant of client for subject in session with one opaque access token
// and one recorded JWT jti, expiring at opaqueExp and jwtExp.
func liveGrant(t *testing.T, s store.Store, id, sessionID, clientID, subject string, opaqueExp, jwtExp time.Time) {
	t.Helper()
	ctx := t.Context()
	g := newGrant(id, sessionID, wallTime(24*time.Hour))
	g.ClientID, g.Subject = clientID, subject
	mustNil(t, s.CreateGrant(ctx, g), "CreateGrant")
	tok := newAccessToken("at-"+id, opaqueExp)
	tok.GrantID, tok.ClientID, tok.Subject = id, clientID, subject
	mustNil(t, s.CreateAccessToken(ctx, tok), "CreateAccessToken")
	mustNil(t, s.RecordGrantJTI(ctx, id, "jti-"+id, jwtExp), "RecordGrantJTI")
}

func testRevocationEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	soon, later, latest, gone := wallTime(time.Hour), wallTime(2*time.Hour), wallTime(3*time.Hour), wallTime(-time.Minute)
	token := func(hash, clientID string, exp time.Time) *store.AccessToken {
		tok := newAccessToken(hash, exp)
		tok.ClientID, tok.Subject = clientID, "sub-"+hash
		return tok
	}
	cases := []struct {
		name   string
		setup  func(t *testing.T)
		revoke func() error
		want   []eventView
	}{
		{"RevokeJTI", nil, func() error { return s.RevokeJTI(ctx, "a-jti", soon) },
			[]eventView{{store.RevokedJTI, "a-jti", "", "", soon}}},
		{"RevokeJTI of a grant's token names its client and subject",
			func(t *testing.T) { liveGrant(t, s, "g-jti", "", "c-jti", "u-jti", soon, later) },
			func() error { return s.RevokeJTI(ctx, "jti-g-jti", later) },
			[]eventView{{store.RevokedJTI, "jti-g-jti", "u-jti", "c-jti", later}}},
		{"RevokeJTI expired", nil, func() error { return s.RevokeJTI(ctx, "old-jti", gone) }, nil},
		{"RevokeAccessToken",
			func(t *testing.T) { mustNil(t, s.CreateAccessToken(ctx, token("h1", "c1", soon)), "CreateAccessToken") },
			func() error { return s.RevokeAccessToken(ctx, "h1") },
			[]eventView{{store.RevokedTokenHash, "h1", "sub-h1", "c1", soon}}},
		{"RevokeAccessToken again", nil, func() error { return s.RevokeAccessToken(ctx, "h1") }, nil},
		{"RevokeAccessToken expired",
			func(t *testing.T) {
				mustNil(t, s.CreateAccessToken(ctx, token("h-old", "c1", gone)), "CreateAccessToken")
			},
			func() error { return s.RevokeAccessToken(ctx, "h-old") }, nil},
		{"RevokeAccessToken unknown", nil, func() error {
			if err := s.RevokeAccessToken(ctx, "h-unknown"); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("got %v, want ErrNotFound", err)
			}
			return nil
		}, nil},
		{"RevokeClientAccessTokens: one event per newly revoked live token",
			func(t *testing.T) {
				for _, tok := range []*store.AccessToken{token("ct-2", "c2", later), token("ct-1", "c2", soon),
					token("ct-old", "c2", gone), token("ct-revoked", "c2", soon), token("ct-other", "c3", soon)} {
					tok.Revoked = tok.Hash == "ct-revoked"
					mustNil(t, s.CreateAccessToken(ctx, tok), "CreateAccessToken")
				}
			},
			func() error {
				n, err := s.RevokeClientAccessTokens(ctx, "c2")
				if err == nil && n != 3 {
					err = fmt.Errorf("revoked %d tokens, want 3", n)
				}
				return err
			},
			[]eventView{{store.RevokedTokenHash, "ct-1", "sub-ct-1", "c2", soon}, {store.RevokedTokenHash, "ct-2", "sub-ct-2", "c2", later}}},
		{"RevokeGrant: expires with the latest token it covers",
			func(t *testing.T) { liveGrant(t, s, "g1", "sid-x", "c1", "u1", later, soon) },
			func() error { return s.RevokeGrant(ctx, "g1") },
			[]eventView{{store.RevokedGrant, "g1", "u1", "c1", later}}},
		{"RevokeGrant again", nil, func() error { return s.RevokeGrant(ctx, "g1") }, nil},
		{"RevokeGrant whose tokens expired",
			func(t *testing.T) { liveGrant(t, s, "g-old", "", "c1", "u1", gone, gone) },
			func() error { return s.RevokeGrant(ctx, "g-old") }, nil},
		{"RevokeGrant without tokens",
			func(t *testing.T) {
				mustNil(t, s.CreateGrant(ctx, newGrant("g-empty", "", wallTime(time.Hour))), "CreateGrant")
			},
			func() error { return s.RevokeGrant(ctx, "g-empty") }, nil},
		{"RevokeSubjectGrants: one event per grant with a live token",
			func(t *testing.T) {
				liveGrant(t, s, "gs-b", "", "c1", "u-s", soon, gone)
				liveGrant(t, s, "gs-a", "", "c2", "u-s", gone, latest)
				liveGrant(t, s, "gs-old", "", "c1", "u-s", gone, gone)
				liveGrant(t, s, "gs-other", "", "c1", "u-other", soon, soon)
			},
			func() error { return countIs(s.RevokeSubjectGrants(ctx, "u-s"))(3) },
			[]eventView{{store.RevokedGrant, "gs-a", "u-s", "c2", latest}, {store.RevokedGrant, "gs-b", "u-s", "c1", soon}}},
		{"RevokeClientGrants: one event per grant with a live token",
			func(t *testing.T) {
				liveGrant(t, s, "gc-1", "", "c-del", "u1", soon, soon)
				liveGrant(t, s, "gc-2", "", "c-del", "u2", later, gone)
				liveGrant(t, s, "gc-other", "", "c-keep", "u1", soon, soon)
			},
			func() error { return countIs(s.RevokeClientGrants(ctx, "c-del"))(2) },
			[]eventView{{store.RevokedGrant, "gc-1", "u1", "c-del", soon}, {store.RevokedGrant, "gc-2", "u2", "c-del", later}}},
		{"RevokeSessionGrants: one session event covering every grant",
			func(t *testing.T) {
				liveGrant(t, s, "gsid-1", "sid-1", "c1", "u-sid", soon, soon)
				liveGrant(t, s, "gsid-2", "sid-1", "c2", "u-sid", gone, latest)
				liveGrant(t, s, "gsid-other", "sid-2", "c1", "u-sid", soon, soon)
			},
			func() error { return countIs(s.RevokeSessionGrants(ctx, "sid-1"))(2) },
			[]eventView{{store.RevokedSession, "sid-1", "u-sid", "", latest}}},
		{"RevokeSessionGrants again", nil, func() error { return countIs(s.RevokeSessionGrants(ctx, "sid-1"))(0) }, nil},
		{"RevokeSessionGrants of one client names it",
			func(t *testing.T) {
				liveGrant(t, s, "gsid-3", "sid-3", "c3", "u-sid", soon, soon)
				liveGrant(t, s, "gsid-4", "sid-3", "c3", "u-sid", later, gone)
			},
			func() error { return countIs(s.RevokeSessionGrants(ctx, "sid-3"))(2) },
			[]eventView{{store.RevokedSession, "sid-3", "u-sid", "c3", later}}},
		{"SetClientTokenCutoff: one client event carrying the cut-off", nil,
			func() error {
				cut := wallTime(-1500 * time.Millisecond)
				if err := s.SetClientTokenCutoff(ctx, "c-cut", cut, later); err != nil {
					return err
				}
				all := allEvents(t, s)
				if last := all[len(all)-1]; last.Kind != store.RevokedClient || !last.CreatedAt.Equal(cut) {
					return fmt.Errorf("client event %+v: want CreatedAt = the cut-off %v", last, cut)
				}
				return nil
			},
			[]eventView{{store.RevokedClient, "c-cut", "", "c-cut", later}}},
		{"SetClientTokenCutoff whose tokens expired", nil,
			func() error { return s.SetClientTokenCutoff(ctx, "c-cut-old", gone.Add(-time.Hour), gone) }, nil},
		{"RevokeSessionGrants whose tokens expired",
			func(t *testing.T) { liveGrant(t, s, "gsid-old", "sid-old", "c1", "u-sid", gone, gone) },
			func() error { return countIs(s.RevokeSessionGrants(ctx, "sid-old"))(1) }, nil},
	}
	var seen []*store.RevocationEvent
	for _, tc := range cases {
		if tc.setup != nil {
			tc.setup(t)
		}
		// Setting up appends nothing: events come from revocations only.
		if before := allEvents(t, s); len(before) != len(seen) {
			t.Fatalf("%s: setup appended %d events", tc.name, len(before)-len(seen))
		}
		if err := tc.revoke(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		all := allEvents(t, s)
		if len(all) < len(seen) {
			t.Fatalf("%s: the log lost events", tc.name)
		}
		if tc.want == nil {
			tc.want = []eventView{}
		}
		if got := viewOf(all[len(seen):]); !equalViews(got, tc.want) {
			t.Errorf("%s: appended\n%+v\nwant\n%+v", tc.name, got, tc.want)
		}
		seen = all
	}
}

// equalViews compares events ignoring the order of events appended by one call, which
// the contract leaves open.
func equalViews(got, want []eventView) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g.Kind == w.Kind && g.Value == w.Value && g.Subject == w.Subject && g.ClientID == w.ClientID && g.ExpiresAt.Equal(w.ExpiresAt) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// countIs checks the count returned by a Revoke*Grants method.
func countIs(n int, err error) func(want int) error {
	return func(want int) error {
		if err == nil && n != want {
			err = fmt.Errorf("revoked %d, want %d", n, want)
		}
		return err
	}
}

// testBornRevokedEvents: a token issued under a grant revoked by then is stored revoked,
// and announced, since it may outlive the grant's own event.
func testBornRevokedEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	soon, later := wallTime(time.Hour), wallTime(2*time.Hour)
	g := newGrant("g", "", wallTime(24*time.Hour))
	mustNil(t, s.CreateGrant(ctx, g), "CreateGrant")
	mustNil(t, s.RevokeGrant(ctx, "g"), "RevokeGrant") // no token yet: no event
	mustNil(t, s.RecordGrantJTI(ctx, "g", "late-jti", later), "RecordGrantJTI")
	tok := newAccessToken("late-at", soon)
	tok.GrantID = "g"
	mustNil(t, s.CreateAccessToken(ctx, tok), "CreateAccessToken")
	mustNil(t, s.RecordGrantJTI(ctx, "g", "late-expired-jti", wallTime(-time.Minute)), "RecordGrantJTI")
	want := []eventView{
		{store.RevokedJTI, "late-jti", g.Subject, g.ClientID, later},
		{store.RevokedTokenHash, "late-at", tok.Subject, tok.ClientID, soon},
	}
	assertEqual(t, viewOf(allEvents(t, s)), want)
}

// revokeJTIs appends one RevokedJTI event per expiry and returns the events in order.
func revokeJTIs(t *testing.T, s store.Store, exps ...time.Time) []*store.RevocationEvent {
	t.Helper()
	before := allEvents(t, s)
	for i, exp := range exps {
		mustNil(t, s.RevokeJTI(t.Context(), fmt.Sprintf("jti-%d-%d", len(before), i), exp), "RevokeJTI")
	}
	evs := allEvents(t, s)
	if len(evs) != len(before)+len(exps) {
		t.Fatalf("log holds %d events, want %d", len(evs), len(before)+len(exps))
	}
	return evs[len(before):]
}

func testEventsAfterPaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	hour := wallTime(time.Hour)
	evs := revokeJTIs(t, s, hour, hour.Add(time.Minute), hour.Add(-time.Minute), hour, hour)
	var got []*store.RevocationEvent
	after := int64(0)
	for page := 0; ; page++ {
		events, err := s.RevocationEventsAfter(ctx, after, time.Now(), 2)
		mustNil(t, err, "RevocationEventsAfter")
		if len(events) > 2 {
			t.Fatalf("page of %d events, limit 2", len(events))
		}
		if len(events) == 0 || page > 5 {
			break
		}
		got = append(got, events...)
		after = events[len(events)-1].Seq
	}
	assertEqual(t, got, evs)

	// Events expired at now are left out; the rest keep their order.
	got, err := s.RevocationEventsAfter(ctx, 0, hour.Add(-time.Millisecond), 0)
	mustNil(t, err, "RevocationEventsAfter")
	assertEqual(t, got, []*store.RevocationEvent{evs[0], evs[1], evs[3], evs[4]})
	got, err = s.RevocationEventsAfter(ctx, evs[1].Seq, hour, 10)
	if err != nil || len(got) != 0 {
		t.Errorf("RevocationEventsAfter(evs[1], at their expiry) = %v, %v; want nothing", got, err)
	}
	got, err = s.RevocationEventsAfter(ctx, evs[4].Seq, time.Now(), 10)
	if err != nil || len(got) != 0 {
		t.Errorf("RevocationEventsAfter(last) = %v, %v; want nothing", got, err)
	}
}

func testEventSeqs(t *testing.T, s store.Store) {
	ctx := t.Context()
	evs := revokeJTIs(t, s, wallTime(time.Hour), wallTime(time.Hour))
	// More IDs than any one query should bind, most of them unknown.
	ids := []string{evs[1].ID}
	for i := range 1200 {
		ids = append(ids, fmt.Sprintf("unknown-%d", i))
	}
	ids = append(ids, evs[0].ID)
	got, err := s.RevocationEventSeqs(ctx, ids)
	mustNil(t, err, "RevocationEventSeqs")
	assertEqual(t, got, map[string]int64{evs[0].ID: evs[0].Seq, evs[1].ID: evs[1].Seq})
	got, err = s.RevocationEventSeqs(ctx, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("RevocationEventSeqs(nil) = %v, %v; want an empty map", got, err)
	}
}

// testEventsPurged: DeleteExpired removes events past their ExpiresAt, and a seq is never
// handed out again, even the highest one's after it was purged.
func testEventsPurged(t *testing.T, s store.Store) {
	ctx := t.Context()
	evs := revokeJTIs(t, s, wallTime(2*time.Hour), wallTime(time.Hour))
	n, err := s.DeleteExpired(ctx, wallTime(time.Hour))
	mustNil(t, err, "DeleteExpired")
	if n != 2 {
		t.Errorf("DeleteExpired removed %d rows, want 2 (the event and its revoked jti)", n)
	}
	got, err := s.RevocationEventsAfter(ctx, 0, time.Now(), 0)
	mustNil(t, err, "RevocationEventsAfter")
	assertEqual(t, got, evs[:1])
	seqs, err := s.RevocationEventSeqs(ctx, []string{evs[0].ID, evs[1].ID})
	mustNil(t, err, "RevocationEventSeqs")
	assertEqual(t, seqs, map[string]int64{evs[0].ID: evs[0].Seq})

	next := revokeJTIs(t, s, wallTime(time.Hour))
	if next[0].Seq <= evs[1].Seq {
		t.Errorf("event appended after the purge has seq %d, not above the purged %d", next[0].Seq, evs[1].Seq)
	}
}

// testWatchEvents: a watcher is woken by an append, by one made in a group commit too, and
// its channel closes when its context ends.
func testWatchEvents(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.WatchRevocationEvents(ctx)
	mustNil(t, err, "WatchRevocationEvents")
	other, err := s.WatchRevocationEvents(t.Context())
	mustNil(t, err, "WatchRevocationEvents")

	mustNil(t, s.RevokeJTI(t.Context(), "w-jti", wallTime(time.Hour)), "RevokeJTI")
	AwaitWake(t, ch, "after RevokeJTI")
	AwaitWake(t, other, "second watcher after RevokeJTI")

	// A token born revoked is appended in the transaction that stores the token.
	g := newGrant("g", "", wallTime(time.Hour))
	mustNil(t, s.CreateGrant(t.Context(), g), "CreateGrant")
	mustNil(t, s.RevokeGrant(t.Context(), "g"), "RevokeGrant")
	Drain(ch)
	tok := newAccessToken("born-revoked", wallTime(time.Hour))
	tok.GrantID = "g"
	mustNil(t, s.CreateAccessToken(t.Context(), tok), "CreateAccessToken")
	AwaitWake(t, ch, "after a token born revoked")

	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the watch channel did not close after its context ended")
		}
	}
}

// AwaitWake fails t unless ch receives a wake-up within five seconds.
func AwaitWake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the watch channel closed", what)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no wake-up within 5 s", what)
	}
}

// Drain removes a pending wake-up from ch, if any.
func Drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}
