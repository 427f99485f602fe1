package account

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// step is one sign-in attempt in a scripted scenario; at is the offset from the start (the
// clock is moved there first, unless waits already took it further).
type step struct {
	at       time.Duration
	op       string // "fail" / "ok": admitted, then reported failed / succeeded; "admit": admitted, never reported; "refused"
	user, ip string
	retry    time.Duration // refused: the Retry-After wanted
	wait     time.Duration // admitted: how long Begin must have waited
}

const (
	ip1 = "192.0.2.1"
	ip2 = "198.51.100.7"
)

func fails(n int, at time.Duration, user, ip string) []step {
	var s []step
	for range n {
		s = append(s, step{at: at, op: "fail", user: user, ip: ip})
	}
	return s
}

func cat(parts ...[]step) []step {
	var s []step
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

// run plays steps on l, whose clock must be an auto-advancing fakeClock.
func run(t *testing.T, l *Limiter, clk *fakeClock, steps []step) {
	t.Helper()
	start := clk.Now()
	for i, s := range steps {
		if d := start.Add(s.at).Sub(clk.Now()); d > 0 {
			clk.Advance(d)
		}
		slept := clk.totalSlept()
		a, retry := l.Begin(s.user, s.ip)
		waited := clk.totalSlept() - slept
		if s.op == "refused" {
			if a != nil || retry != s.retry {
				t.Fatalf("step %d: Begin(%q, %q) admitted=%v retry=%v; want refused, retry %v", i, s.user, s.ip, a != nil, retry, s.retry)
			}
			continue
		}
		if a == nil {
			t.Fatalf("step %d: Begin(%q, %q) refused, retry %v", i, s.user, s.ip, retry)
		}
		if waited != s.wait {
			t.Fatalf("step %d: Begin(%q, %q) waited %v, want %v", i, s.user, s.ip, waited, s.wait)
		}
		switch s.op {
		case "fail":
			a.Failed()
		case "ok":
			a.Succeeded()
		}
	}
}

// TestLimiterHardLimits covers the hard limits: per (account, network) and per network. The
// account delay is pushed out of the way (DelayAfter) so that only the locks act.
func TestLimiterHardLimits(t *testing.T) {
	const (
		a, b   = "alice", "bob"
		window = DefaultLoginWindow
		min    = time.Minute
	)
	spray := func(n int, ip string, spacing time.Duration) []step {
		var s []step
		for i := range n {
			s = append(s, step{at: time.Duration(i) * spacing, op: "fail", user: fmt.Sprint("u", i), ip: ip})
		}
		return s
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"fresh attempt admitted", fails(1, 0, a, ip1)},
		{"the fifth failure from one address stops that address for the account", cat(
			fails(1, 0, a, ip1), fails(4, 5*min, a, ip1),
			[]step{
				{at: 5 * min, op: "refused", user: a, ip: ip1, retry: 10 * min},
				{at: 15*min - time.Second, op: "refused", user: a, ip: ip1, retry: time.Second},
				// The oldest failure left the window: one more attempt.
				{at: 15 * min, op: "fail", user: a, ip: ip1},
			})},
		{"other addresses keep trying the account", cat(fails(5, 0, a, ip1),
			[]step{{op: "fail", user: a, ip: ip2}, {op: "ok", user: a, ip: "203.0.113.5"}})},
		{"the same address keeps trying other accounts", cat(fails(5, 0, a, ip1),
			[]step{{op: "ok", user: b, ip: ip1}})},
		{"refused attempts do not extend the lock", cat(fails(5, 0, a, ip1),
			[]step{
				{at: 3 * min, op: "refused", user: a, ip: ip1, retry: 12 * min},
				{at: 6 * min, op: "refused", user: a, ip: ip1, retry: 9 * min},
				{at: 9 * min, op: "refused", user: a, ip: ip1, retry: 6 * min},
				{at: 12 * min, op: "refused", user: a, ip: ip1, retry: 3 * min},
				{at: 15 * min, op: "ok", user: a, ip: ip1},
			})},
		{"window slides instead of resetting", cat(
			fails(1, 0, a, ip1), fails(1, 1*min, a, ip1), fails(1, 2*min, a, ip1),
			fails(1, 3*min, a, ip1), fails(1, 4*min, a, ip1),
			[]step{
				{at: 15 * min, op: "fail", user: a, ip: ip1},
				{at: 15 * min, op: "refused", user: a, ip: ip1, retry: min},
				{at: 16 * min, op: "fail", user: a, ip: ip1},
			})},
		{"username is normalized", cat(fails(5, 0, " Alice ", ip1),
			[]step{{op: "refused", user: "ALICE", ip: ip1, retry: window}})},
		{"success clears the address's count for the account", cat(fails(4, 0, a, ip1),
			[]step{{op: "ok", user: a, ip: ip1}},
			fails(5, 0, a, ip1),
			[]step{{op: "refused", user: a, ip: ip1, retry: window}})},
		{"twenty failures stop the address across usernames", cat(
			spray(20, ip1, time.Second),
			[]step{
				{at: 20 * time.Second, op: "refused", user: "fresh", ip: ip1, retry: window - 20*time.Second},
				{at: 20 * time.Second, op: "fail", user: "fresh", ip: ip2},
				{at: window, op: "fail", user: "fresh", ip: ip1},
			})},
		{"success does not clear the address", cat(
			spray(19, ip1, 0),
			[]step{
				{op: "ok", user: a, ip: ip1},
				{op: "fail", user: b, ip: ip1},
				{op: "refused", user: "fresh", ip: ip1, retry: window},
			})},
		{"concurrent attempts count before their outcome", []step{
			{op: "admit", user: a, ip: ip1}, {op: "admit", user: a, ip: ip1}, {op: "admit", user: a, ip: ip1},
			{op: "admit", user: a, ip: ip1}, {op: "admit", user: a, ip: ip1},
			{op: "refused", user: a, ip: ip1, retry: pendingTTL},
			// Outcomes never reported: the reservations lapse.
			{at: pendingTTL, op: "fail", user: a, ip: ip1},
		}},
		{"IPv6 counted per /64", cat(
			func() []step {
				var s []step
				for i := range 5 {
					s = append(s, step{op: "fail", user: a, ip: fmt.Sprintf("2001:db8::%x", i)})
				}
				for i := range 15 {
					s = append(s, step{op: "fail", user: fmt.Sprint("u", i), ip: fmt.Sprintf("2001:db8::1:%x", i)})
				}
				return s
			}(),
			[]step{
				{op: "refused", user: a, ip: "2001:db8::ffff:1", retry: window},
				{op: "refused", user: "fresh", ip: "[2001:db8::1]:4431", retry: window},
				{op: "fail", user: a, ip: "2001:db8:0:1::1"},
			})},
		{"address with port and IPv4-mapped form share a counter", cat(
			fails(2, 0, a, "192.0.2.1:5000"), fails(3, 0, a, "::ffff:192.0.2.1"),
			[]step{{op: "refused", user: a, ip: ip1, retry: window}})},
		{"empty username and address are not checked", cat(
			fails(30, 0, "", ""),
			[]step{{op: "fail"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock(true)
			run(t, NewLimiter(LimiterConfig{DelayAfter: 100, Clock: clk}), clk, tt.steps)
		})
	}
}

// TestLimiterAccountDelay covers the delay each account's attempts get, whatever the address.
func TestLimiterAccountDelay(t *testing.T) {
	const s = time.Second
	// guesses returns n failing attempts on user, each from a new address.
	guesses := func(user string, waits ...time.Duration) []step {
		var st []step
		for i, w := range waits {
			st = append(st, step{op: "fail", user: user, ip: fmt.Sprintf("10.1.%d.%d", len(user), i), wait: w})
		}
		return st
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"no delay for the first failures, then doubling up to the cap",
			guesses("alice", 0, 0, 0, 1*s, 2*s, 4*s, 8*s, 8*s, 8*s)},
		{"the delay is per username", cat(
			guesses("alice", 0, 0, 0, 1*s, 2*s),
			[]step{{op: "ok", user: "bob", ip: ip1}})},
		{"the delay fades as failures leave the window", cat(
			guesses("alice", 0, 0, 0, 1*s, 2*s, 4*s),
			[]step{
				// Failures at 0, 0, 0, 1s, 3s, 7s: at the window's end the first three are gone,
				// and 8s later all of them.
				{at: DefaultLoginWindow, op: "ok", user: "alice", ip: ip1, wait: s},
				{at: DefaultLoginWindow + 8*s, op: "ok", user: "alice", ip: ip1},
			})},
		{"the owner waits, then signs in; the count stays for the others", cat(
			guesses("alice", 0, 0, 0, 1*s, 2*s),
			[]step{{op: "ok", user: "alice", ip: ip2, wait: 4 * s}},
			[]step{{op: "fail", user: "alice", ip: "203.0.113.1", wait: 4 * s}})},
		{"attempts refused by a lock add no delay", cat(
			fails(5, 0, "alice", ip1)[:3],
			[]step{{op: "fail", user: "alice", ip: ip1, wait: s}, {op: "fail", user: "alice", ip: ip1, wait: 2 * s}},
			func() []step {
				var st []step
				for range 50 {
					st = append(st, step{op: "refused", user: "alice", ip: ip1, retry: DefaultLoginWindow - 3*s})
				}
				return st
			}(),
			[]step{{op: "ok", user: "alice", ip: ip2, wait: 4 * s}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock(true)
			run(t, NewLimiter(LimiterConfig{Clock: clk}), clk, tt.steps)
		})
	}
}

func TestLimiterConfig(t *testing.T) {
	clk := newFakeClock(true)
	l := NewLimiter(LimiterConfig{FailuresPerAccount: 2, FailuresPerIP: 3, Window: time.Minute,
		DelayBase: 100 * time.Millisecond, DelayMax: 300 * time.Millisecond, DelayAfter: 1, Clock: clk})
	const ms = time.Millisecond
	run(t, l, clk, []step{
		{op: "fail", user: "a", ip: "192.0.2.1"},
		{op: "fail", user: "a", ip: "192.0.2.1", wait: 100 * ms},
		{op: "refused", user: "a", ip: "192.0.2.1", retry: time.Minute - 100*ms},
		{op: "fail", user: "a", ip: "192.0.2.2", wait: 200 * ms},
		{op: "fail", user: "a", ip: "192.0.2.3", wait: 300 * ms},
		{op: "fail", user: "a", ip: "192.0.2.4", wait: 300 * ms},
		{op: "fail", user: "b", ip: "192.0.2.9"},
		{op: "fail", user: "c", ip: "192.0.2.9"},
		{op: "fail", user: "d", ip: "192.0.2.9"},
		{op: "refused", user: "e", ip: "192.0.2.9", retry: time.Minute},
		{at: time.Minute + 900*ms, op: "fail", user: "e", ip: "192.0.2.9"},
	})
}

// TestLimiterBoundedMemory: many usernames and addresses never grow the tables past MaxEntries.
func TestLimiterBoundedMemory(t *testing.T) {
	const maxEntries = 100
	clk := newFakeClock(true)
	l := NewLimiter(LimiterConfig{MaxEntries: maxEntries, Clock: clk})
	for i := range 10 * maxEntries {
		if a, _ := l.Begin(fmt.Sprint("user", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256)); a != nil {
			a.Failed()
		}
		if n, m, p := len(l.accounts.entries), len(l.networks.entries), len(l.pairs.entries); n > maxEntries || m > maxEntries || p > maxEntries {
			t.Fatalf("after %d keys: %d accounts, %d networks, %d pairs tracked; cap %d", i+1, n, m, p, maxEntries)
		}
	}
	// Once entries expire, a full table makes room by dropping them, not live ones.
	clk.Advance(DefaultLoginWindow)
	l.Begin("fresh", "")
	if n := len(l.accounts.entries); n != 1 {
		t.Fatalf("%d accounts tracked after the sweep, want only the fresh one", n)
	}
}

// TestLimiterWaitersAreBounded: delayed attempts wait in goroutines; their number is bounded
// per account and overall, and attempts beyond the bound are refused at once with a retry time.
func TestLimiterWaitersAreBounded(t *testing.T) {
	tests := []struct {
		name        string
		cfg         LimiterConfig
		users       int // concurrent attempts go to this many usernames, round robin
		attempts    int
		wantWaiters int
	}{
		// Doubling delays from 1 ms up to 30 s would queue 15 attempts of one account.
		{"per account", LimiterConfig{DelayBase: time.Millisecond, DelayMax: 30 * time.Second, DelayAfter: -1}, 1, 50, MaxWaitersPerAccount},
		{"overall", LimiterConfig{DelayAfter: -1, MaxWaiters: 10}, 30, 60, 10},
		// With the defaults, attempts on one account queue until the next would wait past the cap.
		{"defaults: by the cap", LimiterConfig{DelayAfter: -1}, 1, 50, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock(false)
			tt.cfg.Clock = clk
			l := NewLimiter(tt.cfg)
			var wg sync.WaitGroup
			var refused, admitted atomic.Int32
			for i := range tt.attempts {
				clk.track(&wg, func() {
					a, retry := l.Begin(fmt.Sprint("user", i%tt.users), fmt.Sprintf("10.2.%d.%d", i/256, i%256))
					if a == nil {
						if retry <= 0 || retry > l.delayMax {
							t.Errorf("attempt %d refused with retry %v", i, retry)
						}
						refused.Add(1)
						return
					}
					admitted.Add(1)
					a.Failed()
				})
			}
			clk.settle()
			if n := clk.sleeping(); n != tt.wantWaiters {
				t.Fatalf("%d attempts waiting, want %d", n, tt.wantWaiters)
			}
			if n := int(refused.Load()); n != tt.attempts-tt.wantWaiters {
				t.Fatalf("%d attempts refused at once, want %d", n, tt.attempts-tt.wantWaiters)
			}
			for range 10 {
				clk.Advance(l.delayMax)
				clk.settle()
			}
			wg.Wait()
			if n := int(admitted.Load()); n != tt.wantWaiters {
				t.Fatalf("%d waiting attempts went through, want %d", n, tt.wantWaiters)
			}
			if l.waiters != 0 {
				t.Fatalf("%d waiters still counted", l.waiters)
			}
		})
	}
}

// TestLimiterDistributedFlood: an attacker with endless fresh addresses sends five guesses a
// second at one account for an hour. No address reaches a limit; the account's queue admits
// about one guess per DelayMax, and never holds more than a few goroutines.
func TestLimiterDistributedFlood(t *testing.T) {
	clk := newFakeClock(false)
	l := NewLimiter(LimiterConfig{Clock: clk})
	var wg sync.WaitGroup
	var checked atomic.Int32
	addr := 0
	const hour = 3600
	for range hour {
		for range 5 {
			addr++
			ip := fmt.Sprintf("10.%d.%d.%d", addr>>16&255, addr>>8&255, addr&255)
			clk.track(&wg, func() {
				if a, _ := l.Begin("alice", ip); a != nil {
					checked.Add(1)
					a.Failed()
				}
			})
		}
		clk.settle()
		clk.Advance(time.Second)
	}
	for range 10 {
		clk.Advance(DefaultDelayMax)
		clk.settle()
	}
	wg.Wait()
	perMax := int32(hour / (DefaultDelayMax / time.Second))
	if n := checked.Load(); n > perMax+10 || n < perMax-10 {
		t.Fatalf("%d guesses checked in an hour, want about %d (one per %v)", n, perMax, DefaultDelayMax)
	}
	if clk.maxNap > MaxWaitersPerAccount {
		t.Fatalf("%d attempts waited at once", clk.maxNap)
	}
}

func TestLimiterConcurrentGuessesFromOneAddress(t *testing.T) {
	clk := newFakeClock(true)
	l := NewLimiter(LimiterConfig{Clock: clk})
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if a, _ := l.Begin("alice", "192.0.2.1"); a != nil {
				admitted.Add(1)
				time.Sleep(time.Millisecond) // the password check
				a.Failed()
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != DefaultFailuresPerAccount {
		t.Fatalf("%d concurrent guesses admitted, want %d", n, DefaultFailuresPerAccount)
	}
}

func TestAttemptReportsOnce(t *testing.T) {
	clk := newFakeClock(true)
	l := NewLimiter(LimiterConfig{Clock: clk, DelayAfter: 100})
	a, _ := l.Begin("alice", ip1)
	a.Failed()
	a.Failed()
	a.Succeeded()
	if r := l.pairs.entries[pairKey("alice", ip1)]; len(r.failures) != 1 || len(r.pending) != 0 {
		t.Fatalf("pair record after one attempt reported thrice: %d failures, %d pending", len(r.failures), len(r.pending))
	}
}
