package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
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
	// Environ lists the environment as KEY=value strings, to find
	// PORTCULLIS_* variables that name no setting. Nil means os.Environ
	// when LookupEnv is nil too, and no such check otherwise.
	Environ func() []string
	// Flags is the parsed command line, with the flags of RegisterFlags
	// among others. Only flags the user actually set (Changed) count. Nil
	// means none.
	Flags *pflag.FlagSet
}

// origins records, for each dotted key some source set, where its value
// came from: "config file F line N", "environment variable X" or "flag --x".
type origins map[string]string

// of names where key's value came from, "the default" when no source set it.
func (o origins) of(key string) string {
	if w := o[key]; w != "" {
		return w
	}
	return "the default"
}

// Load builds the configuration from, in rising precedence, Default(), the
// YAML file, the environment and the flags. It then derives the dependent
// defaults, normalizes the issuer, reads the *_file secrets
// (ResolveSecrets) and validates the result (Validate).
//
// The file is decoded strictly: an unknown key (with the nearest known one
// as a suggestion), a duplicate key or a value of the wrong type is an error
// naming its line. An environment variable or flag whose value does not
// parse is an error naming it, and so is a PORTCULLIS_* variable that names
// no setting (see Environ). Every problem, decoding and validation alike,
// comes back at once as ValidationErrors; a setting whose value did not
// parse is not validated again. On error the returned Config is the zero
// value.
//
// A missing secrets key is not an error here; MasterKey reports it when the
// key is needed.
func Load(opts LoadOptions) (Config, error) {
	c := Default()
	set := make(origins)
	var p problems
	failed := make(map[string]bool) // keys whose value did not parse

	if opts.File != "" {
		decodeFile(opts.File, &c, set, &p)
	}
	lookup, environ := opts.LookupEnv, opts.Environ
	if lookup == nil {
		lookup = os.LookupEnv
		if environ == nil {
			environ = os.Environ
		}
	}
	applyEnv(&c, lookup, set, &p, failed)
	if environ != nil {
		checkEnvNames(environ(), &p)
	}
	if opts.Flags != nil {
		applyFlags(&c, opts.Flags, set, &p, failed)
	}

	deriveDefaults(&c, set)
	normalize(&c)

	for _, err := range []error{c.ResolveSecrets(), c.validate(set)} {
		var v ValidationErrors
		switch {
		case err == nil:
		case errors.As(err, &v):
			for _, e := range v {
				if !failed[e.Field] {
					p = append(p, e)
				}
			}
		default:
			p.addf("configuration", "%v", err)
		}
	}
	if len(p) > 0 {
		return Config{}, ValidationErrors(p)
	}
	return c, nil
}

// decodeFile decodes the YAML file at path over c, strictly, records in set
// the dotted keys the file gives, and adds to p every problem it finds.
func decodeFile(path string, c *Config, set origins, p *problems) {
	where := "config file " + path
	data, err := os.ReadFile(path)
	if err != nil {
		p.addf("config file", "%v", err)
		return
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.addf(where, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	if len(doc.Content) == 1 {
		collectKeys(doc.Content[0], "", where, set, p)
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var te *yaml.TypeError
	switch err := dec.Decode(c); {
	case errors.Is(err, io.EOF):
		return // an empty file (or only comments) leaves the defaults
	case errors.As(err, &te):
		for _, msg := range te.Errors {
			if !unknownField.MatchString(msg) { // reported by collectKeys, with a suggestion
				p.addf(where, "%s", msg)
			}
		}
	case err != nil:
		p.addf(where, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		p.addf(where, "want one YAML document, found more (line %d)", extra.Line)
	}
}

// unknownField matches yaml.v3's message for a key KnownFields refuses.
var unknownField = regexp.MustCompile(`^line \d+: field .* not found in type `)

// collectKeys records in set the dotted path of every known key of the
// mapping n, with where and its line, and adds an unknown key to p with the
// nearest known key as a suggestion.
func collectKeys(n *yaml.Node, prefix, where string, set origins, p *problems) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		key := prefix + k.Value
		switch {
		case knownKeys[key]:
			set[key] = fmt.Sprintf("%s line %d", where, k.Line)
		case knownSections[key]:
			collectKeys(n.Content[i+1], key+".", where, set, p)
		default:
			p.addf(key, "unknown key (%s line %d)%s", where, k.Line, didYouMean(key, yamlKeys()))
		}
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
	{"trusted_proxy_header", "", setString(func(c *Config) *string { return &c.TrustedProxyHeader })},
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
func applyEnv(c *Config, lookup func(string) (string, bool), set origins, p *problems, failed map[string]bool) {
	here := make(map[string]bool)
	for _, s := range settings {
		name := envName(s.key)
		v, ok := lookup(name)
		if !ok || v == "" {
			continue
		}
		if err := s.set(c, v); err != nil {
			p.addf(s.key, "environment variable %s: %v", name, err)
			failed[s.key] = true
			continue
		}
		here[s.key], set[s.key] = true, "environment variable "+name
	}
	for _, pair := range exclusive {
		if here[pair[0]] && here[pair[1]] {
			p.addf(pair[1], "environment variables %s and %s are both set; set only one", envName(pair[0]), envName(pair[1]))
		}
	}
}

// envNotSettings are the PORTCULLIS_* variables, or prefixes of them, that
// are not settings and are not reported as unknown: the configuration file
// of cmd/portcullis, and those of the tests and of the load tool.
var envNotSettings = []string{"PORTCULLIS_CONFIG", "PORTCULLIS_TEST_", "PORTCULLIS_LOAD_"}

// checkEnvNames adds to p every PORTCULLIS_* variable of environ (set, even
// if empty) that names no setting, with the nearest one as a suggestion: a
// misspelt variable would otherwise be ignored without a word.
func checkEnvNames(environ []string, p *problems) {
	known := envNames()
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "PORTCULLIS_") || slices.Contains(known, name) ||
			slices.ContainsFunc(envNotSettings, func(prefix string) bool { return strings.HasPrefix(name, prefix) }) {
			continue
		}
		p.addf(name, "unknown environment variable%s", didYouMean(name, known))
	}
}

// applyFlags applies the flags the user set over c. An empty value counts as
// unset, as it does in the environment.
func applyFlags(c *Config, fs *pflag.FlagSet, set origins, p *problems, failed map[string]bool) {
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
			p.addf(s.key, "flag --%s: %v", s.flag, err)
			failed[s.key] = true
			continue
		}
		set[s.key] = "flag --" + s.flag
	}
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
