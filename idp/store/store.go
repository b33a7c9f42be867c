// Package store is the one persistence layer of Portcullis: gorm models,
// fosite's storage interfaces, the directory (tenants, users, clients),
// browser sessions and signing keys. The same code runs on SQLite (the
// embedded default) and PostgreSQL; storetest is the contract both pass.
//
// Transactions travel in the context (fosite's storage.Transactional), so
// every method takes its connection from ctx through s.conn(ctx).
//
// Secrets at rest are sealed and opened here, with Config.Cipher and an AAD
// naming the table, column and row (sealed.go): callers pass and receive
// plain values and never name a column.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/ory/fosite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"

	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/migrations"
)

// Config says which database to open.
type Config struct {
	Driver       string // "sqlite" or "postgres"
	DSN          string // a file path for sqlite, a URL for postgres
	MaxOpenConns int    // 0 picks a default
	MaxIdleConns int
	// Now is the clock for every timestamp the store writes; nil means time.Now.
	Now func() time.Time
	// StatementObserver, for tests and diagnostics, is called with every
	// statement the driver sends, before it is sent and with the context
	// of the call: queries and commands, BEGIN, COMMIT and ROLLBACK, and
	// liveness pings ("-- ping"; pgx sends one before reusing a connection
	// idle for over a second). On PostgreSQL it is a pgx tracer; on SQLite
	// a wrapper of the driver's connections. It runs on the caller's
	// goroutine, so it must be safe for concurrent use and quick. Nil, the
	// default, installs nothing.
	StatementObserver func(ctx context.Context, sql string)
	// Cipher seals the secrets the store keeps (TOTP secrets, the recovery
	// key of a pending enrollment, the token HMAC secret), each bound to
	// its row (sealed.go): secrets.AtRestCipher(masterKey). Without one,
	// the methods that seal or open fail with ErrNoCipher; the rest work.
	Cipher *secrets.Cipher
}

// Store is safe for concurrent use by many goroutines and replicas.
type Store struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect migrations.Dialect
	now     func() time.Time
	cipher  *secrets.Cipher
	// audited, when set, is told of every audit event written (metrics).
	audited func(*AuditEvent)
}

// OnAudit sets fn to be told of every audit event the store writes. Set
// it once, before the store serves requests.
func (s *Store) OnAudit(fn func(*AuditEvent)) { s.audited = fn }

// SQLDB is the connection pool, for its statistics.
func (s *Store) SQLDB() *sql.DB { return s.sqlDB }

// Open connects without touching the schema; call Migrate (or use
// OpenAndMigrate) before use.
func Open(cfg Config) (*Store, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	utcNow := func() time.Time { return now().UTC() }
	gcfg := &gorm.Config{
		TranslateError:         true,
		NowFunc:                utcNow,
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		// gorm's own ping has no deadline: against a database that
		// accepts and never answers it waited forever. Callers Ping with
		// a context instead.
		DisableAutomaticPing: true,
	}
	var (
		dialector gorm.Dialector
		dialect   migrations.Dialect
	)
	switch cfg.Driver {
	case "sqlite":
		dialector = sqlite.Open(sqliteDSN(cfg.DSN))
		if cfg.StatementObserver != nil {
			conn, err := openObservedSQLite(sqliteDSN(cfg.DSN), cfg.StatementObserver)
			if err != nil {
				return nil, fmt.Errorf("store: open sqlite: %w", err)
			}
			dialector = &sqlite.Dialector{Conn: conn}
		}
		dialect = migrations.SQLite
	case "postgres":
		opts := []stdlib.OptionOpenDB{stdlib.OptionAfterConnect(utcTimestamptz)}
		if cfg.StatementObserver != nil {
			opts = append(opts, pgxObserverOptions(cfg.StatementObserver)...)
		}
		dialector = postgres.New(postgres.Config{DSN: cfg.DSN, OptionOpenDB: opts})
		dialect = migrations.Postgres
	default:
		return nil, fmt.Errorf("store: unknown driver %q (want sqlite or postgres)", cfg.Driver)
	}
	db, err := gorm.Open(dialector, gcfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Driver, err)
	}
	// Every statement gorm runs marks a connection failure ErrUnavailable
	// (unavailable.go), so the callers above tell an outage from an answer.
	markUnavailable := func(db *gorm.DB) { db.Error = unavailable(db.Error) }
	cb := db.Callback()
	if err := errors.Join(
		cb.Create().Before("gorm:create").Register("portcullis:utc_times", utcTimes),
		cb.Update().Before("gorm:update").Register("portcullis:utc_times", utcTimes),
		cb.Create().After("*").Register("portcullis:unavailable", markUnavailable),
		cb.Query().After("*").Register("portcullis:unavailable", markUnavailable),
		cb.Update().After("*").Register("portcullis:unavailable", markUnavailable),
		cb.Delete().After("*").Register("portcullis:unavailable", markUnavailable),
		cb.Raw().After("*").Register("portcullis:unavailable", markUnavailable),
		cb.Row().After("*").Register("portcullis:unavailable", markUnavailable),
	); err != nil {
		return nil, err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	maxOpen := cfg.MaxOpenConns
	if maxOpen <= 0 {
		maxOpen = 20
	}
	maxIdle := cfg.MaxIdleConns
	if maxIdle <= 0 {
		maxIdle = maxOpen
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxIdle)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	return &Store{db: db, sqlDB: sqlDB, dialect: dialect, now: utcNow, cipher: cfg.Cipher}, nil
}

