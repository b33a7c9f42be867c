package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// writeTemp writes content to a new file in a test directory.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const testKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // bytes 0..31

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name     string
		file     string // YAML; empty for no file
		env      map[string]string
		args     []string
		expected func(c *Config) // edits Default() into the expected result
	}{
		{
			name:     "defaults only",
			expected: func(c *Config) {},
		},
		{
			name: "file over defaults",
			file: "issuer: https://id.example.com/\nlisten: :9000\nlog:\n  level: debug\ntokens:\n  access_token_lifespan: 5m\n",
			expected: func(c *Config) {
				c.Issuer = "https://id.example.com" // trailing slash stripped
				c.Listen = ":9000"
				c.Log.Level = "debug"
				c.Tokens.AccessTokenLifespan = Duration(5 * time.Minute)
			},
		},
		{
			name: "env over file",
			file: "listen: :9000\nlog:\n  level: debug\n",
			env: map[string]string{
				"PORTCULLIS_LISTEN":                "127.0.0.1:7000",
				"PORTCULLIS_SESSION_IDLE":          "2h",
				"PORTCULLIS_DB_MAX_OPEN_CONNS":     "5",
				"PORTCULLIS_ACCESS_TOKEN_LIFESPAN": "10m",
				"PORTCULLIS_LOG_FORMAT":            "", // empty counts as unset
			},
			expected: func(c *Config) {
				c.Listen = "127.0.0.1:7000"
				c.Log.Level = "debug"
				c.Sessions.Idle = Duration(2 * time.Hour)
				c.DB.MaxOpenConns, c.DB.MaxIdleConns = 5, 5 // idle follows open
				c.Tokens.AccessTokenLifespan = Duration(10 * time.Minute)
			},
		},
		{
			name: "flags over env over file",
			file: "listen: :9000\nlog:\n  level: debug\n",
			env:  map[string]string{"PORTCULLIS_LISTEN": "127.0.0.1:7000", "PORTCULLIS_LOG_LEVEL": "warn"},
			args: []string{"--listen", "127.0.0.1:6000"},
			expected: func(c *Config) {
				c.Listen = "127.0.0.1:6000"
				c.Log.Level = "warn" // --log-level not given: its default does not override
			},
		},
		{
			name: "dev makes text logs",
			args: []string{"--dev"},
			expected: func(c *Config) {
				c.Dev = true
				c.Log.Format = "text"
			},
		},
		{
			name: "dev keeps an explicit log format from the file",
			file: "log:\n  format: json\n",
			env:  map[string]string{"PORTCULLIS_DEV": "true"},
			expected: func(c *Config) {
				c.Dev = true
				c.Log.Format = "json"
			},
		},
		{
			name: "explicit idle conns are kept",
			file: "db:\n  max_open_conns: 40\n  max_idle_conns: 4\n",
			expected: func(c *Config) {
				c.DB.MaxOpenConns, c.DB.MaxIdleConns = 40, 4
			},
		},
		{
			name: "env dsn replaces file dsn_file",
			file: "db:\n  dsn_file: /nonexistent/dsn\n",
			env:  map[string]string{"PORTCULLIS_DB": "postgres://app@db/portcullis"},
			expected: func(c *Config) {
				c.DB.DSN = "postgres://app@db/portcullis"
			},
		},
		{
			name: "flags db and data dir",
			args: []string{"--db=sqlite:/var/lib/p.db", "--data-dir", "/var/lib/portcullis", "--issuer", "https://login.example.org"},
			expected: func(c *Config) {
				c.DB.DSN = "sqlite:/var/lib/p.db"
				c.DataDir = "/var/lib/portcullis"
				c.Issuer = "https://login.example.org"
			},
		},
		{
			name:     "empty file",
			file:     "# nothing yet\n",
			expected: func(c *Config) {},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := LoadOptions{LookupEnv: lookupMap(tc.env)}
			if tc.file != "" {
				opts.File = writeTemp(t, "portcullis.yaml", tc.file)
			}
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			RegisterFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			opts.Flags = fs

			got, err := Load(opts)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			expected := Default()
			tc.expected(&expected)
			if !reflect.DeepEqual(got, expected) {
				t.Errorf("Load:\ngot      %+v\nexpected %+v", got, expected)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		errs []string // each must appear in the error
	}{
		{
			name: "unknown top-level key",
			file: "issuer: https://id.example.com\nlisten_addr: :8080\n",
			errs: []string{`listen_addr: unknown key (config file `, `portcullis.yaml line 2); did you mean "listen"?`},
		},
		{
			name: "unknown nested key",
			file: "db:\n  max_open_conns: 3\n  dns: postgres://x\n",
			errs: []string{`db.dns: unknown key (config file `, `portcullis.yaml line 3); did you mean "db.dsn"?`},
		},
		{
			name: "every decoding problem at once",
			file: "tokens:\n  access_token_lifespan: 15\nsessions:\n  idel: 1h\ndb:\n  max_open_conns: many\n",
			errs: []string{
				`line 2: want a duration such as "15m" or "720h", got "15"`,
				`sessions.idel: unknown key (config file `, `portcullis.yaml line 4); did you mean "sessions.idle"?`,
				"line 6: cannot unmarshal !!str `many` into int",
			},
		},
		{
			name: "duplicate key",
			file: "listen: :1\nlisten: :2\n",
			errs: []string{`"listen" already defined at line 1`},
		},
		{
			name: "two documents",
			file: "listen: :1\n---\nlisten: :2\n",
			errs: []string{"want one YAML document"},
		},
		{
			name: "missing file",
			file: "-",
			errs: []string{"config file:", "no such file"},
		},
		{
			name: "env values that do not parse, all named",
			env: map[string]string{
				"PORTCULLIS_DB_MAX_OPEN_CONNS": "lots",
				"PORTCULLIS_DEV":               "yes please",
				"PORTCULLIS_SESSION_IDLE":      "1 day",
			},
			errs: []string{
				`environment variable PORTCULLIS_DB_MAX_OPEN_CONNS: want a whole number, got "lots"`,
				`environment variable PORTCULLIS_DEV: want true or false, got "yes please"`,
				`environment variable PORTCULLIS_SESSION_IDLE: want a duration such as "15m" or "720h", got "1 day"`,
			},
		},
		{
			name: "env value and file variant together",
			env:  map[string]string{"PORTCULLIS_SECRETS_KEY": testKey, "PORTCULLIS_SECRETS_KEY_FILE": "/run/secrets/key"},
			errs: []string{"PORTCULLIS_SECRETS_KEY and PORTCULLIS_SECRETS_KEY_FILE are both set"},
		},
		{
			name: "validation problems come back together",
			file: "issuer: http://id.example.com\nsigning:\n  alg: HS256\n",
			args: []string{"--log-level", "loud"},
			errs: []string{"issuer: http is allowed only on a loopback host", "log.level: must be", "signing.alg: must be RS256 or ES256"},
		},
		{
			name: "unreadable secret file",
			env:  map[string]string{"PORTCULLIS_DB_FILE": "/nonexistent/portcullis-dsn"},
			errs: []string{"db.dsn_file: cannot read:"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := LoadOptions{LookupEnv: lookupMap(tc.env)}
			switch tc.file {
			case "":
			case "-":
				opts.File = filepath.Join(t.TempDir(), "missing.yaml")
			default:
				opts.File = writeTemp(t, "portcullis.yaml", tc.file)
			}
			if tc.args != nil {
				fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
				RegisterFlags(fs)
				if err := fs.Parse(tc.args); err != nil {
					t.Fatal(err)
				}
				opts.Flags = fs
			}
			got, err := Load(opts)
			if err == nil {
				t.Fatalf("Load succeeded, want errors %q", tc.errs)
			}
			for _, e := range tc.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("error does not contain %q:\n%v", e, err)
				}
			}
			if !reflect.DeepEqual(got, (Config{})) {
				t.Errorf("Load returned a non-zero Config with an error")
			}
		})
	}
}

