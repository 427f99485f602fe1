package authserver

import (
	"sync"
	"sync/atomic"
)

// fillGuard keeps a cache from being refilled with what a change just made stale. A cache
// miss reads the store and then stores the value; when a change clears the cache between
// that read and that store, the old value would be cached after the clear and stay until
// its TTL (for a deleted client: it keeps authenticating). So every miss notes the epoch
// before reading, and fills only if no clear happened since; a clear moves the epoch and
// empties the caches while no fill runs, so a fill that passed its check is either already
// in the cache being cleared (ristretto's Set has queued or applied it by the time it
// returns, and Clear drops both) or refused.
type fillGuard struct {
	mu    sync.RWMutex // fills share it, a clear holds it alone
	epoch atomic.Uint64
}

// begin returns the epoch a store read starts in; call it before reading.
func (g *fillGuard) begin() uint64 { return g.epoch.Load() }

// fill runs set unless the caches were cleared since epoch.
func (g *fillGuard) fill(epoch uint64, set func()) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.epoch.Load() == epoch {
		set()
	}
}

// clear moves the epoch and runs clearCaches with no fill in progress (ristretto's Clear is
// not atomic: a Set during it may survive it).
func (g *fillGuard) clear(clearCaches func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.epoch.Add(1)
	clearCaches()
}
