package authserver

import (
	"sync"
	"testing"

	"github.com/dgraph-io/ristretto/v2"
)

// TestFillGuard: a value read before a clear is not cached after it, even when the read's
// fill comes once the clear is done; a value read after the clear is cached. Other readers
// fill and clear concurrently all along (for the race detector: ristretto's Clear is not
// atomic, and the guard serialises clears against fills).
func TestFillGuard(t *testing.T) {
	cache, err := ristretto.NewCache(&ristretto.Config[string, string]{NumCounters: 1000, MaxCost: 100, BufferItems: 64, IgnoreInternalCost: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	var guard fillGuard

	// Alone first: ristretto may drop a Set under contention, so only here does a missing
	// fresh value mean the guard refused it.
	epoch := guard.begin()
	guard.fill(epoch, func() { cache.Set("k", "fresh", 1) })
	cache.Wait()
	if v, _ := cache.Get("k"); v != "fresh" {
		t.Fatalf("a read with no clear since was not cached: %q", v)
	}

	stop := make(chan struct{})
	var noise sync.WaitGroup
	t.Cleanup(func() { close(stop); noise.Wait() }) // before cache.Close (cleanups run last first)
	for range 4 {
		noise.Add(1)
		go func() {
			defer noise.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i%50 == 0 {
					guard.clear(cache.Clear)
				}
				epoch := guard.begin()
				guard.fill(epoch, func() { cache.Set("other", "x", 1) })
				cache.Get("other")
			}
		}()
	}

	for range 50 {
		epoch := guard.begin()
		stale := "before the change"                           // read from the store...
		guard.clear(cache.Clear)                               // ...then a change clears the cache...
		guard.fill(epoch, func() { cache.Set("k", stale, 1) }) // ...then the read fills
		cache.Wait()
		if v, ok := cache.Get("k"); ok {
			t.Fatalf("the cache holds %q after the clear", v)
		}
	}
}