func TestLoadValidationErrorsAreTyped(t *testing.T) {
	_, err := Load(LoadOptions{LookupEnv: lookupMap(map[string]string{
		"PORTCULLIS_ISSUER":           "http://example.com",
		"PORTCULLIS_SECRETS_KEY_FILE": writeTemp(t, "key", "c2hvcnQ=\n"),
	})})
	var v ValidationErrors
	if !errors.As(err, &v) {
		t.Fatalf("error %v is not ValidationErrors", err)
	}
	var fields []string
	for _, e := range v {
		fields = append(fields, e.Field)
	}
	if strings.Join(fields, ",") != "secrets_key_file,issuer" {
		t.Errorf("fields = %v, want [secrets_key_file issuer]", fields)
	}
}

func TestLoadResolvesSecretFiles(t *testing.T) {
	dsn := writeTemp(t, "dsn", "postgres://app:s3cret@db:5432/portcullis\n")
	key := writeTemp(t, "key", "\n"+testKey+"\n")
	c, err := Load(LoadOptions{LookupEnv: lookupMap(map[string]string{
		"PORTCULLIS_DB_FILE":          dsn,
		"PORTCULLIS_SECRETS_KEY_FILE": key,
	})})
	if err != nil {
		t.Fatal(err)
	}
	if c.DB.DSN != "postgres://app:s3cret@db:5432/portcullis" || c.DB.DSNFile != "" {
		t.Errorf("db = %+v", c.DB)
	}
	if c.SecretsKey != testKey || c.SecretsKeyFile != "" {
		t.Errorf("secrets_key = %q, secrets_key_file = %q", c.SecretsKey, c.SecretsKeyFile)
	}
}
