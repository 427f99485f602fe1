package ssf

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// memStore is an in-memory Store for the package's tests (the SQL stores have their own
// contract suite); it follows the interface comments of authserver/store/backchannel.go.
type memStore struct {
	mu       sync.Mutex
	seq      int64
	events   []*store.RevocationEvent
	streams  map[string]*store.EventStream
	watchers []chan struct{}
	// watchErr, when set, fails WatchRevocationEvents.
	watchErr error
}

func newMemStore() *memStore { return &memStore{streams: map[string]*store.EventStream{}} }

// append adds an event to the log and wakes the watchers, as a revocation would.
func (m *memStore) append(ev store.RevocationEvent) *store.RevocationEvent {
	m.mu.Lock()
	m.seq++
	ev.Seq = m.seq
	if ev.ID == "" {
		ev.ID = newStreamID()
	}
	e := &ev
	m.events = append(m.events, e)
	watchers := slices.Clone(m.watchers)
	m.mu.Unlock()
	for _, w := range watchers {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	return e
}

func (m *memStore) RevocationEventsAfter(_ context.Context, after int64, now time.Time, limit int) ([]*store.RevocationEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*store.RevocationEvent
	for _, e := range m.events {
		if e.Seq > after && e.ExpiresAt.After(now) && len(out) < limit {
			c := *e
			out = append(out, &c)
		}
	}
	return out, nil
}

func (m *memStore) RevocationEventSeqs(_ context.Context, ids []string) (map[string]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int64{}
	for _, e := range m.events {
		if slices.Contains(ids, e.ID) {
			out[e.ID] = e.Seq
		}
	}
	return out, nil
}

func (m *memStore) WatchRevocationEvents(ctx context.Context) (<-chan struct{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.watchErr != nil {
		return nil, m.watchErr
	}
	in := make(chan struct{}, 1)
	m.watchers = append(m.watchers, in)
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-in:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out, nil
}

func (m *memStore) CreateEventStream(_ context.Context, s *store.EventStream) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.ID == "" {
		s.ID = newStreamID()
	}
	now := time.Now()
	s.CreatedAt, s.UpdatedAt, s.LastPolledAt = now, now, now
	c := *s
	m.streams[s.ID] = &c
	return nil
}

func (m *memStore) GetEventStream(_ context.Context, id string) (*store.EventStream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.streams[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *s
	return &c, nil
}

func (m *memStore) ListEventStreams(_ context.Context, clientID string) ([]*store.EventStream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*store.EventStream
	for _, s := range m.streams {
		if s.ClientID == clientID {
			c := *s
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *store.EventStream) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (m *memStore) UpdateEventStream(_ context.Context, s *store.EventStream) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.streams[s.ID]
	if !ok {
		return store.ErrNotFound
	}
	c := *s
	c.AckedSeq, c.CreatedAt, c.LastPolledAt = old.AckedSeq, old.CreatedAt, old.LastPolledAt
	m.streams[s.ID] = &c
	return nil
}

func (m *memStore) DeleteEventStream(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.streams[id]; !ok {
		return store.ErrNotFound
	}
	delete(m.streams, id)
	return nil
}

func (m *memStore) AckEventStream(_ context.Context, id string, seq int64, polledAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.streams[id]
	if !ok {
		return store.ErrNotFound
	}
	s.AckedSeq = max(s.AckedSeq, seq)
	s.LastPolledAt = polledAt
	return nil
}

func (m *memStore) DeleteIdleEventStreams(_ context.Context, before time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, s := range m.streams {
		if s.LastPolledAt.Before(before) {
			delete(m.streams, id)
			n++
		}
	}
	return n, nil
}
