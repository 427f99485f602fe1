package dpop

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var ctx = context.Background()

// realisticKey is shaped like the Verifier's keys: a 43-char thumbprint, ":", a 22-char jti.
func realisticKey(i int) string {
	return fmt.Sprintf("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs:%022d", i)
}

func TestMemoryGuardUse(t *testing.T) {
	clock := &fixedClock{t: testNow}
	g := newMemoryGuard(10, time.Minute, clock.Now)
	exp := testNow.Add(30 * time.Second)
	steps := []struct {
		key string
		exp time.Time
		err error
	}{
		{"a", exp, nil},
		{"a", exp, ErrReplay},
		{"b", exp, nil},
		{"a", exp.Add(time.Second), ErrReplay}, // a later expiry does not reset a live key
		{"c", testNow, nil},                    // already expired: accepted, not stored
		{"c", testNow.Add(time.Second), nil},
		{"d", testNow.Add(time.Minute + time.Second), ErrTTLTooLong},
	}
	for i, s := range steps {
		if err := g.Use(ctx, s.key, s.exp); !errors.Is(err, s.err) || (s.err == nil && err != nil) {
			t.Errorf("step %d: Use(%q) = %v, want %v", i, s.key, err, s.err)
		}
	}
	if g.Len() != 3 {
		t.Errorf("Len = %d, want 3", g.Len())
	}
}

func TestMemoryGuardExpiry(t *testing.T) {
	clock := &fixedClock{t: testNow}
	g := newMemoryGuard(1<<20, time.Minute, clock.Now)
	const n = 20000
	for i := 0; i < n; i++ {
		if err := g.Use(ctx, realisticKey(i), testNow.Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Use(ctx, "late", testNow.Add(50*time.Second)); err != nil {
		t.Fatal(err)
	}
	clock.Add(9 * time.Second)
	if err := g.Use(ctx, realisticKey(0), clock.Now().Add(10*time.Second)); !errors.Is(err, ErrReplay) {
		t.Fatalf("before expiry: %v, want ErrReplay", err)
	}
	clock.Add(2 * time.Second) // 11s: the first batch has expired
	if err := g.Use(ctx, realisticKey(0), clock.Now().Add(10*time.Second)); err != nil {
		t.Fatalf("after expiry: %v, want nil", err)
	}
	clock.Add(g.ttlSlack())
	g.sweep(g.floorSec(clock.Now()))
	if got := g.Len(); got != 2 { // realisticKey(0) again and "late"
		t.Errorf("Len after sweep = %d, want 2", got)
	}
	var entries, keys int
	for i := range g.shards {
		entries += len(g.shards[i].expiry)
		for _, b := range g.shards[i].ring {
			keys += len(b.keys)
		}
		if g.shards[i].peak > shrinkThreshold {
			t.Errorf("shard %d map not rebuilt after the peak (peak %d)", i, g.shards[i].peak)
		}
	}
	if entries != 2 || keys != 2 {
		t.Errorf("map entries %d, bucket keys %d; want 2 and 2", entries, keys)
	}
	if err := g.Use(ctx, "late", clock.Now().Add(time.Second)); !errors.Is(err, ErrReplay) {
		t.Errorf("live key forgotten: %v", err)
	}
}

// ttlSlack is how long after an expiry the bucket holding it is dropped at most.
func (g *MemoryGuard) ttlSlack() time.Duration { return time.Duration(g.width+1) * time.Second }

func TestMemoryGuardCapacity(t *testing.T) {
	clock := &fixedClock{t: testNow}
	g := newMemoryGuard(100, time.Minute, clock.Now)
	exp := testNow.Add(20 * time.Second)
	for i := 0; i < 100; i++ {
		if err := g.Use(ctx, realisticKey(i), exp); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if err := g.Use(ctx, "one more", exp); !errors.Is(err, ErrFull) {
		t.Fatalf("over capacity: %v, want ErrFull", err)
	}
	if err := g.Use(ctx, realisticKey(5), exp); !errors.Is(err, ErrReplay) {
		t.Fatalf("known key when full: %v, want ErrReplay (never forget)", err)
	}
	if g.Len() != 100 {
		t.Fatalf("Len = %d, want 100", g.Len())
	}
	clock.Add(20*time.Second + g.ttlSlack())
	if err := g.Use(ctx, "one more", clock.Now().Add(time.Second)); err != nil {
		t.Fatalf("after expiry: %v, want nil (expired entries are swept when full)", err)
	}
	g.sweep(g.floorSec(clock.Now()))
	if g.Len() != 1 {
		t.Errorf("Len after sweep = %d, want 1", g.Len())
	}
}

// TestMemoryGuardBoundUnderLoad: many writers, distinct keys, moving clock; the guard never
// holds more than maxEntries, answers ErrFull when full, and frees room as entries expire.
func TestMemoryGuardBoundUnderLoad(t *testing.T) {
	const max = 5000
	clock := &fixedClock{t: testNow}
	g := newMemoryGuard(max, 10*time.Second, clock.Now)
	var ok, full atomic.Int64
	var peak atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				// 40,000 inserts over 40s of fake time with an 8s TTL: about 8,000 would be live.
				clock.Add(time.Millisecond)
				err := g.Use(ctx, realisticKey(w*1_000_000+i), clock.Now().Add(8*time.Second))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrFull):
					full.Add(1)
				default:
					t.Errorf("Use: %v", err)
					return
				}
				if n := int64(g.Len()); n > peak.Load() {
					peak.Store(n)
				}
			}
		}()
	}
	wg.Wait()
	if peak.Load() > max || g.Len() > max {
		t.Errorf("guard exceeded its bound: peak %d, Len %d, max %d", peak.Load(), g.Len(), max)
	}
	if full.Load() == 0 || ok.Load() <= max {
		t.Errorf("ok %d, full %d: want some ErrFull and reuse of expired room", ok.Load(), full.Load())
	}
	t.Logf("accepted %d, refused (full) %d, peak %d", ok.Load(), full.Load(), peak.Load())
}

