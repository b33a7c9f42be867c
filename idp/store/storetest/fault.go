package storetest

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// FaultDatabase is a PostgreSQL database of one test's own, which the test
// may take down and bring back (Down, Up). Outages are made only on it:
// other tests share the test database and must never see one.
type FaultDatabase struct {
	Name string // portcullis_fault_<random>
	DSN  string // the test DSN pointed at Name
	// admin is connected to the test database (never to Name), where
	// ALTER DATABASE and pg_terminate_backend are issued from.
	admin *store.Store
}

// PostgresFaultDatabase creates an empty database portcullis_fault_<random>
// next to the test database and returns it; it is dropped (with every
// connection to it) in t.Cleanup. The config seals under MasterKey. It
// skips or fails as PostgresDSN does.
func PostgresFaultDatabase(t testing.TB) (store.Config, *FaultDatabase) {
	t.Helper()
	dsn := PostgresDSN(t)
	admin, err := store.Open(store.Config{Driver: "postgres", DSN: dsn, MaxOpenConns: 1})
	if err != nil {
		t.Fatalf("storetest: open %s: %v", PostgresDSNEnv, err)
	}
	d := &FaultDatabase{Name: "portcullis_fault_" + randomHex(t, 6), admin: admin}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		_ = admin.Close()
		t.Fatalf("storetest: %s must be a postgres:// URL for fault tests", PostgresDSNEnv)
	}
	u.Path = "/" + d.Name
	d.DSN = u.String()
	if err := d.execWithin(2*time.Minute, "CREATE DATABASE "+d.Name); err != nil {
		_ = admin.Close()
		t.Fatalf("storetest: create database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		_ = d.exec("ALTER DATABASE " + d.Name + " ALLOW_CONNECTIONS true")
		// Dropping a database waits for a checkpoint, which on a busy
		// machine can take long: a slow drop is reported, not failed, and
		// the prefix tells a left-over database of these tests.
		if err := d.execWithin(2*time.Minute, "DROP DATABASE IF EXISTS "+d.Name+" WITH (FORCE)"); err != nil {
			t.Logf("storetest: drop database %s: %v (drop it by hand)", d.Name, err)
		}
	})
	return store.Config{Driver: "postgres", DSN: d.DSN, Cipher: cipher(t)}, d
}

func (d *FaultDatabase) exec(sql string, args ...any) error {
	return d.execWithin(20*time.Second, sql, args...)
}

func (d *FaultDatabase) execWithin(limit time.Duration, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	return d.admin.DB().WithContext(ctx).Exec(sql, args...).Error
}

// Down makes the outage: the database refuses new connections and every
// connection to it is terminated, as when PostgreSQL restarts.
func (d *FaultDatabase) Down(t testing.TB) {
	t.Helper()
	if err := d.exec("ALTER DATABASE " + d.Name + " ALLOW_CONNECTIONS false"); err != nil {
		t.Fatalf("storetest: take %s down: %v", d.Name, err)
	}
	if err := d.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()", d.Name); err != nil {
		t.Fatalf("storetest: terminate connections to %s: %v", d.Name, err)
	}
}

// Up ends the outage.
func (d *FaultDatabase) Up(t testing.TB) {
	t.Helper()
	if err := d.exec("ALTER DATABASE " + d.Name + " ALLOW_CONNECTIONS true"); err != nil {
		t.Fatalf("storetest: bring %s up: %v", d.Name, err)
	}
}
