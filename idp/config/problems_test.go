package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// loadWith runs Load on a file (if not empty), an environment (which is also
// the whole of Environ) and command-line arguments.
func loadWith(t *testing.T, file string, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	opts := LoadOptions{LookupEnv: lookupMap(env), Environ: func() []string {
		var kv []string
		for k, v := range env {
			kv = append(kv, k+"="+v)
		}
		return kv
	}}
	if file != "" {
		opts.File = writeTemp(t, "portcullis.yaml", file)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	opts.Flags = fs
	return Load(opts)
}

// problemsOf returns the problems of a Load error as "field: problem" lines.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var v ValidationErrors
	if !errors.As(err, &v) {
		t.Fatalf("error %v is not ValidationErrors", err)
	}
	lines := make([]string, len(v))
	for i, e := range v {
		lines[i] = e.Error()
	}
	return lines
}

// TestLoadReportsDecodingAndValidationTogether: a configuration with three
// errors, one that does not decode and two that do not validate, from three
// sources, reports three.
func TestLoadReportsDecodingAndValidationTogether(t *testing.T) {
	_, err := loadWith(t, "sesions:\n  idle: 1h\n",
		map[string]string{"PORTCULLIS_LOG_LEVEL": "loud"},
		"--issuer", "ftp://id.example.com")
	got := problemsOf(t, err)
	if len(got) != 3 {
		t.Fatalf("%d problems, want 3:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i, want := range []string{`sesions: unknown key (config file `, "issuer: ", "log.level: must be"} {
		if !strings.Contains(got[i], want) {
			t.Errorf("problem %d = %q, want it to contain %q", i, got[i], want)
		}
	}
	if !strings.Contains(got[0], `did you mean "sessions"?`) {
		t.Errorf("no suggestion for sesions: %q", got[0])
	}

	// Every kind at once: a bad YAML value, an unparsable variable, an
	// unknown variable, and a validation problem.
	_, err = loadWith(t, "tokens:\n  access_token_lifespan: 15\nsigning:\n  alg: HS256\n",
		map[string]string{"PORTCULLIS_DB_MAX_OPEN_CONNS": "lots", "PORTCULLIS_SESION_IDLE": "1h"})
	got = problemsOf(t, err)
	for _, want := range []string{
		`line 2: want a duration such as "15m" or "720h", got "15"`,
		`db.max_open_conns: environment variable PORTCULLIS_DB_MAX_OPEN_CONNS: want a whole number, got "lots"`,
		`PORTCULLIS_SESION_IDLE: unknown environment variable; did you mean "PORTCULLIS_SESSION_IDLE"?`,
		"signing.alg: must be RS256 or ES256",
	} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("problems lack %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
	// A value that did not parse is not validated again (the default it
	// left is not the operator's).
	for _, line := range got {
		if strings.HasPrefix(line, "db.max_open_conns: must") {
			t.Errorf("db.max_open_conns validated after failing to parse: %q", line)
		}
	}
}

func TestLoadSuggestsNearestName(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"sessions:\n  idel: 1h\n", `sessions.idel: unknown key`},
		{"idle: 1h\n", `did you mean "sessions.idle"?`},
		{"sessions:\n  idel: 1h\n", `did you mean "sessions.idle"?`},
		{"tokens:\n  acess_token_lifespan: 1m\n", `did you mean "tokens.access_token_lifespan"?`},
		{"log_level: debug\n", `did you mean "log.level"?`},
		{"listen_address: :8080\n", `did you mean "listen"?`},
		{"datadir: /x\n", `did you mean "data_dir"?`},
	} {
		_, err := loadWith(t, tc.file, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("file %q: error %v, want %q", tc.file, err, tc.want)
		}
	}
	if _, err := loadWith(t, "frobnication: 3\n", nil); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a key near nothing: %v", err)
	}
}

func TestLoadUnknownEnvironmentVariables(t *testing.T) {
	_, err := loadWith(t, "", map[string]string{"PORTCULLIS_SESSION_ABSOLUT": "1h", "PORTCULLIS_LOGLEVEL": "debug", "PORTCULLIS_FROBNICATE": "1"})
	got := strings.Join(problemsOf(t, err), "\n")
	for _, want := range []string{
		`PORTCULLIS_SESSION_ABSOLUT: unknown environment variable; did you mean "PORTCULLIS_SESSION_ABSOLUTE"?`,
		`PORTCULLIS_LOGLEVEL: unknown environment variable; did you mean "PORTCULLIS_LOG_LEVEL"?`,
		"PORTCULLIS_FROBNICATE: unknown environment variable",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	// Variables that are not settings but belong to Portcullis pass.
	if _, err := loadWith(t, "", map[string]string{
		"PORTCULLIS_CONFIG": "", "PORTCULLIS_TEST_POSTGRES_DSN": "postgres://x", "PORTCULLIS_LOAD_CLIENT_SECRET": "s", "OTHER_THING": "1",
	}); err != nil {
		t.Errorf("known non-settings refused: %v", err)
	}
	// Without Environ (LookupEnv given) the check is off.
	if _, err := Load(LoadOptions{LookupEnv: lookupMap(map[string]string{"PORTCULLIS_FROBNICATE": "1"})}); err != nil {
		t.Errorf("no Environ: %v", err)
	}
}

func TestLoadSessionsAbsoluteAlone(t *testing.T) {
	for _, tc := range []struct {
		name           string
		file           string
		env            map[string]string
		absolute, idle time.Duration
	}{
		{"absolute below the default idle: idle follows", "", map[string]string{"PORTCULLIS_SESSION_ABSOLUTE": "12h"}, 12 * time.Hour, 12 * time.Hour},
		{"absolute from the file", "sessions:\n  absolute: 8h\n", nil, 8 * time.Hour, 8 * time.Hour},
		{"absolute above the default idle: idle stays", "", map[string]string{"PORTCULLIS_SESSION_ABSOLUTE": "48h"}, 48 * time.Hour, 24 * time.Hour},
		{"both set and consistent", "sessions:\n  idle: 1h\n", map[string]string{"PORTCULLIS_SESSION_ABSOLUTE": "12h"}, 12 * time.Hour, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadWith(t, tc.file, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Sessions.Absolute.Std() != tc.absolute || c.Sessions.Idle.Std() != tc.idle {
				t.Errorf("absolute %s, idle %s; want %s, %s", c.Sessions.Absolute, c.Sessions.Idle, tc.absolute, tc.idle)
			}
		})
	}

	// Both set and in conflict: the message names each value's source.
	_, err := loadWith(t, "sessions:\n  absolute: 12h\n", map[string]string{"PORTCULLIS_SESSION_IDLE": "30h"})
	got := problemsOf(t, err)
	want := "sessions.idle: 30h0m0s (from environment variable PORTCULLIS_SESSION_IDLE) must not exceed sessions.absolute, 12h0m0s (from config file "
	if len(got) != 1 || !strings.HasPrefix(got[0], want) || !strings.Contains(got[0], "portcullis.yaml line 2)") {
		t.Errorf("problems %q, want one starting %q and naming line 2 of the file", got, want)
	}
	// Idle alone above the default absolute.
	_, err = loadWith(t, "", nil, "--dev")
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadWith(t, "sessions:\n  idle: 200h\n", nil)
	if got := problemsOf(t, err); len(got) != 1 || !strings.Contains(got[0], "must not exceed sessions.absolute, 168h0m0s (from the default)") {
		t.Errorf("idle alone: %q", got)
	}
}
