package dpop

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ReplayGuard remembers used proof identifiers. Implementations must be exact: of N
// concurrent Use calls with one key, exactly one returns nil.
//
// A cluster-wide guard plugs in here: Redis `SET <prefix><key> 1 NX PXAT <expiresAt ms>`
// (OK → nil, nil reply → ErrReplay, OOM under maxmemory-policy noeviction → ErrFull).
type ReplayGuard interface {
	// Use records key until expiresAt. It returns nil the first time, ErrReplay when key was
	// already used and has not expired, and ErrFull when the guard is at capacity (the caller
	// then demands a fresh nonce rather than forgetting old keys).
	Use(ctx context.Context, key string, expiresAt time.Time) error
}

// ForgetfulGuard is a ReplayGuard that can lose what it remembered (a Redis restarted without
// persistence). ForgottenBefore returns the last loss it has seen, zero if none: a proof
// issued at or before it may already have been used, so the verifier refuses it.
type ForgetfulGuard interface {
	ReplayGuard
	ForgottenBefore() time.Time
}

// ErrTTLTooLong is returned by MemoryGuard.Use for an expiry beyond the guard's maxTTL: the
// guard would have to forget the key early, so it refuses (a configuration error: maxTTL must
// cover Verifier.MaxAge + 2×Verifier.Skew).
var ErrTTLTooLong = errors.New("dpop: replay expiry beyond the guard's maxTTL")

const (
	guardShards     = 32
	guardBuckets    = 60 // expiry buckets covering maxTTL
	shrinkThreshold = 4096
)

// digest is what the memory guard stores per key: the first 128 bits of SHA-256(key). Keys
// are ~65-byte strings (thumbprint + jti); a fixed 16-byte array keeps the map flat (no
// pointers for the GC to scan, no per-key allocation). Two distinct keys collide with
// probability ~2^-128 per pair, and a client cannot aim at another key's digest without a
// SHA-256 second preimage, so exactness holds for all practical purposes.
type digest [16]byte

// MemoryGuard is an exact in-process ReplayGuard with a hard capacity bound.
//
// Layout: keys are spread over shards by digest; each shard has one map digest→expiry (so a
// lookup is a single map probe, and insert-if-absent is atomic under the shard's mutex) plus
// a ring of expiry buckets, each listing the digests whose expiry falls in it. When a bucket's
// time span has passed, its list is walked and its entries deleted: work proportional to what
// expires, never a scan of live entries. The alternative — one map per time bucket, dropped
// wholesale — makes every lookup probe all ~60 buckets; expiry here is amortized O(1) per
// entry and lookups stay O(1).
//
// Capacity is counted globally (an atomic counter), so the bound is exact across shards; when
// reached, Use answers ErrFull and never evicts a live entry. Measured heap cost: ~64 bytes
// per remembered jti (1e6 entries, TestMemoryGuardBytesPerEntry), whatever the key length.
//
// A MemoryGuard knows nothing of the proofs used before it was made: after a restart, or a
// reload that makes a new guard, a proof used with the old one would pass again. So it is a
// ForgetfulGuard whose loss is its own creation (see ForgottenBefore).
type MemoryGuard struct {
	max       int64
	maxTTL    time.Duration
	width     uint32 // bucket width, seconds
	base      time.Time
	now       func() time.Time
	forgotten time.Time // ForgottenBefore's answer, fixed at creation
	count     atomic.Int64
	shards    [guardShards]guardShard

	stop      chan struct{}
	closeOnce sync.Once
}

type guardShard struct {
	mu       sync.Mutex
	expiry   map[digest]uint32 // seconds since base, rounded up
	ring     []expiryBucket
	nextDrop uint32 // second at which the earliest non-empty bucket expires; 0: none
	peak     int    // largest len(expiry) since the map was last rebuilt
}

type expiryBucket struct {
	gen  uint32 // expiry second / width
	keys []digest
}

// NewMemoryGuard returns a guard remembering at most maxEntries keys (default 1<<20) for at
// most maxTTL (default 6m: the default MaxAge plus twice the default Skew). It runs a
// background sweeper; call Close to stop it.
func NewMemoryGuard(maxEntries int, maxTTL time.Duration) *MemoryGuard {
	return NewMemoryGuardWithClock(maxEntries, maxTTL, time.Now)
}

// NewMemoryGuardWithClock is NewMemoryGuard for a Verifier whose clock is not the wall clock
// (tests, simulations): give the guard the Verifier's Now, so that its creation, which
// ForgottenBefore reports, is on the same time line as the proofs' iat.
func NewMemoryGuardWithClock(maxEntries int, maxTTL time.Duration, now func() time.Time) *MemoryGuard {
	g := newMemoryGuard(maxEntries, maxTTL, now)
	g.stop = make(chan struct{})
	go g.sweeper()
	return g
}

func newMemoryGuard(maxEntries int, maxTTL time.Duration, now func() time.Time) *MemoryGuard {
	if maxEntries <= 0 {
		maxEntries = 1 << 20
	}
	if maxTTL <= 0 {
		maxTTL = 6 * time.Minute
	}
	width := uint32((maxTTL + guardBuckets*time.Second - 1) / (guardBuckets * time.Second))
	created := now().Round(0)
	g := &MemoryGuard{
		max:    int64(maxEntries),
		maxTTL: maxTTL,
		width:  width,
		// Wall-clock seconds (iat is wall time) from a day back, so a clock stepping back
		// after start still yields positive offsets.
		base: created.Add(-24 * time.Hour),
		now:  now,
		// iat has whole seconds: a proof of the creation's own second may be from just
		// after it, so only the seconds before are refused (see ForgottenBefore).
		forgotten: created.Truncate(time.Second).Add(-time.Nanosecond),
	}
	// Ring size: buckets alive at once span maxTTL/width plus the current and a partial one.
	w := time.Duration(width) * time.Second
	n := int((maxTTL+w-1)/w) + 3
	for i := range g.shards {
		g.shards[i].expiry = make(map[digest]uint32)
		g.shards[i].ring = make([]expiryBucket, n)
	}
	return g
}

