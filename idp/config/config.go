package config

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of a Portcullis server. Build one with
// [Load] (or start from [Default] in tests); the zero value is not useful.
//
// Every field has a YAML key (snake_case, shown in the struct tags), an
// environment variable and, for the common ones, a command-line flag; the
// package documentation lists them all.
type Config struct {
	// Issuer is the public base URL of the identity provider, the "iss" of
	// every token. It must be an absolute https URL, or http on a loopback
	// host; Load strips a trailing slash.
	Issuer string `yaml:"issuer"`
	// Listen is the host:port the HTTP server binds to.
	Listen string `yaml:"listen"`
	// DataDir holds the embedded SQLite database (when DB.DSN is empty) and,
	// with Dev, the generated secrets key.
	DataDir string `yaml:"data_dir"`
	// DB selects and sizes the database.
	DB DBConfig `yaml:"db"`
	// SecretsKey is the master key that encrypts secrets at rest (TOTP
	// secrets, private signing keys): 32 bytes in base64, standard or URL
	// alphabet, padded or not, as `openssl rand -base64 32` prints it.
	SecretsKey string `yaml:"secrets_key"`
	// SecretsKeyFile names a file holding SecretsKey (surrounding white
	// space is ignored). Set at most one of the two.
	SecretsKeyFile string `yaml:"secrets_key_file"`
	// Dev turns on development mode (`serve --dev`): text logs unless
	// log.format says otherwise, a generated secrets key in DataDir, and
	// the demo relying party.
	Dev bool `yaml:"dev"`
	// Log configures log/slog output.
	Log LogConfig `yaml:"log"`
	// Signing configures the ID-token signing keys.
	Signing SigningConfig `yaml:"signing"`
	// Tokens sets the lifespans of what the OP issues.
	Tokens TokenConfig `yaml:"tokens"`
	// Sessions sets how long a browser sign-in lasts.
	Sessions SessionConfig `yaml:"sessions"`
	// Demo configures the demo relying app started by `serve --dev`.
	Demo DemoConfig `yaml:"demo"`
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are the reverse proxies (CIDR prefixes or addresses)
	// whose forwarding header (TrustedProxyHeader) gives the client address.
	// Empty: every client is its TCP peer.
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`
	// TrustedProxyHeader is the header those proxies write:
	// "x-forwarded-for" or "forwarded" (RFC 7239). Only it is read.
	TrustedProxyHeader string `yaml:"trusted_proxy_header"`
	// PasswordHashing bounds concurrent argon2id hashes.
	PasswordHashing HashingConfig `yaml:"password_hashing"`
	// RateLimits scales the per-address request limits.
	RateLimits RateLimitConfig `yaml:"rate_limits"`
	// Metrics configures the Prometheus metrics listener.
	Metrics MetricsConfig `yaml:"metrics"`
	// MemoryLimitMiB is the Go runtime's soft memory limit in MiB (the
	// garbage collector works harder near it); 0 means none. The GOMEMLIMIT
	// environment variable, when set, wins.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
}

// HashingConfig sizes the admission gate in front of password hashing.
type HashingConfig struct {
	// Concurrency is how many hashes run at once (each holds 19 MiB);
	// 0 means one per CPU.
	Concurrency int `yaml:"concurrency"`
	// Queue is how many more password checks may wait for a place, each for
	// at most 5 s; beyond it the answer is 503 with Retry-After.
	Queue int `yaml:"queue"`
}

// MetricsConfig configures the Prometheus metrics.
type MetricsConfig struct {
	// Listen is the host:port of a separate listener serving /metrics;
	// empty (the default) means no metrics. Never the public port.
	Listen string `yaml:"listen"`
}

// RateLimitConfig scales the per-address limits (README, "Limits").
type RateLimitConfig struct {
	// Factor multiplies every per-address rate and burst: raise it when
	// many people reach Portcullis through one address.
	Factor float64 `yaml:"factor"`
}

// DBConfig selects the database. Use [Config.DBDriverAndDSN] rather than
// reading DSN directly: it resolves the empty default.
type DBConfig struct {
	// DSN is "sqlite:PATH" or a "postgres://" / "postgresql://" URL. Empty
	// means "sqlite:<data_dir>/portcullis.db".
	DSN string `yaml:"dsn"`
	// DSNFile names a file holding DSN, for a DSN carrying a password. Set
	// at most one of the two.
	DSNFile string `yaml:"dsn_file"`
	// MaxOpenConns caps the connection pool; at least 1.
	MaxOpenConns int `yaml:"max_open_conns"`
	// MaxIdleConns is how many idle connections the pool keeps; when no
	// source sets it, Load makes it equal to MaxOpenConns.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// ConnectTimeout bounds how long serve waits at start for the database
	// to answer (connecting and a first round trip) before it gives up and
	// exits non-zero; positive.
	ConnectTimeout Duration `yaml:"connect_timeout"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Format is "json" or "text". When no source sets it, it is "text" with
	// Dev and "json" otherwise.
	Format string `yaml:"format"`
	// Level is "debug", "info", "warn" or "error".
	Level string `yaml:"level"`
}

// SigningConfig configures how ID tokens are signed.
type SigningConfig struct {
	// Alg is the JWS algorithm of new signing keys: "RS256" or "ES256".
	Alg string `yaml:"alg"`
	// RSABits is the modulus size of new RSA keys: 2048, 3072 or 4096.
	// Every doubling costs about eight times more per signature.
	RSABits int `yaml:"rsa_bits"`
}

// TokenConfig sets token lifespans.
type TokenConfig struct {
	AccessTokenLifespan  Duration `yaml:"access_token_lifespan"`
	RefreshTokenLifespan Duration `yaml:"refresh_token_lifespan"`
	AuthCodeLifespan     Duration `yaml:"auth_code_lifespan"`
	IDTokenLifespan      Duration `yaml:"id_token_lifespan"`
}

// SessionConfig sets the lifetime of a browser session.
type SessionConfig struct {
	// Absolute ends a session this long after sign-in, whatever the user does.
	Absolute Duration `yaml:"absolute"`
	// Idle ends a session after this long without a request; not more than
	// Absolute.
	Idle Duration `yaml:"idle"`
}

// DemoConfig configures the demo relying app of `serve --dev`.
type DemoConfig struct {
	// Listen is the host:port of the demo app.
	Listen string `yaml:"listen"`
}

// Duration is a time.Duration written in configuration as a Go duration
// string such as "15m", "1h30m" or "720h". A bare number is refused, as the
// unit would be a guess.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as a duration string, so that a Config prints back as
// valid YAML or JSON.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := parseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalYAML parses a duration string and reports a bad one as a
// *yaml.TypeError carrying its line, so that the decoder goes on and reports
// it together with every other problem in the file.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: want a duration such as \"15m\" or \"720h\"", n.Line),
		}}
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = v
	return nil
}

func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("want a duration such as \"15m\" or \"720h\", got %q", s)
	}
	return Duration(v), nil
}
