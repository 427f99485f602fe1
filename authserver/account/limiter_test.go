package account

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// step is one call on a Limiter in a scripted scenario; at is the offset from the start.
type step struct {
	at       time.Duration
	op       string // "allow" (checks want/retry), "fail", "ok" (Succeeded), "attempt" (allow+fail)
	user, ip string
	want     bool          // for allow
	retry    time.Duration // for a refused allow
}

func TestLimiter(t *testing.T) {
	const (
		a, b   = "alice", "bob"
		ip1    = "192.0.2.1"
		ip2    = "198.51.100.7"
		window = 15 * time.Minute
		min    = time.Minute
	)
	fails := func(n int, at time.Duration, user, ip string) []step {
		var s []step
		for range n {
			s = append(s, step{at: at, op: "attempt", user: user, ip: ip})
		}
		return s
	}
	cat := func(parts ...[]step) []step {
		var s []step
		for _, p := range parts {
			s = append(s, p...)
		}
		return s
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"fresh account allowed", []step{{op: "allow", user: a, ip: ip1, want: true}}},
		{"four failures still allowed", cat(fails(4, 0, a, ip1),
			[]step{{op: "allow", user: a, ip: ip1, want: true}})},
		{"fifth failure locks the account until the window passes", cat(
			fails(1, 0, a, ip1), fails(4, 5*min, a, ip1),
			[]step{
				{at: 5 * min, op: "allow", user: a, ip: ip2, want: false, retry: 10 * min},
				{at: 15*min - time.Second, op: "allow", user: a, ip: ip2, want: false, retry: time.Second},
				// The oldest failure left the window: one more attempt.
				{at: 15 * min, op: "allow", user: a, ip: ip2, want: true},
			})},
		{"window slides instead of resetting", cat(
			fails(1, 0, a, ip1), fails(1, 1*min, a, ip1), fails(1, 2*min, a, ip1),
			fails(1, 3*min, a, ip1), fails(1, 4*min, a, ip1),
			[]step{
				// The failure at 0 left the window; the other four still count.
				{at: 15 * min, op: "attempt", user: a, ip: ip1},
				{at: 15 * min, op: "allow", user: a, ip: ip1, want: false, retry: min},
				{at: 16 * min, op: "allow", user: a, ip: ip1, want: true},
			})},
		{"lock is per account, not global", cat(fails(5, 0, a, ip1),
			[]step{{op: "allow", user: b, ip: ip2, want: true}})},
		{"username is normalized", cat(fails(5, 0, " Alice ", ip1),
			[]step{{op: "allow", user: "ALICE", ip: ip2, want: false, retry: window}})},
		{"success clears the account", cat(fails(4, 0, a, ip1),
			[]step{
				{op: "allow", user: a, ip: ip1, want: true},
				{op: "ok", user: a, ip: ip1},
			},
			fails(4, 0, a, ip1),
			[]step{{op: "allow", user: a, ip: ip1, want: true}})},
		{"twenty failures lock the address across usernames", cat(
			func() []step {
				var s []step
				for i := range 20 {
					s = append(s, step{at: time.Duration(i) * time.Second, op: "attempt", user: fmt.Sprint("u", i), ip: ip1})
				}
				return s
			}(),
			[]step{
				{at: 20 * time.Second, op: "allow", user: "fresh", ip: ip1, want: false, retry: window - 20*time.Second},
				{at: 20 * time.Second, op: "allow", user: "fresh", ip: ip2, want: true},
				{at: window, op: "allow", user: "fresh", ip: ip1, want: true},
			})},
		{"success does not clear the address", cat(
			func() []step {
				var s []step
				for i := range 19 {
					s = append(s, step{op: "attempt", user: fmt.Sprint("u", i), ip: ip1})
				}
				return s
			}(),
			[]step{
				{op: "allow", user: a, ip: ip1, want: true},
				{op: "ok", user: a, ip: ip1},
				{op: "attempt", user: b, ip: ip1},
				{op: "allow", user: "fresh", ip: ip1, want: false, retry: window},
			})},
		{"concurrent attempts count before their outcome", []step{
			{op: "allow", user: a, ip: ip1, want: true},
			{op: "allow", user: a, ip: ip1, want: true},
			{op: "allow", user: a, ip: ip1, want: true},
			{op: "allow", user: a, ip: ip1, want: true},
			{op: "allow", user: a, ip: ip1, want: true},
			{op: "allow", user: a, ip: ip1, want: false, retry: pendingTTL},
			// Outcomes never reported: the reservations lapse.
			{at: pendingTTL, op: "allow", user: a, ip: ip1, want: true},
		}},
		{"failure after allow counts once", []step{
			{op: "allow", user: a, ip: ip1, want: true},
			{op: "fail", user: a, ip: ip1},
			{op: "allow", user: a, ip: ip1, want: true},
			{op: "fail", user: a, ip: ip1},
			{op: "allow", user: a, ip: ip1, want: true},
			{op: "fail", user: a, ip: ip1},
			{op: "allow", user: a, ip: ip1, want: true},
			{op: "fail", user: a, ip: ip1},
			{op: "allow", user: a, ip: ip1, want: true},
			{op: "fail", user: a, ip: ip1},
			{op: "allow", user: a, ip: ip1, want: false, retry: window},
		}},
		{"IPv6 counted per /64", cat(
			func() []step {
				var s []step
				for i := range 20 {
					s = append(s, step{op: "attempt", user: fmt.Sprint("u", i), ip: fmt.Sprintf("2001:db8::%x", i)})
				}
				return s
			}(),
			[]step{
				{op: "allow", user: "fresh", ip: "2001:db8::ffff:1", want: false, retry: window},
				{op: "allow", user: "fresh", ip: "[2001:db8::1]:4431", want: false, retry: window},
				{op: "allow", user: "fresh", ip: "2001:db8:0:1::1", want: true},
			})},
		{"address with port and IPv4-mapped form share a counter", cat(
			func() []step {
				var s []step
				for i := range 10 {
					s = append(s, step{op: "attempt", user: fmt.Sprint("u", i), ip: "192.0.2.1:5000"})
					s = append(s, step{op: "attempt", user: fmt.Sprint("v", i), ip: "::ffff:192.0.2.1"})
				}
				return s
			}(),
			[]step{{op: "allow", user: "fresh", ip: ip1, want: false, retry: window}})},
		{"empty username and address are not checked", cat(
			fails(30, 0, "", ""),
			[]step{{op: "allow", want: true}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLimiter(LimiterConfig{})
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range tt.steps {
				now := start.Add(s.at)
				switch s.op {
				case "allow":
					ok, retry := l.Allow(s.user, s.ip, now)
					if ok != s.want || retry != s.retry {
						t.Fatalf("step %d: Allow(%q, %q) = %v, %v; want %v, %v", i, s.user, s.ip, ok, retry, s.want, s.retry)
					}
				case "attempt":
					if ok, _ := l.Allow(s.user, s.ip, now); !ok {
						t.Fatalf("step %d: attempt refused", i)
					}
					l.Failed(s.user, s.ip, now)
				case "fail":
					l.Failed(s.user, s.ip, now)
				case "ok":
					l.Succeeded(s.user, s.ip)
				}
			}
		})
	}
}

