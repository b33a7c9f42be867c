package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// PostgresDSNEnv names the environment variable holding the PostgreSQL test
// database, for example
// postgres://postgres@127.0.0.1:5432/portcullis_test?sslmode=disable.
const PostgresDSNEnv = "PORTCULLIS_TEST_POSTGRES_DSN"

// PostgresDSN returns the test database DSN. When it is not set the test is
// skipped on a developer machine and fails when CI=true, so CI never skips
// PostgreSQL quietly.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresDSNEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s must be set in CI", PostgresDSNEnv)
		}
		t.Skipf("%s not set", PostgresDSNEnv)
	}
	return dsn
}

// MasterKey returns the master key of the stores these helpers open: their
// Config.Cipher is secrets.AtRestCipher(MasterKey()). A fixed key, for
// tests only.
func MasterKey() []byte { return bytes.Repeat([]byte{7}, secrets.MasterKeySize) }

// cipher is the Config.Cipher of every Config made here.
func cipher(t testing.TB) *secrets.Cipher {
	t.Helper()
	c, err := secrets.AtRestCipher(MasterKey())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// SQLiteConfig returns the Config of a new, empty SQLite database file in
// t.TempDir(), sealing under MasterKey.
func SQLiteConfig(t testing.TB) store.Config {
	t.Helper()
	return store.Config{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "portcullis.db"), Cipher: cipher(t)}
}

// PostgresConfig returns the Config of a new, empty schema t_<random> in the
// test database, reached through search_path and dropped (CASCADE) in
// t.Cleanup, sealing under MasterKey. It skips or fails as PostgresDSN does.
func PostgresConfig(t testing.TB) store.Config {
	t.Helper()
	dsn := PostgresDSN(t)
	admin, err := store.Open(store.Config{Driver: "postgres", DSN: dsn, MaxOpenConns: 1})
	if err != nil {
		t.Fatalf("storetest: open %s: %v", PostgresDSNEnv, err)
	}
	schema := "t_" + randomHex(t, 8)
	if err := admin.DB().WithContext(context.Background()).Exec("CREATE SCHEMA " + schema).Error; err != nil {
		_ = admin.Close()
		t.Fatalf("storetest: create schema: %v", err)
	}
	// Registered before the store's own Close (cleanups run last in, first
	// out), so the schema is dropped after every connection to it is gone.
	t.Cleanup(func() {
		defer admin.Close()
		if err := admin.DB().WithContext(context.Background()).Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})
	scoped, err := withSearchPath(dsn, schema)
	if err != nil {
		t.Fatalf("storetest: %s: %v", PostgresDSNEnv, err)
	}
	return store.Config{Driver: "postgres", DSN: scoped, Cipher: cipher(t)}
}

// withSearchPath points every connection of dsn at schema. pgx passes
// unknown parameters (in a URL query or as key=value) to the server as
// run-time parameters.
func withSearchPath(dsn, schema string) (string, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Open opens cfg, migrates it and closes it via t.Cleanup.
func Open(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	s, err := store.Open(cfg)
	if err != nil {
		t.Fatalf("storetest: open %s: %v", cfg.Driver, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("storetest: close %s: %v", cfg.Driver, err)
		}
	})
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("storetest: migrate %s: %v", cfg.Driver, err)
	}
	return s
}

// OpenSQLite returns a fresh, migrated, empty SQLite store closed via
// t.Cleanup.
func OpenSQLite(t testing.TB) *store.Store {
	t.Helper()
	return Open(t, SQLiteConfig(t))
}

// OpenPostgres returns a fresh, migrated, empty PostgreSQL store (its own
// schema) closed via t.Cleanup. It skips or fails as PostgresDSN does.
func OpenPostgres(t testing.TB) *store.Store {
	t.Helper()
	return Open(t, PostgresConfig(t))
}

// Configs names, for each backend available here, a function returning the
// Config of a fresh, empty database: "sqlite" always, "postgres" when
// PostgresDSNEnv is set (and a failure when it is not but CI=true).
func Configs(t *testing.T) map[string]func(testing.TB) store.Config {
	t.Helper()
	m := map[string]func(testing.TB) store.Config{"sqlite": SQLiteConfig}
	switch {
	case os.Getenv(PostgresDSNEnv) != "":
		m["postgres"] = PostgresConfig
	case os.Getenv("CI") == "true":
		t.Fatalf("%s must be set in CI", PostgresDSNEnv)
	default:
		t.Logf("%s not set: PostgreSQL not tested", PostgresDSNEnv)
	}
	return m
}

// Backends is Configs with each database opened and migrated: a function
// per backend returning a fresh, empty store closed via t.Cleanup.
func Backends(t *testing.T) map[string]func(testing.TB) *store.Store {
	t.Helper()
	m := make(map[string]func(testing.TB) *store.Store)
	for name, config := range Configs(t) {
		m[name] = func(t testing.TB) *store.Store {
			t.Helper()
			return Open(t, config(t))
		}
	}
	return m
}
