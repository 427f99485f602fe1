package account

import (
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Limiter defaults.
const (
	DefaultFailuresPerAccount = 5
	DefaultFailuresPerIP      = 20
	DefaultLoginWindow        = 15 * time.Minute
	DefaultDelayBase          = time.Second
	DefaultDelayMax           = 8 * time.Second
	DefaultDelayAfter         = 3
	DefaultMaxEntries         = 65536
	DefaultMaxWaiters         = 1024
)

// MaxDelay is the largest DelayMax allowed: a delayed sign-in holds its request open that
// long, and its reservations (pendingTTL) must outlive the wait.
const MaxDelay = 30 * time.Second

// MaxWaitersPerAccount bounds the attempts of one username waiting at once, whatever the
// delays: a tiny DelayBase must not let one account hold many goroutines.
const MaxWaitersPerAccount = 8

// pendingTTL is how long an admitted attempt counts while it is being checked; it only
// matters when the caller never reports the outcome.
const pendingTTL = time.Minute

// Clock is the Limiter's time source; tests substitute one that never really sleeps.
type Clock interface {
	Now() time.Time
	Sleep(time.Duration)
}

type realClock struct{}

func (realClock) Now() time.Time        { return time.Now() }
func (realClock) Sleep(d time.Duration) { time.Sleep(d) }

// LimiterConfig configures a Limiter; zero fields take the defaults.
type LimiterConfig struct {
	// FailuresPerAccount is how many failed sign-ins a username may have from one client
	// network (an IPv4 address, an IPv6 /64) within Window before that network's attempts on
	// it are refused. FailuresPerIP is the same across all usernames.
	FailuresPerAccount int
	FailuresPerIP      int
	Window             time.Duration
	// Once a username has DelayAfter failures within Window, from any network, each attempt
	// on it waits DelayBase, doubled for every further failure up to DelayMax, and its
	// attempts are checked at least that far apart. A negative DelayAfter means none.
	DelayBase  time.Duration
	DelayMax   time.Duration
	DelayAfter int
	// MaxEntries bounds the usernames, the networks and the (username, network) pairs
	// tracked (each separately). When a table is full, expired entries are dropped first,
	// then arbitrary ones without waiting attempts.
	MaxEntries int
	// MaxWaiters bounds the attempts waiting out a delay, all usernames together.
	MaxWaiters int
	Clock      Clock
}

// Limiter throttles the password sign-ins of one server instance. Memory is bounded by
// MaxEntries and waiting goroutines by MaxWaiters.
//
// Three things are counted in a sliding window, only for attempts that were admitted and
// checked: failures per (username, network), which stop brute force from one network;
// failures per network, which stop password spraying from one network; and failures per
// username from anywhere, which never lock the username (that would let anyone lock anyone
// out) but slow its attempts down, so that guessing from many networks gets few guesses
// while the owner still signs in after a short wait. Refused attempts count nowhere.
//
// Use: call Begin before checking a password (a refused attempt then costs no hashing);
// when it admits the attempt, report the outcome with Failed or Succeeded. Admitted attempts
// count against the limits until then, so a burst of concurrent guesses cannot all slip past
// Begin before their failures are recorded.
type Limiter struct {
	window     time.Duration
	delayBase  time.Duration
	delayMax   time.Duration
	delayAfter int
	maxWaiters int
	clock      Clock

	mu       sync.Mutex
	pairs    table // (username, network) → failures; locks at FailuresPerAccount
	networks table // network → failures; locks at FailuresPerIP
	accounts table // username → failures and the queue of its delayed attempts; never locks
	waiters  int   // attempts waiting in Begin, all usernames
}

// NewLimiter returns a Limiter with cfg's limits.
func NewLimiter(cfg LimiterConfig) *Limiter {
	cfg = cfg.withDefaults()
	return &Limiter{
		window:     cfg.Window,
		delayBase:  cfg.DelayBase,
		delayMax:   cfg.DelayMax,
		delayAfter: cfg.DelayAfter,
		maxWaiters: cfg.MaxWaiters,
		clock:      cfg.Clock,
		pairs:      newTable(cfg.FailuresPerAccount, cfg.FailuresPerAccount, cfg.MaxEntries),
		networks:   newTable(cfg.FailuresPerIP, cfg.FailuresPerIP, cfg.MaxEntries),
		// Failures past the one that reaches DelayMax change nothing.
		accounts: newTable(0, cfg.DelayAfter+doublings(cfg.DelayBase, cfg.DelayMax), cfg.MaxEntries),
	}
}

func (cfg LimiterConfig) withDefaults() LimiterConfig {
	orDefault := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	orDefault(&cfg.FailuresPerAccount, DefaultFailuresPerAccount)
	orDefault(&cfg.FailuresPerIP, DefaultFailuresPerIP)
	orDefault(&cfg.MaxEntries, DefaultMaxEntries)
	orDefault(&cfg.MaxWaiters, DefaultMaxWaiters)
	if cfg.Window <= 0 {
		cfg.Window = DefaultLoginWindow
	}
	if cfg.DelayBase <= 0 {
		cfg.DelayBase = DefaultDelayBase
	}
	if cfg.DelayMax <= 0 {
		cfg.DelayMax = max(DefaultDelayMax, cfg.DelayBase)
	}
	cfg.DelayMax = min(max(cfg.DelayMax, cfg.DelayBase), MaxDelay)
	switch {
	case cfg.DelayAfter == 0:
		cfg.DelayAfter = DefaultDelayAfter
	case cfg.DelayAfter < 0:
		cfg.DelayAfter = 0
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	return cfg
}

// doublings is how many times base doubles before it reaches max.
func doublings(base, max time.Duration) int {
	n := 0
	for d := base; d < max; d *= 2 {
		n++
	}
	return n
}

// Attempt is a sign-in attempt admitted by Begin. Report its outcome once; later reports
// are ignored.
type Attempt struct {
	l                      *Limiter
	account, network, pair string
	reported               bool // guarded by l.mu
}

// Begin asks to check a sign-in attempt for username from ip (the client's address, with or
// without port; IPv6 clients count per /64). When the username is being guessed, Begin
// first waits out its delay. It returns the admitted attempt, or nil and how long until the
// attempt would be admitted. An empty username or ip is not counted.
func (l *Limiter) Begin(username, ip string) (*Attempt, time.Duration) {
	acc, nw := accountKey(username), networkKey(ip)
	a := &Attempt{l: l, account: acc, network: nw, pair: pairKey(acc, nw)}
	l.mu.Lock()
	now := l.clock.Now().UnixNano()
	// The locks first: a refused attempt must not take a place in the username's queue.
	if retry := max(l.pairs.retryAfter(a.pair, now, l.window), l.networks.retryAfter(a.network, now, l.window)); retry > 0 {
		l.mu.Unlock()
		return nil, retry
	}
	r, slot, retry := l.book(acc, now)
	if retry > 0 {
		l.mu.Unlock()
		return nil, retry
	}
	l.pairs.reserve(a.pair, now, l.window)
	l.networks.reserve(a.network, now, l.window)
	if r != nil {
		r.pending = append(r.pending, now)
	}
	l.mu.Unlock()
	if slot > now {
		// Not cancelled when the client goes away: an attempt that took a place in the
		// queue is checked and counted, so leaving early cannot hold places for free.
		l.clock.Sleep(time.Duration(slot - now))
		l.mu.Lock()
		l.waiters--
		if i := slices.Index(r.waiting, slot); i >= 0 {
			r.waiting = slices.Delete(r.waiting, i, i+1)
		}
		l.mu.Unlock()
	}
	return a, 0
}

// book finds the time an attempt on the username with key may be checked at: now while it
// has few failures, else after its delay and at least that delay after the attempt booked
// before it. The wait is at most DelayMax and the waiters are bounded; beyond that, book
// refuses with the time until there is room. It returns the username's record (nil for an
// empty key) and, when the attempt waits, counts it as a waiter.
func (l *Limiter) book(key string, now int64) (r *record, slot int64, retry time.Duration) {
	r = l.accounts.get(key, now, l.window)
	if r == nil {
		return nil, now, 0
	}
	d := l.delay(len(r.failures) + len(r.pending))
	if d == 0 {
		r.lastSlot = max(r.lastSlot, now)
		return r, now, 0
	}
	slot = max(now, r.lastSlot) + int64(d)
	switch {
	case slot-now > int64(l.delayMax):
		return nil, 0, time.Duration(slot - now - int64(l.delayMax))
	case len(r.waiting) >= MaxWaitersPerAccount:
		return nil, 0, max(time.Duration(r.waiting[0]-now), time.Millisecond)
	case l.waiters >= l.maxWaiters:
		return nil, 0, l.delayMax
	}
	r.lastSlot = slot
	r.waiting = append(r.waiting, slot)
	l.waiters++
	return r, slot, 0
}

// delay is how long an attempt on a username with failures recent failures (and attempts
// being checked) waits.
func (l *Limiter) delay(failures int) time.Duration {
	n := failures - l.delayAfter
	if n < 0 {
		return 0
	}
	d := l.delayBase
	for ; n > 0 && d < l.delayMax; n-- {
		d *= 2
	}
	return min(d, l.delayMax)
}

// Failed records that the attempt's password was wrong (or its username unknown).
func (a *Attempt) Failed() {
	l := a.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.reported {
		return
	}
	a.reported = true
	now := l.clock.Now().UnixNano()
	l.pairs.fail(a.pair, now, l.window)
	l.networks.fail(a.network, now, l.window)
	l.accounts.fail(a.account, now, l.window)
}

// Succeeded records a successful sign-in: the username's failures from this network are
// forgotten. The network keeps its count, and so does the username elsewhere: the owner
// signing in says nothing about guesses from other networks.
func (a *Attempt) Succeeded() {
	l := a.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.reported {
		return
	}
	a.reported = true
	if r := l.pairs.entries[a.pair]; r != nil {
		r.failures = nil
	}
	l.pairs.settle(a.pair)
	l.networks.settle(a.network)
	l.accounts.settle(a.account)
}

func accountKey(username string) string {
	k := NormalizeUsername(username)
	if len(k) > MaxUsernameLen {
		k = k[:MaxUsernameLen]
	}
	return k
}

// networkKey is the client network an address belongs to: the IPv4 address, or the IPv6
// /64 (one host usually holds a whole /64).
func networkKey(ip string) string {
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

// pairKey identifies a (username, network) pair; empty when either is. The length prefix
// keeps any two pairs apart whatever their characters.
func pairKey(account, network string) string {
	if account == "" || network == "" {
		return ""
	}
	return strconv.Itoa(len(network)) + ":" + network + account
}

// table counts attempts per key. Times are Unix nanoseconds.
type table struct {
	limit      int // failures and pending attempts that refuse the key; 0: never
	keep       int // the latest failures kept: more would change nothing
	maxEntries int
	entries    map[string]*record
	lastSweep  int64
}

type record struct {
	failures []int64 // the latest failures (at most keep), oldest first
	pending  []int64 // admitted attempts whose outcome is not reported yet, oldest first
	// The username's queue (accounts table only).
	lastSlot int64   // when the latest admitted attempt is (or was) checked
	waiting  []int64 // when the attempts waiting now will be checked, ascending
}

func newTable(limit, keep, maxEntries int) table {
	return table{limit: limit, keep: keep, maxEntries: maxEntries, entries: map[string]*record{}}
}

// prune drops what no longer counts at now and reports whether anything is left.
func (r *record) prune(now int64, window time.Duration) bool {
	r.failures = dropBefore(r.failures, now-int64(window))
	r.pending = dropBefore(r.pending, now-int64(pendingTTL))
	return len(r.failures) > 0 || len(r.pending) > 0 || len(r.waiting) > 0
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
	if key == "" || r == nil || tb.limit == 0 {
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
	if len(r.failures) > tb.keep {
		r.failures = r.failures[len(r.failures)-tb.keep:]
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
// per minute to keep a flood of new keys cheap), otherwise an arbitrary one. Entries with
// waiting attempts stay, so that their queue and its bound hold; they are at most
// MaxWaiters, so the table may exceed maxEntries by that much at worst.
func (tb *table) makeRoom(now int64, window time.Duration) {
	if now-tb.lastSweep >= int64(time.Minute) {
		tb.lastSweep = now
		for k, r := range tb.entries {
			if !r.prune(now, window) {
				delete(tb.entries, k)
			}
		}
	}
	for k, r := range tb.entries {
		if len(tb.entries) < tb.maxEntries {
			break
		}
		if len(r.waiting) == 0 {
			delete(tb.entries, k)
		}
	}
}
