// Package revoked is a gateway's memory of revoked access tokens: one set per identifier kind
// (jti, token_hash, grant, session), each entry kept until the latest exp it covers, looked up
// on every request without allocating; and the clients whose tokens were all revoked up to a
// time (client cut-offs). It knows nothing of how revocations arrive
// (backchannel/ssfreceiver fills it) or of token validation (rsvalidate asks it).
package revoked

import (
	"crypto/sha256"
	"encoding/base64"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
)

// shardCount spreads each kind over this many tables: writers lock one shard, and a
// rebuild copies a thirty-second of the entries.
const shardCount = 32

// entryKey is a 128-bit seeded hash of a revoked value. Keys of a fixed size keep an entry's
// memory independent of the identifier's length; at 128 bits an accidental match between a
// live token and one of a million revoked values is out of reach (about 2^-108), and the
// per-process seed keeps anyone from aiming for one.
type entryKey [2]uint64

// kindSet holds the revoked values of one kind: key -> until (Unix seconds).
type kindSet struct {
	// size is the entry count, read without a lock so empty kinds cost nothing per request.
	size   atomic.Int64
	shards [shardCount]shard
}

type shard struct {
	mu sync.Mutex // writers only; readers load t and probe it without a lock
	t  atomic.Pointer[table]
	_  [48]byte // keep neighbouring shards off one cache line
}

// Set is what a gateway knows is revoked: one set per identifier kind (jti, token_hash,
// grant, session) and the client cut-offs, each entry kept until the latest exp it covers.
// Lookups take no lock and allocate nothing. It is safe for concurrent use.
type Set struct {
	seeds   [2]maphash.Seed
	kinds   [5]kindSet
	clients clientCuts // client cut-offs: a time per client, not a member of a set
	now     func() time.Time
}

// Indexes of Set.kinds.
const (
	kindJTI = iota
	kindTokenHash
	kindGrant
	kindSession
	// kindSeen holds the jtis of the SETs applied, for replay detection: same bound, same sweep.
	kindSeen
)

func kindIndex(kind string) (int, bool) {
	switch kind {
	case secevent.KindJTI:
		return kindJTI, true
	case secevent.KindTokenHash:
		return kindTokenHash, true
	case secevent.KindGrant:
		return kindGrant, true
	case secevent.KindSession:
		return kindSession, true
	}
	return 0, false
}

// New returns an empty set; now replaces time.Now (nil: time.Now).
func New(now func() time.Time) *Set {
	if now == nil {
		now = time.Now
	}
	s := &Set{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, now: now}
	for k := range s.kinds {
		for i := range s.kinds[k].shards {
			s.kinds[k].shards[i].t.Store(newTable(minSize))
		}
	}
	return s
}

func (s *Set) key(b []byte) entryKey {
	return entryKey{maphash.Bytes(s.seeds[0], b), maphash.Bytes(s.seeds[1], b)}
}

// stringKey hashes v without copying it (maphash neither keeps nor changes its input).
func (s *Set) stringKey(v string) entryKey {
	return s.key(unsafe.Slice(unsafe.StringData(v), len(v)))
}

// Add records that the tokens whose kind identifier is value are revoked until until. A
// token_hash value is the base64url SHA-256 of the token; one that is not is ignored (false).
// Adding a value again keeps the later until.
func (s *Set) Add(kind, value string, until time.Time) bool {
	k, ok := kindIndex(kind)
	if !ok || value == "" {
		return false
	}
	var key entryKey
	if k == kindTokenHash {
		var digest [sha256.Size]byte
		if n, err := base64.RawURLEncoding.Decode(digest[:], []byte(value)); err != nil || n != sha256.Size {
			return false
		}
		key = s.key(digest[:])
	} else {
		key = s.stringKey(value)
	}
	s.kinds[k].put(key, uint64(max(until.Unix(), 0)), false)
	return true
}

// contains reports whether key is in the set. It does not look at until: an entry whose
// until has passed covers only expired tokens, which validation refuses anyway, and Sweep
// removes it soon; skipping the clock keeps the lookup cheap and never lets a token that a
// validator still accepts within its clock skew slip past an entry that just lapsed.
func (ks *kindSet) contains(key entryKey) bool {
	return ks.shards[key[0]%shardCount].t.Load().find(key) != nil
}

