package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		have func(c *Config)
		errs []string // "field: problem" prefixes, in order; none means valid
	}{
		{name: "defaults", have: func(c *Config) {}},
		{name: "http issuer on 127.0.0.1", have: func(c *Config) { c.Issuer = "http://127.0.0.1:8080" }},
		{name: "http issuer on 127.0.0.2", have: func(c *Config) { c.Issuer = "http://127.0.0.2" }},
		{name: "http issuer on localhost", have: func(c *Config) { c.Issuer = "http://localhost:8080/idp" }},
		{name: "http issuer on ::1", have: func(c *Config) { c.Issuer = "http://[::1]:8080" }},
		{name: "https issuer with path", have: func(c *Config) { c.Issuer = "https://example.com/auth" }},
		{
			name: "http issuer on example.com",
			have: func(c *Config) { c.Issuer = "http://example.com" },
			errs: []string{`issuer: http is allowed only on a loopback host (127.0.0.1, ::1, localhost), got host "example.com"; use https`},
		},
		{
			name: "http issuer on a name that merely starts with localhost",
			have: func(c *Config) { c.Issuer = "http://localhost.example.com" },
			errs: []string{"issuer: http is allowed only on a loopback host"},
		},
		{name: "empty issuer", have: func(c *Config) { c.Issuer = "" }, errs: []string{"issuer: must be set"}},
		{name: "relative issuer", have: func(c *Config) { c.Issuer = "id.example.com" }, errs: []string{"issuer: must be an absolute URL"}},
		{name: "issuer with query", have: func(c *Config) { c.Issuer = "https://example.com?tenant=a" }, errs: []string{"issuer: must not have a query"}},
		{name: "issuer with fragment", have: func(c *Config) { c.Issuer = "https://example.com#x" }, errs: []string{"issuer: must not have a fragment"}},
		{name: "issuer with user", have: func(c *Config) { c.Issuer = "https://me@example.com" }, errs: []string{"issuer: must not contain a user name"}},
		{name: "ftp issuer", have: func(c *Config) { c.Issuer = "ftp://example.com" }, errs: []string{`issuer: scheme must be https (or http on a loopback host), got "ftp"`}},
		{name: "listen without port", have: func(c *Config) { c.Listen = "127.0.0.1" }, errs: []string{"listen: want host:port"}},
		{name: "listen on all interfaces", have: func(c *Config) { c.Listen = ":8080" }},
		{name: "listen with bad port", have: func(c *Config) { c.Listen = "127.0.0.1:http" }, errs: []string{`listen: port must be a number from 0 to 65535, got "http"`}},
		{name: "listen port too big", have: func(c *Config) { c.Listen = ":70000" }, errs: []string{"listen: port must be a number"}},
		{name: "empty data dir", have: func(c *Config) { c.DataDir = "" }, errs: []string{"data_dir: must be set"}},
		{name: "sqlite dsn", have: func(c *Config) { c.DB.DSN = "sqlite:/tmp/p.db" }},
		{name: "postgres dsn", have: func(c *Config) { c.DB.DSN = "postgres://app:pw@db:5432/portcullis?sslmode=verify-full" }},
		{name: "postgresql dsn", have: func(c *Config) { c.DB.DSN = "postgresql://app@db/portcullis" }},
		{name: "sqlite without path", have: func(c *Config) { c.DB.DSN = "sqlite:" }, errs: []string{"db.dsn: sqlite: needs a path"}},
		{name: "mysql dsn", have: func(c *Config) { c.DB.DSN = "mysql://root:hunter2@db/p" }, errs: []string{`db.dsn: unknown scheme "mysql": want sqlite:PATH or postgres://…`}},
		{name: "keyword dsn", have: func(c *Config) { c.DB.DSN = "host=db password=hunter2" }, errs: []string{"db.dsn: want sqlite:PATH or a postgres://… URL"}},
		{name: "password cut at a slash", have: func(c *Config) { c.DB.DSN = "postgres://app:pa/ss@db:5432/p" }, errs: []string{"db.dsn: has a bad port: if the password holds"}},
		{name: "port out of range", have: func(c *Config) { c.DB.DSN = "postgres://app@db:99999/p" }, errs: []string{"db.dsn: has a bad port (want 1 to 65535): if the password holds"}},
		{name: "password with colon and at sign", have: func(c *Config) { c.DB.DSN = "postgres://app:p%40ss%3Aw@db:5432/p" }},
		{name: "broken postgres url", have: func(c *Config) { c.DB.DSN = "postgres://app:pw%zz@db/p" }, errs: []string{"db.dsn: is not a valid postgres URL"}},
		{name: "dsn and dsn file", have: func(c *Config) { c.DB.DSN, c.DB.DSNFile = "sqlite:x", "/run/dsn" }, errs: []string{"db.dsn_file: set only one of db.dsn and db.dsn_file"}},
		{name: "no connections", have: func(c *Config) { c.DB.MaxOpenConns, c.DB.MaxIdleConns = 0, 0 }, errs: []string{"db.max_open_conns: must be at least 1, got 0"}},
		{name: "negative idle", have: func(c *Config) { c.DB.MaxIdleConns = -1 }, errs: []string{"db.max_idle_conns: must not be negative"}},
		{name: "more idle than open", have: func(c *Config) { c.DB.MaxIdleConns = 21 }, errs: []string{"db.max_idle_conns: must not exceed db.max_open_conns (20), got 21"}},
		{name: "std key", have: func(c *Config) { c.SecretsKey = testKey }},
		{name: "raw url key", have: func(c *Config) { c.SecretsKey = "_-8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0" }},
		{name: "key with newline", have: func(c *Config) { c.SecretsKey = testKey + "\n" }},
		{name: "bad base64 key", have: func(c *Config) { c.SecretsKey = "not*base64!" }, errs: []string{"secrets_key: is not valid base64"}},
		{name: "short key", have: func(c *Config) { c.SecretsKey = "c2hvcnQ=" }, errs: []string{"secrets_key: must decode to 32 bytes, got 5"}},
		{name: "long key", have: func(c *Config) { c.SecretsKey = testKey + testKey }, errs: []string{"secrets_key: is not valid base64"}},
		{name: "key and key file", have: func(c *Config) { c.SecretsKey, c.SecretsKeyFile = testKey, "/run/key" }, errs: []string{"secrets_key_file: set only one of secrets_key and secrets_key_file"}},
		{name: "no key is fine here", have: func(c *Config) { c.SecretsKey = "" }},
		{name: "log format", have: func(c *Config) { c.Log.Format = "xml" }, errs: []string{`log.format: must be json or text, got "xml"`}},
		{name: "log level", have: func(c *Config) { c.Log.Level = "INFO" }, errs: []string{`log.level: must be debug, info, warn or error, got "INFO"`}},
		{name: "es256", have: func(c *Config) { c.Signing.Alg = "ES256" }},
		{name: "unknown alg", have: func(c *Config) { c.Signing.Alg = "HS256" }, errs: []string{`signing.alg: must be RS256 or ES256, got "HS256"`}},
		{name: "rsa 4096", have: func(c *Config) { c.Signing.RSABits = 4096 }},
		{name: "rsa 1024", have: func(c *Config) { c.Signing.RSABits = 1024 }, errs: []string{"signing.rsa_bits: must be 2048, 3072 or 4096, got 1024"}},
		{
			name: "zero and negative durations",
			have: func(c *Config) {
				c.Tokens.AccessTokenLifespan = 0
				c.Tokens.IDTokenLifespan = Duration(-time.Minute)
				c.ShutdownTimeout = 0
				c.DB.ConnectTimeout = 0
			},
			errs: []string{
				"tokens.access_token_lifespan: must be a positive duration, got 0s",
				"tokens.id_token_lifespan: must be a positive duration, got -1m0s",
				"shutdown_timeout: must be a positive duration, got 0s",
				"db.connect_timeout: must be a positive duration, got 0s",
			},
		},
		{
			name: "idle longer than absolute",
			have: func(c *Config) { c.Sessions.Idle = Duration(200 * time.Hour) },
			errs: []string{"sessions.idle: must not exceed sessions.absolute (168h0m0s), got 200h0m0s"},
		},
		{name: "idle equal to absolute", have: func(c *Config) { c.Sessions.Idle = c.Sessions.Absolute }},
		{name: "demo listen", have: func(c *Config) { c.Demo.Listen = "8081" }, errs: []string{"demo.listen: want host:port"}},
		{
			name: "demo on the same address in dev",
			have: func(c *Config) { c.Dev, c.Log.Format, c.Demo.Listen = true, "text", c.Listen },
			errs: []string{"demo.listen: must differ from listen (127.0.0.1:8080)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.have(&c)
			err := c.Validate()
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var v ValidationErrors
			if !errors.As(err, &v) {
				t.Fatalf("Validate() = %v, want ValidationErrors", err)
			}
			if len(v) != len(tc.errs) {
				t.Fatalf("got %d errors, want %d:\n%v", len(v), len(tc.errs), err)
			}
			for i, e := range tc.errs {
				if !strings.HasPrefix(v[i].Error(), e) {
					t.Errorf("error %d = %q, want prefix %q", i, v[i].Error(), e)
				}
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Issuer = "http://example.com"
	c.Listen = "nope"
	c.DB.DSN = "mysql://root:hunter2@db/p"
	c.DB.MaxOpenConns, c.DB.MaxIdleConns = 0, 0
	c.SecretsKey = "c2hvcnQ="
	c.Signing.Alg = "HS256"
	c.Tokens.AccessTokenLifespan = 0
	c.Sessions.Idle = Duration(200 * time.Hour)

	err := c.Validate()
	var v ValidationErrors
	if !errors.As(err, &v) {
		t.Fatalf("Validate() = %v, want ValidationErrors", err)
	}
	expected := []string{
		"issuer",
		"listen",
		"db.dsn",
		"db.max_open_conns",
		"secrets_key",
		"signing.alg",
		"tokens.access_token_lifespan",
		"sessions.idle",
	}
	if len(v) != len(expected) {
		t.Fatalf("got %d errors, want %d:\n%v", len(v), len(expected), err)
	}
	for i, field := range expected {
		if v[i].Field != field {
			t.Errorf("error %d is about %q, want %q", i, v[i].Field, field)
		}
	}
	// One problem per line, as "field: problem".
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(expected) {
		t.Fatalf("message has %d lines, want %d:\n%s", len(lines), len(expected), err)
	}
	for i, field := range expected {
		if !strings.HasPrefix(lines[i], field+": ") {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], field+": ")
		}
	}
	// Secrets are never repeated back.
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Errorf("error message leaks a secret:\n%s", err)
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for _, tc := range []struct {
		have     string
		expected bool
	}{
		{"localhost", true},
		{"LOCALHOST", true},
		{"localhost.", true},
		{"localhost:8080", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"127.0.0.1:8080", true},
		{"::1", true},
		{"[::1]", true},
		{"[::1]:8080", true},
		{"::ffff:127.0.0.1", true},
		{"", false},
		{"example.com", false},
		{"localhost.example.com", false},
		{"10.0.0.1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"128.0.0.1", false},
	} {
		if got := IsLoopbackHost(tc.have); got != tc.expected {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", tc.have, got, tc.expected)
		}
	}
}
