package sqlstore

import (
	"errors"

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
