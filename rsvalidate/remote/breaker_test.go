package remote

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// testBreaker opens after 3 failures and probes after 300 ms; rejects counts its fast failures.
func testBreaker(rejects *atomic.Int32) *Breaker {
	return NewBreaker(BreakerOptions{Failures: 3, CoolDown: 300 * time.Millisecond, OnReject: func() { rejects.Add(1) }})
}

// retryAfterOf returns what an error says about retrying, or 0.
func retryAfterOf(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0
}

// TestIntrospectBreakerFailsFastWhileTheASHangs: an introspection endpoint that hangs makes
// the first calls wait for the timeout; after three, the breaker opens and calls fail at once
// (closed: ErrUnavailable, with the time left to wait) without reaching the endpoint. After
// the cool-down one probe goes through; once the AS is back it closes the breaker.
func TestIntrospectBreakerFailsFastWhileTheASHangs(t *testing.T) {
	const timeout = 400 * time.Millisecond
	s := newASServer(t)
	s.delay.Store(int64(5 * time.Second)) // hangs far beyond the timeout
	var rejects atomic.Int32
	b := testBreaker(&rejects)
	in := newTestIntrospector(t, s, newClock(), IntrospectorOptions{Timeout: timeout, Breaker: b})
	ctx := context.Background()
	for i := range 3 {
		start := time.Now()
		_, err := in.Introspect(ctx, "tok"+strconv.Itoa(i))
		if took := time.Since(start); !errors.Is(err, rsvalidate.ErrUnavailable) || errors.Is(err, ErrCircuitOpen) || took < timeout {
			t.Fatalf("call %d: %v after %v, want ErrUnavailable after the %v timeout", i, err, took, timeout)
		}
	}
	if st := b.State(); st != BreakerOpen {
		t.Fatalf("after 3 timeouts the breaker is %v, want open", st)
	}
	asked := s.requests.Load()
	for i := range 20 {
		start := time.Now()
		_, err := in.Introspect(ctx, "fresh"+strconv.Itoa(i))
		if took := time.Since(start); !errors.Is(err, rsvalidate.ErrUnavailable) || !errors.Is(err, ErrCircuitOpen) || took > timeout/10 {
			t.Fatalf("open breaker, call %d: %v after %v, want ErrCircuitOpen at once", i, err, took)
		}
		if ra := retryAfterOf(err); ra < time.Second {
			t.Fatalf("open breaker: RetryAfter %v, want at least a second", ra)
		}
	}
	if got := s.requests.Load(); got != asked {
		t.Errorf("the open breaker let %d requests reach the endpoint", got-asked)
	}
	if rejects.Load() != 20 {
		t.Errorf("OnReject heard %d fast failures, want 20", rejects.Load())
	}

	// The AS is back; after the cool-down the next call is the probe and passes.
	s.delay.Store(0)
	s.answer("back", map[string]any{"active": true, "sub": "alice"})
	time.Sleep(350 * time.Millisecond)
	if info, err := in.Introspect(ctx, "back"); err != nil || info == nil || info.Subject != "alice" {
		t.Fatalf("probe after the cool-down: %v, %v; want the active answer", info, err)
	}
	if st := b.State(); st != BreakerClosed {
		t.Fatalf("after a good probe the breaker is %v, want closed", st)
	}
	s.answer("next", map[string]any{"active": true, "sub": "bob"})
	if info, err := in.Introspect(ctx, "next"); err != nil || info == nil {
		t.Fatalf("closed again: %v, %v", info, err)
	}
}

