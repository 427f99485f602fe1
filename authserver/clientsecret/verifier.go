package clientsecret

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"runtime"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Defaults for NewVerifier.
const (
	DefaultCacheTTL   = 5 * time.Minute
	DefaultMaxEntries = 10_000
)

// Verifier checks presented client secrets against encoded hashes, remembering
// successful argon2id checks for a while so that a client authenticating on every
// request pays for argon2id once per cache TTL. It is safe for concurrent use.
type Verifier struct {
	ttl   time.Duration
	cache *ristretto.Cache[string, string] // nil if the cache could not be built
	// slots bounds concurrent argon2id computations: each holds ~19 MiB, and a flood of
	// wrong secrets must queue rather than exhaust memory.
	slots chan struct{}
}

// NewVerifier returns a Verifier caching successful slow checks for cacheTTL (default 5
// minutes when ≤ 0) in at most maxEntries entries (default 10 000 when ≤ 0).
func NewVerifier(cacheTTL time.Duration, maxEntries int64) *Verifier {
	if cacheTTL <= 0 {
		cacheTTL = DefaultCacheTTL
	}
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	v := &Verifier{ttl: cacheTTL, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	cache, err := ristretto.NewCache(&ristretto.Config[string, string]{
		NumCounters: 10 * maxEntries,
		MaxCost:     maxEntries,
		BufferItems: 64,
		// Cost 1 per entry: MaxCost counts entries, not bytes plus ristretto's bookkeeping.
		IgnoreInternalCost: true,
		// Keys are SHA-256 digests already: their bytes are the best hash there is.
		KeyToHash: func(k string) (uint64, uint64) {
			return binary.LittleEndian.Uint64([]byte(k[:8])), binary.LittleEndian.Uint64([]byte(k[8:16]))
		},
	})
	if err == nil {
		// Without a cache every slow check recomputes: slower, still correct.
		v.cache = cache
	}
	return v
}

// Close releases the cache's background goroutines.
func (v *Verifier) Close() {
	if v.cache != nil {
		v.cache.Close()
	}
}

// Verify reports whether presented is the secret encoded (by Hash) for clientID.
func (v *Verifier) Verify(clientID, encoded, presented string) bool {
	if presented == "" || len(presented) > MaxSecretLen {
		return false
	}
	if !isSlow(encoded) || v.cache == nil {
		return v.verifySlow(encoded, presented)
	}
	key := cacheKey(clientID, encoded, presented)
	// The full digest is stored as the value too, so even a ristretto hash collision
	// cannot turn into a false success.
	if got, ok := v.cache.Get(key); ok && subtle.ConstantTimeCompare([]byte(got), []byte(key)) == 1 {
		return true
	}
	if !v.verifySlow(encoded, presented) {
		return false // failures are never cached
	}
	v.cache.SetWithTTL(key, key, 1, v.ttl)
	return true
}

func (v *Verifier) verifySlow(encoded, presented string) bool {
	if isSlow(encoded) {
		v.slots <- struct{}{}
		defer func() { <-v.slots }()
	}
	return verify(encoded, presented)
}

// cacheKey digests the triple, length-prefixed so that no two triples collide by
// concatenation, and so the cache never holds a clear secret; a new hash for the client
// yields new keys, invalidating the old entries.
func cacheKey(clientID, encoded, presented string) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range [...]string{clientID, encoded, presented} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return string(h.Sum(nil))
}
