package migrations_test

import (
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/migrations"
)

var dialects = []migrations.Dialect{migrations.SQLite, migrations.Postgres}

var fileName = regexp.MustCompile(`^(\d{5})_[a-z0-9_]+\.sql$`)

// TestFiles checks the layout the embedding and goose rely on: the same
// numbered files for every dialect, versions 1..Latest without gaps, each
// with an Up and a Down section.
func TestFiles(t *testing.T) {
	var names [][]string
	for _, d := range dialects {
		entries, err := os.ReadDir(string(d))
		if err != nil {
			t.Fatal(err)
		}
		var list []string
		for i, e := range entries {
			m := fileName.FindStringSubmatch(e.Name())
			if m == nil {
				t.Errorf("%s/%s: want NNNNN_name.sql", d, e.Name())
				continue
			}
			if want := fmt.Sprintf("%05d", i+1); m[1] != want {
				t.Errorf("%s/%s: version %s, want %s (no gaps)", d, e.Name(), m[1], want)
			}
			b, err := os.ReadFile(string(d) + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			up, down := strings.Index(string(b), "-- +goose Up"), strings.Index(string(b), "-- +goose Down")
			if up < 0 || down < up {
				t.Errorf("%s/%s: want a -- +goose Up section followed by a -- +goose Down section", d, e.Name())
			}
			list = append(list, e.Name())
		}
		latest, err := migrations.Latest(d)
		if err != nil || latest != int64(len(list)) {
			t.Errorf("Latest(%s) = %d, %v; want %d", d, latest, err, len(list))
		}
		names = append(names, list)
	}
	if !slices.Equal(names[0], names[1]) {
		t.Errorf("dialects differ: %s has %q, %s has %q", dialects[0], names[0], dialects[1], names[1])
	}
}

// TestUpDownUp runs every migration up, all the way down and up again on
// each engine, so the Down sections are exercised too.
func TestUpDownUp(t *testing.T) {
	for name, config := range storetest.Configs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s, sqlDB, p := openUnmigrated(t, config)
			latest, err := migrations.Latest(s.Dialect())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := migrations.Apply(ctx, sqlDB, s.Dialect()); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			tables := tableColumns(t, s)

			down, err := p.DownTo(ctx, 0)
			if err != nil {
				t.Fatalf("DownTo(0): %v", err)
			}
			if len(down) != int(latest) {
				t.Errorf("DownTo(0) ran %d migrations, want %d", len(down), latest)
			}
			if left := slices.DeleteFunc(slices.Collect(maps.Keys(tableColumns(t, s))), func(s string) bool { return s == "goose_db_version" }); len(left) != 0 {
				t.Errorf("tables left after DownTo(0): %q", left)
			}

			applied, err := migrations.Apply(ctx, sqlDB, s.Dialect())
			if err != nil {
				t.Fatalf("Apply after Down: %v", err)
			}
			if len(applied) != int(latest) {
				t.Errorf("Apply after Down applied %v, want %d versions", applied, latest)
			}
			if again := tableColumns(t, s); !maps.EqualFunc(again, tables, slices.Equal) {
				t.Errorf("schema after down and up differs:\n got %v\nwant %v", again, tables)
			}
		})
	}
}

// TestDialectsAgree compares the schema the two dialects build: the same
// tables, the same columns, the same nullability (goose's own table aside).
func TestDialectsAgree(t *testing.T) {
	backends := storetest.Backends(t)
	if len(backends) < 2 {
		t.Skip("needs both engines")
	}
	sqlite := tableColumns(t, backends["sqlite"](t))
	postgres := tableColumns(t, backends["postgres"](t))
	delete(sqlite, "goose_db_version")
	delete(postgres, "goose_db_version")
	for _, table := range slices.Sorted(maps.Keys(sqlite)) {
		if pg, ok := postgres[table]; !ok {
			t.Errorf("table %s: only in SQLite", table)
		} else if !slices.Equal(sqlite[table], pg) {
			t.Errorf("table %s:\n sqlite   %q\n postgres %q", table, sqlite[table], pg)
		}
	}
	for table := range postgres {
		if _, ok := sqlite[table]; !ok {
			t.Errorf("table %s: only in PostgreSQL", table)
		}
	}
}

