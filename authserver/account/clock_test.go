package account

import (
	"sync"
	"time"
)

// fakeClock is the limiter's clock in tests. With auto set, Sleep moves the time forward at
// once (and adds up what was slept); otherwise Sleep blocks until Advance reaches its end.
type fakeClock struct {
	mu       sync.Mutex
	cond     *sync.Cond
	now      time.Time
	auto     bool
	slept    time.Duration
	sleepers map[*sleeper]bool
	maxNap   int // the most goroutines ever in Sleep at once
	running  int // see track: goroutines neither finished nor asleep
}

type sleeper struct {
	end   time.Time
	woken bool
}

func newFakeClock(auto bool) *fakeClock {
	c := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), auto: auto, sleepers: map[*sleeper]bool{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept += d
	if c.auto {
		c.now = c.now.Add(d)
		return
	}
	s := &sleeper{end: c.now.Add(d)}
	c.sleepers[s] = true
	c.maxNap = max(c.maxNap, len(c.sleepers))
	c.running--
	c.cond.Broadcast()
	for !s.woken {
		c.cond.Wait()
	}
}

// Advance moves the time forward, waking the sleepers whose time has come; they count as
// running from now on.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for s := range c.sleepers {
		if !c.now.Before(s.end) {
			s.woken = true
			delete(c.sleepers, s)
			c.running++
		}
	}
	c.cond.Broadcast()
}

// track runs f in a goroutine counted as running until it finishes or sleeps, so that
// settle can wait for every tracked goroutine to reach one of those states.
func (c *fakeClock) track(wg *sync.WaitGroup, f func()) {
	c.mu.Lock()
	c.running++
	c.mu.Unlock()
	wg.Go(func() {
		defer func() {
			c.mu.Lock()
			c.running--
			c.cond.Broadcast()
			c.mu.Unlock()
		}()
		f()
	})
}

// settle waits until every tracked goroutine has finished or sleeps. Sleepers woken by
// Advance count as running again until they finish or sleep once more.
func (c *fakeClock) settle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.running > 0 {
		c.cond.Wait()
	}
}

// sleeping reports how many goroutines wait in Sleep now.
func (c *fakeClock) sleeping() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}

func (c *fakeClock) totalSlept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}
