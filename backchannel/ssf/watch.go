package ssf

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// hub wakes every waiting poll at once. A poll takes the current wake channel BEFORE it reads
// the event log, then waits on it: an event appended after the read closes that channel, so
// no wake-up falls between the read and the wait.
type hub struct {
	mu   sync.Mutex
	wake chan struct{}
}

func newHub() *hub { return &hub{wake: make(chan struct{})} }

// next returns the channel the next broadcast closes.
func (h *hub) next() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wake
}

// broadcast wakes every poll waiting on the current channel.
func (h *hub) broadcast() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.wake)
	h.wake = make(chan struct{})
}

// Backoff of the watcher when the store cannot watch (database down).
const (
	watchRetryMin = time.Second
	watchRetryMax = 30 * time.Second
)

// watch is the one reader of store.WatchRevocationEvents per Server: each wake-up is passed
// on to every waiting poll and to OnEvents. When watching fails it wakes the polls anyway
// (they re-read the log, which costs one query each and may find events) and retries with
// backoff.
func (s *Server) watch(ctx context.Context) {
	retry := watchRetryMin
	for ctx.Err() == nil {
		events, err := s.deps.Store.WatchRevocationEvents(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("watching the revocation event log failed; retrying", zap.Error(err), zap.Duration("retry_in", retry))
			s.wakeAll()
			if !sleep(ctx, retry) {
				return
			}
			retry = min(2*retry, watchRetryMax)
			continue
		}
		retry = watchRetryMin
		for range events {
			s.wakeAll()
		}
		// The channel closes when ctx ends; otherwise the store gave up: watch again, after a
		// pause so that a store closing every channel at once cannot spin this loop.
		if ctx.Err() == nil {
			s.wakeAll()
			if !sleep(ctx, watchRetryMin) {
				return
			}
		}
	}
}

func (s *Server) wakeAll() {
	s.hub.broadcast()
	if s.deps.OnEvents != nil {
		s.deps.OnEvents()
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pollLimiter bounds each client's concurrent waiting polls.
type pollLimiter struct {
	mu      sync.Mutex
	max     int
	waiting map[string]int
}

func newPollLimiter(max int) *pollLimiter {
	return &pollLimiter{max: max, waiting: map[string]int{}}
}

// acquire takes a slot for clientID, or reports false when it has max waiting polls.
func (l *pollLimiter) acquire(clientID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting[clientID] >= l.max {
		return false
	}
	l.waiting[clientID]++
	return true
}

func (l *pollLimiter) release(clientID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting[clientID]--; l.waiting[clientID] <= 0 {
		delete(l.waiting, clientID)
	}
}

// count returns how many polls of clientID are waiting.
func (l *pollLimiter) count(clientID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiting[clientID]
}
