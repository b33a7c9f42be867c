package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/config"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/signing"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/mfa"
)

// testKey is a valid secrets key: 32 bytes in base64.
var testKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32))

// result is what one command line did.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the real command tree in process with env as the whole
// environment and stdin as standard input.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	return runCLIContext(context.Background(), t, env, stdin, nil, args...)
}

// syncBuffer is a bytes.Buffer safe for concurrent use: a request that
// shutdown_timeout cut off may still log while serve returns (to
// os.Stderr, in production, where concurrent writes are fine).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func runCLIContext(ctx context.Context, t *testing.T, env map[string]string, stdin string, onStart func(started), args ...string) result {
	t.Helper()
	var stdout, stderr syncBuffer
	c := &cli{
		stdin:  strings.NewReader(stdin),
		stdout: &stdout,
		stderr: &stderr,
		lookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		environ: func() []string {
			var kv []string
			for k, v := range env {
				kv = append(kv, k+"="+v)
			}
			return kv
		},
		serveStarted: onStart,
	}
	code := c.run(ctx, args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustRun runs a command line that must succeed.
func mustRun(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	r := runCLI(t, env, stdin, args...)
	if r.code != exitOK {
		t.Fatalf("portcullis %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// testEnv is an environment with a secrets key and a SQLite database in a
// fresh directory, and the path of that database.
func testEnv(t *testing.T) (map[string]string, string) {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "portcullis.db")
	return map[string]string{
		"PORTCULLIS_SECRETS_KEY": testKey,
		"PORTCULLIS_DB":          "sqlite:" + db,
		"PORTCULLIS_DATA_DIR":    filepath.Join(dir, "data"),
	}, db
}

// migratedEnv is testEnv with the database created and migrated, as
// `portcullis migrate` leaves it: the administration commands need that.
func migratedEnv(t *testing.T) (map[string]string, string) {
	t.Helper()
	env, db := testEnv(t)
	mustRun(t, env, "", "migrate")
	return env, db
}

// openTestStore opens the database the commands wrote, for checks, sealing
// with testKey as serve does.
func openTestStore(t *testing.T, db string) *store.Store {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(testKey)
	cipher, err := secrets.AtRestCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Config{Driver: "sqlite", DSN: db, Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestAdminCommands(t *testing.T) {
	env, db := migratedEnv(t)
	ctx := context.Background()

	r := mustRun(t, env, "", "tenant", "create", "--slug", "acme", "--name", "Acme Corp")
	if !strings.Contains(r.stdout, "created tenant acme (Acme Corp)") || !strings.Contains(r.stdout, "require TFA: true") {
		t.Errorf("tenant create printed:\n%s", r.stdout)
	}
	mustRun(t, env, "", "tenant", "create", "--slug", "lax", "--name", "Lax Ltd", "--require-tfa=false")
	if r := runCLI(t, env, "", "tenant", "create", "--slug", "acme", "--name", "Again"); r.code != exitFailure || !strings.Contains(r.stderr, `tenant "acme" already exists`) {
		t.Errorf("duplicate tenant: exit %d, stderr %q", r.code, r.stderr)
	}

	// tenant list: a table with a header.
	r = mustRun(t, env, "", "tenant", "list")
	rows := table(r.stdout)
	if want := [][]string{{"SLUG", "NAME", "REQUIRE_TFA", "SECOND_FACTORS", "ENROLLMENT_DEADLINE", "SESSION_ABSOLUTE", "SESSION_IDLE"}, {"acme", "Acme", "Corp", "true", "any", "-", "default", "default"}, {"lax", "Lax", "Ltd", "false", "any", "-", "default", "default"}}; !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("tenant list:\n%s\nwant rows %q", r.stdout, want)
	}

	// user create with the password on stdin.
	const password = "correct horse battery staple"
	r = mustRun(t, env, password+"\n", "user", "create", "--tenant", "acme", "--email", "Ada@Acme.test", "--name", "Ada Lovelace", "--admin", "--password-stdin")
	if !strings.Contains(r.stdout, "created user ada@acme.test") || strings.Contains(r.stdout, password) {
		t.Errorf("user create printed:\n%s", r.stdout)
	}
	st := openTestStore(t, db)
	ada, err := st.UserByEmail(ctx, "ada@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := secrets.CheckPassword(ada.PasswordHash, password); !ok || err != nil || ada.Role != store.RoleAdmin || ada.Name != "Ada Lovelace" {
		t.Errorf("stored user: role %q, name %q, password matches %v (%v)", ada.Role, ada.Name, ok, err)
	}

	// user create without --password-stdin prints a generated password once.
	r = mustRun(t, env, "", "user", "create", "--tenant", "acme", "--email", "bob@acme.test")
	generated := valueAfter(r.stdout, "password: ")
	bob, err := st.UserByEmail(ctx, "bob@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := secrets.CheckPassword(bob.PasswordHash, generated); !ok || bob.Role != store.RoleMember || len(generated) < 20 {
		t.Errorf("generated password %q does not match the stored hash (role %q)", generated, bob.Role)
	}

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		err   string
	}{
		{"short password", "short\n", []string{"--tenant", "acme", "--email", "c@acme.test", "--password-stdin"}, exitUsage, "use at least 12"},
		{"empty stdin", "", []string{"--tenant", "acme", "--email", "c@acme.test", "--password-stdin"}, exitUsage, "held no password"},
		{"bad email", "", []string{"--tenant", "acme", "--email", "Carol <c@acme.test>"}, exitUsage, "is not an email address"},
		{"no tenant flag", "", []string{"--email", "c@acme.test"}, exitUsage, "--tenant is required"},
		{"unknown tenant", "", []string{"--tenant", "nope", "--email", "c@acme.test"}, exitFailure, `no tenant "nope"`},
		{"taken email", "", []string{"--tenant", "acme", "--email", "ada@acme.test"}, exitFailure, "already exists"},
	} {
		t.Run("user create/"+tc.name, func(t *testing.T) {
			r := runCLI(t, env, tc.stdin, append([]string{"user", "create"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.err) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", r.code, tc.code, r.stderr, tc.err)
			}
		})
	}

	r = mustRun(t, env, "", "user", "list", "--tenant", "acme")
	if rows := table(r.stdout); len(rows) != 3 || rows[1][0] != "ada@acme.test" || rows[1][3] != "admin" || rows[2][0] != "bob@acme.test" {
		t.Errorf("user list:\n%s", r.stdout)
	}
	if rows := table(r.stdout); len(rows) != 3 ||
		!slices.Equal(rows[0][:6], []string{"EMAIL", "NAME", "ROLE", "STATUS", "2FA", "LOCKED_UNTIL"}) ||
		!slices.Equal(rows[2][:7], []string{"bob@acme.test", "-", "member", "active", "not-enrolled", "-", "never"}) {
		t.Errorf("user list does not show 2FA not-enrolled and no lock for bob:\n%s", r.stdout)
	}

	// client create --json: a confidential client with the defaults.
	r = mustRun(t, env, "", "client", "create", "--json", "--name", "Wiki",
		"--redirect-uri", "https://wiki.example.com/callback", "--redirect-uri", "http://127.0.0.1:9000/callback",
		"--post-logout-redirect-uri", "https://wiki.example.com/", "--tenant", "acme")
	var wiki clientJSON
	if err := json.Unmarshal([]byte(r.stdout), &wiki); err != nil {
		t.Fatalf("client create --json printed no JSON: %v\n%s", err, r.stdout)
	}
	if wiki.ClientID == "" || wiki.ClientSecret == "" || wiki.Public || !wiki.RequirePKCE || wiki.Tenant != "acme" ||
		!slices.Equal(wiki.GrantTypes, []string{"authorization_code", "refresh_token"}) ||
		!slices.Equal(wiki.Scopes, claims.SupportedScopes) ||
		!slices.Equal(wiki.RedirectURIs, []string{"https://wiki.example.com/callback", "http://127.0.0.1:9000/callback"}) {
		t.Errorf("client create --json: %+v", wiki)
	}
	stored, err := st.ClientByID(ctx, wiki.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(testKey)
	if !secrets.ClientSecretMatches(key, wiki.ClientSecret, stored.SecretHash) {
		t.Error("the printed secret does not match the stored digest")
	}
	if strings.Contains(stored.Name+string(stored.SecretHash), wiki.ClientSecret) {
		t.Error("the secret is stored in the clear")
	}

	// A public client: no secret, PKCE forced, custom scheme allowed.
	r = mustRun(t, env, "", "client", "create", "--json", "--public", "--name", "Phone app",
		"--redirect-uri", "com.example.app:/oauth/callback", "--scopes", "openid,email")
	var phone clientJSON
	if err := json.Unmarshal([]byte(r.stdout), &phone); err != nil {
		t.Fatal(err)
	}
	if phone.ClientSecret != "" || !phone.Public || !phone.RequirePKCE || !slices.Equal(phone.Scopes, []string{"openid", "email"}) {
		t.Errorf("public client: %+v", phone)
	}

	// Every problem is reported at once.
	r = runCLI(t, env, "", "client", "create", "--name", "Bad",
		"--redirect-uri", "http://app.example.com/cb",
		"--redirect-uri", "https://app.example.com/cb#frag",
		"--redirect-uri", "/relative",
		"--redirect-uri", "myapp:/cb",
		"--grant-types", "authorization_code,password",
		"--scopes", "openid,everything")
	for _, want := range []string{"http is allowed only on a loopback host", "must not have a fragment", "must be an absolute URL",
		"custom schemes are only for public native apps", `unknown grant type "password"`, `unknown scope "everything"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("client create with bad input: stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.code != exitUsage {
		t.Errorf("client create with bad input: exit %d, want %d", r.code, exitUsage)
	}
	if r := runCLI(t, env, "", "client", "create", "--name", "M2M", "--public", "--grant-types", "client_credentials"); r.code != exitUsage || !strings.Contains(r.stderr, "client_credentials needs a confidential client") {
		t.Errorf("public client_credentials client: exit %d, stderr %q", r.code, r.stderr)
	}

	r = mustRun(t, env, "", "client", "list")
	if !strings.Contains(r.stdout, wiki.ClientID) || !strings.Contains(r.stdout, phone.ClientID) || strings.Contains(r.stdout, wiki.ClientSecret) {
		t.Errorf("client list:\n%s", r.stdout)
	}
	// Web origins (CORS): derived from the redirect URIs, or given.
	if !slices.Equal(wiki.WebOrigins, []string{"https://wiki.example.com", "http://127.0.0.1:9000"}) || len(phone.WebOrigins) != 0 {
		t.Errorf("derived web origins: wiki %v, phone %v", wiki.WebOrigins, phone.WebOrigins)
	}
	r = mustRun(t, env, "", "client", "update", "--json", phone.ClientID, "--web-origin", "https://spa.example.com,http://localhost:3000")
	var phoneNow clientJSON
	if err := json.Unmarshal([]byte(r.stdout), &phoneNow); err != nil || !slices.Equal(phoneNow.WebOrigins, []string{"https://spa.example.com", "http://localhost:3000"}) {
		t.Errorf("client update --web-origin: %v %+v", err, phoneNow)
	}
	if r := runCLI(t, env, "", "client", "update", phone.ClientID, "--web-origin", "https://spa.example.com/app,http://spa.example.com,HTTPS://X.example.com"); r.code != exitUsage ||
		!strings.Contains(r.stderr, "without a path") || !strings.Contains(r.stderr, "http is allowed only on a loopback host") || !strings.Contains(r.stderr, "in lower case") {
		t.Errorf("client update with bad origins: exit %d, stderr %q", r.code, r.stderr)
	}
	r = mustRun(t, env, "", "client", "create", "--json", "--name", "No CORS", "--redirect-uri", "https://nocors.example.com/cb", "--web-origin=")
	var nocors clientJSON
	if err := json.Unmarshal([]byte(r.stdout), &nocors); err != nil || len(nocors.WebOrigins) != 0 {
		t.Errorf("client create --web-origin=: %v %+v", err, nocors)
	}

	// A resource server: --introspect on create and update, in list.
	r = mustRun(t, env, "", "client", "create", "--json", "--name", "Acme API", "--tenant", "acme",
		"--grant-types", "client_credentials", "--scopes", "profile", "--introspect", "tenant,"+wiki.ClientID)
	var api clientJSON
	if err := json.Unmarshal([]byte(r.stdout), &api); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(api.Introspect, []string{"tenant", wiki.ClientID}) {
		t.Errorf("client create --introspect: %+v", api.Introspect)
	}
	r = mustRun(t, env, "", "client", "update", "--json", wiki.ClientID, "--introspect", phone.ClientID)
	if err := json.Unmarshal([]byte(r.stdout), &wiki); err != nil || !slices.Equal(wiki.Introspect, []string{phone.ClientID}) || wiki.Tenant != "acme" {
		t.Errorf("client update --introspect: %v %+v", err, wiki)
	}
	if stored, err := st.ClientByID(ctx, wiki.ClientID); err != nil || !slices.Equal(stored.Introspect, []string{phone.ClientID}) || len(stored.RedirectURIs) != 2 {
		t.Errorf("stored after update: %v %+v", err, stored)
	}
	if r := runCLI(t, env, "", "client", "update", phone.ClientID, "--introspect", "tenant"); r.code != exitUsage ||
		!strings.Contains(r.stderr, "a public client cannot authenticate") || !strings.Contains(r.stderr, "needs a client bound to a tenant") {
		t.Errorf("client update --introspect tenant on a public client: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(t, env, "", "client", "update", wiki.ClientID, "--introspect", "nope"); r.code != exitUsage || !strings.Contains(r.stderr, `no client "nope"`) {
		t.Errorf("client update --introspect with an unknown client: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(t, env, "", "client", "update", wiki.ClientID); r.code != exitUsage {
		t.Errorf("client update with nothing to change: exit %d", r.code)
	}
	if r := runCLI(t, env, "", "client", "update", "nope", "--introspect="); r.code != exitFailure || !strings.Contains(r.stderr, `no client "nope"`) {
		t.Errorf("client update of an unknown client: exit %d, stderr %q", r.code, r.stderr)
	}
	r = mustRun(t, env, "", "client", "list")
	if !strings.Contains(r.stdout, "INTROSPECT") || !strings.Contains(r.stdout, "tenant,"+wiki.ClientID) ||
		!strings.Contains(r.stdout, "WEB_ORIGINS") || !strings.Contains(r.stdout, "https://spa.example.com http://localhost:3000") {
		t.Errorf("client list does not show introspect:\n%s", r.stdout)
	}
	mustRun(t, env, "", "client", "update", wiki.ClientID, "--introspect=")
	if stored, _ := st.ClientByID(ctx, wiki.ClientID); len(stored.Introspect) != 0 {
		t.Errorf("--introspect= left %v", stored.Introspect)
	}
	mustRun(t, env, "", "client", "delete", phone.ClientID)
	if r := runCLI(t, env, "", "client", "delete", phone.ClientID); r.code != exitFailure || !strings.Contains(r.stderr, "no client") {
		t.Errorf("deleting a missing client: exit %d, stderr %q", r.code, r.stderr)
	}

	// The commands above migrated already.
	r = mustRun(t, env, "", "migrate")
	if strings.TrimSpace(r.stdout) != "schema is up to date" {
		t.Errorf("migrate printed %q", r.stdout)
	}
}

func TestMigrateFreshDatabase(t *testing.T) {
	env, _ := testEnv(t)
	delete(env, "PORTCULLIS_SECRETS_KEY") // migrate needs no key
	r := mustRun(t, env, "", "migrate")
	if !strings.HasPrefix(r.stdout, "applied migration 1\n") {
		t.Errorf("migrate on an empty database printed %q", r.stdout)
	}
	if r := mustRun(t, env, "", "migrate"); strings.TrimSpace(r.stdout) != "schema is up to date" {
		t.Errorf("second migrate printed %q", r.stdout)
	}
}

func TestKeysRotate(t *testing.T) {
	env, db := migratedEnv(t)
	ctx := context.Background()
	mustRun(t, env, "", "keys", "rotate")
	r := mustRun(t, env, "", "keys", "rotate")
	kid := strings.Fields(valueAfter(r.stdout, "new signing key "))[0]

	st := openTestStore(t, db)
	keys, err := st.PublishedSigningKeys(ctx, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].KID != kid || keys[0].RetiredAt != nil || keys[1].RetiredAt == nil {
		t.Errorf("after two rotations: %d keys, the new one %s first and active, the old one retired; got %+v", len(keys), kid, keys)
	}
	key, _ := base64.StdEncoding.DecodeString(testKey)
	cipher, err := secrets.AtRestCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := signing.CheckCipher(ctx, st, cipher); err != nil {
		t.Errorf("the new key is not sealed as the server opens it: %v", err)
	}

	// Another secrets key would seal a key no server can open: refused.
	env["PORTCULLIS_SECRETS_KEY"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if r := runCLI(t, env, "", "keys", "rotate"); r.code != exitFailure || !strings.Contains(r.stderr, "cannot be decrypted with this secrets key") {
		t.Errorf("rotate with the wrong key: exit %d, stderr %q", r.code, r.stderr)
	}
	if keys, _ := st.PublishedSigningKeys(ctx, 1<<62); len(keys) != 2 {
		t.Errorf("a refused rotation added a key: %d keys", len(keys))
	}
}

func TestServeWithoutSecretsKey(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PORTCULLIS_DATA_DIR": dir}
	r := runCLI(t, env, "", "serve", "--listen", "127.0.0.1:0")
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d", r.code, exitUsage)
	}
	if !strings.Contains(r.stderr, config.ErrNoSecretsKey.Error()) {
		t.Errorf("stderr does not explain how to get a key:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stdout, "listening") {
		t.Errorf("serve went further than it should:\n%s\n%s", r.stdout, r.stderr)
	}
}

func TestConfigProblemsReportedTogether(t *testing.T) {
	env, _ := testEnv(t)
	env["PORTCULLIS_SESSION_IDLE"] = "soon"
	env["PORTCULLIS_SESION_ABSOLUTE"] = "1h"
	r := runCLI(t, env, "", "migrate", "--issuer", "ftp://id.example.com", "--log-level", "loud")
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d", r.code, exitUsage)
	}
	// A value that does not parse, a misspelt variable and two invalid
	// values: reported together, in one run.
	for _, want := range []string{
		"invalid configuration (4 problems)",
		"  sessions.idle: environment variable PORTCULLIS_SESSION_IDLE: ",
		`  PORTCULLIS_SESION_ABSOLUTE: unknown environment variable; did you mean "PORTCULLIS_SESSION_ABSOLUTE"?`,
		"  issuer: ",
		"  log.level: ",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	env, _ := testEnv(t)
	for _, args := range [][]string{
		{"frobnicate"},
		{"tenant", "frobnicate"},
		{"tenant", "create", "--bogus"},
		{"client", "delete"},
		{"tenant", "create"},
	} {
		if r := runCLI(t, env, "", args...); r.code != exitUsage || r.stderr == "" {
			t.Errorf("portcullis %s: exit %d (want %d), stderr %q", strings.Join(args, " "), r.code, exitUsage, r.stderr)
		}
	}
	if r := runCLI(t, env, "", "version"); r.code != exitOK || !strings.HasPrefix(r.stdout, "portcullis dev (") {
		t.Errorf("version: exit %d, %q", r.code, r.stdout)
	}
}

func TestCheckRedirectURI(t *testing.T) {
	for _, tc := range []struct {
		uri    string
		public bool
		ok     bool
	}{
		{"https://app.example.com/cb", false, true},
		{"https://app.example.com/cb?x=1", false, true},
		{"http://127.0.0.1:8081/callback", false, true},
		{"http://[::1]/callback", false, true},
		{"http://localhost:3000/cb", false, true},
		{"com.example.app:/oauth", true, true},
		{"com.example.app:/oauth", false, false},
		{"http://app.example.com/cb", false, false},
		{"http://app.example.com/cb", true, false},
		{"https://app.example.com/cb#x", false, false},
		{"https://app.example.com/cb#", false, false},
		{"https://user:pw@app.example.com/cb", false, false},
		{"//app.example.com/cb", false, false},
		{"/cb", false, false},
		{"https:///cb", false, false},
		{"javascript:alert(1)", true, false},
		{"data:text/html,hi", true, false},
		{"%zz", false, false},
	} {
		if err := checkRedirectURI(tc.uri, tc.public); (err == nil) != tc.ok {
			t.Errorf("checkRedirectURI(%q, public=%v) = %v, want ok=%v", tc.uri, tc.public, err, tc.ok)
		}
	}
}

// twoFactorOfUsers runs user list and returns the 2FA column by email,
// with ":" and the LOCKED_UNTIL column appended when it is not "-".
func twoFactorOfUsers(t *testing.T, env map[string]string, slug string) map[string]string {
	t.Helper()
	rows := table(mustRun(t, env, "", "user", "list", "--tenant", slug).stdout)
	out := make(map[string]string)
	for _, row := range rows[1:] { // users without a name: the columns do not shift
		out[row[0]] = row[4]
		if row[5] != "-" {
			out[row[0]] += ":" + row[5]
		}
	}
	return out
}

// table splits printed rows into their white-space separated fields.
func table(out string) [][]string {
	var rows [][]string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 {
			rows = append(rows, f)
		}
	}
	return rows
}

// valueAfter returns the rest of the first line of out that starts with
// prefix.
func valueAfter(out, prefix string) string {
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// seedSession starts a live browser session of u directly in the store.
func seedSession(t *testing.T, st *store.Store, u *store.User) *store.BrowserSession {
	t.Helper()
	now := time.Now().UTC()
	bs := &store.BrowserSession{
		SecretHash: "hash-" + store.NewID(), UserID: u.ID, TenantID: u.TenantID,
		AuthTime: now, AMR: store.StringList{"pwd"}, ExpiresAt: now.Add(time.Hour),
	}
	if err := st.CreateBrowserSession(context.Background(), bs); err != nil {
		t.Fatal(err)
	}
	return bs
}

// seedUser creates a user of the tenant slug directly in the store.
func seedUser(t *testing.T, st *store.Store, slug, email string) *store.User {
	t.Helper()
	ctx := context.Background()
	tn, err := st.TenantBySlug(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{TenantID: tn.ID, Email: email, PasswordHash: "$argon2id$stub"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// liveSessions reports, for each session, whether it has not ended.
func liveSessions(t *testing.T, st *store.Store, sessions ...*store.BrowserSession) []bool {
	t.Helper()
	live := make([]bool, len(sessions))
	for i, bs := range sessions {
		got, err := st.SessionByID(context.Background(), bs.ID)
		if err != nil {
			t.Fatal(err)
		}
		live[i] = got.EndedAt == nil
	}
	return live
}

// lastAudit returns the newest audit event named event of the tenant.
func lastAudit(t *testing.T, st *store.Store, tenantID string, event audit.Event) store.AuditEvent {
	t.Helper()
	es, err := st.ListAudit(context.Background(), store.AuditFilter{TenantID: tenantID, Event: event, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		t.Fatalf("no %s event for tenant %s", event, tenantID)
	}
	return es[0]
}

// cliCase is a command line that must fail with code and an error
// containing err.
type cliCase struct {
	name string
	args []string
	code int
	err  string
}

func runFailing(t *testing.T, env map[string]string, cases []cliCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, env, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.err) {
				t.Errorf("portcullis %s: exit %d (want %d), stderr %q (want %q)", strings.Join(tc.args, " "), r.code, tc.code, r.stderr, tc.err)
			}
			if r.stdout != "" {
				t.Errorf("a failed command printed a result:\n%s", r.stdout)
			}
		})
	}
}

func TestTenantRequireTFA(t *testing.T) {
	env, db := migratedEnv(t)
	ctx := context.Background()
	mustRun(t, env, "", "tenant", "create", "--slug", "lax", "--name", "Lax Ltd", "--require-tfa=false")
	mustRun(t, env, "", "tenant", "create", "--slug", "other", "--name", "Other")
	st := openTestStore(t, db)
	ada, bob := seedUser(t, st, "lax", "ada@lax.test"), seedUser(t, st, "lax", "bob@lax.test")
	eve := seedUser(t, st, "other", "eve@other.test")
	s1, s2, s3 := seedSession(t, st, ada), seedSession(t, st, bob), seedSession(t, st, eve)
	lax, _ := st.TenantBySlug(ctx, "lax")
	requireTFA := func() bool {
		tn, err := st.TenantByID(ctx, lax.ID)
		if err != nil {
			t.Fatal(err)
		}
		return tn.RequireTFA
	}

	// On, keeping sessions.
	r := mustRun(t, env, "", "tenant", "require-tfa", "--slug", "lax", "--on")
	if !strings.Contains(r.stdout, "require TFA is on; sessions ended: 0") || !requireTFA() {
		t.Errorf("require-tfa --on printed:\n%s", r.stdout)
	}
	if got := liveSessions(t, st, s1, s2, s3); !slices.Equal(got, []bool{true, true, true}) {
		t.Errorf("require-tfa --on without --clear-sessions ended sessions: live %v", got)
	}
	if e := lastAudit(t, st, lax.ID, "tenant.require_tfa"); e.Detail != `{"require_tfa":true,"option":"keep_sessions","sessions_ended":0,"via":"cli"}` || e.SubjectID != lax.ID {
		t.Errorf("audit: %+v", e)
	}

	// Off, then on clearing every session of the tenant.
	r = mustRun(t, env, "", "tenant", "require-tfa", "--slug", "lax", "--off")
	if !strings.Contains(r.stdout, "require TFA is off") || requireTFA() {
		t.Errorf("require-tfa --off printed:\n%s", r.stdout)
	}
	r = mustRun(t, env, "", "tenant", "require-tfa", "--slug", "lax", "--on", "--clear-sessions")
	if !strings.Contains(r.stdout, "require TFA is on; sessions ended: 2") || !requireTFA() {
		t.Errorf("require-tfa --on --clear-sessions printed:\n%s", r.stdout)
	}
	if got := liveSessions(t, st, s1, s2, s3); !slices.Equal(got, []bool{false, false, true}) {
		t.Errorf("after --clear-sessions: live %v, want only the other tenant's", got)
	}
	if e := lastAudit(t, st, lax.ID, "tenant.require_tfa"); e.Detail != `{"require_tfa":true,"option":"clear_sessions","sessions_ended":2,"via":"cli"}` {
		t.Errorf("audit: %+v", e)
	}

	r = mustRun(t, env, "", "tenant", "list")
	if rows := table(r.stdout); len(rows) != 3 || rows[1][0] != "lax" || rows[1][3] != "true" {
		t.Errorf("tenant list:\n%s", r.stdout)
	}

	runFailing(t, env, []cliCase{
		{"no slug", []string{"tenant", "require-tfa", "--on"}, exitUsage, "--slug is required"},
		{"neither on nor off", []string{"tenant", "require-tfa", "--slug", "lax"}, exitUsage, "give --on or --off"},
		{"on and off", []string{"tenant", "require-tfa", "--slug", "lax", "--on", "--off"}, exitUsage, "not both"},
		{"clear with off", []string{"tenant", "require-tfa", "--slug", "lax", "--off", "--clear-sessions"}, exitUsage, "--clear-sessions goes with --on only"},
		{"argument", []string{"tenant", "require-tfa", "--slug", "lax", "--on", "extra"}, exitUsage, "accepts 0 arg"},
		{"unknown flag", []string{"tenant", "require-tfa", "--slug", "lax", "--onn"}, exitUsage, "unknown flag"},
		{"unknown tenant", []string{"tenant", "require-tfa", "--slug", "nope", "--on"}, exitFailure, `no tenant "nope"`},
	})
	if !requireTFA() {
		t.Error("a refused command changed the policy")
	}
}

func TestTenantSetSessions(t *testing.T) {
	env, db := migratedEnv(t)
	ctx := context.Background()
	mustRun(t, env, "", "tenant", "create", "--slug", "acme", "--name", "Acme")
	st := openTestStore(t, db)
	lifetimes := func() [2]int {
		t.Helper()
		tn, err := st.TenantBySlug(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return [2]int{tn.SessionAbsoluteSeconds, tn.SessionIdleSeconds}
	}

	r := mustRun(t, env, "", "tenant", "list")
	if want := [][]string{{"SLUG", "NAME", "REQUIRE_TFA", "SECOND_FACTORS", "ENROLLMENT_DEADLINE", "SESSION_ABSOLUTE", "SESSION_IDLE"}, {"acme", "Acme", "true", "any", "-", "default", "default"}}; !slices.EqualFunc(table(r.stdout), want, slices.Equal) {
		t.Errorf("tenant list:\n%s\nwant rows %q", r.stdout, want)
	}

	r = mustRun(t, env, "", "tenant", "set-sessions", "--slug", "acme", "--absolute", "12h", "--idle", "30m")
	if !strings.Contains(r.stdout, "absolute session lifetime 12h, idle limit 30m") || lifetimes() != [2]int{43200, 1800} {
		t.Errorf("set-sessions printed %q; lifetimes %v", r.stdout, lifetimes())
	}
	r = mustRun(t, env, "", "tenant", "list")
	if rows := table(r.stdout); len(rows) != 2 || !slices.Equal(rows[1][5:], []string{"12h", "30m"}) {
		t.Errorf("tenant list:\n%s", r.stdout)
	}
	tn, _ := st.TenantBySlug(ctx, "acme")
	if e := lastAudit(t, st, tn.ID, "tenant.sessions"); e.Detail != `{"absolute_seconds":43200,"idle_seconds":1800,"via":"cli"}` {
		t.Errorf("audit: %+v", e)
	}

	// One flag keeps the other value.
	mustRun(t, env, "", "tenant", "set-sessions", "--slug", "acme", "--idle", "1h30m")
	if got := lifetimes(); got != [2]int{43200, 5400} {
		t.Errorf("after --idle only: %v, want [43200 5400]", got)
	}
	// 0 returns to the deployment's setting.
	r = mustRun(t, env, "", "tenant", "set-sessions", "--slug", "acme", "--absolute", "0", "--idle", "0")
	if !strings.Contains(r.stdout, "absolute session lifetime the deployment's default, idle limit the deployment's default") || lifetimes() != [2]int{} {
		t.Errorf("reset printed %q; lifetimes %v", r.stdout, lifetimes())
	}
	mustRun(t, env, "", "tenant", "set-sessions", "--slug", "acme", "--absolute", "2h")

	runFailing(t, env, []cliCase{
		{"no slug", []string{"tenant", "set-sessions", "--absolute", "1h"}, exitUsage, "--slug is required"},
		{"no lifetime", []string{"tenant", "set-sessions", "--slug", "acme"}, exitUsage, "give --absolute, --idle or both"},
		{"negative", []string{"tenant", "set-sessions", "--slug", "acme", "--absolute", "-1h"}, exitUsage, "must not be negative"},
		{"fraction of a second", []string{"tenant", "set-sessions", "--slug", "acme", "--idle", "1.5s"}, exitUsage, "whole number of seconds"},
		{"too long", []string{"tenant", "set-sessions", "--slug", "acme", "--absolute", "9000h"}, exitUsage, "must not exceed 366 days"},
		{"idle above absolute", []string{"tenant", "set-sessions", "--slug", "acme", "--absolute", "1h", "--idle", "2h"}, exitUsage, "--idle 2h0m0s must not exceed --absolute 1h0m0s"},
		{"idle above the tenant's absolute", []string{"tenant", "set-sessions", "--slug", "acme", "--idle", "3h"}, exitUsage, "would exceed the absolute lifetime 2h of tenant acme"},
		{"not a duration", []string{"tenant", "set-sessions", "--slug", "acme", "--idle", "soon"}, exitUsage, "invalid argument"},
		{"unknown tenant", []string{"tenant", "set-sessions", "--slug", "nope", "--idle", "1h"}, exitFailure, `no tenant "nope"`},
	})
	if got := lifetimes(); got != [2]int{7200, 0} {
		t.Errorf("refused commands changed the lifetimes: %v", got)
	}
}

func TestUserResetMFA(t *testing.T) {
	env, db := migratedEnv(t)
	ctx := context.Background()
	mustRun(t, env, "", "tenant", "create", "--slug", "acme", "--name", "Acme")
	st := openTestStore(t, db)
	ada, bob := seedUser(t, st, "acme", "ada@acme.test"), seedUser(t, st, "acme", "bob@acme.test")
	for _, u := range []*store.User{ada, bob} {
		if err := st.BeginEnrollment(ctx, u.ID, "secret"); err != nil {
			t.Fatal(err)
		}
		if err := st.ConfirmEnrollment(ctx, u.ID, "secret", 1, []byte("recovery-hash")); err != nil {
			t.Fatal(err)
		}
	}
	a1, a2, b1 := seedSession(t, st, ada), seedSession(t, st, ada), seedSession(t, st, bob)
	if got := twoFactorOfUsers(t, env, "acme"); got["ada@acme.test"] != "active" || got["bob@acme.test"] != "active" {
		t.Errorf("user list 2FA before the reset: %v, want both active", got)
	}

	r := mustRun(t, env, "", "user", "reset-mfa", "--email", "Ada@Acme.test")
	if strings.TrimSpace(r.stdout) != "reset two-factor sign-in of ada@acme.test; sessions ended: 2" {
		t.Errorf("reset-mfa printed %q", r.stdout)
	}
	if has, _ := st.HasActiveAuthenticator(ctx, ada.ID); has {
		t.Error("ada still has an authenticator")
	}
	if ok, _ := st.RecoveryKeyMatches(ctx, ada.ID, []byte("recovery-hash")); ok {
		t.Error("ada's recovery key still works")
	}
	if has, _ := st.HasActiveAuthenticator(ctx, bob.ID); !has {
		t.Error("bob's authenticator was removed")
	}
	if got := twoFactorOfUsers(t, env, "acme"); got["ada@acme.test"] != "not-enrolled" || got["bob@acme.test"] != "active" {
		t.Errorf("user list 2FA after the reset: %v, want ada not-enrolled, bob active", got)
	}
	if got := liveSessions(t, st, a1, a2, b1); !slices.Equal(got, []bool{false, false, true}) {
		t.Errorf("live sessions %v, want only bob's", got)
	}
	if e := lastAudit(t, st, ada.TenantID, "mfa.reset"); e.SubjectID != ada.ID || e.Detail != `{"sessions_ended":2,"via":"cli"}` {
		t.Errorf("audit: %+v", e)
	}

	runFailing(t, env, []cliCase{
		{"no email", []string{"user", "reset-mfa"}, exitUsage, "--email is required"},
		{"bad email", []string{"user", "reset-mfa", "--email", "ada"}, exitUsage, "is not an email address"},
		{"unknown user", []string{"user", "reset-mfa", "--email", "nobody@acme.test"}, exitFailure, "no user with email nobody@acme.test"},
	})
}

func TestUserUnlock(t *testing.T) {
	env, db := migratedEnv(t)
	ctx := context.Background()
	mustRun(t, env, "", "tenant", "create", "--slug", "acme", "--name", "Acme")
	st := openTestStore(t, db)
	ada := seedUser(t, st, "acme", "ada@acme.test")
	// Five failures from one address lock it out of Ada's account.
	var pair store.SignInCounter
	for range 5 {
		cs, err := st.ChargeSignInFailure(ctx, ada.ID, "203.0.113.5", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pair = cs.Pair
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if ok, err := st.LockSignIn(ctx, pair, until, 5); !ok || err != nil {
		t.Fatalf("LockSignIn: %v %v", ok, err)
	}

	// Bob, enrolled, is locked out of code entry.
	bob := seedUser(t, st, "acme", "bob@acme.test")
	if err := st.BeginEnrollment(ctx, bob.ID, "secret"); err != nil {
		t.Fatal(err)
	}
	if err := st.ConfirmEnrollment(ctx, bob.ID, "secret", 1, []byte("recovery-hash")); err != nil {
		t.Fatal(err)
	}
	codesUntil := until.Add(time.Hour)
	if ok, err := st.SaveAttempts(ctx, bob.ID, 0, mfa.Attempts{Lockouts: 1, LockedUntil: codesUntil, Version: 1}); !ok || err != nil {
		t.Fatalf("SaveAttempts: %v %v", ok, err)
	}
	rows := table(mustRun(t, env, "", "user", "list", "--tenant", "acme").stdout)
	if len(rows) != 3 ||
		!slices.Equal(rows[1][:6], []string{"ada@acme.test", "-", "member", "active", "not-enrolled", until.Format(time.RFC3339)}) ||
		!slices.Equal(rows[2][:6], []string{"bob@acme.test", "-", "member", "active", "locked", codesUntil.Format(time.RFC3339)}) {
		t.Errorf("user list does not show the locks: %q", rows)
	}

	r := mustRun(t, env, "", "user", "unlock", "--email", "ada@acme.test")
	want := "cleared: password locked from 203.0.113.5 until " + until.Format(time.RFC3339) + "\nunlocked ada@acme.test"
	if strings.TrimSpace(r.stdout) != want {
		t.Errorf("unlock printed %q, want %q", r.stdout, want)
	}
	if locks, _ := st.UserLocks(ctx, ada.ID); locks.Locked() {
		t.Errorf("still locked: %+v", locks)
	}
	if got := twoFactorOfUsers(t, env, "acme"); got["ada@acme.test"] != "not-enrolled" || got["bob@acme.test"] != "locked:"+codesUntil.Format(time.RFC3339) {
		t.Errorf("user list 2FA after unlocking ada: %v", got)
	}
	if e := lastAudit(t, st, ada.TenantID, "user.unlocked"); e.SubjectID != ada.ID || e.Detail != `{"password_locks":1,"code_lock":false,"via":"cli"}` {
		t.Errorf("audit: %+v", e)
	}
	r = mustRun(t, env, "", "user", "unlock", "--email", "ada@acme.test")
	if strings.TrimSpace(r.stdout) != "ada@acme.test had no locks; failure counts cleared" {
		t.Errorf("second unlock printed %q", r.stdout)
	}
	runFailing(t, env, []cliCase{
		{"no email", []string{"user", "unlock"}, exitUsage, "--email is required"},
		{"unknown user", []string{"user", "unlock", "--email", "nobody@acme.test"}, exitFailure, "no user with email nobody@acme.test"},
	})
}

func TestSessionsRevoke(t *testing.T) {
	env, db := migratedEnv(t)
	mustRun(t, env, "", "tenant", "create", "--slug", "acme", "--name", "Acme")
	mustRun(t, env, "", "tenant", "create", "--slug", "other", "--name", "Other")
	st := openTestStore(t, db)
	ada, bob := seedUser(t, st, "acme", "ada@acme.test"), seedUser(t, st, "acme", "bob@acme.test")
	eve := seedUser(t, st, "other", "eve@other.test")
	a1, a2, b1, e1 := seedSession(t, st, ada), seedSession(t, st, ada), seedSession(t, st, bob), seedSession(t, st, eve)

	r := mustRun(t, env, "", "sessions", "revoke", "--user", "ada@acme.test")
	if strings.TrimSpace(r.stdout) != "user ada@acme.test: sessions ended: 2" {
		t.Errorf("sessions revoke --user printed %q", r.stdout)
	}
	if got := liveSessions(t, st, a1, a2, b1, e1); !slices.Equal(got, []bool{false, false, true, true}) {
		t.Errorf("after revoke --user: live %v", got)
	}
	if e := lastAudit(t, st, ada.TenantID, "sessions.revoked"); e.SubjectID != ada.ID || e.Detail != `{"sessions_ended":2,"via":"cli"}` {
		t.Errorf("audit: %+v", e)
	}

	r = mustRun(t, env, "", "sessions", "revoke", "--tenant", "acme")
	if strings.TrimSpace(r.stdout) != "tenant acme: sessions ended: 1" {
		t.Errorf("sessions revoke --tenant printed %q", r.stdout)
	}
	if got := liveSessions(t, st, b1, e1); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("after revoke --tenant: live %v, want the other tenant's kept", got)
	}
	if e := lastAudit(t, st, ada.TenantID, "sessions.revoked"); e.SubjectID != ada.TenantID || e.Detail != `{"sessions_ended":1,"via":"cli"}` {
		t.Errorf("audit: %+v", e)
	}

	runFailing(t, env, []cliCase{
		{"neither", []string{"sessions", "revoke"}, exitUsage, "give --user EMAIL or --tenant SLUG"},
		{"both", []string{"sessions", "revoke", "--user", "ada@acme.test", "--tenant", "acme"}, exitUsage, "not both"},
		{"bad email", []string{"sessions", "revoke", "--user", "Ada <ada@acme.test>"}, exitUsage, "is not an email address"},
		{"unknown user", []string{"sessions", "revoke", "--user", "nobody@acme.test"}, exitFailure, "no user with email nobody@acme.test"},
		{"unknown tenant", []string{"sessions", "revoke", "--tenant", "nope"}, exitFailure, `no tenant "nope"`},
		{"unknown subcommand", []string{"sessions", "frobnicate"}, exitUsage, "unknown command"},
	})
}

// adminCommands are command lines of every command that opens the database
// and is neither migrate nor serve.
var adminCommands = [][]string{
	{"user", "list", "--tenant", "acme"},
	{"tenant", "list"},
	{"client", "list"},
	{"tenant", "create", "--slug", "acme", "--name", "Acme"},
	{"tenant", "require-tfa", "--slug", "acme", "--off"},
	{"tenant", "set-sessions", "--slug", "acme", "--idle", "1h"},
	{"user", "create", "--tenant", "acme", "--email", "a@acme.test"},
	{"user", "reset-mfa", "--email", "a@acme.test"},
	{"user", "unlock", "--email", "a@acme.test"},
	{"user", "import", "--tenant", "acme", "--file", "-"},
	{"sessions", "revoke", "--tenant", "acme"},
	{"client", "create", "--name", "App", "--redirect-uri", "https://app.example.com/cb"},
	{"client", "delete", "some-id"},
	{"keys", "rotate"},
}

// TestAdminCommandsLeaveNoFileBehind: a command other than migrate and serve
// given a SQLite file that does not exist fails, says to run migrate, and
// creates neither the file nor its directory.
func TestAdminCommandsLeaveNoFileBehind(t *testing.T) {
	for _, args := range adminCommands {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "x")
			db := filepath.Join(dir, "p.db")
			env := map[string]string{"PORTCULLIS_SECRETS_KEY": testKey}
			r := runCLI(t, env, "", append(args, "--db", "sqlite:"+db)...)
			if r.code != exitFailure || !strings.Contains(r.stderr, "no database at "+db) || !strings.Contains(r.stderr, "run 'portcullis migrate'") {
				t.Errorf("exit %d (want %d), stderr %q", r.code, exitFailure, r.stderr)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists after the command (%v)", dir, err)
			}
		})
	}
	// migrate creates it.
	db := filepath.Join(t.TempDir(), "x", "p.db")
	mustRun(t, map[string]string{}, "", "migrate", "--db", "sqlite:"+db)
	if _, err := os.Stat(db); err != nil {
		t.Errorf("migrate did not create the database: %v", err)
	}
}

// TestAdminCommandsRefuseUnmigratedDatabase: an existing database without
// the schema (an empty SQLite file, an empty PostgreSQL schema) is refused
// and left as it was.
func TestAdminCommandsRefuseUnmigratedDatabase(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "p.db")
		if err := os.WriteFile(db, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"PORTCULLIS_SECRETS_KEY": testKey, "PORTCULLIS_DB": "sqlite:" + db}
		for _, args := range adminCommands {
			r := runCLI(t, env, "", args...)
			if r.code != exitFailure || !strings.Contains(r.stderr, "is not migrated: run 'portcullis migrate'") {
				t.Errorf("portcullis %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
			}
		}
		st := openTestStore(t, db)
		if err := st.CheckSchema(context.Background()); !errors.Is(err, store.ErrNoSchema) {
			t.Errorf("after the refused commands, CheckSchema = %v, want ErrNoSchema", err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		cfg := storetest.PostgresConfig(t)
		env := map[string]string{"PORTCULLIS_SECRETS_KEY": testKey, "PORTCULLIS_DB": cfg.DSN}
		for _, args := range [][]string{{"user", "list", "--tenant", "acme"}, {"tenant", "create", "--slug", "acme", "--name", "Acme"}} {
			r := runCLI(t, env, "", args...)
			if r.code != exitFailure || !strings.Contains(r.stderr, "is not migrated: run 'portcullis migrate'") {
				t.Errorf("portcullis %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
			}
		}
		st, err := store.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.CheckSchema(context.Background()); !errors.Is(err, store.ErrNoSchema) {
			t.Errorf("after the refused commands, CheckSchema = %v, want ErrNoSchema", err)
		}
		mustRun(t, env, "", "migrate")
		mustRun(t, env, "", "tenant", "create", "--slug", "acme", "--name", "Acme")
		if r := mustRun(t, env, "", "tenant", "list"); !strings.Contains(r.stdout, "acme") {
			t.Errorf("tenant list after migrate:\n%s", r.stdout)
		}
	})
}

// TestHelpShowsPlainBooleanFlags: boolean flags read "--dev", not
// "--dev[=true|false]", and still take no value or an explicit one.
func TestHelpShowsPlainBooleanFlags(t *testing.T) {
	env, _ := testEnv(t)
	for _, args := range [][]string{{"tenant", "create", "--help"}, {"serve", "--help"}, {"user", "create", "--help"}, {"--help"}} {
		r := mustRun(t, env, "", args...)
		if strings.Contains(r.stdout, "[=") {
			t.Errorf("portcullis %s shows a flag with [=...]:\n%s", strings.Join(args, " "), r.stdout)
		}
	}
	r := mustRun(t, env, "", "tenant", "create", "--help")
	for _, want := range []string{"  -h, --help ", "      --require-tfa ", "      --dev "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("tenant create --help lacks %q:\n%s", want, r.stdout)
		}
	}
	// The flags still parse as booleans.
	mustRun(t, env, "", "migrate")
	mustRun(t, env, "", "tenant", "create", "--slug", "lax", "--name", "Lax", "--require-tfa=false")
	mustRun(t, env, "", "tenant", "create", "--slug", "strict", "--name", "Strict", "--require-tfa")
	rows := table(mustRun(t, env, "", "tenant", "list").stdout)
	if len(rows) != 3 || rows[1][0] != "lax" || rows[1][2] != "false" || rows[2][0] != "strict" || rows[2][2] != "true" {
		t.Errorf("tenant list: %q", rows)
	}
	if r := runCLI(t, env, "", "tenant", "list", "--dev=maybe"); r.code != exitUsage || !strings.Contains(r.stderr, "--dev") {
		t.Errorf("--dev=maybe: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestVersionHelpShowsOwnFlags: version reads no configuration, so its help
// lists no --config, --db and the like.
func TestVersionHelpShowsOwnFlags(t *testing.T) {
	r := mustRun(t, nil, "", "version", "--help")
	for _, unwanted := range []string{"--config", "--db", "--issuer", "Global Flags"} {
		if strings.Contains(r.stdout, unwanted) {
			t.Errorf("version --help shows %q:\n%s", unwanted, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "portcullis version [flags]") || !strings.Contains(r.stdout, "--help") {
		t.Errorf("version --help:\n%s", r.stdout)
	}
	// Other commands still list the configuration flags.
	if r := mustRun(t, nil, "", "tenant", "list", "--help"); !strings.Contains(r.stdout, "--config") {
		t.Errorf("tenant list --help lacks --config:\n%s", r.stdout)
	}
}

// TestUnknownCommandSuggests: an unknown command names the nearest one.
func TestUnknownCommandSuggests(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tenan"}, `unknown command "tenan" for "portcullis"; did you mean "tenant"?`},
		{[]string{"clinet", "list"}, `did you mean "client"?`},
		{[]string{"user", "lst"}, `unknown command "lst" for "portcullis user"; did you mean "list"?`},
		{[]string{"tenant", "requiretfa"}, `did you mean "require-tfa"?`},
	} {
		r := runCLI(t, nil, "", tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("portcullis %s: exit %d, stderr %q, want %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	if r := runCLI(t, nil, "", "frobnicate"); r.code != exitUsage || strings.Contains(r.stderr, "did you mean") {
		t.Errorf("frobnicate: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestTenantSecondFactors: tenant second-factors sets the allowed kinds
// (passkeys only ends, with --clear-sessions, the sessions that did not pass
// a passkey) and tenant enrollment-deadline sets and removes the date;
// both are audited, shown by tenant list, and bad input changes nothing.
func TestTenantSecondFactors(t *testing.T) {
	env, db := migratedEnv(t)
	ctx := context.Background()
	mustRun(t, env, "", "tenant", "create", "--slug", "acme", "--name", "Acme")
	st := openTestStore(t, db)
	ada, bob := seedUser(t, st, "acme", "ada@acme.test"), seedUser(t, st, "acme", "bob@acme.test")
	code := seedSession(t, st, ada)
	passkey := seedSession(t, st, bob)
	if err := st.UpdateSessionAuth(ctx, passkey.ID, store.SessionUpdate{AMR: []string{"pwd", "hwk", "mfa"}}); err != nil {
		t.Fatal(err)
	}
	acme, _ := st.TenantBySlug(ctx, "acme")

	r := mustRun(t, env, "", "tenant", "second-factors", "--slug", "acme", "--allow", "totp")
	if !strings.Contains(r.stdout, "second factors allowed: totp; sessions ended: 0") {
		t.Errorf("--allow totp printed:\n%s", r.stdout)
	}
	r = mustRun(t, env, "", "tenant", "second-factors", "--slug", "acme", "--allow", "webauthn", "--clear-sessions")
	if !strings.Contains(r.stdout, "second factors allowed: webauthn; sessions ended: 1") {
		t.Errorf("--allow webauthn --clear-sessions printed:\n%s", r.stdout)
	}
	if got := liveSessions(t, st, code, passkey); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("after requiring passkeys: live %v, want only the passkey session", got)
	}
	if e := lastAudit(t, st, acme.ID, "tenant.second_factors"); e.Detail != `{"second_factors":"webauthn","option":"clear_sessions","sessions_ended":1,"via":"cli"}` {
		t.Errorf("audit: %+v", e)
	}

	r = mustRun(t, env, "", "tenant", "enrollment-deadline", "--slug", "acme", "--date", "2031-05-01")
	if !strings.Contains(r.stdout, "enrollment deadline 2031-05-01") {
		t.Errorf("enrollment-deadline printed:\n%s", r.stdout)
	}
	if e := lastAudit(t, st, acme.ID, "tenant.enrollment_deadline"); e.Detail != `{"deadline":"2031-05-01T00:00:00Z","via":"cli"}` {
		t.Errorf("audit: %+v", e)
	}
	r = mustRun(t, env, "", "tenant", "list")
	if rows := table(r.stdout); len(rows) != 2 || !slices.Equal(rows[1][3:5], []string{"webauthn", "2031-05-01"}) {
		t.Errorf("tenant list:\n%s", r.stdout)
	}
	mustRun(t, env, "", "tenant", "enrollment-deadline", "--slug", "acme", "--none")
	if tn, _ := st.TenantBySlug(ctx, "acme"); tn.EnrollmentDeadline != nil {
		t.Errorf("deadline after --none: %v", tn.EnrollmentDeadline)
	}

	r = mustRun(t, env, "", "tenant", "passwordless", "--slug", "acme", "--on")
	if tn, _ := st.TenantBySlug(ctx, "acme"); !strings.Contains(r.stdout, "passwordless sign-in is on") || !tn.Passwordless {
		t.Errorf("passwordless --on printed:\n%s", r.stdout)
	}
	if e := lastAudit(t, st, acme.ID, "tenant.passwordless"); e.Detail != `{"passwordless":true,"via":"cli"}` {
		t.Errorf("audit: %+v", e)
	}

	runFailing(t, env, []cliCase{
		{"passwordless neither", []string{"tenant", "passwordless", "--slug", "acme"}, exitUsage, "give --on or --off"},
		{"no allow", []string{"tenant", "second-factors", "--slug", "acme"}, exitUsage, "--allow is required"},
		{"bad allow", []string{"tenant", "second-factors", "--slug", "acme", "--allow", "sms"}, exitUsage, "want any, totp or webauthn"},
		{"clear without webauthn", []string{"tenant", "second-factors", "--slug", "acme", "--allow", "any", "--clear-sessions"}, exitUsage, "--clear-sessions goes with --allow webauthn only"},
		{"unknown tenant", []string{"tenant", "second-factors", "--slug", "nope", "--allow", "any"}, exitFailure, `no tenant "nope"`},
		{"bad date", []string{"tenant", "enrollment-deadline", "--slug", "acme", "--date", "31/05/2031"}, exitUsage, "is not a date"},
		{"date and none", []string{"tenant", "enrollment-deadline", "--slug", "acme", "--date", "2031-05-01", "--none"}, exitUsage, "not both"},
		{"neither", []string{"tenant", "enrollment-deadline", "--slug", "acme"}, exitUsage, "give --date"},
	})
	if tn, _ := st.TenantBySlug(ctx, "acme"); tn.SecondFactors != store.FactorWebAuthn {
		t.Errorf("a refused command changed the factors: %q", tn.SecondFactors)
	}
}

// TestUserDisableEnableDeleteResetPassword: the CLI's user management:
// disable ends the sessions, enable undoes it, reset-password prints a
// one-time link (refused for a disabled user), delete removes the user and
// keeps the audit rows.
func TestUserDisableEnableDeleteResetPassword(t *testing.T) {
	env, db := migratedEnv(t)
	ctx := context.Background()
	mustRun(t, env, "", "tenant", "create", "--slug", "acme", "--name", "Acme")
	st := openTestStore(t, db)
	ada := seedUser(t, st, "acme", "ada@acme.test")
	a1 := seedSession(t, st, ada)

	if r := mustRun(t, env, "", "user", "disable", "--email", "Ada@acme.test"); strings.TrimSpace(r.stdout) != "disabled ada@acme.test; sessions ended: 1" {
		t.Errorf("disable printed %q", r.stdout)
	}
	if u, _ := st.UserByID(ctx, ada.ID); !u.Disabled || liveSessions(t, st, a1)[0] {
		t.Error("ada is not disabled, or her session lives")
	}
	runFailing(t, env, []cliCase{
		{"reset-password of a disabled user", []string{"user", "reset-password", "--email", "ada@acme.test"}, exitFailure, "is disabled"},
		{"unknown user", []string{"user", "delete", "--email", "nobody@acme.test"}, exitFailure, "no user with email nobody@acme.test"},
		{"no email", []string{"user", "disable"}, exitUsage, "--email is required"},
	})
	if r := mustRun(t, env, "", "user", "enable", "--email", "ada@acme.test"); strings.TrimSpace(r.stdout) != "enabled ada@acme.test" {
		t.Errorf("enable printed %q", r.stdout)
	}
	r := mustRun(t, env, "", "user", "reset-password", "--email", "ada@acme.test")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "one-time link for ada@acme.test (until ") || !strings.Contains(lines[1], "/set-password?token=") {
		t.Fatalf("reset-password printed %q", r.stdout)
	}
	_, token, _ := strings.Cut(lines[1], "token=")
	if _, u, err := st.PasswordLinkFor(ctx, token); err != nil || u.ID != ada.ID {
		t.Errorf("the printed link: %v", err)
	}
	if e := lastAudit(t, st, ada.TenantID, "user.password_reset_link"); strings.Contains(e.Detail, token) || !strings.Contains(e.Detail, `"via":"cli"`) {
		t.Errorf("audit: %+v", e)
	}
	if r := mustRun(t, env, "", "user", "delete", "--email", "ada@acme.test"); strings.TrimSpace(r.stdout) != "deleted ada@acme.test; sessions ended: 0" {
		t.Errorf("delete printed %q", r.stdout)
	}
	if _, err := st.UserByID(ctx, ada.ID); err == nil {
		t.Error("ada still exists")
	}
	if e := lastAudit(t, st, ada.TenantID, "user.deleted"); e.SubjectID != ada.ID {
		t.Errorf("audit: %+v", e)
	}
}
