package config

import (
	"net/url"
	"path/filepath"
	"strings"
)

// Driver names returned by DBDriverAndDSN.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// redacted replaces secret values in Redacted.
const redacted = "REDACTED"

// DBDriverAndDSN returns the database driver and what to open with it:
// DriverSQLite and a file path (db.dsn without its "sqlite:" prefix, or
// <data_dir>/portcullis.db when db.dsn is empty), or DriverPostgres and the
// URL as given. For a DSN Validate refuses, driver is "".
func (c Config) DBDriverAndDSN() (driver, dsn string) {
	switch d := c.DB.DSN; {
	case d == "":
		return DriverSQLite, filepath.Join(c.DataDir, "portcullis.db")
	case strings.HasPrefix(d, "sqlite:"):
		return DriverSQLite, strings.TrimPrefix(d, "sqlite:")
	case strings.HasPrefix(d, "postgres://"), strings.HasPrefix(d, "postgresql://"):
		return DriverPostgres, d
	default:
		return "", d
	}
}

// Redacted returns a copy of c that is safe to log or print: the secrets key
// and the password of a database URL (in its user info or its password and
// sslpassword parameters) read "REDACTED". A DSN that is not a URL is
// replaced whole. File paths are kept; they are not secrets.
func (c Config) Redacted() Config {
	if c.SecretsKey != "" {
		c.SecretsKey = redacted
	}
	c.DB.DSN = redactDSN(c.DB.DSN)
	return c
}

func redactDSN(dsn string) string {
	if dsn == "" || strings.HasPrefix(dsn, "sqlite:") {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return redacted
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	if q := u.Query(); q.Has("password") || q.Has("sslpassword") {
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, redacted)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
