package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "modernc.org/sqlite/lib"
)

// Unavailable reports whether err is the database failing rather than a request or a bug: the
// server unreachable, restarting or shutting down, out of connections, memory or disk, or too
// busy to answer in time. The authorization server answers those 503 temporarily_unavailable,
// which clients retry, instead of 500 (store.ErrorClassifier).
func (s *Store) Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ENOSPC), errors.As(err, &netErr):
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) || pgconn.SafeToRetry(err) {
		return true
	}
	if code := pgCode(err); code != "" {
		// Class 08 connection exception, 53 insufficient resources (disk full, out of memory,
		// too many connections), 57P admin or crash shutdown, cannot connect now; 40001 and
		// 40P01 (serialization failure, deadlock) are worth a retry too.
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || strings.HasPrefix(code, "57P") ||
			code == "40001" || code == "40P01"
	}
	switch sqliteCode(err) & 0xff { // the primary result code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}
