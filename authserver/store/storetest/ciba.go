package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// cibaTests check store.CIBARequestStore: the lifecycle, notifications and their leases, a
// decision and a redemption once under races, and purging.
var cibaTests = []contractTest{
	{"CIBALifecycle", testCIBALifecycle},
	{"CIBANotifications", testCIBANotifications},
	{"CIBAExpiredAndPurged", testCIBAExpired},
	{"RaceDecideCIBA", testRaceDecideCIBA},
	{"RaceConsumeCIBA", testRaceConsumeCIBA},
}

func newCIBA(id, mode string, expires time.Time) *store.CIBARequest {
	return &store.CIBARequest{ID: id, AuthReqHash: "h-" + id, ClientID: "bank", Subject: "alice",
		Scopes: []string{"openid", "payments"}, Resources: []string{"https://api.example/"}, ACRValues: []string{"urn:acr:2"},
		BindingMessage: "Pay 42 EUR", Mode: mode, NotificationToken: []byte("sealed-token"), Status: store.DevicePending,
		Interval: 5 * time.Second, ExpiresAt: expires, CreatedAt: epoch}
}

func testCIBALifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newCIBA("c1", "poll", epoch.Add(10*time.Minute))
	mustNil(t, s.CreateCIBARequest(ctx, want), "CreateCIBARequest")
	mustBe(t, s.CreateCIBARequest(ctx, newCIBA("c1", "poll", epoch.Add(time.Minute))), store.ErrConflict, "CreateCIBARequest (same ID)")
	got, err := s.GetCIBARequest(ctx, "c1")
	mustNil(t, err, "GetCIBARequest")
	assertEqual(t, got, want)
	mustNil(t, s.CreateCIBARequest(ctx, newCIBA("c2", "poll", epoch.Add(10*time.Minute))), "CreateCIBARequest (second)")
	other := newCIBA("c3", "poll", epoch.Add(10*time.Minute))
	other.Subject = "bob"
	mustNil(t, s.CreateCIBARequest(ctx, other), "CreateCIBARequest (bob)")
	list, err := s.ListCIBARequests(ctx, "alice", epoch)
	mustNil(t, err, "ListCIBARequests")
	if len(list) != 2 || list[0].ID != "c1" || list[1].ID != "c2" {
		t.Fatalf("alice's pending requests: %v", list)
	}

	_, tooFast, err := s.PollCIBARequest(ctx, "h-c1", epoch, 0, 5*time.Second)
	mustNil(t, err, "PollCIBARequest")
	_, tooFast, _ = s.PollCIBARequest(ctx, "h-c1", epoch.Add(time.Second), 0, 5*time.Second)
	if !tooFast {
		t.Fatal("a poll 1 s after the last was not too fast")
	}
	_, err = s.ConsumeCIBARequest(ctx, "h-c1", epoch)
	mustBe(t, err, store.ErrNotFound, "ConsumeCIBARequest (pending)")
	decided, err := s.DecideCIBARequest(ctx, "c1", store.CIBADecision{DeviceDecision: approval}, epoch)
	mustNil(t, err, "DecideCIBARequest")
	if decided.Status != store.DeviceApproved || decided.ACR != approval.ACR || fmt.Sprint(decided.AMR) != "[pwd]" {
		t.Fatalf("decided: %+v", decided)
	}
	_, err = s.DecideCIBARequest(ctx, "c1", store.CIBADecision{}, epoch)
	mustBe(t, err, store.ErrNotFound, "DecideCIBARequest (again)")
	list, _ = s.ListCIBARequests(ctx, "alice", epoch)
	if len(list) != 1 || list[0].ID != "c2" {
		t.Fatalf("after the decision alice's pending requests are %v", list)
	}
	consumed, err := s.ConsumeCIBARequest(ctx, "h-c1", epoch)
	mustNil(t, err, "ConsumeCIBARequest")
	if consumed.Subject != "alice" || consumed.BindingMessage != "Pay 42 EUR" {
		t.Fatalf("consumed: %+v", consumed)
	}
	_, err = s.ConsumeCIBARequest(ctx, "h-c1", epoch)
	mustBe(t, err, store.ErrNotFound, "ConsumeCIBARequest (again)")
	_, err = s.GetCIBARequest(ctx, "c1")
	mustBe(t, err, store.ErrNotFound, "GetCIBARequest (redeemed)")
}