// put records key until until and reports whether it is new. An existing entry keeps the
// later until, unless onlyNew, when it is left alone.
func (ks *kindSet) put(key entryKey, until uint64, onlyNew bool) bool {
	sh := &ks.shards[key[0]%shardCount]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := sh.t.Load()
	if sl := t.find(key); sl != nil {
		if !onlyNew && until > sl.until.Load() {
			sl.until.Store(until)
		}
		return false
	}
	if t.full() {
		t = t.rebuilt(1)
		sh.t.Store(t)
	}
	t.insert(key, until)
	ks.size.Add(1)
	return true
}

// Has reports whether value of kind is in the set (tests and tools; the request path uses
// Revoked).
func (s *Set) Has(kind, value string) bool {
	k, ok := kindIndex(kind)
	if !ok {
		return false
	}
	if k == kindTokenHash {
		var digest [sha256.Size]byte
		if n, err := base64.RawURLEncoding.Decode(digest[:], []byte(value)); err != nil || n != sha256.Size {
			return false
		}
		return s.kinds[k].contains(s.key(digest[:]))
	}
	return s.kinds[k].contains(s.stringKey(value))
}

// Revoked reports whether an access token is covered by a revocation: by its jti, its
// SHA-256 (opaque tokens), its grant_id or its sid claim (empty: the token has none).
func (s *Set) Revoked(token, jti, grantID, sid string) bool {
	if ks := &s.kinds[kindJTI]; jti != "" && ks.size.Load() > 0 && ks.contains(s.stringKey(jti)) {
		return true
	}
	if ks := &s.kinds[kindTokenHash]; ks.size.Load() > 0 {
		digest := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
		if ks.contains(s.key(digest[:])) {
			return true
		}
	}
	if ks := &s.kinds[kindGrant]; ks.size.Load() > 0 {
		if grantID != "" && ks.contains(s.stringKey(grantID)) {
			return true
		}
	}
	if ks := &s.kinds[kindSession]; ks.size.Load() > 0 {
		if sid != "" && ks.contains(s.stringKey(sid)) {
			return true
		}
	}
	return false
}

// FirstSight records the jti of a Security Event Token applied until until and reports
// whether it is new: a false answer is a replay.
func (s *Set) FirstSight(jti string, until time.Time) bool {
	return s.kinds[kindSeen].put(s.stringKey(jti), uint64(max(until.Unix(), 0)), true)
}

// Len returns the number of revoked values of all kinds (lapsed ones until the next Sweep).
func (s *Set) Len() int {
	n := s.clients.len()
	for k := range kindSeen {
		n += int(s.kinds[k].size.Load())
	}
	return n
}

// SweepGrace is how long after its until an entry is kept: longer than any validator's clock
// skew (30 s by default), so a token still accepted within the skew stays refused.
const SweepGrace = 2 * time.Minute

// Sweep drops the entries whose until passed more than SweepGrace ago and returns how many.
// One shard is locked at a time, so lookups elsewhere go on.
func (s *Set) Sweep() int {
	cutoff := uint64(max(s.now().Add(-SweepGrace).Unix(), 0))
	dropped := s.clients.sweep(int64(cutoff))
	for k := range s.kinds {
		ks := &s.kinds[k]
		for i := range ks.shards {
			n := ks.shards[i].sweep(cutoff)
			ks.size.Add(-int64(n))
			dropped += n
		}
	}
	return dropped
}

// sweep turns the entries whose until is before cutoff into tombstones, and rebuilds the
// table when tombstones outnumber live entries (which also gives memory back after a burst).
func (sh *shard) sweep(cutoff uint64) int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := sh.t.Load()
	n := 0
	for i := range t.slots {
		sl := &t.slots[i]
		if sl.k0.Load() > deadK0 && sl.until.Load() < cutoff {
			sl.k0.Store(deadK0)
			n++
		}
	}
	t.used -= n
	t.dead += n
	if t.dead > t.used {
		sh.t.Store(t.rebuilt(0))
	}
	return n
}
