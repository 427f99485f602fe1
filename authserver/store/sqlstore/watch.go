package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// WatchRevocationEvents returns a channel that receives a value soon after revocation events
// are appended: on SQLite by any store of this process open on the same file (the process
// is the file's only writer), on PostgreSQL by any instance sharing the database. Wake-ups coalesce (buffer of one) and may be spurious. The channel
// closes when ctx ends or the store is closed.
func (s *Store) WatchRevocationEvents(ctx context.Context) (<-chan struct{}, error) {
	if s.closing.Err() != nil {
		return nil, errClosed
	}
	if s.events != nil {
		return s.events.watch(ctx, s.closing), nil
	}
	return s.listenRevocations(ctx)
}

// wake sends a coalescing wake-up: a watcher that has one pending needs no second.
func wake(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// broadcaster wakes this process's watchers of a SQLite store after a transaction that
// appended revocation events commits. It must wait for the commit: a watcher woken earlier
// would read the log before the events are visible and then sleep through them.
type broadcaster struct {
	mu       sync.Mutex
	watchers map[chan struct{}]struct{}
	// appended holds the open transactions that appended events; a transaction (not a
	// store-wide flag) because a commit must not announce another transaction's events.
	appended map[*sql.Tx]struct{}
}

// broadcasters holds one broadcaster per SQLite file, shared by every store of this process
// open on it (a config reload opens a second store before closing the first), so that a
// watcher of one is woken by appends through the other.
var broadcasters = struct {
	sync.Mutex
	byPath map[string]*sharedBroadcaster
}{byPath: map[string]*sharedBroadcaster{}}

type sharedBroadcaster struct {
	*broadcaster
	users int
}

// broadcasterFor returns the broadcaster of the database file at path and the function that
// releases it when the store closes.
func broadcasterFor(path string) (*broadcaster, func()) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	broadcasters.Lock()
	defer broadcasters.Unlock()
	sb := broadcasters.byPath[path]
	if sb == nil {
		sb = &sharedBroadcaster{broadcaster: &broadcaster{watchers: map[chan struct{}]struct{}{}, appended: map[*sql.Tx]struct{}{}}}
		broadcasters.byPath[path] = sb
	}
	sb.users++
	return sb.broadcaster, func() {
		broadcasters.Lock()
		defer broadcasters.Unlock()
		if sb.users--; sb.users == 0 {
			delete(broadcasters.byPath, path)
		}
	}
}

// appendedIn records that tx appended events.
func (b *broadcaster) appendedIn(tx *sql.Tx) {
	b.mu.Lock()
	b.appended[tx] = struct{}{}
	b.mu.Unlock()
}

// txDone is called when tx ended; if it committed events, every watcher is woken.
func (b *broadcaster) txDone(tx *sql.Tx, committed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.appended[tx]; !ok {
		return
	}
	delete(b.appended, tx)
	if committed {
		for ch := range b.watchers {
			wake(ch)
		}
	}
}

func (b *broadcaster) watch(ctx, closing context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.watchers[ch] = struct{}{}
	b.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-closing.Done():
		}
		// Under the lock, so that no wake-up is sent on the closed channel.
		b.mu.Lock()
		delete(b.watchers, ch)
		close(ch)
		b.mu.Unlock()
	}()
	return ch
}

// txDone tells the SQLite broadcaster that a write transaction ended.
func (s *Store) txDone(tx *sql.Tx, committed bool) {
	if s.events != nil {
		s.events.txDone(tx, committed)
	}
}

// Reconnection delays of a PostgreSQL watcher whose connection failed.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 10 * time.Second
	// listenConnectTimeout bounds one connection attempt, so an unreachable server is
	// retried rather than waited for.
	listenConnectTimeout = 10 * time.Second
)

// listenRevocations gives the watcher a connection of its own, outside the pool: LISTEN
// belongs to a session, and a pooled connection would be handed to other work. The first
// connection is made before returning, so events committed after the call are announced;
// its failure is the caller's error.
func (s *Store) listenRevocations(ctx context.Context) (<-chan struct{}, error) {
	ctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(s.closing, cancel)
	conn, err := s.listenConn(ctx)
	if err != nil {
		stopOnClose()
		cancel()
		return nil, fmt.Errorf("sqlstore: watch revocation events: %w", err)
	}
	ch := make(chan struct{}, 1)
	if !s.addListener() {
		conn.Close(context.Background())
		stopOnClose()
		cancel()
		return nil, errClosed
	}
	go func() {
		defer s.listeners.Done()
		defer stopOnClose()
		defer cancel()
		defer close(ch)
		s.listenLoop(ctx, conn, ch)
	}()
	return ch, nil
}

// addListener counts a listener goroutine about to start, unless the store is closing:
// Close must not wait for the goroutines before every one of them was counted.
func (s *Store) addListener() bool {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.closing.Err() != nil {
		return false
	}
	s.listeners.Add(1)
	return true
}

// listenLoop forwards notifications to ch until ctx ends, reconnecting with backoff when
// the connection fails. After a reconnect it wakes the watcher, since events may have
// been appended while nobody listened.
func (s *Store) listenLoop(ctx context.Context, conn *pgx.Conn, ch chan<- struct{}) {
	delay := listenRetryMin
	for {
		if conn == nil {
			var err error
			if conn, err = s.listenConn(ctx); err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(delay):
				}
				delay = min(2*delay, listenRetryMax)
				continue
			}
			delay = listenRetryMin
			wake(ch)
		}
		if _, err := conn.WaitForNotification(ctx); err != nil {
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(closeCtx)
			cancel()
			conn = nil
			if ctx.Err() != nil {
				return
			}
			continue
		}
		wake(ch)
	}
}

// listenConn opens a connection with the store's DSN and listens on the revocations channel.
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, listenConnectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+revocationsChannel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	if s.onListen != nil {
		s.onListen(conn.PgConn().PID())
	}
	return conn, nil
}