// Use implements ReplayGuard.
func (g *MemoryGuard) Use(_ context.Context, key string, expiresAt time.Time) error {
	now := g.now().Round(0)
	ttl := expiresAt.Sub(now)
	if ttl <= 0 {
		return nil // already expired: nothing to remember
	}
	if ttl > g.maxTTL {
		return ErrTTLTooLong
	}
	nowSec, exp := g.floorSec(now), g.ceilSec(expiresAt)
	sum := sha256.Sum256([]byte(key))
	d := digest(sum[:16])
	s := &g.shards[d[15]%guardShards]
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		s.expire(g, nowSec)
		e, found := s.expiry[d]
		if found && e > nowSec {
			s.mu.Unlock()
			return ErrReplay
		}
		if !found && !g.reserve() { // an expired entry not yet swept is reused, not recounted
			s.mu.Unlock()
			if attempt == 0 {
				g.sweep(nowSec) // other shards may hold expired, unswept entries
				continue
			}
			return ErrFull
		}
		s.insert(g, d, exp)
		s.mu.Unlock()
		return nil
	}
}

// reserve counts one more entry unless the guard is full; the count never exceeds max, even
// transiently.
func (g *MemoryGuard) reserve() bool {
	for {
		n := g.count.Load()
		if n >= g.max {
			return false
		}
		if g.count.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// ForgottenBefore implements ForgetfulGuard: the guard remembers nothing from before its
// creation, so the Verifier refuses proofs issued in a second that ended before it
// (invalid_dpop_proof, ErrForgotten): they may have been used with the guard this one
// replaced. A proof whose iat is the creation's own second passes: with whole-second iat it
// may have been made just after the guard was (a client's first proof after a restart), and
// one used with the old guard in that same second would have to be older than the restart by
// less than a second. Proofs older than MaxAge are refused anyway, so this costs nothing
// once the guard has run that long.
func (g *MemoryGuard) ForgottenBefore() time.Time { return g.forgotten }

// Len returns the number of remembered keys (including expired ones not yet swept).
func (g *MemoryGuard) Len() int { return int(g.count.Load()) }

// Close stops the background sweeper.
func (g *MemoryGuard) Close() {
	g.closeOnce.Do(func() {
		if g.stop != nil {
			close(g.stop)
		}
	})
}

func (g *MemoryGuard) sweeper() {
	t := time.NewTicker(time.Duration(g.width) * time.Second)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			g.sweep(g.floorSec(g.now()))
		}
	}
}

func (g *MemoryGuard) sweep(nowSec uint32) {
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		s.expire(g, nowSec)
		s.mu.Unlock()
	}
}

func (g *MemoryGuard) floorSec(t time.Time) uint32 {
	d := t.Sub(g.base)
	if d < 0 {
		return 0
	}
	return uint32(d / time.Second)
}

func (g *MemoryGuard) ceilSec(t time.Time) uint32 {
	return uint32((t.Sub(g.base) + time.Second - 1) / time.Second)
}

// insert records d until exp. The caller holds s.mu and has accounted for the entry.
func (s *guardShard) insert(g *MemoryGuard, d digest, exp uint32) {
	s.expiry[d] = exp
	if len(s.expiry) > s.peak {
		s.peak = len(s.expiry)
	}
	gen := exp / g.width
	b := &s.ring[int(gen)%len(s.ring)]
	if b.gen != gen && len(b.keys) > 0 {
		s.drop(g, b) // unreachable while the ring covers maxTTL; kept so a slot is never mixed
	}
	b.gen = gen
	b.keys = append(b.keys, d)
	if end := (gen + 1) * g.width; s.nextDrop == 0 || end < s.nextDrop {
		s.nextDrop = end
	}
}

// expire deletes the entries of every bucket whose time span has passed. Caller holds s.mu.
func (s *guardShard) expire(g *MemoryGuard, nowSec uint32) {
	if s.nextDrop == 0 || nowSec < s.nextDrop {
		return
	}
	s.nextDrop = 0
	for i := range s.ring {
		b := &s.ring[i]
		if len(b.keys) == 0 {
			continue
		}
		end := (b.gen + 1) * g.width
		if end <= nowSec {
			s.drop(g, b)
		} else if s.nextDrop == 0 || end < s.nextDrop {
			s.nextDrop = end
		}
	}
	// Go maps never shrink; rebuild once a peak has passed so memory follows the load down.
	if s.peak > shrinkThreshold && len(s.expiry) < s.peak/8 {
		m := make(map[digest]uint32, len(s.expiry))
		for k, v := range s.expiry {
			m[k] = v
		}
		s.expiry, s.peak = m, len(m)
	}
}

func (s *guardShard) drop(g *MemoryGuard, b *expiryBucket) {
	end := (b.gen + 1) * g.width
	var n int64
	for _, d := range b.keys {
		// A key re-inserted after expiring now lives in a later bucket: keep it.
		if e, ok := s.expiry[d]; ok && e < end {
			delete(s.expiry, d)
			n++
		}
	}
	g.count.Add(-n)
	if cap(b.keys) > 1024 {
		b.keys = nil // release a burst's backing array
	} else {
		b.keys = b.keys[:0]
	}
}
