package ssfreceiver

import (
	"crypto/sha256"
	"encoding/base64"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
	"github.com/caddy-oauth/caddy-oauth/rsvalidate"
)

// shardCount spreads each kind over this many locks, so lookups on many cores rarely share
// a lock's cache line with a writer.
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
	mu sync.RWMutex
	m  map[entryKey]int64
	_  [40]byte // keep neighbouring shards' locks off one cache line
}

// RevokedSet is what a gateway knows is revoked: one set per identifier kind (jti,
// token_hash, grant, session), each entry kept until the latest exp it covers. Lookups take
// a shard's read lock and allocate nothing. It is safe for concurrent use.
type RevokedSet struct {
	seeds [2]maphash.Seed
	kinds [5]kindSet
	now   func() time.Time
}

// Indexes of RevokedSet.kinds.
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

// NewRevokedSet returns an empty set; now replaces time.Now (nil: time.Now).
func NewRevokedSet(now func() time.Time) *RevokedSet {
	if now == nil {
		now = time.Now
	}
	s := &RevokedSet{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, now: now}
	for k := range s.kinds {
		for i := range s.kinds[k].shards {
			s.kinds[k].shards[i].m = make(map[entryKey]int64)
		}
	}
	return s
}

func (s *RevokedSet) key(b []byte) entryKey {
	return entryKey{maphash.Bytes(s.seeds[0], b), maphash.Bytes(s.seeds[1], b)}
}

// stringKey hashes v without copying it (maphash neither keeps nor changes its input).
func (s *RevokedSet) stringKey(v string) entryKey {
	return s.key(unsafe.Slice(unsafe.StringData(v), len(v)))
}

// Add records that the tokens whose kind identifier is value are revoked until until. A
// token_hash value is the base64url SHA-256 of the token; one that is not is ignored (false).
// Adding a value again keeps the later until.
func (s *RevokedSet) Add(kind, value string, until time.Time) bool {
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
	ks := &s.kinds[k]
	sh := &ks.shards[key[0]%shardCount]
	sh.mu.Lock()
	prev, had := sh.m[key]
	if !had {
		ks.size.Add(1)
	}
	sh.m[key] = max(prev, until.Unix())
	sh.mu.Unlock()
	return true
}

// contains reports whether key is revoked at unix time now.
func (ks *kindSet) contains(key entryKey, now int64) bool {
	sh := &ks.shards[key[0]%shardCount]
	sh.mu.RLock()
	until, ok := sh.m[key]
	sh.mu.RUnlock()
	return ok && until >= now
}

// Has reports whether value of kind is revoked now (tests and tools; the request path uses
// Revoked).
func (s *RevokedSet) Has(kind, value string) bool {
	k, ok := kindIndex(kind)
	if !ok {
		return false
	}
	if k == kindTokenHash {
		var digest [sha256.Size]byte
		if n, err := base64.RawURLEncoding.Decode(digest[:], []byte(value)); err != nil || n != sha256.Size {
			return false
		}
		return s.kinds[k].contains(s.key(digest[:]), s.now().Unix())
	}
	return s.kinds[k].contains(s.stringKey(value), s.now().Unix())
}

// Revoked reports whether the access token (with what its issuer vouched for) is covered by
// a revocation: its jti, its SHA-256 (opaque tokens), its grant_id or its sid.
func (s *RevokedSet) Revoked(token string, info *rsvalidate.TokenInfo) bool {
	now := s.now().Unix()
	if ks := &s.kinds[kindJTI]; info.JTI != "" && ks.size.Load() > 0 && ks.contains(s.stringKey(info.JTI), now) {
		return true
	}
	if ks := &s.kinds[kindTokenHash]; ks.size.Load() > 0 {
		digest := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
		if ks.contains(s.key(digest[:]), now) {
			return true
		}
	}
	if ks := &s.kinds[kindGrant]; ks.size.Load() > 0 {
		if v, _ := info.Claims["grant_id"].(string); v != "" && ks.contains(s.stringKey(v), now) {
			return true
		}
	}
	if ks := &s.kinds[kindSession]; ks.size.Load() > 0 {
		if v, _ := info.Claims["sid"].(string); v != "" && ks.contains(s.stringKey(v), now) {
			return true
		}
	}
	return false
}

// firstSight records the jti of a SET applied until until and reports whether it is new.
func (s *RevokedSet) firstSight(jti string, until time.Time) bool {
	ks := &s.kinds[kindSeen]
	key := s.stringKey(jti)
	sh := &ks.shards[key[0]%shardCount]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[key]; ok {
		return false
	}
	sh.m[key] = until.Unix()
	ks.size.Add(1)
	return true
}

// Len returns the number of revoked values of all kinds (expired ones until the next Sweep).
func (s *RevokedSet) Len() int {
	n := 0
	for k := range kindSeen {
		n += int(s.kinds[k].size.Load())
	}
	return n
}

// Sweep drops the entries whose until has passed and returns how many. One shard is locked
// at a time, so lookups elsewhere go on.
func (s *RevokedSet) Sweep() int {
	now := s.now().Unix()
	dropped := 0
	for k := range s.kinds {
		ks := &s.kinds[k]
		for i := range ks.shards {
			sh := &ks.shards[i]
			sh.mu.Lock()
			n := 0
			for key, until := range sh.m {
				if until < now {
					delete(sh.m, key)
					n++
				}
			}
			if n > 0 && len(sh.m) == 0 {
				// A Go map never shrinks; a fresh one gives back the memory of a burst.
				sh.m = make(map[entryKey]int64)
			}
			sh.mu.Unlock()
			ks.size.Add(-int64(n))
			dropped += n
		}
	}
	return dropped
}
