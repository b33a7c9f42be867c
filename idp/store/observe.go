package store

// Statement observation (Config.StatementObserver): what each driver sends,
// seen at the driver, for tests and diagnostics.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgxObserver is the PostgreSQL side: a pgx QueryTracer sees every Query,
// QueryRow and Exec of a connection, and pgx sends BEGIN, COMMIT and
// ROLLBACK through Exec (with the context BeginTx was given).
type pgxObserver func(ctx context.Context, sql string)

func (o pgxObserver) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	o(ctx, d.SQL)
	return ctx
}

func (pgxObserver) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// pgxObserverOptions install observe on every connection. The liveness
// ping stdlib sends before reusing a connection idle for over a second
// goes around pgx's tracer, so it is reported from the ping decision,
// whose rule (idle > 1 s) is stdlib's default, kept as it is.
func pgxObserverOptions(observe func(ctx context.Context, sql string)) []stdlib.OptionOpenDB {
	return []stdlib.OptionOpenDB{
		stdlib.OptionBeforeConnect(func(_ context.Context, cc *pgx.ConnConfig) error {
			cc.Tracer = pgxObserver(observe)
			return nil
		}),
		stdlib.OptionShouldPing(func(ctx context.Context, p stdlib.ShouldPingParams) bool {
			if p.IdleDuration > time.Second {
				observe(ctx, "-- ping")
				return true
			}
			return false
		}),
	}
}

// openObservedSQLite opens dsn with the registered "sqlite" driver wrapped
// so that every statement, transaction start and end reaches observe.
func openObservedSQLite(dsn string, observe func(ctx context.Context, sql string)) (*sql.DB, error) {
	probe, err := sql.Open("sqlite", "") // only to reach the registered driver; never connects
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	if err := probe.Close(); err != nil {
		return nil, err
	}
	return sql.OpenDB(observedConnector{drv: drv, dsn: dsn, observe: observe}), nil
}

type observedConnector struct {
	drv     driver.Driver
	dsn     string
	observe func(ctx context.Context, sql string)
}

func (c observedConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return observedConn{Conn: conn, observe: c.observe}, nil
}

func (c observedConnector) Driver() driver.Driver { return c.drv }

// observedConn forwards to the driver's connection. glebarez/go-sqlite
// implements every optional interface used here; where a driver lacks
// one, ErrSkip sends database/sql down its prepare path, observed by
// observedStmt.
type observedConn struct {
	driver.Conn
	observe func(ctx context.Context, sql string)
}

var errNoContextDriver = errors.New("store: the sqlite driver lacks a context method")

func (c observedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, ok := c.Conn.(driver.ConnBeginTx)
	if !ok {
		return nil, errNoContextDriver
	}
	c.observe(ctx, "BEGIN")
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return observedTx{tx: tx, ctx: ctx, observe: c.observe}, nil
}

func (c observedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	p, ok := c.Conn.(driver.ConnPrepareContext)
	if !ok {
		return nil, errNoContextDriver
	}
	s, err := p.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return observedStmt{Stmt: s, query: query, observe: c.observe}, nil
}

func (c observedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.observe(ctx, query)
	return e.ExecContext(ctx, query, args)
}

func (c observedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.observe(ctx, query)
	return q.QueryContext(ctx, query, args)
}

func (c observedConn) Ping(ctx context.Context) error {
	p, ok := c.Conn.(driver.Pinger)
	if !ok {
		return nil
	}
	c.observe(ctx, "-- ping")
	return p.Ping(ctx)
}

type observedTx struct {
	tx      driver.Tx
	ctx     context.Context // BeginTx's, as pgx reports COMMIT with it
	observe func(ctx context.Context, sql string)
}

func (t observedTx) Commit() error {
	t.observe(t.ctx, "COMMIT")
	return t.tx.Commit()
}

func (t observedTx) Rollback() error {
	t.observe(t.ctx, "ROLLBACK")
	return t.tx.Rollback()
}

type observedStmt struct {
	driver.Stmt
	query   string
	observe func(ctx context.Context, sql string)
}

func (s observedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	e, ok := s.Stmt.(driver.StmtExecContext)
	if !ok {
		return nil, errNoContextDriver
	}
	s.observe(ctx, s.query)
	return e.ExecContext(ctx, args)
}

func (s observedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := s.Stmt.(driver.StmtQueryContext)
	if !ok {
		return nil, errNoContextDriver
	}
	s.observe(ctx, s.query)
	return q.QueryContext(ctx, args)
}
