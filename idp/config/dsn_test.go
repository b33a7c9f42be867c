package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDBDriverAndDSN(t *testing.T) {
	for _, tc := range []struct {
		name           string
		have           func(c *Config)
		driver, target string
	}{
		{"default under data dir", func(c *Config) {}, DriverSQLite, filepath.Join("data", "portcullis.db")},
		{"default follows data dir", func(c *Config) { c.DataDir = "/var/lib/portcullis" }, DriverSQLite, "/var/lib/portcullis/portcullis.db"},
		{"sqlite path", func(c *Config) { c.DB.DSN = "sqlite:/tmp/p.db" }, DriverSQLite, "/tmp/p.db"},
		{"sqlite with options", func(c *Config) { c.DB.DSN = "sqlite:p.db?_pragma=busy_timeout(5000)" }, DriverSQLite, "p.db?_pragma=busy_timeout(5000)"},
		{"postgres", func(c *Config) { c.DB.DSN = "postgres://a:b@db/p" }, DriverPostgres, "postgres://a:b@db/p"},
		{"postgresql", func(c *Config) { c.DB.DSN = "postgresql://a@db/p" }, DriverPostgres, "postgresql://a@db/p"},
		{"unknown", func(c *Config) { c.DB.DSN = "mysql://db" }, "", "mysql://db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.have(&c)
			driver, dsn := c.DBDriverAndDSN()
			if driver != tc.driver || dsn != tc.target {
				t.Errorf("DBDriverAndDSN() = %q, %q; want %q, %q", driver, dsn, tc.driver, tc.target)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		have     func(c *Config)
		expected func(c *Config)
		secrets  []string // must not appear anywhere in the result
	}{
		{
			name:     "nothing secret",
			have:     func(c *Config) {},
			expected: func(c *Config) {},
		},
		{
			name: "secrets key",
			have: func(c *Config) { c.SecretsKey = testKey },
			expected: func(c *Config) {
				c.SecretsKey = "REDACTED"
			},
			secrets: []string{testKey},
		},
		{
			name: "password in postgres url",
			have: func(c *Config) { c.DB.DSN = "postgres://app:hunter2@db.internal:5432/portcullis?sslmode=verify-full" },
			expected: func(c *Config) {
				c.DB.DSN = "postgres://app:REDACTED@db.internal:5432/portcullis?sslmode=verify-full"
			},
			secrets: []string{"hunter2"},
		},
		{
			name: "password in query",
			have: func(c *Config) { c.DB.DSN = "postgresql://app@db/p?password=hunter2&sslpassword=swordfish" },
			expected: func(c *Config) {
				c.DB.DSN = "postgresql://app@db/p?password=REDACTED&sslpassword=REDACTED"
			},
			secrets: []string{"hunter2", "swordfish"},
		},
		{
			name: "user without password kept",
			have: func(c *Config) { c.DB.DSN = "postgres://app@db/p" },
			expected: func(c *Config) {
				c.DB.DSN = "postgres://app@db/p"
			},
		},
		{
			name: "not a url",
			have: func(c *Config) { c.DB.DSN = "host=db password=hunter2" },
			expected: func(c *Config) {
				c.DB.DSN = "REDACTED"
			},
			secrets: []string{"hunter2"},
		},
		{
			name: "file paths are not secrets",
			have: func(c *Config) { c.DB.DSNFile, c.SecretsKeyFile = "/run/secrets/dsn", "/run/secrets/key" },
			expected: func(c *Config) {
				c.DB.DSNFile, c.SecretsKeyFile = "/run/secrets/dsn", "/run/secrets/key"
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.have(&c)
			before := c
			got := c.Redacted()
			expected := Default()
			tc.expected(&expected)
			if !reflect.DeepEqual(got, expected) {
				t.Errorf("Redacted():\ngot  %+v\nwant %+v", got, expected)
			}
			if !reflect.DeepEqual(c, before) {
				t.Errorf("Redacted changed its receiver")
			}
			for _, s := range tc.secrets {
				if strings.Contains(got.DB.DSN+got.SecretsKey, s) {
					t.Errorf("Redacted() still holds %q", s)
				}
			}
		})
	}
}
