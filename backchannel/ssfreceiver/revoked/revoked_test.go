package revoked

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
)

type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Unix(1_800_000_000, 0).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestSetExpiryAndSweep(t *testing.T) {
	clock := newFakeClock()
	s := New(clock.now)
	s.Add(secevent.KindJTI, "short", clock.now().Add(time.Minute))
	s.Add(secevent.KindGrant, "long", clock.now().Add(time.Hour))
	// Adding a value again keeps the later until.
	s.Add(secevent.KindGrant, "long", clock.now().Add(time.Second))
	if !s.Add(secevent.KindTokenHash, hashOf("t"), clock.now().Add(time.Minute)) {
		t.Fatal("token hash refused")
	}
	for _, bad := range []struct{ kind, value string }{
		{secevent.KindTokenHash, "not-base64!"}, {secevent.KindTokenHash, "c2hvcnQ"}, {"sub", "x"}, {secevent.KindJTI, ""},
	} {
		if s.Add(bad.kind, bad.value, clock.now().Add(time.Hour)) {
			t.Errorf("Add(%q, %q) accepted", bad.kind, bad.value)
		}
	}
	if s.Len() != 3 || !s.Has(secevent.KindJTI, "short") || !s.Has(secevent.KindTokenHash, hashOf("t")) {
		t.Fatalf("len %d", s.Len())
	}
	clock.advance(2 * time.Minute)
	if n := s.Sweep(); n != 0 {
		t.Errorf("swept %d within the grace period", n)
	}
	if !s.Has(secevent.KindJTI, "short") {
		t.Error("an entry dropped within the grace period (a token accepted within clock skew would pass)")
	}
	clock.advance(SweepGrace)
	if n := s.Sweep(); n != 2 {
		t.Errorf("swept %d, want 2", n)
	}
	if s.Len() != 1 || !s.Has(secevent.KindGrant, "long") {
		t.Errorf("after sweep: len %d, long kept %v", s.Len(), s.Has(secevent.KindGrant, "long"))
	}
}

func TestRevokedLookupAllocatesNothing(t *testing.T) {
	s := New(nil)
	for i := range 1000 {
		for _, k := range []string{secevent.KindJTI, secevent.KindGrant, secevent.KindSession} {
			s.Add(k, fmt.Sprint(k, i), time.Now().Add(time.Hour))
		}
		s.Add(secevent.KindTokenHash, hashOf(fmt.Sprint(i)), time.Now().Add(time.Hour))
	}
	if allocs := testing.AllocsPerRun(1000, func() { s.Revoked("opaque", "live", "g", "s") }); allocs != 0 {
		t.Errorf("Revoked allocates %v times per call", allocs)
	}
}

// TestSetMemoryPerEntry measures the heap held per revoked entry with 1,000,000 jti
// entries (the figure the documentation quotes) and checks it stays within a budget.
func TestSetMemoryPerEntry(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocates about 100 MB; a measurement, meaningless under the race detector")
	}
	const n = 1_000_000
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf("%022d", i) // as long as a 128-bit base64url jti
	}
	until := time.Now().Add(time.Hour)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := New(nil)
	for _, v := range values {
		s.Add(secevent.KindJTI, v, until)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("revoked set: %.1f bytes per entry with %d entries (identifier strings are not kept)", perEntry, n)
	if perEntry > 64 {
		t.Errorf("%.1f bytes per entry, budget 64", perEntry)
	}
	if !s.Has(secevent.KindJTI, values[n-1]) || s.Len() != n {
		t.Fatal("entries missing")
	}
	runtime.KeepAlive(values)
}

// BenchmarkRevoked compares a lookup in an empty set with one in a set of 1,000,000 entries.
func BenchmarkRevoked(b *testing.B) {
	for _, size := range []int{0, 1_000_000} {
		s := New(nil)
		for i := range size {
			s.Add(secevent.KindJTI, fmt.Sprintf("%022d", i), time.Now().Add(time.Hour))
		}
		b.Run(fmt.Sprintf("entries=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if s.Revoked("a.b.c", "live-jti-not-revoked-x", "g", "s") {
					b.Fatal("revoked")
				}
			}
		})
	}
}

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestConcurrentReadersAndWriters: lookups run while entries are added and swept (tables
// grow and are rebuilt under them); every entry added is found until swept, none after.
func TestConcurrentReadersAndWriters(t *testing.T) {
	clock := newFakeClock()
	s := New(clock.now)
	const n = 20_000
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				s.Revoked("tok", "j-1", "g-1", "s-1")
			}
		})
	}
	for i := range n {
		s.Add(secevent.KindJTI, fmt.Sprint("a", i), clock.now().Add(time.Minute))
		s.Add(secevent.KindJTI, fmt.Sprint("b", i), clock.now().Add(time.Hour))
		if i%1000 == 999 {
			s.Sweep()
		}
	}
	for i := range n {
		if !s.Has(secevent.KindJTI, fmt.Sprint("a", i)) || !s.Has(secevent.KindJTI, fmt.Sprint("b", i)) {
			t.Fatalf("entry %d missing", i)
		}
	}
	clock.advance(time.Minute + SweepGrace + time.Second)
	if got := s.Sweep(); got != n {
		t.Errorf("swept %d, want %d", got, n)
	}
	close(done)
	wg.Wait()
	for i := range n {
		if s.Has(secevent.KindJTI, fmt.Sprint("a", i)) {
			t.Fatalf("swept entry %d still found", i)
		}
		if !s.Has(secevent.KindJTI, fmt.Sprint("b", i)) {
			t.Fatalf("live entry %d lost in a rebuild", i)
		}
	}
	if s.Len() != n {
		t.Errorf("Len %d, want %d", s.Len(), n)
	}
	if !s.FirstSight("x", clock.now().Add(time.Hour)) || s.FirstSight("x", clock.now().Add(time.Hour)) {
		t.Error("FirstSight")
	}
}
