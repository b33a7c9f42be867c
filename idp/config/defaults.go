package config

import (
	"strings"
	"time"
)

// Default returns the configuration used when no file, variable or flag
// says otherwise. It is the only place defaults are written down; it
// validates as is and runs a development server on the loopback interface.
//
// Two values depend on others and are settled by Load once every source has
// been read (see deriveDefaults): log.format becomes "text" under dev, and
// db.max_idle_conns follows db.max_open_conns.
func Default() Config {
	return Config{
		Issuer:  "http://127.0.0.1:8080",
		Listen:  "127.0.0.1:8080",
		DataDir: "./data",
		DB: DBConfig{
			DSN:            "", // sqlite:<data_dir>/portcullis.db, see DBDriverAndDSN
			MaxOpenConns:   20,
			MaxIdleConns:   20,
			ConnectTimeout: Duration(10 * time.Second),
		},
		Log: LogConfig{
			Format: "json",
			Level:  "info",
		},
		Signing: SigningConfig{
			Alg:     "RS256",
			RSABits: 2048,
		},
		Tokens: TokenConfig{
			AccessTokenLifespan:  Duration(15 * time.Minute),
			RefreshTokenLifespan: Duration(720 * time.Hour),
			AuthCodeLifespan:     Duration(time.Minute),
			IDTokenLifespan:      Duration(time.Hour),
		},
		Sessions: SessionConfig{
			Absolute: Duration(168 * time.Hour),
			Idle:     Duration(24 * time.Hour),
		},
		Demo: DemoConfig{
			Listen: "127.0.0.1:8081",
		},
		ShutdownTimeout:    Duration(15 * time.Second),
		TrustedProxyHeader: "x-forwarded-for",
		PasswordHashing:    HashingConfig{Concurrency: 0, Queue: 64},
		RateLimits:         RateLimitConfig{Factor: 1},
		MemoryLimitMiB:     64,
	}
}

// deriveDefaults fills the defaults that depend on other settings. set holds
// the dotted YAML keys some source (file, environment, flag) gave a value.
func deriveDefaults(c *Config, set origins) {
	if c.Dev && set["log.format"] == "" {
		c.Log.Format = "text"
	}
	if set["db.max_idle_conns"] == "" {
		c.DB.MaxIdleConns = c.DB.MaxOpenConns
	}
	// An absolute session lifetime set below the default idle timeout takes
	// the idle timeout down with it, unless some source set that too.
	if set["sessions.idle"] == "" && c.Sessions.Absolute > 0 && c.Sessions.Absolute < c.Sessions.Idle {
		c.Sessions.Idle = c.Sessions.Absolute
	}
}

// normalize rewrites values into their canonical form.
func normalize(c *Config) {
	// OpenID Connect compares issuers as strings; "https://id.example.com/"
	// and "https://id.example.com" must not both be in circulation.
	c.Issuer = strings.TrimRight(c.Issuer, "/")
}
