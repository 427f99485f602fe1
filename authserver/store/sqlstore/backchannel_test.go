package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/storetest"
)

// openShared opens two stores on one new database, as two instances would.
func openShared(t *testing.T, b backend) (*Store, *Store) {
	t.Helper()
	dsn := b.newDSN(t)
	s1, s2 := b.open(t, dsn), b.open(t, dsn)
	t.Cleanup(func() { s1.Close(); s2.Close() })
	return s1, s2
}

// TestClaimAcrossInstances: claims made through two stores on one database never return
// the same delivery (FOR UPDATE SKIP LOCKED on PostgreSQL, the file lock on SQLite).
func TestClaimAcrossInstances(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			s1, s2 := openShared(t, mk(t))
			storetest.RaceClaims(t, []store.Store{s1, s2}, s1)
		})
	}
}

// TestWatchAcrossInstances: a watcher of one store is woken by an append made through
// another store on the same database.
func TestWatchAcrossInstances(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			s1, s2 := openShared(t, mk(t))
			ch, err := s1.WatchRevocationEvents(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := s2.RevokeJTI(t.Context(), "jti", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			storetest.AwaitWake(t, ch, "append through another store")
		})
	}
}

// TestWatchClosesWithStore: closing the store ends its watchers.
func TestWatchClosesWithStore(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			s := b.open(t, b.newDSN(t))
			ch, err := s.WatchRevocationEvents(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			select {
			case _, ok := <-ch:
				if ok {
					t.Fatal("received a wake-up instead of the channel closing")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the watch channel did not close with the store")
			}
			if _, err := s.WatchRevocationEvents(t.Context()); err == nil {
				t.Error("watching a closed store succeeded")
			}
		})
	}
}

// TestWatchReconnects: a PostgreSQL watcher whose connection dies reconnects on its own,
// wakes its reader (events may have been appended meanwhile) and keeps listening.
func TestWatchReconnects(t *testing.T) {
	b := postgresBackend(t)
	dsn := b.newDSN(t)
	pids := make(chan uint32, 10)
	s1 := b.open(t, dsn)
	defer s1.Close()
	s1.onListen = func(pid uint32) { pids <- pid }
	s2 := b.open(t, dsn)
	defer s2.Close()

	ch, err := s1.WatchRevocationEvents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	first := <-pids
	storetest.Drain(ch)
	var ok bool
	if err := s2.reader.QueryRowContext(t.Context(), "SELECT pg_terminate_backend($1)", int64(first)).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate the watcher's backend: %v, %v", ok, err)
	}
	storetest.AwaitWake(t, ch, "after the watcher's connection was terminated")
	select {
	case pid := <-pids:
		if pid == first {
			t.Fatalf("reconnected with the same backend %d", pid)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnect")
	}
	// Listening again: an append through the other store wakes it.
	storetest.Drain(ch)
	if err := s2.RevokeJTI(t.Context(), "after-reconnect", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	storetest.AwaitWake(t, ch, "append after the reconnect")
}

// TestEventsReadInCommitOrder: while two stores append events concurrently, a reader that
// follows the log by seq (as a stream does) never skips an event, which it would if a seq
// became visible after a higher one (see postgresDialect.lockEventLog).
func TestEventsReadInCommitOrder(t *testing.T) {
	for name, mk := range backends() {
		t.Run(name, func(t *testing.T) {
			s1, s2 := openShared(t, mk(t))
			ctx := t.Context()
			const writers, perWriter = 8, 25
			exp := time.Now().Add(time.Hour)
			var wg sync.WaitGroup
			done := make(chan struct{})
			errs := make(chan error, writers)
			for w := range writers {
				s := []*Store{s1, s2}[w%2]
				wg.Go(func() {
					for i := range perWriter {
						if err := s.RevokeJTI(ctx, fmt.Sprintf("w%d-%d", w, i), exp); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			go func() { wg.Wait(); close(done) }()

			seen := map[string]bool{}
			var pos int64
			read := func() {
				evs, err := s1.RevocationEventsAfter(ctx, pos, time.Now(), 7)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range evs {
					seen[e.Value] = true
					pos = e.Seq
				}
			}
			for finished := false; !finished; {
				select {
				case <-done:
					finished = true
				default:
				}
				read()
			}
			for before := -1; len(seen) != before; {
				before = len(seen)
				read()
			}
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			all, err := s1.RevocationEventsAfter(ctx, 0, time.Now(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != writers*perWriter {
				t.Fatalf("log holds %d events, want %d", len(all), writers*perWriter)
			}
			var missed []string
			for _, e := range all {
				if !seen[e.Value] {
					missed = append(missed, fmt.Sprintf("%s (seq %d)", e.Value, e.Seq))
				}
			}
			if len(missed) > 0 {
				t.Errorf("the reader following the log skipped %d events: %v", len(missed), missed)
			}
		})
	}
}

// TestListenerContextEnds: a PostgreSQL watcher ends, and closes its connection, when its
// context does, without the store closing.
func TestListenerContextEnds(t *testing.T) {
	b := postgresBackend(t)
	s := b.open(t, b.newDSN(t))
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.WatchRevocationEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("wake-up instead of close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch channel did not close")
	}
	s.listeners.Wait() // the goroutine is gone
}
