package config

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// lookupMap turns a map into a LookupEnv.
func lookupMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestDefaultValidates(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestDurationYAML(t *testing.T) {
	for _, tc := range []struct {
		name     string
		have     string
		expected Duration
		err      string
	}{
		{name: "minutes", have: "d: 15m", expected: Duration(15 * time.Minute)},
		{name: "compound", have: "d: 1h30m", expected: Duration(90 * time.Minute)},
		{name: "quoted", have: `d: "720h"`, expected: Duration(720 * time.Hour)},
		{name: "bare number has no unit", have: "d: 15", err: `line 1: want a duration such as "15m" or "720h", got "15"`},
		{name: "word", have: "\nd: soon", err: `line 2: want a duration such as "15m" or "720h", got "soon"`},
		{name: "mapping", have: "d: {a: 1}", err: "line 1: want a duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v struct {
				D Duration `yaml:"d"`
			}
			err := yaml.Unmarshal([]byte(tc.have), &v)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.D != tc.expected {
				t.Errorf("got %s, want %s", v.D, tc.expected)
			}
		})
	}
}

func TestDurationMarshalsBack(t *testing.T) {
	out, err := yaml.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	dec := yaml.NewDecoder(strings.NewReader(string(out)))
	dec.KnownFields(true)
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("decode marshalled defaults: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, Default()) {
		t.Errorf("round trip changed the defaults:\n%s", out)
	}
}

// yamlLeaves returns the dotted YAML key of every leaf field of t.
func yamlLeaves(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + strings.Split(f.Tag.Get("yaml"), ",")[0]
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, yamlLeaves(f.Type, key+".")...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

func TestSettingsCoverEveryField(t *testing.T) {
	fields := yamlLeaves(reflect.TypeFor[Config](), "")
	var keys []string
	for _, s := range settings {
		keys = append(keys, s.key)
	}
	if !slices.Equal(keys, fields) {
		t.Errorf("settings keys differ from Config's YAML fields (same order expected)\nsettings: %v\nfields:   %v", keys, fields)
	}
}

func TestEnvNames(t *testing.T) {
	expected := []string{
		"PORTCULLIS_ISSUER",
		"PORTCULLIS_LISTEN",
		"PORTCULLIS_DATA_DIR",
		"PORTCULLIS_DB",
		"PORTCULLIS_DB_FILE",
		"PORTCULLIS_DB_MAX_OPEN_CONNS",
		"PORTCULLIS_DB_MAX_IDLE_CONNS", "PORTCULLIS_DB_CONNECT_TIMEOUT",
		"PORTCULLIS_SECRETS_KEY",
		"PORTCULLIS_SECRETS_KEY_FILE",
		"PORTCULLIS_DEV",
		"PORTCULLIS_LOG_FORMAT",
		"PORTCULLIS_LOG_LEVEL",
		"PORTCULLIS_SIGNING_ALG",
		"PORTCULLIS_SIGNING_RSA_BITS",
		"PORTCULLIS_ACCESS_TOKEN_LIFESPAN",
		"PORTCULLIS_REFRESH_TOKEN_LIFESPAN",
		"PORTCULLIS_AUTH_CODE_LIFESPAN",
		"PORTCULLIS_ID_TOKEN_LIFESPAN",
		"PORTCULLIS_SESSION_ABSOLUTE",
		"PORTCULLIS_SESSION_IDLE",
		"PORTCULLIS_DEMO_LISTEN",
		"PORTCULLIS_SHUTDOWN_TIMEOUT",
		"PORTCULLIS_TRUSTED_PROXIES", "PORTCULLIS_TRUSTED_PROXY_HEADER",
		"PORTCULLIS_PASSWORD_HASHING_CONCURRENCY",
		"PORTCULLIS_PASSWORD_HASHING_QUEUE",
		"PORTCULLIS_RATE_LIMITS_FACTOR",
		"PORTCULLIS_METRICS_LISTEN",
		"PORTCULLIS_MEMORY_LIMIT_MIB",
	}
	var got []string
	for _, s := range settings {
		got = append(got, envName(s.key))
	}
	if !slices.Equal(got, expected) {
		t.Errorf("environment variables:\ngot      %v\nexpected %v", got, expected)
	}

	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	documented := make(map[string]string) // YAML key -> variable, from the table in doc.go
	for line := range strings.Lines(string(doc)) {
		if f := strings.Fields(strings.TrimPrefix(line, "//\t")); strings.HasPrefix(line, "//\t") && len(f) >= 2 {
			documented[f[0]] = f[1]
		}
	}
	for _, s := range settings {
		if documented[s.key] != envName(s.key) {
			t.Errorf("doc.go lists %s as %q, want %q", s.key, documented[s.key], envName(s.key))
		}
	}
}

func TestRegisterFlagsMatchSettings(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	var registered []string
	fs.VisitAll(func(f *pflag.Flag) { registered = append(registered, f.Name) })
	var expected []string
	for _, s := range settings {
		if s.flag != "" {
			expected = append(expected, s.flag)
		}
	}
	slices.Sort(registered)
	slices.Sort(expected)
	if !slices.Equal(registered, expected) {
		t.Errorf("RegisterFlags registers %v, settings name %v", registered, expected)
	}
	for _, name := range []string{"db", "issuer", "listen", "dev", "data-dir", "log-format", "log-level"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s is not registered", name)
		}
	}
}
