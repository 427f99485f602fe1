package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// maxBatch bounds how many writes share one transaction.
const maxBatch = 256

var errClosed = errors.New("sqlstore: store is closed")

// batcher commits small SQLite writes issued concurrently in shared transactions (group
// commit). SQLite has one writer at a time and a commit costs far more than an insert, so
// the token endpoint's one-row-per-request inserts scale only when commits are shared.
// Writes queue while a transaction commits and the next transaction takes all of them;
// a lone write is not delayed.
type batcher struct {
	db *sql.DB
	// txDone is told how each batch's transaction ended.
	txDone func(tx *sql.Tx, committed bool)

	reqs chan *batchReq // unbuffered: a write is either taken by the loop or never sent
	quit chan struct{}
	done chan struct{}
}

type batchReq struct {
	ctx context.Context
	// fn runs the write in tx. It returns store.ErrConflict or store.ErrNotFound for an
	// outcome of this write alone; any other error fails the whole batch.
	fn   func(ctx context.Context, tx *sql.Tx) error
	errc chan error
}

func newBatcher(db *sql.DB, txDone func(tx *sql.Tx, committed bool)) *batcher {
	b := &batcher{db: db, txDone: txDone, reqs: make(chan *batchReq), quit: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

// do runs fn in the next batch and returns its result. If ctx ends after the write was
// queued, do returns early but the write may still commit.
func (b *batcher) do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	r := &batchReq{ctx: ctx, fn: fn, errc: make(chan error, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.quit:
		return errClosed
	}
	select {
	case err := <-r.errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the loop after the batch in flight.
func (b *batcher) close() {
	close(b.quit)
	<-b.done
}

func (b *batcher) loop() {
	defer close(b.done)
	batch := make([]*batchReq, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-b.quit:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		b.run(batch)
	}
}

func (b *batcher) run(batch []*batchReq) {
	// The writes run on the loop's context, not the callers': one caller giving up must not
	// abort the transaction it shares with others.
	ctx := context.Background()
	fail := func(err error) {
		for _, r := range batch {
			r.errc <- err
		}
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("sqlstore: begin batch: %w", err))
		return
	}
	errs := make([]error, len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		err := r.fn(ctx, tx)
		// A constraint violation undoes only its own statement in SQLite, so the rest of the
		// batch stands. Anything else may have rolled the transaction back: fail it all.
		if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			tx.Rollback()
			b.txDone(tx, false)
			fail(err)
			return
		}
		errs[i] = err
	}
	err = tx.Commit()
	b.txDone(tx, err == nil)
	if err != nil {
		fail(fmt.Errorf("sqlstore: commit batch: %w", err))
		return
	}
	for i, r := range batch {
		r.errc <- errs[i]
	}
}

// exec runs a prepared write statement, through the batcher when there is one, and passes
// its outcome to handle, which maps it to the method's result.
func (s *Store) exec(ctx context.Context, stmt *sql.Stmt, handle func(sql.Result, error) error, args ...any) error {
	if s.batch == nil {
		res, err := stmt.ExecContext(ctx, args...)
		return handle(res, err)
	}
	return s.batch.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
		return handle(res, err)
	})
}

// writeTx runs fn in a write transaction: on SQLite in the next group-committed batch, on
// PostgreSQL in a transaction of its own. In a batch, fn's ErrConflict or ErrNotFound does
// not roll back the rest, so fn must return them before it has written anything.
func (s *Store) writeTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if s.batch != nil {
		return s.batch.do(ctx, fn)
	}
	return s.inTx(ctx, fn)
}

// inTx runs fn in a transaction of its own, committed when fn returns nil. On SQLite the
// transaction holds the single writer connection, so fn must use tx for every statement:
// anything that needs the writer otherwise (s.exec, a writer statement outside tx) would
// wait for the connection fn holds.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback()
		s.txDone(tx, false)
		return err
	}
	err = tx.Commit()
	s.txDone(tx, err == nil)
	if err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}
