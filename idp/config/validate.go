package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// FieldError is one problem with one setting.
type FieldError struct {
	// Field is the dotted YAML key, e.g. "sessions.idle".
	Field string
	// Problem says what is wrong, in words an operator can act on. It never
	// repeats a secret value.
	Problem string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Problem }

// ValidationErrors is every problem found in a Config, in the order of its
// fields. Its message puts each on its own line as "field: problem".
type ValidationErrors []FieldError

func (v ValidationErrors) Error() string {
	lines := make([]string, len(v))
	for i, e := range v {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// problems collects FieldErrors.
type problems ValidationErrors

func (p *problems) addf(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// Validate checks every setting and returns all problems at once as
// ValidationErrors, or nil. It reads no files: a *_file setting is checked
// once ResolveSecrets has read it. A missing secrets key is not a problem
// here (see MasterKey).
func (c *Config) Validate() error { return c.validate(nil) }

// validate is Validate; set, when not nil, says where each value came from,
// for the messages about two settings that conflict.
func (c *Config) validate(set origins) error {
	var p problems

	if problem := checkIssuer(c.Issuer); problem != "" {
		p.addf("issuer", "%s", problem)
	}
	if problem := checkHostPort(c.Listen); problem != "" {
		p.addf("listen", "%s", problem)
	}
	if c.DataDir == "" {
		p.addf("data_dir", "must be set")
	}

	switch {
	case c.DB.DSN != "" && c.DB.DSNFile != "":
		p.addf("db.dsn_file", "set only one of db.dsn and db.dsn_file")
	case c.DB.DSN != "":
		if problem := checkDSN(c.DB.DSN); problem != "" {
			p.addf("db.dsn", "%s", problem)
		}
	}
	if c.DB.MaxOpenConns < 1 {
		p.addf("db.max_open_conns", "must be at least 1, got %d", c.DB.MaxOpenConns)
	}
	switch {
	case c.DB.MaxIdleConns < 0:
		p.addf("db.max_idle_conns", "must not be negative, got %d", c.DB.MaxIdleConns)
	case c.DB.MaxOpenConns >= 1 && c.DB.MaxIdleConns > c.DB.MaxOpenConns:
		p.addf("db.max_idle_conns", "must not exceed db.max_open_conns (%d), got %d", c.DB.MaxOpenConns, c.DB.MaxIdleConns)
	}

	switch {
	case c.SecretsKey != "" && c.SecretsKeyFile != "":
		p.addf("secrets_key_file", "set only one of secrets_key and secrets_key_file")
	case c.SecretsKey != "":
		if _, err := decodeKey(c.SecretsKey); err != nil {
			p.addf("secrets_key", "%v", err)
		}
	}

	if !oneOf(c.Log.Format, "json", "text") {
		p.addf("log.format", "must be json or text, got %q", c.Log.Format)
	}
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		p.addf("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}

	if !oneOf(c.Signing.Alg, "RS256", "ES256") {
		p.addf("signing.alg", "must be RS256 or ES256, got %q", c.Signing.Alg)
	}
	if c.Signing.RSABits != 2048 && c.Signing.RSABits != 3072 && c.Signing.RSABits != 4096 {
		p.addf("signing.rsa_bits", "must be 2048, 3072 or 4096, got %d", c.Signing.RSABits)
	}

	for _, d := range []struct {
		field string
		value Duration
	}{
		{"tokens.access_token_lifespan", c.Tokens.AccessTokenLifespan},
		{"tokens.refresh_token_lifespan", c.Tokens.RefreshTokenLifespan},
		{"tokens.auth_code_lifespan", c.Tokens.AuthCodeLifespan},
		{"tokens.id_token_lifespan", c.Tokens.IDTokenLifespan},
		{"sessions.absolute", c.Sessions.Absolute},
		{"sessions.idle", c.Sessions.Idle},
		{"shutdown_timeout", c.ShutdownTimeout},
		{"db.connect_timeout", c.DB.ConnectTimeout},
	} {
		if d.value <= 0 {
			p.addf(d.field, "must be a positive duration, got %s", d.value)
		}
	}
	if c.Sessions.Idle > 0 && c.Sessions.Absolute > 0 && c.Sessions.Idle > c.Sessions.Absolute {
		if set == nil {
			p.addf("sessions.idle", "must not exceed sessions.absolute (%s), got %s", c.Sessions.Absolute, c.Sessions.Idle)
		} else {
			p.addf("sessions.idle", "%s (from %s) must not exceed sessions.absolute, %s (from %s): lower sessions.idle or raise sessions.absolute",
				c.Sessions.Idle, set.of("sessions.idle"), c.Sessions.Absolute, set.of("sessions.absolute"))
		}
	}

	if problem := checkHostPort(c.Demo.Listen); problem != "" {
		p.addf("demo.listen", "%s", problem)
	} else if c.Dev && c.Demo.Listen == c.Listen {
		p.addf("demo.listen", "must differ from listen (%s): with dev both servers run", c.Listen)
	}

	for _, proxy := range c.TrustedProxies {
		if !validCIDR(proxy) {
			p.addf("trusted_proxies", "want CIDR prefixes such as 10.0.0.0/8 or single addresses, got %q", proxy)
		}
	}
	switch strings.ToLower(c.TrustedProxyHeader) {
	case "x-forwarded-for", "forwarded":
	default:
		p.addf("trusted_proxy_header", `want "x-forwarded-for" or "forwarded" (the header your proxies write), got %q`, c.TrustedProxyHeader)
	}
	if c.PasswordHashing.Concurrency < 0 {
		p.addf("password_hashing.concurrency", "must not be negative (0 means one per CPU), got %d", c.PasswordHashing.Concurrency)
	}
	if c.PasswordHashing.Queue < 1 {
		p.addf("password_hashing.queue", "must be at least 1, got %d", c.PasswordHashing.Queue)
	}
	if c.Metrics.Listen != "" {
		if problem := checkHostPort(c.Metrics.Listen); problem != "" {
			p.addf("metrics.listen", "%s", problem)
		} else if c.Metrics.Listen == c.Listen && !strings.HasSuffix(c.Listen, ":0") { // :0 is a new port each time
			p.addf("metrics.listen", "must differ from listen (%s): metrics are never served on the public port", c.Listen)
		}
	}
	if c.MemoryLimitMiB < 0 {
		p.addf("memory_limit_mib", "must not be negative (0 means no limit), got %d", c.MemoryLimitMiB)
	}
	if !(c.RateLimits.Factor > 0 && c.RateLimits.Factor <= 1000) {
		p.addf("rate_limits.factor", "must be more than 0 and at most 1000, got %g", c.RateLimits.Factor)
	}

	if len(p) == 0 {
		return nil
	}
	return ValidationErrors(p)
}

// checkIssuer returns what is wrong with an issuer URL, or "".
func checkIssuer(issuer string) string {
	if issuer == "" {
		return "must be set, e.g. https://id.example.com"
	}
	u, err := url.Parse(issuer)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a valid URL", issuer)
	case !u.IsAbs() || u.Host == "":
		return fmt.Sprintf("must be an absolute URL such as https://id.example.com, got %q", issuer)
	case u.User != nil:
		return "must not contain a user name or password"
	case u.RawQuery != "" || u.ForceQuery:
		return "must not have a query (?…)"
	case u.Fragment != "" || strings.Contains(issuer, "#"):
		return "must not have a fragment (#…)"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return ""
		}
		return fmt.Sprintf("http is allowed only on a loopback host (127.0.0.1, ::1, localhost), got host %q; use https", u.Hostname())
	default:
		return fmt.Sprintf("scheme must be https (or http on a loopback host), got %q", u.Scheme)
	}
}

// checkHostPort returns what is wrong with a listen address, or "".
func checkHostPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("want host:port such as 127.0.0.1:8080 or :8080, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("port must be a number from 0 to 65535, got %q", port)
	}
	return ""
}

// encodePasswordHint is what a DSN whose port does not parse usually needs.
const encodePasswordHint = "if the password holds any of : / @ # ? % or a space, %-encode them " +
	"(for example '/' as %2F, '@' as %40, ':' as %3A)"

// checkDSN returns what is wrong with a database DSN, or "". It never quotes
// the DSN, which may hold a password.
func checkDSN(dsn string) string {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		if strings.TrimPrefix(dsn, "sqlite:") == "" {
			return "sqlite: needs a path, e.g. sqlite:./data/portcullis.db"
		}
		return ""
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil && strings.Contains(err.Error(), "invalid port") {
			// What an unencoded '/', '#' or '?' in the password does: the
			// rest of the password is read as the port.
			return "has a bad port: " + encodePasswordHint
		}
		if err != nil {
			return "is not a valid postgres URL (special characters in the password must be %-encoded)"
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return "has a bad port (want 1 to 65535): " + encodePasswordHint
			}
		}
		return ""
	}
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return fmt.Sprintf("unknown scheme %q: want sqlite:PATH or postgres://…", u.Scheme)
	}
	return "want sqlite:PATH or a postgres://… URL"
}

// IsLoopbackHost reports whether host names this machine's loopback
// interface: "localhost", an address in 127.0.0.0/8, or ::1. The host may be
// bracketed and may carry a port ("[::1]:8080", "localhost:8080"), so that
// r.Host can be passed as is. Browsers treat such hosts as secure contexts,
// which is why http is acceptable there and cookies may drop Secure.
func IsLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func oneOf(v string, allowed ...string) bool { return slices.Contains(allowed, v) }

// validCIDR accepts a CIDR prefix or a single address.
func validCIDR(s string) bool {
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}
