package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// deviceTests check store.DeviceAuthorizationStore: the lifecycle, slow_down bookkeeping,
// single decisions and redemptions under races, expiry and purging.
var deviceTests = []contractTest{
	{"DeviceRoundTripLifecycle", testDeviceLifecycle},
	{"DeviceConflicts", testDeviceConflicts},
	{"DeviceDenied", testDeviceDenied},
	{"DeviceExpired", testDeviceExpired},
	{"DevicePollSlowDown", testDevicePollSlowDown},
	{"DeviceDeleteExpired", testDeviceDeleteExpired},
	{"RaceDecideDevice", testRaceDecideDevice},
	{"RaceConsumeDevice", testRaceConsumeDevice},
	{"RacePollDevice", testRacePollDevice},
}

func newDevice(id string, expires time.Time) *store.DeviceAuthorization {
	return &store.DeviceAuthorization{
		DeviceCodeHash: "dc-" + id, UserCodeHash: "uc-" + id, ClientID: "tv-" + id,
		Scopes: []string{"openid", "offline_access"}, Resources: []string{"https://api.example/"},
		Status: store.DevicePending, Interval: 5 * time.Second, ExpiresAt: expires, CreatedAt: epoch,
	}
}

var approval = store.DeviceDecision{Approved: true, Subject: "alice", AuthTime: epoch.Add(-time.Minute),
	AMR: []string{"pwd"}, ACR: "urn:example:acr:1"}

func testDeviceLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newDevice("a", epoch.Add(10*time.Minute))
	mustNil(t, s.CreateDeviceAuthorization(ctx, want), "CreateDeviceAuthorization")
	got, err := s.GetDeviceAuthorizationByUserCode(ctx, "uc-a", epoch)
	mustNil(t, err, "GetDeviceAuthorizationByUserCode")
	assertEqual(t, got, want)

	// Polling while pending records the poll and keeps the row.
	polled, tooFast, err := s.PollDeviceAuthorization(ctx, "dc-a", epoch.Add(time.Second), 0, 5*time.Second)
	mustNil(t, err, "PollDeviceAuthorization")
	if tooFast || polled.Status != store.DevicePending || !polled.LastPolledAt.Equal(epoch.Add(time.Second)) {
		t.Fatalf("first poll: tooFast %v status %q last poll %v", tooFast, polled.Status, polled.LastPolledAt)
	}
	// A pending authorization cannot be redeemed.
	_, err = s.ConsumeDeviceAuthorization(ctx, "dc-a", epoch)
	mustBe(t, err, store.ErrNotFound, "ConsumeDeviceAuthorization (pending)")

	decided, err := s.DecideDeviceAuthorization(ctx, "uc-a", approval, epoch)
	mustNil(t, err, "DecideDeviceAuthorization")
	if decided.Status != store.DeviceApproved || decided.Subject != "alice" || !decided.AuthTime.Equal(approval.AuthTime) ||
		fmt.Sprint(decided.AMR) != "[pwd]" || decided.ACR != approval.ACR {
		t.Fatalf("decided row %+v does not carry the approval", decided)
	}
	// Decided: no longer found by user code, and not decided again.
	_, err = s.GetDeviceAuthorizationByUserCode(ctx, "uc-a", epoch)
	mustBe(t, err, store.ErrNotFound, "GetDeviceAuthorizationByUserCode (decided)")
	_, err = s.DecideDeviceAuthorization(ctx, "uc-a", store.DeviceDecision{}, epoch)
	mustBe(t, err, store.ErrNotFound, "DecideDeviceAuthorization (second decision)")

	consumed, err := s.ConsumeDeviceAuthorization(ctx, "dc-a", epoch)
	mustNil(t, err, "ConsumeDeviceAuthorization")
	if consumed.Subject != "alice" || consumed.ClientID != "tv-a" || fmt.Sprint(consumed.Scopes) != "[openid offline_access]" {
		t.Fatalf("consumed row %+v", consumed)
	}
	_, err = s.ConsumeDeviceAuthorization(ctx, "dc-a", epoch)
	mustBe(t, err, store.ErrNotFound, "ConsumeDeviceAuthorization (second use)")
	_, _, err = s.PollDeviceAuthorization(ctx, "dc-a", epoch, 0, time.Second)
	mustBe(t, err, store.ErrNotFound, "PollDeviceAuthorization (redeemed)")
}

func testDeviceConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreateDeviceAuthorization(ctx, newDevice("c", epoch.Add(time.Minute))), "CreateDeviceAuthorization")
	sameUser := newDevice("c2", epoch.Add(time.Minute))
	sameUser.UserCodeHash = "uc-c"
	mustBe(t, s.CreateDeviceAuthorization(ctx, sameUser), store.ErrConflict, "CreateDeviceAuthorization (same user code)")
	sameDevice := newDevice("c3", epoch.Add(time.Minute))
	sameDevice.DeviceCodeHash = "dc-c"
	mustBe(t, s.CreateDeviceAuthorization(ctx, sameDevice), store.ErrConflict, "CreateDeviceAuthorization (same device code)")
	_, _, err := s.PollDeviceAuthorization(ctx, "dc-unknown", epoch, 0, time.Second)
	mustBe(t, err, store.ErrNotFound, "PollDeviceAuthorization (unknown)")
	_, err = s.GetDeviceAuthorizationByUserCode(ctx, "uc-unknown", epoch)
	mustBe(t, err, store.ErrNotFound, "GetDeviceAuthorizationByUserCode (unknown)")
}

func testDeviceDenied(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreateDeviceAuthorization(ctx, newDevice("d", epoch.Add(time.Minute))), "CreateDeviceAuthorization")
	d, err := s.DecideDeviceAuthorization(ctx, "uc-d", store.DeviceDecision{Approved: false}, epoch)
	mustNil(t, err, "DecideDeviceAuthorization (deny)")
	if d.Status != store.DeviceDenied || d.Subject != "" {
		t.Fatalf("denied row %+v", d)
	}
	_, err = s.ConsumeDeviceAuthorization(ctx, "dc-d", epoch)
	mustBe(t, err, store.ErrNotFound, "ConsumeDeviceAuthorization (denied)")
	polled, _, err := s.PollDeviceAuthorization(ctx, "dc-d", epoch, 0, time.Second)
	mustNil(t, err, "PollDeviceAuthorization (denied)")
	if polled.Status != store.DeviceDenied {
		t.Fatalf("poll of a denied authorization says %q", polled.Status)
	}
}

func testDeviceExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := epoch.Add(time.Minute)
	mustNil(t, s.CreateDeviceAuthorization(ctx, newDevice("e", exp)), "CreateDeviceAuthorization")
	_, err := s.GetDeviceAuthorizationByUserCode(ctx, "uc-e", exp)
	mustBe(t, err, store.ErrNotFound, "GetDeviceAuthorizationByUserCode (at expiry)")
	_, err = s.DecideDeviceAuthorization(ctx, "uc-e", approval, exp)
	mustBe(t, err, store.ErrNotFound, "DecideDeviceAuthorization (at expiry)")
	// Approved in time, redeemed too late.
	_, err = s.DecideDeviceAuthorization(ctx, "uc-e", approval, epoch)
	mustNil(t, err, "DecideDeviceAuthorization (in time)")
	_, err = s.ConsumeDeviceAuthorization(ctx, "dc-e", exp)
	mustBe(t, err, store.ErrNotFound, "ConsumeDeviceAuthorization (at expiry)")
	// Polling still finds it, so the grant can answer expired_token rather than invalid_grant.
	d, _, err := s.PollDeviceAuthorization(ctx, "dc-e", exp, 0, time.Second)
	mustNil(t, err, "PollDeviceAuthorization (expired)")
	if !d.ExpiresAt.Equal(exp) {
		t.Fatalf("ExpiresAt %v, want %v", d.ExpiresAt, exp)
	}
}

func testDevicePollSlowDown(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreateDeviceAuthorization(ctx, newDevice("p", epoch.Add(time.Hour))), "CreateDeviceAuthorization")
	const jitter, step = 500 * time.Millisecond, 5 * time.Second
	polls := []struct {
		at           time.Duration // since epoch
		tooFast      bool
		wantInterval time.Duration
	}{
		{0, false, 5 * time.Second},                                    // first poll: nothing to compare with
		{5 * time.Second, false, 5 * time.Second},                      // exactly on time
		{9*time.Second + 600*time.Millisecond, false, 5 * time.Second}, // 4.6 s: within the jitter
		{13 * time.Second, true, 10 * time.Second},                     // 3.4 s: too fast, the interval grows
		{20 * time.Second, true, 15 * time.Second},                     // 7 s < 10 s: too fast again
		{35 * time.Second, false, 15 * time.Second},                    // 15 s: on time at the grown interval
	}
	for i, p := range polls {
		d, tooFast, err := s.PollDeviceAuthorization(ctx, "dc-p", epoch.Add(p.at), jitter, step)
		mustNil(t, err, "PollDeviceAuthorization")
		if tooFast != p.tooFast || d.Interval != p.wantInterval {
			t.Fatalf("poll %d at +%v: tooFast %v interval %v, want %v and %v", i, p.at, tooFast, d.Interval, p.tooFast, p.wantInterval)
		}
	}
}

func testDeviceDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreateDeviceAuthorization(ctx, newDevice("old", epoch)), "CreateDeviceAuthorization (old)")
	mustNil(t, s.CreateDeviceAuthorization(ctx, newDevice("live", epoch.Add(time.Hour))), "CreateDeviceAuthorization (live)")
	n, err := s.DeleteExpired(ctx, epoch)
	mustNil(t, err, "DeleteExpired")
	if n != 1 {
		t.Errorf("DeleteExpired removed %d rows, want 1", n)
	}
	_, _, err = s.PollDeviceAuthorization(ctx, "dc-old", epoch, 0, time.Second)
	mustBe(t, err, store.ErrNotFound, "PollDeviceAuthorization (purged)")
	// The purged user code may be handed out again.
	mustNil(t, s.CreateDeviceAuthorization(ctx, newDevice("old", epoch.Add(time.Hour))), "CreateDeviceAuthorization (reused codes)")
	_, err = s.GetDeviceAuthorizationByUserCode(ctx, "uc-live", epoch)
	mustNil(t, err, "GetDeviceAuthorizationByUserCode (live)")
}

// countOutcomes sorts errs into successes and ErrNotFound, failing on anything else.
func countOutcomes(t *testing.T, what string, errs []error) (ok, notFound int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrNotFound):
			notFound++
		default:
			t.Errorf("%s: unexpected error %v", what, err)
		}
	}
	return ok, notFound
}

// testRaceDecideDevice: of many concurrent decisions (half approve, half deny) exactly one
// is recorded, and the row holds that one.
func testRaceDecideDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 32
	for round := range 3 {
		id := fmt.Sprintf("rd-%d", round)
		mustNil(t, s.CreateDeviceAuthorization(ctx, newDevice(id, time.Now().Add(time.Minute))), "CreateDeviceAuthorization")
		errs := make([]error, n)
		won := make([]*store.DeviceAuthorization, n)
		start(n, func(i int) {
			dec := store.DeviceDecision{Approved: i%2 == 0, Subject: fmt.Sprintf("user-%d", i)}
			if !dec.Approved {
				dec.Subject = ""
			}
			won[i], errs[i] = s.DecideDeviceAuthorization(ctx, "uc-"+id, dec, time.Now())
		})
		ok, gone := countOutcomes(t, "DecideDeviceAuthorization", errs)
		if ok != 1 || gone != n-1 {
			t.Fatalf("round %d: %d decisions recorded and %d refused, want 1 and %d", round, ok, gone, n-1)
		}
		for i, d := range won {
			if d == nil {
				continue
			}
			polled, _, err := s.PollDeviceAuthorization(ctx, "dc-"+id, time.Now(), 0, time.Second)
			mustNil(t, err, "PollDeviceAuthorization")
			if polled.Status != d.Status || polled.Subject != d.Subject || (i%2 == 0) != (d.Status == store.DeviceApproved) {
				t.Fatalf("round %d: the winner (%d) recorded %q/%q but the row says %q/%q", round, i, d.Status, d.Subject, polled.Status, polled.Subject)
			}
		}
	}
}

// testRaceConsumeDevice: an approved device code is redeemed once by concurrent polls.
func testRaceConsumeDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 32
	for round := range 3 {
		id := fmt.Sprintf("rc-%d", round)
		mustNil(t, s.CreateDeviceAuthorization(ctx, newDevice(id, time.Now().Add(time.Minute))), "CreateDeviceAuthorization")
		_, err := s.DecideDeviceAuthorization(ctx, "uc-"+id, approval, time.Now())
		mustNil(t, err, "DecideDeviceAuthorization")
		errs := make([]error, n)
		start(n, func(i int) { _, errs[i] = s.ConsumeDeviceAuthorization(ctx, "dc-"+id, time.Now()) })
		if ok, gone := countOutcomes(t, "ConsumeDeviceAuthorization", errs); ok != 1 || gone != n-1 {
			t.Fatalf("round %d: %d redemptions and %d refusals, want 1 and %d", round, ok, gone, n-1)
		}
	}
}

// testRacePollDevice: concurrent polls at the same instant are serialized on the row, so
// all but the first are too fast and each grows the interval once.
func testRacePollDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	mustNil(t, s.CreateDeviceAuthorization(ctx, newDevice("rp", epoch.Add(time.Hour))), "CreateDeviceAuthorization")
	at := epoch.Add(time.Minute)
	fast := make([]bool, n)
	errs := make([]error, n)
	start(n, func(i int) { _, fast[i], errs[i] = s.PollDeviceAuthorization(ctx, "dc-rp", at, 0, time.Second) })
	mustNil(t, errors.Join(errs...), "PollDeviceAuthorization")
	slow := 0
	for _, f := range fast {
		if f {
			slow++
		}
	}
	if slow != n-1 {
		t.Fatalf("%d of %d simultaneous polls were told to slow down, want %d", slow, n, n-1)
	}
	d, _, err := s.PollDeviceAuthorization(ctx, "dc-rp", at.Add(time.Hour), 0, time.Second)
	mustNil(t, err, "PollDeviceAuthorization (later)")
	if want := 5*time.Second + time.Duration(n-1)*time.Second; d.Interval != want {
		t.Fatalf("interval after %d slow_downs is %v, want %v", n-1, d.Interval, want)
	}
}