// TestMemoryGuardConcurrentSameKey: 64 goroutines using one key at once: exactly one wins.
func TestMemoryGuardConcurrentSameKey(t *testing.T) {
	const workers = 64
	iterations := 300
	if testing.Short() {
		iterations = 30
	}
	g := NewMemoryGuard(1<<20, time.Minute)
	defer g.Close()
	for it := 0; it < iterations; it++ {
		key := realisticKey(it)
		exp := time.Now().Add(30 * time.Second)
		var wins, replays atomic.Int32
		var start, done sync.WaitGroup
		start.Add(1)
		for w := 0; w < workers; w++ {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				switch err := g.Use(ctx, key, exp); {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, ErrReplay):
					replays.Add(1)
				}
			}()
		}
		start.Done()
		done.Wait()
		if wins.Load() != 1 || replays.Load() != workers-1 {
			t.Fatalf("iteration %d: %d wins, %d replays", it, wins.Load(), replays.Load())
		}
	}
}

func TestMemoryGuardSweeper(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the background sweeper")
	}
	t.Parallel()
	g := NewMemoryGuard(100, 2*time.Second)
	defer g.Close()
	for i := 0; i < 50; i++ {
		if err := g.Use(ctx, realisticKey(i), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Len = %d 5s later; the sweeper did not drop expired entries", g.Len())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMemoryGuardClose(t *testing.T) {
	g := NewMemoryGuard(0, 0)
	g.Close()
	g.Close() // idempotent
	if g.max != 1<<20 || g.maxTTL != 6*time.Minute {
		t.Errorf("defaults: max %d, maxTTL %v", g.max, g.maxTTL)
	}
}

// TestMemoryGuardBytesPerEntry measures the heap cost of one remembered jti.
func TestMemoryGuardBytesPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~100 MB")
	}
	const n = 1_000_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs:" + rand.Text()[:22]
	}
	exp := time.Now().Add(time.Minute)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g := newMemoryGuard(n, 2*time.Minute, time.Now)
	for _, k := range keys {
		if err := g.Use(ctx, k, exp); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("bytes per remembered jti: %.1f (%d entries, key %d bytes)", per, g.Len(), len(keys[0]))
	if per > 128 {
		t.Errorf("%.1f bytes per entry, want ≤ 128", per)
	}
	runtime.KeepAlive(g)
	runtime.KeepAlive(keys)
}

