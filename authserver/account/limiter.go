package account

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Limiter defaults.
const (
	DefaultFailuresPerAccount = 5
	DefaultFailuresPerIP      = 20
	DefaultLoginWindow        = 15 * time.Minute
	DefaultMaxEntries         = 65536
)

// pendingTTL is how long an attempt admitted by Allow counts while it is being checked; it
// only matters when the caller never reports the outcome.
const pendingTTL = time.Minute

// LimiterConfig configures a Limiter; zero fields take the defaults.
type LimiterConfig struct {
	// FailuresPerAccount and FailuresPerIP are how many failed sign-ins a username and a
	// client address may have within Window before further attempts are refused.
	FailuresPerAccount int
	FailuresPerIP      int
	Window             time.Duration
	// MaxEntries bounds the usernames and the addresses tracked (each separately). When a
	// table is full, expired entries are dropped first, then arbitrary ones.
	MaxEntries int
}

// Limiter throttles password sign-ins of one server instance, counting failed attempts per
// username and per client address in a sliding window. Memory is bounded by MaxEntries.
//
// Use: call Allow before checking a password (a refused attempt then costs no hashing);
// when it admits the attempt, report the outcome with exactly one Failed or Succeeded.
// Admitted attempts count against the limits until then, so a burst of concurrent
// guesses cannot all slip past Allow before their failures are recorded.
type Limiter struct {
	window time.Duration

	mu       sync.Mutex
	accounts table
	ips      table
}

// NewLimiter returns a Limiter with cfg's limits.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.FailuresPerAccount <= 0 {
		cfg.FailuresPerAccount = DefaultFailuresPerAccount
	}
	if cfg.FailuresPerIP <= 0 {
		cfg.FailuresPerIP = DefaultFailuresPerIP
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultLoginWindow
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	return &Limiter{
		window:   cfg.Window,
		accounts: newTable(cfg.FailuresPerAccount, cfg.MaxEntries),
		ips:      newTable(cfg.FailuresPerIP, cfg.MaxEntries),
	}
}

// Allow reports whether a sign-in attempt for username from ip may proceed at now. If not,
// retryAfter says when the attempt would next be admitted. An empty username or ip is not
// checked. ip is the client's address, with or without port; IPv6 clients are counted
// per /64, since one host usually holds a whole /64.
func (l *Limiter) Allow(username, ip string, now time.Time) (ok bool, retryAfter time.Duration) {
	ak, ik := accountKey(username), ipKey(ip)
	t := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	retryAfter = max(l.accounts.retryAfter(ak, t, l.window), l.ips.retryAfter(ik, t, l.window))
	if retryAfter > 0 {
		return false, retryAfter
	}
	l.accounts.reserve(ak, t, l.window)
	l.ips.reserve(ik, t, l.window)
	return true, 0
}

// Failed records a failed sign-in for username from ip at now.
func (l *Limiter) Failed(username, ip string, now time.Time) {
	ak, ik := accountKey(username), ipKey(ip)
	t := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accounts.fail(ak, t, l.window)
	l.ips.fail(ik, t, l.window)
}

// Succeeded records a successful sign-in: the username's failures are forgotten, the
// address keeps its own.
func (l *Limiter) Succeeded(username, ip string) {
	ak, ik := accountKey(username), ipKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if ak != "" {
		delete(l.accounts.entries, ak)
	}
	l.ips.settle(ik)
}

func accountKey(username string) string {
	k := NormalizeUsername(username)
	if len(k) > MaxUsernameLen {
		k = k[:MaxUsernameLen]
	}
	return k
}

func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		ap, err := netip.ParseAddrPort(ip)
		if err != nil {
			const maxLen = 64 // not an address; keep the key small anyway
			if len(ip) > maxLen {
				ip = ip[:maxLen]
			}
			return ip
		}
		a = ap.Addr()
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// table counts attempts per key. Times are Unix nanoseconds.
type table struct {
	limit      int
	maxEntries int
	entries    map[string]*record
	lastSweep  int64
}

type record struct {
	failures []int64 // the latest failures (at most limit), oldest first
	pending  []int64 // admitted attempts whose outcome is not reported yet, oldest first
}

func newTable(limit, maxEntries int) table {
	return table{limit: limit, maxEntries: maxEntries, entries: map[string]*record{}}
}

// prune drops what no longer counts at now and reports whether anything is left.
func (r *record) prune(now int64, window time.Duration) bool {
	r.failures = dropBefore(r.failures, now-int64(window))
	r.pending = dropBefore(r.pending, now-int64(pendingTTL))
	return len(r.failures) > 0 || len(r.pending) > 0
}

func dropBefore(ts []int64, cutoff int64) []int64 {
	i := 0
	for i < len(ts) && ts[i] <= cutoff {
		i++
	}
	return ts[i:]
}

// retryAfter is 0 if key may attempt at now, else how long until enough of its entries
// expire for the next attempt to be admitted.
func (tb *table) retryAfter(key string, now int64, window time.Duration) time.Duration {
	r := tb.entries[key]
	if key == "" || r == nil {
		return 0
	}
	if !r.prune(now, window) {
		delete(tb.entries, key)
		return 0
	}
	n := len(r.failures) + len(r.pending)
	if n < tb.limit {
		return 0
	}
	expiries := make([]int64, 0, n)
	for _, t := range r.failures {
		expiries = append(expiries, t+int64(window))
	}
	for _, t := range r.pending {
		expiries = append(expiries, t+int64(pendingTTL))
	}
	slices.Sort(expiries)
	return time.Duration(expiries[n-tb.limit] - now)
}

func (tb *table) reserve(key string, now int64, window time.Duration) {
	if r := tb.get(key, now, window); r != nil {
		r.pending = append(r.pending, now)
	}
}

func (tb *table) fail(key string, now int64, window time.Duration) {
	r := tb.get(key, now, window)
	if r == nil {
		return
	}
	if len(r.pending) > 0 {
		r.pending = r.pending[1:]
	}
	r.failures = append(r.failures, now)
	// Only the latest limit failures decide when the key is admitted again.
	if len(r.failures) > tb.limit {
		r.failures = r.failures[len(r.failures)-tb.limit:]
	}
}

// settle ends one admitted attempt of key without recording a failure.
func (tb *table) settle(key string) {
	if r := tb.entries[key]; r != nil && len(r.pending) > 0 {
		r.pending = r.pending[1:]
	}
}

// get returns key's record, creating it and making room if needed; nil for an empty key.
func (tb *table) get(key string, now int64, window time.Duration) *record {
	if key == "" {
		return nil
	}
	if r := tb.entries[key]; r != nil {
		r.prune(now, window)
		return r
	}
	if len(tb.entries) >= tb.maxEntries {
		tb.makeRoom(now, window)
	}
	r := &record{}
	tb.entries[key] = r
	return r
}

// makeRoom frees one entry of a full table: expired entries go first (swept at most once
// per minute to keep a flood of new keys cheap), otherwise an arbitrary one.
func (tb *table) makeRoom(now int64, window time.Duration) {
	if now-tb.lastSweep >= int64(time.Minute) {
		tb.lastSweep = now
		for k, r := range tb.entries {
			if !r.prune(now, window) {
				delete(tb.entries, k)
			}
		}
	}
	for k := range tb.entries {
		if len(tb.entries) < tb.maxEntries {
			break
		}
		delete(tb.entries, k)
	}
}
