package store_test

import (
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/migrations"
)

// openEmpty opens a fresh database without migrating it.
func openEmpty(t *testing.T, cfg store.Config) *store.Store {
	t.Helper()
	s, err := store.Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMigrate_Idempotent(t *testing.T) {
	for name, config := range storetest.Configs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := openEmpty(t, config(t))
			latest, err := migrations.Latest(s.Dialect())
			if err != nil || latest < 1 {
				t.Fatalf("Latest(%s) = %d, %v", s.Dialect(), latest, err)
			}
			if err := s.Ready(ctx); !errors.Is(err, migrations.ErrSchemaBehind) {
				t.Errorf("Ready before Migrate: err = %v, want ErrSchemaBehind", err)
			}

			applied, err := s.Migrate(ctx)
			if err != nil {
				t.Fatalf("first Migrate: %v", err)
			}
			want := make([]int64, 0, latest)
			for v := int64(1); v <= latest; v++ {
				want = append(want, v)
			}
			if !slices.Equal(applied, want) {
				t.Errorf("first Migrate applied %v, want %v", applied, want)
			}
			if err := s.Ready(ctx); err != nil {
				t.Errorf("Ready after Migrate: %v", err)
			}

			applied, err = s.Migrate(ctx)
			if err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			if len(applied) != 0 {
				t.Errorf("second Migrate applied %v, want nothing", applied)
			}
		})
	}
}

func TestMigrate_RefusesNewerDatabase(t *testing.T) {
	for name, open := range storetest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t)
			latest, err := migrations.Latest(s.Dialect())
			if err != nil {
				t.Fatal(err)
			}
			// What a newer Portcullis leaves behind.
			if err := s.DB().WithContext(ctx).Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)", latest+1, true).Error; err != nil {
				t.Fatalf("insert version: %v", err)
			}
			applied, err := s.Migrate(ctx)
			if !errors.Is(err, migrations.ErrDatabaseNewer) {
				t.Errorf("Migrate: err = %v, want ErrDatabaseNewer", err)
			}
			if len(applied) != 0 {
				t.Errorf("Migrate applied %v on a newer database", applied)
			}
			if err := s.Ready(ctx); !errors.Is(err, migrations.ErrDatabaseNewer) {
				t.Errorf("Ready: err = %v, want ErrDatabaseNewer", err)
			}
		})
	}
}

// TestModelsMatchSchema catches drift between the SQL files and the gorm
// models, without ever running AutoMigrate: every model's table and
// columns exist, every column of those tables has a field (or inserts of
// a NOT NULL column without default would fail), nullability agrees, and
// every table of the schema has a model.
func TestModelsMatchSchema(t *testing.T) {
	for name, open := range storetest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			db := open(t).DB().WithContext(t.Context())
			m := db.Migrator()
			modelTables := map[string]bool{}
			for _, model := range store.Models() {
				stmt := &gorm.Statement{DB: db}
				if err := stmt.Parse(model); err != nil {
					t.Fatalf("parse %T: %v", model, err)
				}
				sch := stmt.Schema
				modelTables[sch.Table] = true
				if !m.HasTable(model) {
					t.Errorf("%T: table %s is missing", model, sch.Table)
					continue
				}
				for _, f := range sch.Fields {
					if f.DBName != "" && !m.HasColumn(model, f.DBName) {
						t.Errorf("%T.%s: column %s.%s is missing", model, f.Name, sch.Table, f.DBName)
					}
				}
				cols, err := m.ColumnTypes(model)
				if err != nil {
					t.Fatalf("%s: column types: %v", sch.Table, err)
				}
				for _, col := range cols {
					f := sch.LookUpField(col.Name())
					if f == nil || f.DBName != col.Name() {
						t.Errorf("column %s.%s has no field in %T", sch.Table, col.Name(), model)
						continue
					}
					nullable, ok := col.Nullable()
					if !ok || f.PrimaryKey {
						continue
					}
					switch goNullable := canHoldNull(f); {
					case nullable && !goNullable:
						t.Errorf("%s.%s is nullable but %T.%s (%s) cannot hold NULL", sch.Table, col.Name(), model, f.Name, f.FieldType)
					case !nullable && f.FieldType.Kind() == reflect.Pointer:
						t.Errorf("%s.%s is NOT NULL but %T.%s is a pointer", sch.Table, col.Name(), model, f.Name)
					}
				}
			}
			tables, err := m.GetTables()
			if err != nil {
				t.Fatalf("GetTables: %v", err)
			}
			for _, table := range tables {
				if table == "goose_db_version" || strings.HasPrefix(table, "sqlite_") {
					continue
				}
				if !modelTables[table] {
					t.Errorf("table %s has no model in store.Models (idp/store/export_test.go)", table)
				}
			}
		})
	}
}

// canHoldNull reports whether a field can scan a NULL column.
func canHoldNull(f *schema.Field) bool {
	typ := f.FieldType
	if typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Uint8 {
		return true
	}
	if reflect.PointerTo(typ).Implements(reflect.TypeFor[sql.Scanner]()) {
		return true // the Scanner decides; StringList maps NULL to nil
	}
	return false
}
