package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// LoadOptions says where Load reads configuration from.
type LoadOptions struct {
	// File is the path of a YAML configuration file; empty means none.
	File string
	// LookupEnv reads an environment variable: os.LookupEnv in production,
	// a map in tests. Nil means os.LookupEnv.
	LookupEnv func(key string) (string, bool)
	// Flags is the parsed command line, with the flags of RegisterFlags
	// among others. Only flags the user actually set (Changed) count. Nil
	// means none.
	Flags *pflag.FlagSet
}

// Load builds the configuration from, in rising precedence, Default(), the
// YAML file, the environment and the flags. It then derives the dependent
// defaults, normalizes the issuer, reads the *_file secrets
// (ResolveSecrets) and validates the result (Validate).
//
// The file is decoded strictly: an unknown key, a duplicate key or a value of
// the wrong type is an error naming its line. An environment variable or
// flag whose value does not parse is an error naming it. Problems are
// reported together, not one per run: every decoding problem at once, or
// else every validation problem at once (as ValidationErrors). On error the
// returned Config is the zero value.
//
// A missing secrets key is not an error here; MasterKey reports it when the
// key is needed.
func Load(opts LoadOptions) (Config, error) {
	c := Default()
	set := make(map[string]bool)
	var errs []error

	if opts.File != "" {
		if err := decodeFile(opts.File, &c, set); err != nil {
			errs = append(errs, err)
		}
	}
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	errs = append(errs, applyEnv(&c, lookup, set)...)
	if opts.Flags != nil {
		errs = append(errs, applyFlags(&c, opts.Flags, set)...)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}

	deriveDefaults(&c, set)
	normalize(&c)

	var problems ValidationErrors
	for _, err := range []error{c.ResolveSecrets(), c.Validate()} {
		var v ValidationErrors
		switch {
		case err == nil:
		case errors.As(err, &v):
			problems = append(problems, v...)
		default:
			return Config{}, err
		}
	}
	if len(problems) > 0 {
		return Config{}, problems
	}
	return c, nil
}

// decodeFile decodes the YAML file at path over c, strictly, and records in
// set the dotted keys the file gives.
func decodeFile(path string, c *Config, set map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(c); {
	case errors.Is(err, io.EOF):
		return nil // an empty file (or only comments) leaves the defaults
	case err != nil:
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: want one YAML document, found more (line %d)", path, extra.Line)
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(doc.Content) == 1 {
		collectKeys(doc.Content[0], "", set)
	}
	return nil
}

// collectKeys records the dotted path of every key of the mapping n.
func collectKeys(n *yaml.Node, prefix string, set map[string]bool) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := prefix + n.Content[i].Value
		set[key] = true
		collectKeys(n.Content[i+1], key+".", set)
	}
}

// setting ties one configuration field to its YAML key, its environment
// variable and, optionally, its flag. set parses a value from the
// environment or the command line into c.
type setting struct {
	key  string // dotted YAML key, e.g. "sessions.idle"
	flag string // flag name without dashes, "" for none
	set  func(c *Config, v string) error
}

// settings lists every configuration field. Its order is the order of the
// table in doc.go; a test checks that it covers every field of Config.
var settings = []setting{
	{"issuer", "issuer", setString(func(c *Config) *string { return &c.Issuer })},
	{"listen", "listen", setString(func(c *Config) *string { return &c.Listen })},
	{"data_dir", "data-dir", setString(func(c *Config) *string { return &c.DataDir })},
	{"db.dsn", "db", func(c *Config, v string) error {
		c.DB.DSN, c.DB.DSNFile = v, "" // a higher source wins over the file variant below it
		return nil
	}},
	{"db.dsn_file", "", func(c *Config, v string) error {
		c.DB.DSNFile, c.DB.DSN = v, ""
		return nil
	}},
	{"db.max_open_conns", "", setInt(func(c *Config) *int { return &c.DB.MaxOpenConns })},
	{"db.max_idle_conns", "", setInt(func(c *Config) *int { return &c.DB.MaxIdleConns })},
	{"db.connect_timeout", "", setDuration(func(c *Config) *Duration { return &c.DB.ConnectTimeout })},
	{"secrets_key", "", func(c *Config, v string) error {
		c.SecretsKey, c.SecretsKeyFile = v, ""
		return nil
	}},
	{"secrets_key_file", "", func(c *Config, v string) error {
		c.SecretsKeyFile, c.SecretsKey = v, ""
		return nil
	}},
	{"dev", "dev", setBool(func(c *Config) *bool { return &c.Dev })},
	{"log.format", "log-format", setString(func(c *Config) *string { return &c.Log.Format })},
	{"log.level", "log-level", setString(func(c *Config) *string { return &c.Log.Level })},
	{"signing.alg", "", setString(func(c *Config) *string { return &c.Signing.Alg })},
	{"signing.rsa_bits", "", setInt(func(c *Config) *int { return &c.Signing.RSABits })},
	{"tokens.access_token_lifespan", "", setDuration(func(c *Config) *Duration { return &c.Tokens.AccessTokenLifespan })},
	{"tokens.refresh_token_lifespan", "", setDuration(func(c *Config) *Duration { return &c.Tokens.RefreshTokenLifespan })},
	{"tokens.auth_code_lifespan", "", setDuration(func(c *Config) *Duration { return &c.Tokens.AuthCodeLifespan })},
	{"tokens.id_token_lifespan", "", setDuration(func(c *Config) *Duration { return &c.Tokens.IDTokenLifespan })},
	{"sessions.absolute", "", setDuration(func(c *Config) *Duration { return &c.Sessions.Absolute })},
	{"sessions.idle", "", setDuration(func(c *Config) *Duration { return &c.Sessions.Idle })},
	{"demo.listen", "", setString(func(c *Config) *string { return &c.Demo.Listen })},
	{"shutdown_timeout", "", setDuration(func(c *Config) *Duration { return &c.ShutdownTimeout })},
	{"trusted_proxies", "", func(c *Config, v string) error {
		c.TrustedProxies = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.TrustedProxies = append(c.TrustedProxies, p)
			}
		}
		return nil
	}},
	{"password_hashing.concurrency", "", setInt(func(c *Config) *int { return &c.PasswordHashing.Concurrency })},
	{"password_hashing.queue", "", setInt(func(c *Config) *int { return &c.PasswordHashing.Queue })},
	{"rate_limits.factor", "", func(c *Config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", v)
		}
		c.RateLimits.Factor = f
		return nil
	}},
	{"metrics.listen", "", setString(func(c *Config) *string { return &c.Metrics.Listen })},
	{"memory_limit_mib", "", setInt(func(c *Config) *int { return &c.MemoryLimitMiB })},
}