// tableColumns maps every table to its sorted "column" or "column NULL".
func tableColumns(t *testing.T, s *store.Store) map[string][]string {
	t.Helper()
	m := s.DB().WithContext(t.Context()).Migrator()
	tables, err := m.GetTables()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, table := range tables {
		if strings.HasPrefix(table, "sqlite_") {
			continue
		}
		cols, err := m.ColumnTypes(table)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		var list []string
		for _, c := range cols {
			name := c.Name()
			if nullable, ok := c.Nullable(); ok && nullable {
				if pk, ok := c.PrimaryKey(); !ok || !pk { // SQLite allows NULL in a TEXT PRIMARY KEY
					name += " NULL"
				}
			}
			list = append(list, name)
		}
		slices.Sort(list)
		out[table] = list
	}
	return out
}

// openUnmigrated opens a fresh, empty database of config with no migration
// applied, and a goose provider over the embedded migrations of its
// dialect, for tests that move between versions.
func openUnmigrated(t *testing.T, config func(testing.TB) store.Config) (*store.Store, *sql.DB, *goose.Provider) {
	t.Helper()
	s, err := store.Open(config(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	sqlDB, err := s.DB().DB()
	if err != nil {
		t.Fatal(err)
	}
	gooseDialect := map[migrations.Dialect]goose.Dialect{migrations.SQLite: goose.DialectSQLite3, migrations.Postgres: goose.DialectPostgres}[s.Dialect()]
	p, err := goose.NewProvider(gooseDialect, sqlDB, os.DirFS(string(s.Dialect())), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return s, sqlDB, p
}

// TestReplayGuardMovesToCounter: version 4 moves each confirmed
// authenticator's last_step onto the user's counter row (creating it, or
// keeping the counts of one that exists), and its Down section moves it back.
func TestReplayGuardMovesToCounter(t *testing.T) {
	for name, config := range storetest.Configs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s, _, p := openUnmigrated(t, config)
			if _, err := p.UpTo(ctx, 3); err != nil {
				t.Fatalf("UpTo(3): %v", err)
			}
			// Rows of the schema as it was at version 3 (today's models have
			// columns added since).
			db := s.DB()
			now := time.Now().UTC()
			tenantID := store.NewID()
			if err := db.Exec(`INSERT INTO tenants (id, slug, name, created_at, updated_at) VALUES (?, ?, 'Acme', ?, ?)`,
				tenantID, "acme-"+tenantID[:8], now, now).Error; err != nil {
				t.Fatal(err)
			}
			newUser := func() string {
				id := store.NewID()
				if err := db.Exec(`INSERT INTO users (id, tenant_id, email, password_hash, created_at, updated_at) VALUES (?, ?, ?, 'x', ?, ?)`,
					id, tenantID, id+"@example.com", now, now).Error; err != nil {
					t.Fatal(err)
				}
				return id
			}
			fresh, counted, pending := struct{ ID string }{newUser()}, struct{ ID string }{newUser()}, struct{ ID string }{newUser()}
			for _, a := range []struct {
				id        string
				confirmed *time.Time
				step      int64
			}{{fresh.ID, &now, 777}, {counted.ID, &now, 888}, {pending.ID, nil, 0}} {
				if err := db.Exec(`INSERT INTO mfa_authenticators (user_id, secret, confirmed_at, last_step, created_at) VALUES (?, 'sealed', ?, ?, ?)`,
					a.id, a.confirmed, a.step, now).Error; err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Exec(`INSERT INTO mfa_attempts (user_id, failures, lockouts, locked_until, version) VALUES (?, 2, 1, NULL, 3)`, counted.ID).Error; err != nil {
				t.Fatal(err)
			}

			if _, err := p.UpTo(ctx, 4); err != nil {
				t.Fatalf("UpTo(4): %v", err)
			}
			type counter struct {
				UserID                                string
				Failures, Lockouts, Version, LastStep int64
			}
			var got []counter
			if err := db.Raw(`SELECT user_id, failures, lockouts, version, last_step FROM mfa_attempts ORDER BY last_step`).Scan(&got).Error; err != nil {
				t.Fatal(err)
			}
			want := []counter{{fresh.ID, 0, 0, 1, 777}, {counted.ID, 2, 1, 4, 888}}
			if !slices.Equal(got, want) {
				t.Errorf("counters after version 4 = %+v, want %+v", got, want)
			}

			if _, err := p.DownTo(ctx, 3); err != nil {
				t.Fatalf("DownTo(3): %v", err)
			}
			var steps []int64
			if err := db.Raw(`SELECT last_step FROM mfa_authenticators ORDER BY last_step`).Scan(&steps).Error; err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(steps, []int64{0, 777, 888}) {
				t.Errorf("last_step after Down = %v, want [0 777 888]", steps)
			}
		})
	}
}

// TestPendingRequestKindAndCodeSessions: version 5 gives every pending
// request its kind (an empty client_id is an account flow, the logout
// stage a logout), renames the consent stage to signed_in, and re-keys the
// OpenID Connect sessions of codes issued before it by the code's
// signature; its Down section brings the stage name back.
func TestPendingRequestKindAndCodeSessions(t *testing.T) {
	for name, config := range storetest.Configs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s, _, p := openUnmigrated(t, config)
			if _, err := p.UpTo(ctx, 4); err != nil {
				t.Fatalf("UpTo(4): %v", err)
			}
			db := s.DB()
			now := time.Now().UTC()
			for _, r := range []struct{ id, client, stage string }{
				{"authorize", "client-1", "consent"}, {"account", "", "totp"}, {"logout", "client-1", "logout"},
			} {
				if err := db.Exec(`INSERT INTO auth_requests (id, browser_id, client_id, form, stage, created_at, expires_at)
					VALUES (?, 'b', ?, '', ?, ?, ?)`, r.id, r.client, r.stage, now, now.Add(time.Minute)).Error; err != nil {
					t.Fatal(err)
				}
			}
			for _, sig := range []string{"code-key.code-signature", "no-dot"} {
				if err := db.Exec(`INSERT INTO oauth_tokens (kind, signature, request_id, client_id, requested_at, expires_at)
					VALUES ('oidc', ?, 'r', 'client-1', ?, ?)`, sig, now, now.Add(time.Minute)).Error; err != nil {
					t.Fatal(err)
				}
			}
			if _, err := p.UpTo(ctx, 5); err != nil {
				t.Fatalf("UpTo(5): %v", err)
			}
			type row struct{ ID, Kind, Stage string }
			var got []row
			if err := db.Raw(`SELECT id, kind, stage FROM auth_requests ORDER BY id`).Scan(&got).Error; err != nil {
				t.Fatal(err)
			}
			want := []row{{"account", "account", "totp"}, {"authorize", "authorize", "signed_in"}, {"logout", "logout", "logout"}}
			if !slices.Equal(got, want) {
				t.Errorf("pending requests after version 5 = %+v, want %+v", got, want)
			}
			var sigs []string
			if err := db.Raw(`SELECT signature FROM oauth_tokens WHERE kind = 'oidc' ORDER BY signature`).Scan(&sigs).Error; err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sigs, []string{"code-signature", "no-dot"}) {
				t.Errorf("OpenID Connect sessions after version 5 keyed by %v, want [code-signature no-dot]", sigs)
			}
			if _, err := p.DownTo(ctx, 4); err != nil {
				t.Fatalf("DownTo(4): %v", err)
			}
			var stage string
			if err := db.Raw(`SELECT stage FROM auth_requests WHERE id = 'authorize'`).Scan(&stage).Error; err != nil || stage != "consent" {
				t.Errorf("stage after Down = %q, %v; want consent", stage, err)
			}
		})
	}
}

// TestNoSchemaIsSchemaBehind: an empty database is reported as ErrNoSchema,
// which callers that only know ErrSchemaBehind still recognise.
func TestNoSchemaIsSchemaBehind(t *testing.T) {
	if !errors.Is(migrations.ErrNoSchema, migrations.ErrSchemaBehind) || errors.Is(migrations.ErrSchemaBehind, migrations.ErrNoSchema) {
		t.Error("ErrNoSchema must be an ErrSchemaBehind, not the other way round")
	}
}
