// Package sqlstore implements store.Store on SQLite (modernc.org/sqlite, pure Go) and
// PostgreSQL (github.com/jackc/pgx/v5). Both dialects share every query; only the schema
// types differ, and the schema is migrated at Open from migrations embedded per dialect.
//
// Representation: times are unix milliseconds (BIGINT), slices and maps are JSON text where
// SQL NULL stands for a nil slice or map, so "unset" and "empty" survive a round trip.
//
// Timestamps the store owns: CreatedAt is filled with the current time when zero on insert
// and kept on update; UpdatedAt is set to the current time on every client or resource
// write. Both are written back into the struct passed in.
//
// SQLite has a single writer: writes go through one connection so they queue instead of
// failing with SQLITE_BUSY, and the inserts that run on every token or authorization
// request (access and refresh tokens, codes, grants, sessions, grant jtis, replay keys) are
// group-committed with concurrent calls (see batcher). Reads use a separate read-only pool,
// which WAL mode lets run beside the writer. Writes that must be all or nothing (refresh
// token rotation, grant revocation) take the writer for a transaction of their own.
//
// Deletes and updates of a row that does not exist return store.ErrNotFound (except
// DeleteSession, which the contract makes idempotent), and so does linking a client or
// resource, or storing a refresh token or grant jti of a grant, that does not exist.
// Deleting a client deletes its client↔resource links and consents, deleting a resource its
// links; neither touches the grants or access tokens issued for it (RevokeClientGrants and
// RevokeClientAccessTokens do). Deleting an account leaves its sessions, consents and grants.
//
// Revision: triggers (migration 00008) bump one counter row in the transaction of every write
// of a client, resource or link, whichever code or person makes it, so instances sharing the
// database can poll Revision to learn that what they cached changed.
//
// Backchannel (migration 00009): every revoking method appends its revocation events in its
// own transaction (revocationevents.go); on PostgreSQL under an advisory lock so that seqs
// grow in commit order, announced with NOTIFY. Watchers of the log get a LISTEN connection
// of their own (PostgreSQL) or are woken after the appending transaction commits (SQLite).
// Logout deliveries are leased by one UPDATE ... RETURNING per claim (outbox.go).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Driver names accepted by Open.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Store is a store.Store backed by SQLite or PostgreSQL. It is safe for concurrent use.
type Store struct {
	dialect dialect
	// writer takes every write. For SQLite it holds a single connection so writers queue in
	// Go instead of failing with SQLITE_BUSY; for PostgreSQL it is the same pool as reader.
	writer *sql.DB
	reader *sql.DB
	stmts  statements
	// batch groups the hot writes into shared transactions; SQLite only.
	batch *batcher
	// events wakes the watchers of the revocation event log; SQLite only (PostgreSQL
	// watchers LISTEN instead, on connections made with dsn).
	events        *broadcaster
	releaseEvents func()
	dsn           string

	// closing ends when Close is called: watchers stop. listeners counts the PostgreSQL
	// watcher goroutines, which Close waits for.
	closing     context.Context
	stopWatches context.CancelFunc
	watchMu     sync.Mutex // orders addListener before Close's wait
	listeners   sync.WaitGroup
	// onListen, when set (tests), learns the backend PID of each watcher connection.
	onListen func(pid uint32)

	closeOnce sync.Once
	closeErr  error
}

// newStore returns a Store of dialect d on the given pools.
func newStore(d dialect, writer, reader *sql.DB) *Store {
	s := &Store{dialect: d, writer: writer, reader: reader}
	s.closing, s.stopWatches = context.WithCancel(context.Background())
	return s
}

var _ store.Store = (*Store)(nil)

// Open connects to the database, applies pending migrations and prepares the statements.
// For driver "sqlite" dsn is a file path (parent directories are created with mode 0700 and
// the file with mode 0600); for "postgres" it is a libpq URL or keyword/value string.
func Open(ctx context.Context, driver, dsn string) (*Store, error) {
	var (
		s   *Store
		err error
	)
	switch driver {
	case DriverSQLite:
		s, err = openSQLite(ctx, dsn)
	case DriverPostgres:
		s, err = openPostgres(ctx, dsn)
	default:
		return nil, fmt.Errorf("sqlstore: unknown driver %q (want %q or %q)", driver, DriverSQLite, DriverPostgres)
	}
	if err != nil {
		return nil, err
	}
	if err := s.stmts.prepare(ctx, s); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// sqliteSetupMu serializes switching to WAL and migrating within the process, so stores
// opened on the same file at once (e.g. during a Caddy config reload) do not trip over each
// other: SQLite answers a concurrent journal-mode change with SQLITE_BUSY right away.
var sqliteSetupMu sync.Mutex

func openSQLite(ctx context.Context, path string) (*Store, error) {
	// The DSN options are appended after '?', and ":memory:" would give each pool its own
	// database, so only plain file paths are accepted.
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlstore: sqlite dsn must be a plain file path, got %q", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlstore: create database directory: %w", err)
	}
	// Create the file ourselves so it is private; SQLite gives the -wal and -shm files the
	// same mode as the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: create database file: %w", err)
	}
	f.Close()

	const common = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	// _txlock=immediate takes the write lock at BEGIN, so a transaction never fails
	// half-way when another connection holds the lock; busy_timeout waits for it instead.
	writer, err := sql.Open("sqlite", path+"?"+common+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	reader, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxIdleTime(0)
	s := newStore(sqliteDialect{}, writer, reader)
	s.events, s.releaseEvents = broadcasterFor(path)

	sqliteSetupMu.Lock()
	defer sqliteSetupMu.Unlock()
	if err := enableWAL(ctx, writer); err != nil {
		s.Close()
		return nil, err
	}
	if err := migrate(ctx, s.dialect, writer); err != nil {
		s.Close()
		return nil, err
	}
	s.batch = newBatcher(writer, s.txDone)
	return s, nil
}

// enableWAL switches the database file to write-ahead logging, which is persistent, so
// readers never block the writer. Another process doing the same makes SQLite answer
// SQLITE_BUSY without waiting, hence the retries.
func enableWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil && !strings.EqualFold(mode, "wal") {
			err = fmt.Errorf("journal_mode is %q", mode)
		}
		if err == nil || sqliteCode(err)&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("sqlstore: enable WAL: %w", err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open postgres: %w", err)
	}
	// The default of 2 idle connections makes a busy pool reconnect constantly.
	n := max(8, 4*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect postgres: %w", err)
	}
	s := newStore(postgresDialect{}, db, db)
	s.dsn = dsn
	if err := migrate(ctx, s.dialect, db); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.writer.PingContext(ctx); err != nil {
		return err
	}
	if s.reader != s.writer {
		return s.reader.PingContext(ctx)
	}
	return nil
}

// Close releases the statements and connections. Calls after the first return its result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.watchMu.Lock()
		s.stopWatches()
		s.watchMu.Unlock()
		s.listeners.Wait()
		if s.releaseEvents != nil {
			s.releaseEvents()
		}
		if s.batch != nil {
			s.batch.close()
		}
		err := s.stmts.close()
		if s.reader != s.writer {
			err = errors.Join(err, s.reader.Close())
		}
		s.closeErr = errors.Join(err, s.writer.Close())
	})
	return s.closeErr
}
