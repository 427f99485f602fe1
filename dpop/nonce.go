package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"
)

const (
	nonceMACLen = 16
	nonceRawLen = 8 + nonceMACLen
	nonceLen    = (nonceRawLen*8 + 5) / 6 // base64url without padding: 32 characters
)

// Nonces issues and checks stateless server nonces (RFC 9449 §8): a nonce is
// base64url(window index ‖ HMAC-SHA256(secret, index)[:16]). Every instance sharing the
// secret accepts every other's nonces; a nonce is valid in its window and the next one.
type Nonces struct {
	secret []byte
	window time.Duration
	// Now replaces time.Now in tests.
	Now func() time.Time

	cache atomic.Pointer[nonceWindow]
}

// nonceWindow caches the nonces of one window and its predecessor, so Current and Valid
// cost no HMAC on the hot path.
type nonceWindow struct {
	index     uint64
	cur, prev string
}

// NewNonces returns a nonce source. secret must be at least 32 bytes; window at least 1s.
func NewNonces(secret []byte, window time.Duration) (*Nonces, error) {
	if len(secret) < 32 {
		return nil, errors.New("dpop: nonce secret must be at least 32 bytes")
	}
	if window < time.Second {
		return nil, errors.New("dpop: nonce window must be at least 1s")
	}
	return &Nonces{secret: append([]byte(nil), secret...), window: window}, nil
}

// Current returns the nonce of the current window, for the DPoP-Nonce header.
func (n *Nonces) Current() string { return n.windowAt(n.now()).cur }

// Valid reports whether nonce belongs to the current or the previous window.
func (n *Nonces) Valid(nonce string) bool {
	if len(nonce) != nonceLen {
		return false
	}
	w := n.windowAt(n.now())
	// Compare against both so timing does not reveal which window matched.
	a := subtle.ConstantTimeCompare([]byte(nonce), []byte(w.cur))
	b := subtle.ConstantTimeCompare([]byte(nonce), []byte(w.prev))
	return a|b == 1
}

func (n *Nonces) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

func (n *Nonces) windowAt(t time.Time) *nonceWindow {
	idx := uint64(t.UnixNano() / int64(n.window))
	if w := n.cache.Load(); w != nil && w.index == idx {
		return w
	}
	// Concurrent recomputation on a window change is harmless: the results are equal.
	w := &nonceWindow{index: idx, cur: n.make(idx), prev: n.make(idx - 1)}
	n.cache.Store(w)
	return w
}

func (n *Nonces) make(idx uint64) string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:8], idx)
	mac := hmac.New(sha256.New, n.secret)
	mac.Write(raw[:8])
	copy(raw[8:], mac.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(raw[:])
}
