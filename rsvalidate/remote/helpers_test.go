package remote

import (
	"crypto/sha256"
	"sync"
	"time"
)

// fakeClock is a settable clock for the caches' notion of now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func sha256Of(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