func BenchmarkMemoryGuardUse(b *testing.B) {
	g := NewMemoryGuard(1<<22, 10*time.Second)
	defer g.Close()
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := []byte("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs:")
		prefix := len(buf)
		for pb.Next() {
			buf = strconv.AppendInt(buf[:prefix], seq.Add(1), 36)
			// Entries expire after 1s, so the guard holds about one second of traffic.
			if err := g.Use(ctx, string(buf), time.Now().Add(benchTTL)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var benchTTL = time.Second

// TestMemoryGuardRestartRefusesOldProofs: an in-memory guard starts empty, so after a restart
// (guard A gone, guard B new) a proof used with A must not pass B. B refuses every proof whose
// iat second ended before B was made; proofs made after B's creation pass, including one made
// within B's first second (iat has whole seconds) and one from a client clock a second ahead.
func TestMemoryGuardRestartRefusesOldProofs(t *testing.T) {
	loadKeys(t)
	clock := &fixedClock{t: testNow}
	req := Request{Method: "POST", URL: testURL, AccessToken: "tok"}
	proofAt := func(iat time.Time) string {
		s := newSpec(t, "ES256", keyP256)
		s.claims["iat"] = iat.Unix()
		return s.sign(t)
	}
	va := &Verifier{Replay: newMemoryGuard(100, 6*time.Minute, clock.Now), Now: clock.Now}
	used := proofAt(testNow)
	if _, err := va.Verify(ctx, used, req); err != nil {
		t.Fatalf("first use with guard A: %v", err)
	}
	if _, err := va.Verify(ctx, used, req); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay with guard A: %v, want ErrReplay", err)
	}

	// The process restarts 2.4 s later: guard B remembers nothing.
	clock.Add(2400 * time.Millisecond)
	vb := &Verifier{Replay: newMemoryGuard(100, 6*time.Minute, clock.Now), Now: clock.Now}
	_, err := vb.Verify(ctx, used, req)
	var de *Error
	if !errors.Is(err, ErrForgotten) || !errors.As(err, &de) || de.Code != CodeInvalidProof {
		t.Fatalf("replay on the new guard B: %v, want invalid_dpop_proof (ErrForgotten)", err)
	}
	// Unused, but from a second that ended before B existed: B cannot know, so it refuses.
	if _, err := vb.Verify(ctx, proofAt(testNow.Add(time.Second)), req); !errors.Is(err, ErrForgotten) {
		t.Fatalf("a proof from the second before B: %v, want ErrForgotten", err)
	}
	// Made in B's first second (iat = its whole second), a second later, or by a clock a second
	// ahead: all pass, once.
	clock.Add(100 * time.Millisecond)
	for _, iat := range []time.Time{testNow.Add(2 * time.Second), testNow.Add(3 * time.Second)} {
		p := proofAt(iat)
		if _, err := vb.Verify(ctx, p, req); err != nil {
			t.Fatalf("fresh proof iat=+%v after the restart: %v", iat.Sub(testNow), err)
		}
		if _, err := vb.Verify(ctx, p, req); !errors.Is(err, ErrReplay) {
			t.Fatalf("its replay: %v, want ErrReplay", err)
		}
	}
	clock.Add(time.Second)
	if _, err := vb.Verify(ctx, proofAt(clock.Now().Truncate(time.Second)), req); err != nil {
		t.Fatalf("fresh proof a second after the restart: %v", err)
	}
}
