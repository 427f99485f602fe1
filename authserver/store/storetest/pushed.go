package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// pushedRequestTests check store.PushedRequestStore: round trip, single use, expiry,
// conflicts, purging, and the race of concurrent consumers.
var pushedRequestTests = []contractTest{
	{"PushedRequestRoundTripSingleUse", testPushedRequestRoundTrip},
	{"PushedRequestUnknownAndExpired", testPushedRequestUnknownExpired},
	{"PushedRequestHashConflict", testPushedRequestConflict},
	{"PushedRequestDeleteExpired", testPushedRequestDeleteExpired},
	{"RaceConsumePushedRequest", testRaceConsumePushedRequest},
}

func newPushedRequest(hash string, expires time.Time) *store.PushedRequest {
	return &store.PushedRequest{
		Hash: hash, ClientID: "c-" + hash,
		Params:    []byte(`{"client_id":["c-` + hash + `"],"scope":["openid profile"]}`),
		ExpiresAt: expires, CreatedAt: epoch,
	}
}

func testPushedRequestRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newPushedRequest("h1", epoch.Add(time.Minute))
	mustNil(t, s.CreatePushedRequest(ctx, want), "CreatePushedRequest")
	got, err := s.ConsumePushedRequest(ctx, "h1", epoch)
	mustNil(t, err, "ConsumePushedRequest")
	assertEqual(t, got, want)
	_, err = s.ConsumePushedRequest(ctx, "h1", epoch)
	mustBe(t, err, store.ErrNotFound, "ConsumePushedRequest (second use)")
}

func testPushedRequestUnknownExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.ConsumePushedRequest(ctx, "nope", epoch)
	mustBe(t, err, store.ErrNotFound, "ConsumePushedRequest (unknown)")
	mustNil(t, s.CreatePushedRequest(ctx, newPushedRequest("h2", epoch.Add(time.Minute))), "CreatePushedRequest")
	_, err = s.ConsumePushedRequest(ctx, "h2", epoch.Add(time.Minute))
	mustBe(t, err, store.ErrNotFound, "ConsumePushedRequest (at expiry)")
	// The expired request stays unusable even to a clock that is behind.
	_, err = s.ConsumePushedRequest(ctx, "h2", epoch)
	if err != nil {
		t.Fatalf("ConsumePushedRequest before expiry after a refused use: %v (a refused expired use must not spend it)", err)
	}
}

func testPushedRequestConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := newPushedRequest("h3", epoch.Add(time.Minute))
	mustNil(t, s.CreatePushedRequest(ctx, first), "CreatePushedRequest")
	other := newPushedRequest("h3", epoch.Add(time.Hour))
	other.ClientID = "someone-else"
	mustBe(t, s.CreatePushedRequest(ctx, other), store.ErrConflict, "CreatePushedRequest (same hash)")
	got, err := s.ConsumePushedRequest(ctx, "h3", epoch)
	mustNil(t, err, "ConsumePushedRequest")
	assertEqual(t, got, first)
}

func testPushedRequestDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreatePushedRequest(ctx, newPushedRequest("old", epoch)), "CreatePushedRequest (old)")
	mustNil(t, s.CreatePushedRequest(ctx, newPushedRequest("live", epoch.Add(time.Hour))), "CreatePushedRequest (live)")
	n, err := s.DeleteExpired(ctx, epoch)
	mustNil(t, err, "DeleteExpired")
	if n != 1 {
		t.Errorf("DeleteExpired removed %d rows, want 1", n)
	}
	// The purged row is gone even for a consumer whose clock says it is still valid.
	_, err = s.ConsumePushedRequest(ctx, "old", epoch.Add(-time.Minute))
	mustBe(t, err, store.ErrNotFound, "ConsumePushedRequest (purged)")
	_, err = s.ConsumePushedRequest(ctx, "live", epoch)
	mustNil(t, err, "ConsumePushedRequest (live)")
}

// testRaceConsumePushedRequest consumes one request from many goroutines: one wins, the
// others get ErrNotFound.
func testRaceConsumePushedRequest(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 32
	for round := range 3 {
		hash := fmt.Sprintf("race-%d", round)
		mustNil(t, s.CreatePushedRequest(ctx, newPushedRequest(hash, time.Now().Add(time.Minute))), "CreatePushedRequest")
		errs := make([]error, n)
		start(n, func(i int) { _, errs[i] = s.ConsumePushedRequest(ctx, hash, time.Now()) })
		var ok, gone int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrNotFound):
				gone++
			default:
				t.Errorf("ConsumePushedRequest: unexpected error %v", err)
			}
		}
		if ok != 1 || gone != n-1 {
			t.Errorf("round %d: %d successes and %d not found, want 1 and %d", round, ok, gone, n-1)
		}
	}
}
