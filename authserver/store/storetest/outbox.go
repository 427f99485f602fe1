package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// backchannelTests cover the backchannel's state: the logout outbox, the revocation event
// log, event streams and ended sessions.
var backchannelTests = []contractTest{
	{"LogoutOutboxRoundTripAndLease", testOutboxRoundTrip},
	{"LogoutOutboxDuplicateSessionClientSkipped", testOutboxDuplicates},
	{"LogoutOutboxIDConflictStoresNothing", testOutboxIDConflict},
	{"LogoutOutboxClaimOrderAndLimit", testOutboxClaimOrder},
	{"LogoutOutboxRetryAndDelete", testOutboxRetryDelete},
	{"RaceClaimLogoutDeliveries", testRaceClaim},
	{"RevocationEventsOfEachRevocation", testRevocationEvents},
	{"RevocationEventsBornRevoked", testBornRevokedEvents},
	{"RevocationEventsAfterPaging", testEventsAfterPaging},
	{"RevocationEventSeqs", testEventSeqs},
	{"RevocationEventsPurged", testEventsPurged},
	{"WatchRevocationEvents", testWatchEvents},
	{"EventStreamRoundTrip", testStreamRoundTrip},
	{"EventStreamUpdate", testStreamUpdate},
	{"EventStreamAckNeverLowers", testStreamAck},
	{"EventStreamDeleteAndIdle", testStreamDelete},
	{"SessionClientIDs", testSessionClientIDs},
	{"ListEndedSessions", testListEndedSessions},
}

func newDelivery(sessionID, clientID string, next time.Time) *store.LogoutDelivery {
	return &store.LogoutDelivery{
		ClientID:      clientID,
		Subject:       "user-42",
		SessionID:     sessionID,
		JTI:           "jti-" + sessionID + "-" + clientID,
		NextAttemptAt: next,
		ExpiresAt:     next.Add(24 * time.Hour),
	}
}

func testOutboxRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := epoch
	lease := now.Add(time.Minute)
	d := newDelivery("sid-1", "c1", now)
	d.LastError = "earlier failure"
	mustNil(t, s.EnqueueLogoutDeliveries(ctx, []*store.LogoutDelivery{d}), "EnqueueLogoutDeliveries")
	if d.ID == "" || d.CreatedAt.IsZero() {
		t.Fatalf("enqueue wrote back ID %q, CreatedAt %v; want both filled in", d.ID, d.CreatedAt)
	}
	if n, err := s.CountLogoutDeliveries(ctx); err != nil || n != 1 {
		t.Fatalf("CountLogoutDeliveries = %d, %v; want 1", n, err)
	}

	// Not due before NextAttemptAt.
	got, err := s.ClaimLogoutDeliveries(ctx, now.Add(-time.Millisecond), lease, 10)
	mustNil(t, err, "ClaimLogoutDeliveries")
	if len(got) != 0 {
		t.Fatalf("claim before due returned %d deliveries", len(got))
	}

	got, err = s.ClaimLogoutDeliveries(ctx, now, lease, 10)
	mustNil(t, err, "ClaimLogoutDeliveries")
	want := *d
	want.Attempts, want.NextAttemptAt = 1, lease
	if len(got) != 1 {
		t.Fatalf("claim returned %d deliveries, want 1", len(got))
	}
	assertEqual(t, *got[0], want)

	// Leased: no other claim gets it until the lease ends, then it is due again.
	got, err = s.ClaimLogoutDeliveries(ctx, lease.Add(-time.Millisecond), lease.Add(time.Hour), 10)
	mustNil(t, err, "ClaimLogoutDeliveries")
	if len(got) != 0 {
		t.Fatalf("claim during the lease returned %d deliveries", len(got))
	}
	got, err = s.ClaimLogoutDeliveries(ctx, lease, lease.Add(time.Minute), 10)
	mustNil(t, err, "ClaimLogoutDeliveries")
	if len(got) != 1 || got[0].ID != d.ID || got[0].Attempts != 2 {
		t.Fatalf("claim after the lease = %+v; want the delivery with 2 attempts", got)
	}
	// Claiming changes nothing else, and a limit below one claims nothing.
	if n, err := s.CountLogoutDeliveries(ctx); err != nil || n != 1 {
		t.Fatalf("CountLogoutDeliveries = %d, %v; want 1", n, err)
	}
	got, err = s.ClaimLogoutDeliveries(ctx, now.Add(time.Hour*48), now.Add(time.Hour*49), 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("claim with limit 0 = %v, %v; want nothing", got, err)
	}
	mustNil(t, s.EnqueueLogoutDeliveries(ctx, nil), "EnqueueLogoutDeliveries(nil)")
}