// sqliteDSN adds the pragmas every connection needs: WAL for concurrent
// readers, a busy timeout so writers queue instead of failing, foreign keys,
// and BEGIN IMMEDIATE so a transaction takes the write lock up front (a
// compare-and-set then loses cleanly instead of with SQLITE_BUSY).
//
// No _time_format: the driver stops reading parameters after it, which
// silently dropped _txlock; its default write format is the same
// "2006-01-02 15:04:05.999999999-07:00" anyway.
func sqliteDSN(path string) string {
	if strings.Contains(path, "?") {
		return path
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode()
}

// utcTimes runs before every create and update and turns each time.Time
// written into UTC. Callers may pass any zone, but SQLite keeps times as
// text and compares them as text, so a time with an offset would sort
// wrongly against the UTC times of every query (an expired session in
// UTC+05:30 would look live).
func utcTimes(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	if m, ok := db.Statement.Dest.(map[string]any); ok {
		for k, v := range m {
			m[k] = utcValue(v)
		}
		return
	}
	sch, rv := db.Statement.Schema, db.Statement.ReflectValue
	if sch == nil {
		return
	}
	switch rv.Kind() {
	case reflect.Struct:
		utcFields(db.Statement.Context, sch, rv)
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			if e := reflect.Indirect(rv.Index(i)); e.Kind() == reflect.Struct {
				utcFields(db.Statement.Context, sch, e)
			}
		}
	}
}

func utcFields(ctx context.Context, sch *schema.Schema, rv reflect.Value) {
	for _, f := range sch.Fields {
		fv := f.ReflectValueOf(ctx, rv)
		if !fv.CanSet() {
			continue
		}
		switch v := fv.Interface().(type) {
		case time.Time, *time.Time:
			fv.Set(reflect.ValueOf(utcValue(v)))
		}
	}
}

func utcValue(v any) any {
	switch t := v.(type) {
	case time.Time:
		return t.UTC()
	case *time.Time:
		if t != nil {
			u := t.UTC()
			return &u
		}
	}
	return v
}

// utcTimestamptz makes pgx scan timestamptz as UTC, as SQLite reads back
// what utcTimes wrote; pgx's default is time.Local. (gorm's postgres
// dialector installs its own AfterConnect, replacing this one, only when the
// DSN sets TimeZone.)
func utcTimestamptz(_ context.Context, conn *pgx.Conn) error {
	conn.TypeMap().RegisterType(&pgtype.Type{
		Name:  "timestamptz",
		OID:   pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
	})
	return nil
}

// Migrate applies pending migrations and returns the versions applied.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	return migrations.Apply(ctx, s.sqlDB, s.dialect)
}

// Ping waits for the database to answer one round trip, or for ctx to end
// (serve gives it db.connect_timeout). Open itself does not connect.
func (s *Store) Ping(ctx context.Context) error {
	return unavailable(s.sqlDB.PingContext(ctx))
}

// Ready reports whether the database answers and the schema is current.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return err
	}
	return migrations.Check(ctx, s.sqlDB, s.dialect)
}

// The answers of CheckSchema (and Ready) about the schema, re-exported so
// that callers of the store need not import migrations.
var (
	ErrNoSchema      = migrations.ErrNoSchema      // never migrated
	ErrSchemaBehind  = migrations.ErrSchemaBehind  // migrations pending
	ErrDatabaseNewer = migrations.ErrDatabaseNewer // migrated by a newer binary
)

// CheckSchema reports whether the schema is exactly current, without
// changing anything: ErrNoSchema, ErrSchemaBehind or ErrDatabaseNewer when
// it is not. The administration commands use it instead of Migrate.
func (s *Store) CheckSchema(ctx context.Context) error {
	return migrations.Check(ctx, s.sqlDB, s.dialect)
}

// Close releases the pool.
func (s *Store) Close() error { return s.sqlDB.Close() }

// Dialect tells which engine is underneath.
func (s *Store) Dialect() migrations.Dialect { return s.dialect }

// DB exposes the gorm handle for tests (schema checks); production code goes
// through the Store's methods.
func (s *Store) DB() *gorm.DB { return s.db }

type txKey struct{}

// conn returns the transaction carried in ctx, or the pool.
func (s *Store) conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
	}
	return s.db.WithContext(ctx)
}

// BeginTX starts a transaction and carries it in the returned context
// (fosite's storage.Transactional).
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return ctx, errors.New("store: transaction already open in this context")
	}
	tx := s.db.WithContext(ctx).Begin()
	if tx.Error != nil {
		return ctx, unavailable(tx.Error)
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

// Commit commits the transaction carried in ctx.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("store: no transaction in context")
	}
	return unavailable(tx.Commit().Error)
}

// Rollback aborts the transaction carried in ctx.
func (s *Store) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("store: no transaction in context")
	}
	return tx.Rollback().Error
}

// InTx runs fn in one transaction (reusing one already in ctx), committing
// when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(ctx)
	}
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = s.Rollback(txCtx)
			panic(p)
		}
		if err != nil {
			_ = s.Rollback(txCtx)
		}
	}()
	if err = fn(txCtx); err != nil {
		return err
	}
	return s.Commit(txCtx)
}

// ErrNotFound is returned for every missing row. It is fosite's own
// sentinel, so fosite's errors.Is(err, fosite.ErrNotFound) checks hold.
var ErrNotFound = fosite.ErrNotFound

// ErrConflict is returned when a unique value (slug, email) is taken.
var ErrConflict = errors.New("already exists")

func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return ErrConflict
	}
	return unavailable(err)
}