// exclusive lists pairs of keys of which a single source may set only one.
var exclusive = [][2]string{
	{"db.dsn", "db.dsn_file"},
	{"secrets_key", "secrets_key_file"},
}

// envName derives the environment variable of a dotted YAML key: PORTCULLIS_
// followed by the key in upper case with dots as underscores, where the
// "tokens." section is dropped (its keys already end in _LIFESPAN),
// "sessions." reads "session." and "db.dsn" reads "db".
func envName(key string) string {
	switch {
	case strings.HasPrefix(key, "tokens."):
		key = strings.TrimPrefix(key, "tokens.")
	case strings.HasPrefix(key, "sessions."):
		key = "session." + strings.TrimPrefix(key, "sessions.")
	case strings.HasPrefix(key, "db.dsn"):
		key = "db" + strings.TrimPrefix(key, "db.dsn")
	}
	return "PORTCULLIS_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// applyEnv applies the environment over c. An empty variable counts as unset.
func applyEnv(c *Config, lookup func(string) (string, bool), set map[string]bool) []error {
	var errs []error
	here := make(map[string]bool)
	for _, s := range settings {
		name := envName(s.key)
		v, ok := lookup(name)
		if !ok || v == "" {
			continue
		}
		if err := s.set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s: %w", name, err))
			continue
		}
		here[s.key], set[s.key] = true, true
	}
	for _, p := range exclusive {
		if here[p[0]] && here[p[1]] {
			errs = append(errs, fmt.Errorf("environment variables %s and %s are both set; set only one", envName(p[0]), envName(p[1])))
		}
	}
	return errs
}

// applyFlags applies the flags the user set over c. An empty value counts as
// unset, as it does in the environment.
func applyFlags(c *Config, fs *pflag.FlagSet, set map[string]bool) []error {
	var errs []error
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		f := fs.Lookup(s.flag)
		if f == nil || !f.Changed {
			continue
		}
		v := f.Value.String()
		if v == "" {
			continue
		}
		if err := s.set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("flag --%s: %w", s.flag, err))
			continue
		}
		set[s.key] = true
	}
	return errs
}

// RegisterFlags adds the common configuration flags to fs: --issuer,
// --listen, --data-dir, --db, --dev, --log-format and --log-level. The
// caller registers --config itself and passes its value as LoadOptions.File.
// Load applies only the flags the user set, so the defaults shown in the
// help text never override the file or the environment.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Default()
	fs.String("issuer", d.Issuer, "public URL of the identity provider: https, or http on a loopback host")
	fs.String("listen", d.Listen, "host:port the HTTP server listens on")
	fs.String("data-dir", d.DataDir, "directory for the embedded SQLite database and, with --dev, the generated secrets key")
	fs.String("db", d.DB.DSN, "database: sqlite:PATH or postgres://user@host/db (default sqlite:<data-dir>/portcullis.db)")
	fs.Bool("dev", d.Dev, "development mode: text logs, a generated secrets key, demo tenant and relying app")
	fs.String("log-format", "", "log format: json or text (default json, text with --dev)")
	fs.String("log-level", d.Log.Level, "log level: debug, info, warn or error")
}

func setString(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		*field(c) = v
		return nil
	}
}

func setInt(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", v)
		}
		*field(c) = n
		return nil
	}
}

func setBool(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want true or false, got %q", v)
		}
		*field(c) = b
		return nil
	}
}

func setDuration(field func(*Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		*field(c) = d
		return nil
	}
}
