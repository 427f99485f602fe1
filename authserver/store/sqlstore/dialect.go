package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds what differs between the databases once the schema exists: the migration
// set and how constraint violations are reported. The queries themselves are shared.
type dialect interface {
	name() string
	gooseDialect() goose.Dialect
	isUniqueViolation(err error) bool
	isForeignKeyViolation(err error) bool
	rowLock() string
	// claimLock is appended to the SELECT that picks the outbox rows a claim leases.
	claimLock() string
	// lockEventLog is run in a transaction that is about to append revocation events,
	// before the first insert; announceEvents after the last one.
	lockEventLog(ctx context.Context, tx *sql.Tx) error
	announceEvents(ctx context.Context, tx *sql.Tx) error
}

type sqliteDialect struct{}

func (sqliteDialect) name() string                { return DriverSQLite }
func (sqliteDialect) gooseDialect() goose.Dialect { return goose.DialectSQLite3 }

func (sqliteDialect) isUniqueViolation(err error) bool {
	code := sqliteCode(err)
	return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func (sqliteDialect) isForeignKeyViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

type postgresDialect struct{}

func (postgresDialect) name() string                { return DriverPostgres }
func (postgresDialect) gooseDialect() goose.Dialect { return goose.DialectPostgres }

// SQLSTATE codes, see https://www.postgresql.org/docs/current/errcodes-appendix.html.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

func (postgresDialect) isUniqueViolation(err error) bool {
	return pgCode(err) == pgUniqueViolation
}

func (postgresDialect) isForeignKeyViolation(err error) bool {
	return pgCode(err) == pgForeignKeyViolation
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// rowLock returns the clause that makes a SELECT inside a write transaction lock the rows
// it reads against concurrent updates until the transaction ends. SQLite needs none: its
// writers run one at a time.
func (sqliteDialect) rowLock() string { return "" }

func (postgresDialect) rowLock() string { return " FOR SHARE" }

// SQLite needs no claim lock: the single writer runs one claim at a time.
func (sqliteDialect) claimLock() string { return "" }

// A concurrent claim skips the rows this one leases instead of waiting for them and then
// finding them no longer due.
func (postgresDialect) claimLock() string { return " FOR UPDATE SKIP LOCKED" }

// SQLite appends under the single writer, so seqs grow in commit order by themselves, and
// its watchers live in this process (see broadcaster).
func (sqliteDialect) lockEventLog(context.Context, *sql.Tx) error   { return nil }
func (sqliteDialect) announceEvents(context.Context, *sql.Tx) error { return nil }

// revocationEventsLockID is the transaction-level advisory lock every transaction appending
// revocation events takes (crc32 of "caddy-oauth revocation events").
const revocationEventsLockID int64 = 1845719854

// revocationsChannel is the LISTEN/NOTIFY channel that announces appended events.
const revocationsChannel = "caddy_oauth_revocations"

// lockEventLog makes seqs grow in commit order. A BIGSERIAL value is taken when the row is
// inserted, not when the transaction commits: without the lock, a transaction that took seq
// 7 could commit after another took and committed seq 8, and a stream reading in between
// would move its position past 8 and never see 7. Holding the lock from before the insert to
// the commit lets only one appending transaction exist at a time. It is taken after the
// revocation's own row locks and nothing is locked after it, so it cannot deadlock.
func (postgresDialect) lockEventLog(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", revocationEventsLockID); err != nil {
		return fmt.Errorf("lock revocation event log: %w", err)
	}
	return nil
}

// announceEvents queues a notification that PostgreSQL delivers at commit, and drops if the
// transaction rolls back, to the watchers of every instance.
func (postgresDialect) announceEvents(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "SELECT pg_notify('"+revocationsChannel+"', '')"); err != nil {
		return fmt.Errorf("notify revocation event watchers: %w", err)
	}
	return nil
}