// TestIntrospectBreakerProbe: half-open, one call is the probe; the others fail at once
// while it runs, and a failed probe opens the breaker again.
func TestIntrospectBreakerProbe(t *testing.T) {
	s := newASServer(t)
	s.status.Store(http.StatusBadGateway)
	var rejects atomic.Int32
	b := testBreaker(&rejects)
	in := newTestIntrospector(t, s, newClock(), IntrospectorOptions{Timeout: 3 * time.Second, Breaker: b})
	ctx := context.Background()
	for i := range 3 {
		if _, err := in.Introspect(ctx, "tok"+strconv.Itoa(i)); !errors.Is(err, rsvalidate.ErrUnavailable) || errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	time.Sleep(350 * time.Millisecond)
	if st := b.State(); st != BreakerHalfOpen {
		t.Fatalf("after the cool-down: %v, want half-open", st)
	}
	// The probe takes a while; meanwhile other calls fail at once.
	s.status.Store(0)
	// Wide margins (a 1 s probe, "at once" = under 500 ms): CI machines stall goroutines.
	s.delay.Store(int64(time.Second))
	s.answer("probe", map[string]any{"active": true})
	probe := make(chan error, 1)
	go func() {
		_, err := in.Introspect(ctx, "probe")
		probe <- err
	}()
	for s.requests.Load() < 4 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if _, err := in.Introspect(ctx, "other"); !errors.Is(err, ErrCircuitOpen) || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("during the probe: %v after %v, want ErrCircuitOpen at once", err, time.Since(start))
	}
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	s.delay.Store(0)
	if st := b.State(); st != BreakerClosed {
		t.Fatalf("after the probe: %v, want closed", st)
	}

	// Failing again: three failures open it, and a failed probe opens it again at once.
	s.status.Store(http.StatusServiceUnavailable)
	for i := range 3 {
		_, _ = in.Introspect(ctx, "again"+strconv.Itoa(i))
	}
	time.Sleep(350 * time.Millisecond)
	if _, err := in.Introspect(ctx, "failed-probe"); errors.Is(err, ErrCircuitOpen) || !errors.Is(err, rsvalidate.ErrUnavailable) {
		t.Fatalf("failing probe: %v, want ErrUnavailable from the endpoint", err)
	}
	if st := b.State(); st != BreakerOpen {
		t.Fatalf("after a failed probe: %v, want open", st)
	}
}

// TestIntrospectBreakerOpenStillServesStale: an open breaker does not hide cached answers;
// a token introspected before the outage is vouched for by its stale answer, as when each
// call failed.
func TestIntrospectBreakerOpenStillServesStale(t *testing.T) {
	clock := newClock()
	s := newASServer(t)
	s.answer("known", map[string]any{"active": true, "sub": "alice", "exp": clock.Now().Unix() + 3600})
	var rejects atomic.Int32
	in := newTestIntrospector(t, s, clock, IntrospectorOptions{Timeout: time.Second, Breaker: testBreaker(&rejects)})
	ctx := context.Background()
	if _, err := in.Introspect(ctx, "known"); err != nil {
		t.Fatal(err)
	}
	s.status.Store(http.StatusServiceUnavailable)
	for i := range 3 {
		_, _ = in.Introspect(ctx, "x"+strconv.Itoa(i))
	}
	clock.Advance(6 * time.Minute) // past the fresh cache
	if info, err := in.Introspect(ctx, "known"); err != nil || info == nil || info.Subject != "alice" {
		t.Fatalf("stale answer with the breaker open: %v, %v", info, err)
	}
	if rejects.Load() != 1 {
		t.Errorf("fast failures %d, want 1 (the stale answer's call)", rejects.Load())
	}
}

// TestIntrospectBreakerIgnoresClientAuth: an endpoint refusing our credentials is up; that
// is a configuration error, not an outage, and does not open the breaker.
func TestIntrospectBreakerIgnoresClientAuth(t *testing.T) {
	s := newASServer(t)
	s.status.Store(http.StatusUnauthorized)
	var rejects atomic.Int32
	b := testBreaker(&rejects)
	in := newTestIntrospector(t, s, newClock(), IntrospectorOptions{Breaker: b})
	for i := range 5 {
		if _, err := in.Introspect(context.Background(), "t"+strconv.Itoa(i)); !errors.Is(err, ErrClientAuth) {
			t.Fatalf("call %d: %v, want ErrClientAuth", i, err)
		}
	}
	if st := b.State(); st != BreakerClosed || rejects.Load() != 0 {
		t.Errorf("breaker %v with %d fast failures, want closed and none", st, rejects.Load())
	}
}

