package store

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
	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// ErrUnavailable marks a failure to reach the database or to get an answer
// from it: the connection was refused, cut or timed out, the server is
// shutting down or refuses connections. It is not the caller's fault and
// may pass by itself, so the HTTP layer answers it with 503 and
// Retry-After, never with an error that blames the client (an unknown
// client, a bad grant). "Not found" stays ErrNotFound.
//
// Errors the store returns carry it (errors.Is(err, ErrUnavailable)) where
// they pass through translate or lookupErr; IsUnavailable also recognises a
// connection failure that reached the caller unwrapped.
var ErrUnavailable = errors.New("store: database unavailable")

// unavailableError wraps a database failure so that it is ErrUnavailable
// while keeping the driver's error (and its text, for the log).
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "database unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }
func (e *unavailableError) Is(target error) bool {
	return target == ErrUnavailable
}

// IsUnavailable reports whether err is (or wraps) a failure to reach the
// database rather than an answer from it: ErrUnavailable, or an error only
// the database driver makes (a failed connect, a connection it closed, a
// pool closed under it). Generic network errors count only where the
// store itself saw them come from the database (and marked them).
func IsUnavailable(err error) bool {
	return err != nil && (errors.Is(err, ErrUnavailable) || driverFailure(err))
}

// unavailable returns err marked as ErrUnavailable when it is a connection
// failure, and err unchanged otherwise.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !connectionFailure(err) {
		return err
	}
	return &unavailableError{err: err}
}

// lookupErr is what a lookup fosite makes answers for a database error:
// ErrNotFound for a missing row (fosite turns it into invalid_client,
// invalid_grant…), and for anything else the database said or failed to
// say, ErrUnavailable ("could not look up"), so that fosite's conversion
// of a lookup error into a client error can be undone (oauth.Normalize).
func lookupErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows), errors.Is(err, ErrNotFound):
		return ErrNotFound
	case errors.Is(err, ErrUnavailable):
		return err
	case isFositeError(err):
		return err
	}
	return &unavailableError{err: err}
}

func isFositeError(err error) bool {
	var rfc *fosite.RFC6749Error
	return errors.As(err, &rfc)
}

// connectionFailure: the database could not be reached or did not answer
// (err came from the database driver).
func connectionFailure(err error) bool {
	if driverFailure(err) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// driverFailure: errors only the database drivers make when they cannot
// serve. PostgreSQL's own answers count only when they say the server
// cannot serve (class 08 connection exception, 53 insufficient resources,
// 57P0x shutting down, 55000 "not accepting connections", 3D000 no such
// database); a constraint or a syntax error is an answer, not an outage.
func driverFailure(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true // refused, timed out, or turned away while connecting
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		c := pgErr.Code
		return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "53") || strings.HasPrefix(c, "57P") ||
			c == "55000" || c == "3D000"
	}
	if pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	// pgx's text for a connection it closed after a failure, database/sql's
	// for a pool closed under it, SQLite's for a lock it waited out.
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		if strings.Contains(msg, "conn closed") || strings.Contains(msg, "database is closed") ||
			strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked") {
			return true
		}
	}
	return false
}