func testOutboxDuplicates(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := []*store.LogoutDelivery{
		newDelivery("sid-1", "c1", epoch),
		newDelivery("sid-1", "c2", epoch),
		// An empty session ID is no key: deliveries without one are all kept.
		newDelivery("", "c1", epoch),
		newDelivery("", "c1", epoch),
	}
	mustNil(t, s.EnqueueLogoutDeliveries(ctx, first), "EnqueueLogoutDeliveries")
	// A second instance ending the same session queues it again, in the same call too.
	again := newDelivery("sid-1", "c1", epoch.Add(time.Hour))
	again.JTI = "another"
	dupInCall := newDelivery("sid-2", "c1", epoch)
	second := []*store.LogoutDelivery{again, newDelivery("sid-2", "c1", epoch), dupInCall}
	mustNil(t, s.EnqueueLogoutDeliveries(ctx, second), "EnqueueLogoutDeliveries (duplicates)")
	if again.ID != "" || dupInCall.ID != "" || second[1].ID == "" {
		t.Errorf("written back IDs %q, %q, %q; want only the new delivery's", again.ID, second[1].ID, dupInCall.ID)
	}
	if n, err := s.CountLogoutDeliveries(ctx); err != nil || n != 5 {
		t.Fatalf("CountLogoutDeliveries = %d, %v; want 5", n, err)
	}
	got, err := s.ClaimLogoutDeliveries(ctx, epoch.Add(2*time.Hour), epoch.Add(3*time.Hour), 100)
	mustNil(t, err, "ClaimLogoutDeliveries")
	for _, d := range got {
		if d.SessionID == "sid-1" && d.ClientID == "c1" && (d.JTI != first[0].JTI || d.ID != first[0].ID) {
			t.Errorf("the duplicate replaced the first delivery: %+v", d)
		}
	}
	// Once delivered (deleted), the pair may be queued again.
	mustNil(t, s.DeleteLogoutDelivery(ctx, first[0].ID), "DeleteLogoutDelivery")
	mustNil(t, s.EnqueueLogoutDeliveries(ctx, []*store.LogoutDelivery{again}), "EnqueueLogoutDeliveries")
	if again.ID == "" {
		t.Error("re-queueing a delivered (session, client) was skipped")
	}
}

func testOutboxIDConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := newDelivery("sid-1", "c1", epoch)
	d.ID = "fixed"
	mustNil(t, s.EnqueueLogoutDeliveries(ctx, []*store.LogoutDelivery{d}), "EnqueueLogoutDeliveries")
	fresh := newDelivery("sid-2", "c1", epoch)
	clash := newDelivery("sid-3", "c1", epoch)
	clash.ID = "fixed"
	err := s.EnqueueLogoutDeliveries(ctx, []*store.LogoutDelivery{fresh, clash})
	mustBe(t, err, store.ErrConflict, "EnqueueLogoutDeliveries with a taken ID")
	if fresh.ID != "" {
		t.Errorf("a failed enqueue wrote back ID %q", fresh.ID)
	}
	if n, err := s.CountLogoutDeliveries(ctx); err != nil || n != 1 {
		t.Fatalf("CountLogoutDeliveries = %d, %v; want 1 (nothing of the failed call)", n, err)
	}
}

func testOutboxClaimOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Queued in another order than due.
	var ds []*store.LogoutDelivery
	for i, offset := range []time.Duration{3, 1, 4, 2, 100} {
		ds = append(ds, newDelivery(fmt.Sprintf("sid-%d", i), "c", epoch.Add(offset*time.Second)))
	}
	mustNil(t, s.EnqueueLogoutDeliveries(ctx, ds), "EnqueueLogoutDeliveries")
	now, lease := epoch.Add(10*time.Second), epoch.Add(time.Hour)
	got, err := s.ClaimLogoutDeliveries(ctx, now, lease, 2)
	mustNil(t, err, "ClaimLogoutDeliveries")
	assertEqual(t, ids(got, func(d *store.LogoutDelivery) string { return d.SessionID }), []string{"sid-1", "sid-3"})
	got, err = s.ClaimLogoutDeliveries(ctx, now, lease, 10)
	mustNil(t, err, "ClaimLogoutDeliveries")
	// sid-4 is not due yet.
	assertEqual(t, ids(got, func(d *store.LogoutDelivery) string { return d.SessionID }), []string{"sid-0", "sid-2"})
}

func testOutboxRetryDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := newDelivery("sid", "c", epoch)
	mustNil(t, s.EnqueueLogoutDeliveries(ctx, []*store.LogoutDelivery{d}), "EnqueueLogoutDeliveries")
	_, err := s.ClaimLogoutDeliveries(ctx, epoch, epoch.Add(time.Minute), 1)
	mustNil(t, err, "ClaimLogoutDeliveries")
	retryAt := epoch.Add(30 * time.Second) // before the lease ends: the retry time wins
	mustNil(t, s.RetryLogoutDelivery(ctx, d.ID, retryAt, "HTTP 503"), "RetryLogoutDelivery")
	got, err := s.ClaimLogoutDeliveries(ctx, retryAt, retryAt.Add(time.Minute), 1)
	mustNil(t, err, "ClaimLogoutDeliveries")
	if len(got) != 1 || got[0].LastError != "HTTP 503" || got[0].Attempts != 2 {
		t.Fatalf("claim after retry = %+v; want the delivery with LastError and 2 attempts", got)
	}
	mustNil(t, s.DeleteLogoutDelivery(ctx, d.ID), "DeleteLogoutDelivery")
	if n, err := s.CountLogoutDeliveries(ctx); err != nil || n != 0 {
		t.Fatalf("CountLogoutDeliveries = %d, %v; want 0", n, err)
	}
	mustBe(t, s.DeleteLogoutDelivery(ctx, d.ID), store.ErrNotFound, "DeleteLogoutDelivery (gone)")
	mustBe(t, s.RetryLogoutDelivery(ctx, d.ID, retryAt, "x"), store.ErrNotFound, "RetryLogoutDelivery (gone)")
}

// testRaceClaim: concurrent claims never return one delivery twice, and together return
// every due delivery.
func testRaceClaim(t *testing.T, s store.Store) {
	RaceClaims(t, []store.Store{s}, s)
}

// RaceClaims queues deliveries through seed, then has raceN goroutines spread over stores
// (instances sharing one database) claim them until none is left, and checks that each
// delivery was claimed exactly once.
func RaceClaims(t *testing.T, stores []store.Store, seed store.Store) {
	ctx := t.Context()
	const total = 60
	var ds []*store.LogoutDelivery
	for i := range total {
		ds = append(ds, newDelivery(fmt.Sprintf("sid-%02d", i), "c", epoch))
	}
	mustNil(t, seed.EnqueueLogoutDeliveries(ctx, ds), "EnqueueLogoutDeliveries")
	var (
		mu      sync.Mutex
		claimed []string
		errs    []error
	)
	start(raceN, func(i int) {
		s := stores[i%len(stores)]
		for {
			got, err := s.ClaimLogoutDeliveries(ctx, epoch, epoch.Add(time.Hour), 3)
			mu.Lock()
			if err != nil {
				errs = append(errs, err)
			}
			for _, d := range got {
				claimed = append(claimed, d.ID)
			}
			mu.Unlock()
			if err != nil || len(got) == 0 {
				return
			}
		}
	})
	for _, err := range errs {
		t.Errorf("ClaimLogoutDeliveries: %v", err)
	}
	slices.Sort(claimed)
	if len(claimed) != total || len(slices.Compact(slices.Clone(claimed))) != total {
		t.Fatalf("claimed %d deliveries, %d distinct; want each of %d exactly once", len(claimed), len(slices.Compact(claimed)), total)
	}
}
