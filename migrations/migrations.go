// Package migrations holds the versioned SQL schema of Portcullis, one
// directory per database dialect, embedded in the binary and applied with
// goose: at `serve` start and by `portcullis migrate`.
//
// Rules: every file is append-only once released; each runs in its own
// transaction; on PostgreSQL an advisory lock serialises replicas that start
// together; a database whose version is newer than this binary knows is
// refused rather than run against.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names the SQL flavour of a migration set.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// ErrDatabaseNewer means the database was migrated by a newer Portcullis.
var ErrDatabaseNewer = errors.New("database schema is newer than this binary; upgrade Portcullis")

// ErrNoSchema means the database holds no Portcullis schema at all: it
// was never migrated (or is not a Portcullis database). It is the extreme
// case of ErrSchemaBehind, and errors.Is reports it as that too.
var ErrNoSchema error = noSchemaError{}

type noSchemaError struct{}

func (noSchemaError) Error() string {
	return "database has no Portcullis schema; run `portcullis migrate` (or `portcullis serve`) to create it"
}

func (noSchemaError) Is(target error) bool { return target == ErrSchemaBehind }

// ErrSchemaBehind means migrations are pending.
var ErrSchemaBehind = errors.New("database schema is behind; run `portcullis migrate`")

// provider builds a goose provider. Only Apply takes PostgreSQL's advisory
// lock: the readiness check must not wait behind a replica that migrates.
func provider(db *sql.DB, dialect Dialect, lockMigrations bool) (*goose.Provider, error) {
	sub, err := fs.Sub(files, string(dialect))
	if err != nil {
		return nil, err
	}
	var opts []goose.ProviderOption
	gooseDialect := goose.DialectSQLite3
	if dialect == Postgres {
		gooseDialect = goose.DialectPostgres
	}
	if dialect == Postgres && lockMigrations {
		// Poll the advisory lock every second (goose waits 5 s between
		// tries), still giving up after five minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	return goose.NewProvider(gooseDialect, db, sub, opts...)
}

// Latest is the highest schema version this binary knows for dialect.
func Latest(dialect Dialect) (int64, error) {
	entries, err := fs.ReadDir(files, string(dialect))
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, e := range entries {
		var v int64
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest, nil
}

// Apply brings the schema up to date and returns the versions it applied.
// It refuses to touch a database that is ahead of this binary.
func Apply(ctx context.Context, db *sql.DB, dialect Dialect) ([]int64, error) {
	p, err := provider(db, dialect, true)
	if err != nil {
		return nil, err
	}
	if current, err := p.GetDBVersion(ctx); err == nil {
		if latest, _ := Latest(dialect); current > latest {
			return nil, fmt.Errorf("%w (database at %d, binary knows %d)", ErrDatabaseNewer, current, latest)
		}
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// Check reports whether the schema is exactly current (used by readiness
// and by the administration commands, which never migrate): ErrNoSchema
// for a database never migrated, ErrSchemaBehind or ErrDatabaseNewer for
// one at another version. It changes nothing in the database.
func Check(ctx context.Context, db *sql.DB, dialect Dialect) error {
	if ok, err := hasVersionTable(ctx, db, dialect); err != nil {
		return err
	} else if !ok {
		return ErrNoSchema
	}
	p, err := provider(db, dialect, false)
	if err != nil {
		return err
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	latest, err := Latest(dialect)
	if err != nil {
		return err
	}
	switch {
	case current > latest:
		return ErrDatabaseNewer
	case current < latest:
		return ErrSchemaBehind
	}
	return nil
}

// versionTable is the table in which goose records the applied versions.
const versionTable = goose.DefaultTablename

// hasVersionTable reports whether the database has goose's version table
// (on PostgreSQL, in the search_path), without creating it as goose would.
func hasVersionTable(ctx context.Context, db *sql.DB, dialect Dialect) (bool, error) {
	var ok bool
	var err error
	switch dialect {
	case Postgres:
		err = db.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", versionTable).Scan(&ok)
	default:
		var n int
		err = db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", versionTable).Scan(&n)
		ok = n > 0
	}
	return ok, err
}