func testCIBANotifications(t *testing.T, s store.Store) {
	ctx := t.Context()
	ping := newCIBA("ping", "ping", epoch.Add(time.Hour))
	push := newCIBA("push", "push", epoch.Add(time.Hour))
	mustNil(t, s.CreateCIBARequest(ctx, ping), "CreateCIBARequest (ping)")
	mustNil(t, s.CreateCIBARequest(ctx, push), "CreateCIBARequest (push)")
	got, err := s.ClaimCIBANotifications(ctx, epoch, epoch.Add(time.Minute), 10)
	mustNil(t, err, "ClaimCIBANotifications")
	if len(got) != 0 {
		t.Fatalf("undecided requests were claimed: %v", got)
	}
	due := epoch.Add(time.Second)
	_, err = s.DecideCIBARequest(ctx, "ping", store.CIBADecision{DeviceDecision: approval, NotifyAt: due}, epoch)
	mustNil(t, err, "DecideCIBARequest (ping)")
	_, err = s.DecideCIBARequest(ctx, "push", store.CIBADecision{DeviceDecision: approval, NotifyAt: due, Payload: []byte("sealed tokens")}, epoch)
	mustNil(t, err, "DecideCIBARequest (push)")

	if got, _ := s.ClaimCIBANotifications(ctx, epoch, epoch.Add(time.Minute), 10); len(got) != 0 {
		t.Fatalf("notifications claimed before they were due: %d", len(got))
	}
	got, err = s.ClaimCIBANotifications(ctx, due, due.Add(time.Minute), 10)
	mustNil(t, err, "ClaimCIBANotifications (due)")
	if len(got) != 2 {
		t.Fatalf("claimed %d, want 2", len(got))
	}
	for _, r := range got {
		if r.NotifyAttempts != 1 || !r.NotifyAt.Equal(due.Add(time.Minute)) || (r.Mode == "push") != (string(r.Payload) == "sealed tokens") {
			t.Fatalf("claimed %+v", r)
		}
	}
	// Leased: not claimed again before the lease ends.
	if again, _ := s.ClaimCIBANotifications(ctx, due.Add(time.Second), due.Add(2*time.Minute), 10); len(again) != 0 {
		t.Fatalf("a leased notification was claimed again")
	}
	mustNil(t, s.FinishCIBANotification(ctx, "ping", due.Add(5*time.Second)), "FinishCIBANotification (retry)")
	mustNil(t, s.FinishCIBANotification(ctx, "push", time.Time{}), "FinishCIBANotification (pushed)")
	_, err = s.GetCIBARequest(ctx, "push")
	mustBe(t, err, store.ErrNotFound, "GetCIBARequest (pushed: nothing kept)")
	got, _ = s.ClaimCIBANotifications(ctx, due.Add(5*time.Second), due.Add(time.Hour), 10)
	if len(got) != 1 || got[0].ID != "ping" || got[0].NotifyAttempts != 2 {
		t.Fatalf("the retried ping: %v", got)
	}
	mustNil(t, s.FinishCIBANotification(ctx, "ping", time.Time{}), "FinishCIBANotification (pinged)")
	r, err := s.GetCIBARequest(ctx, "ping")
	mustNil(t, err, "GetCIBARequest (pinged: kept for the poll)")
	if !r.NotifyAt.IsZero() {
		t.Fatalf("a delivered ping is still due at %v", r.NotifyAt)
	}
	mustBe(t, s.FinishCIBANotification(ctx, "nope", time.Time{}), store.ErrNotFound, "FinishCIBANotification (unknown)")
}

func testCIBAExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := epoch.Add(time.Minute)
	mustNil(t, s.CreateCIBARequest(ctx, newCIBA("e", "poll", exp)), "CreateCIBARequest")
	_, err := s.DecideCIBARequest(ctx, "e", store.CIBADecision{DeviceDecision: approval}, exp)
	mustBe(t, err, store.ErrNotFound, "DecideCIBARequest (at expiry)")
	if list, _ := s.ListCIBARequests(ctx, "alice", exp); len(list) != 0 {
		t.Fatal("an expired request is listed")
	}
	n, err := s.DeleteExpired(ctx, exp)
	mustNil(t, err, "DeleteExpired")
	if n != 1 {
		t.Fatalf("DeleteExpired removed %d rows, want 1", n)
	}
	_, err = s.GetCIBARequest(ctx, "e")
	mustBe(t, err, store.ErrNotFound, "GetCIBARequest (purged)")
}

func testRaceDecideCIBA(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreateCIBARequest(ctx, newCIBA("rd", "poll", time.Now().Add(time.Minute))), "CreateCIBARequest")
	const n = 32
	errs := make([]error, n)
	start(n, func(i int) {
		_, errs[i] = s.DecideCIBARequest(ctx, "rd", store.CIBADecision{DeviceDecision: store.DeviceDecision{Approved: i%2 == 0}}, time.Now())
	})
	if ok, gone := countOutcomes(t, "DecideCIBARequest", errs); ok != 1 || gone != n-1 {
		t.Fatalf("%d decisions recorded, %d refused; want 1 and %d", ok, gone, n-1)
	}
}

func testRaceConsumeCIBA(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreateCIBARequest(ctx, newCIBA("rc", "poll", time.Now().Add(time.Minute))), "CreateCIBARequest")
	_, err := s.DecideCIBARequest(ctx, "rc", store.CIBADecision{DeviceDecision: approval}, time.Now())
	mustNil(t, err, "DecideCIBARequest")
	const n = 32
	errs := make([]error, n)
	start(n, func(i int) { _, errs[i] = s.ConsumeCIBARequest(ctx, "h-rc", time.Now()) })
	if ok, gone := countOutcomes(t, "ConsumeCIBARequest", errs); ok != 1 || gone != n-1 {
		t.Fatalf("%d redemptions, %d refused; want 1 and %d", ok, gone, n-1)
	}
}