func TestLimiterConfig(t *testing.T) {
	l := NewLimiter(LimiterConfig{FailuresPerAccount: 2, FailuresPerIP: 3, Window: time.Minute})
	now := time.Unix(1000, 0)
	l.Failed("a", "192.0.2.1", now)
	l.Failed("a", "192.0.2.2", now)
	if ok, retry := l.Allow("a", "192.0.2.3", now.Add(time.Second)); ok || retry != 59*time.Second {
		t.Fatalf("account limit 2: Allow = %v, %v", ok, retry)
	}
	l.Failed("b", "192.0.2.9", now)
	l.Failed("c", "192.0.2.9", now)
	l.Failed("d", "192.0.2.9", now)
	if ok, _ := l.Allow("e", "192.0.2.9", now); ok {
		t.Fatal("address limit 3 not enforced")
	}
	if ok, _ := l.Allow("e", "192.0.2.9", now.Add(time.Minute)); !ok {
		t.Fatal("address still refused after the one-minute window")
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	const maxEntries = 100
	l := NewLimiter(LimiterConfig{MaxEntries: maxEntries})
	now := time.Unix(0, 0)
	l.Failed("victim", "", now)
	for i := range 10 * maxEntries {
		l.Failed(fmt.Sprint("user", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256), now)
		if n, m := len(l.accounts.entries), len(l.ips.entries); n > maxEntries || m > maxEntries {
			t.Fatalf("after %d keys: %d accounts, %d addresses tracked; cap %d", i+1, n, m, maxEntries)
		}
	}
	// Once entries expire, a full table makes room by dropping them, not live ones.
	later := now.Add(DefaultLoginWindow)
	l.Failed("fresh", "", later)
	if n := len(l.accounts.entries); n != 1 {
		t.Fatalf("%d accounts tracked after the sweep, want only the fresh one", n)
	}
}

func TestLimiterConcurrentGuesses(t *testing.T) {
	l := NewLimiter(LimiterConfig{})
	now := time.Now()
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if ok, _ := l.Allow("alice", "192.0.2.1", now); ok {
				admitted.Add(1)
				time.Sleep(time.Millisecond) // the password check
				l.Failed("alice", "192.0.2.1", now)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != DefaultFailuresPerAccount {
		t.Fatalf("%d concurrent guesses admitted, want %d", n, DefaultFailuresPerAccount)
	}
}