// TestJWKSBreakerUnknownKidsDoNotWait: while the jwks_uri hangs, tokens naming unknown kids
// first wait for refetches that time out; once the breaker is open they are refused at once
// and the known keys keep serving. Half-open, the refetch runs in the background as the
// probe, and once it succeeds the new key is found.
func TestJWKSBreakerUnknownKidsDoNotWait(t *testing.T) {
	const timeout = time.Second // margins wide enough for a loaded CI machine
	clock := newClock()
	s := newJWKSServer(t, jwksBody(t, jwkP256))
	var rejects atomic.Int32
	b := NewBreaker(BreakerOptions{Failures: 2, CoolDown: 300 * time.Millisecond, OnReject: func() { rejects.Add(1) }})
	c, err := NewJWKSCache(s.Client(), s.URL+"/jwks", JWKSOptions{Now: clock.Now, Timeout: timeout, Breaker: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	s.delay.Store(int64(5 * time.Second))
	for i := range 2 {
		clock.Advance(time.Minute) // past the refetch rate limit
		start := time.Now()
		if _, err := c.Key(ctx, "made-up", "ES256"); !errors.Is(err, rsvalidate.ErrUnknownKey) || time.Since(start) < timeout {
			t.Fatalf("refetch %d: %v after %v, want ErrUnknownKey after the timeout", i, err, time.Since(start))
		}
	}
	if st := b.State(); st != BreakerOpen {
		t.Fatalf("after 2 failed fetches: %v, want open", st)
	}
	fetches := s.fetches.Load()
	clock.Advance(time.Minute)
	start := time.Now()
	if _, err := c.Key(ctx, "made-up", "ES256"); !errors.Is(err, rsvalidate.ErrUnknownKey) || time.Since(start) > timeout/3 {
		t.Fatalf("open: %v after %v, want ErrUnknownKey at once", err, time.Since(start))
	}
	if _, err := c.Key(ctx, "p256", "ES256"); err != nil {
		t.Fatalf("known key while open: %v", err)
	}
	if s.fetches.Load() != fetches {
		t.Error("a fetch reached the jwks_uri while the breaker was open")
	}

	// The issuer is back with a new key. Half-open: the request that needs it does not wait;
	// the background probe fetches the set and closes the breaker.
	// The issuer answers the probe after half the timeout: a lookup that waited for it would find the
	// key; one that does not wait answers ErrUnknownKey before the probe could finish (with no
	// delay the probe may finish first on a fast run, so the answer alone would not tell).
	const probeDelay = timeout / 2 // under the fetch timeout, so the probe succeeds
	s.delay.Store(int64(probeDelay))
	s.set(jwksBody(t, jwkP256, jwkEd))
	time.Sleep(350 * time.Millisecond)
	start = time.Now()
	if _, err := c.Key(ctx, "ed", "EdDSA"); !errors.Is(err, rsvalidate.ErrUnknownKey) || time.Since(start) >= probeDelay {
		t.Fatalf("half-open: %v after %v, want ErrUnknownKey at once (the probe runs in the background)", err, time.Since(start))
	}
	deadline := time.Now().Add(2 * time.Second)
	for b.State() != BreakerClosed && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Key(ctx, "ed", "EdDSA"); err != nil {
		t.Fatalf("after the probe: %v (breaker %v)", err, b.State())
	}
}

// TestJWKSBreakerNeverGood: no key set yet and the breaker open: unavailable at once, with
// when to retry.
func TestJWKSBreakerNeverGood(t *testing.T) {
	clock := newClock()
	s := newJWKSServer(t, jwksBody(t, jwkP256))
	s.fail.Store(true)
	var rejects atomic.Int32
	b := NewBreaker(BreakerOptions{Failures: 1, CoolDown: time.Minute, OnReject: func() { rejects.Add(1) }})
	c, err := NewJWKSCache(s.Client(), s.URL+"/jwks", JWKSOptions{Now: clock.Now, Breaker: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Key(context.Background(), "p256", "ES256"); !errors.Is(err, rsvalidate.ErrUnavailable) || errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("first: %v", err)
	}
	_, err = c.Key(context.Background(), "p256", "ES256")
	if !errors.Is(err, rsvalidate.ErrUnavailable) || !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("open: %v, want ErrUnavailable and ErrCircuitOpen", err)
	}
	if ra := retryAfterOf(err); ra < 50*time.Second || ra > time.Minute {
		t.Errorf("RetryAfter %v, want the rest of the minute's cool-down", ra)
	}
}
