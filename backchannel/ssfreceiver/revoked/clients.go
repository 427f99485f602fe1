package revoked

import (
	"sync"
	"sync/atomic"
	"time"
)

// clientCut is one client's cut-off: its tokens issued at or before at (Unix seconds) are
// revoked, and none of them is valid after until.
type clientCut struct{ at, until int64 }

// clientCuts holds the clients whose tokens were all revoked up to a time. Such revocations
// are rare (an operator ending every token of one client), so the map is copied on write and
// read without a lock; an empty one costs a pointer load per request.
type clientCuts struct {
	mu sync.Mutex // writers only
	m  atomic.Pointer[map[string]clientCut]
}

// CutOffClient records that every access token of clientID issued at or before at is revoked
// (none is valid after until). It reports false for an empty client ID. A second cut-off for
// the client keeps the later time and the later until: the later cut-off covers the earlier.
func (s *Set) CutOffClient(clientID string, at, until time.Time) bool {
	if clientID == "" {
		return false
	}
	c := &s.clients
	c.mu.Lock()
	defer c.mu.Unlock()
	next := map[string]clientCut{}
	if old := c.m.Load(); old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	cut := clientCut{at: at.Unix(), until: max(until.Unix(), 0)}
	if prev, ok := next[clientID]; ok {
		cut = clientCut{at: max(prev.at, cut.at), until: max(prev.until, cut.until)}
	}
	next[clientID] = cut
	c.m.Store(&next)
	return true
}

// ClientCutOff reports whether a token of clientID issued at issuedAt falls under the client's
// cut-off. Times are compared in whole seconds (a JWT's iat), which errs on the side of
// refusing: a token issued later within the cut-off's own second is refused too. A token
// without an issue time (zero) is refused when its client has a cut-off.
func (s *Set) ClientCutOff(clientID string, issuedAt time.Time) bool {
	m := s.clients.m.Load()
	if m == nil || clientID == "" {
		return false
	}
	cut, ok := (*m)[clientID]
	return ok && (issuedAt.IsZero() || issuedAt.Unix() <= cut.at)
}

// sweep drops the cut-offs whose until is before cutoff and returns how many.
func (c *clientCuts) sweep(cutoff int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old == nil {
		return 0
	}
	next := map[string]clientCut{}
	for k, v := range *old {
		if v.until >= cutoff {
			next[k] = v
		}
	}
	if dropped := len(*old) - len(next); dropped > 0 {
		c.m.Store(&next)
		return dropped
	}
	return 0
}

// len is the number of clients with a cut-off.
func (c *clientCuts) len() int {
	if m := c.m.Load(); m != nil {
		return len(*m)
	}
	return 0
}
