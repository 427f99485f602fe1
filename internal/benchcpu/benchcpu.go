// Package benchcpu reports a benchmark's CPU time per operation beside Go's wall-clock ns/op.
// On a shared machine wall time counts the time other processes held the core; the CPU time
// of the benchmark's own thread does not, so before/after comparisons stay meaningful on a
// loaded machine (it still feels caches and SMT siblings, so compare runs interleaved).
package benchcpu

import (
	"runtime"
	"testing"
)

// Start locks the benchmark goroutine to its thread and reads the thread's CPU time; the
// returned stop (call it after the loop, timer still running) reports "cpu-ns/op". Work done
// on other goroutines (a cache's background processing) is not counted. Where the thread's
// CPU time cannot be read, stop reports nothing.
func Start(b *testing.B) (stop func()) {
	runtime.LockOSThread()
	t0, ok := threadCPU()
	return func() {
		t1, ok1 := threadCPU()
		runtime.UnlockOSThread()
		if ok && ok1 && b.N > 0 {
			b.ReportMetric(float64(t1-t0)/float64(b.N), "cpu-ns/op")
		}
	}
}
