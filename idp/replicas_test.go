package idp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/idp/throttle"
	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/templates"
)

// TestTwoReplicas runs two replicas of the provider on one PostgreSQL
// database, each with its own connection pool, the same secrets key and
// the same issuer, as two processes behind a load balancer would; every
// browser talks to one replica only. It checks that the replay guard and
// the attempt limit hold across them:
//
//   - the same code, sent to both replicas at once from two browsers of
//     one user, is accepted exactly once (the other gets 401 "already
//     used"), over rounds with fresh steps;
//   - five wrong codes spread over both replicas lock code entry on both.
//
// It runs against two real `portcullis serve` processes built from this
// tree, and again against two in-process servers (each on its own
// *store.Store), which also puts the servers' side under -race. PostgreSQL
// only: skipped without PORTCULLIS_TEST_POSTGRES_DSN, failed without it
// when CI=true.
func TestTwoReplicas(t *testing.T) {
	for _, variant := range []struct {
		name  string
		start func(t *testing.T, r *replicas)
	}{
		{"processes", startReplicaProcesses},
		{"in-process", startReplicaServers},
	} {
		t.Run(variant.name, func(t *testing.T) {
			r := newReplicas(t)
			variant.start(t, r)
			t.Run("SameCodeRace", func(t *testing.T) { testReplicaCodeRace(t, r) })
			t.Run("LockoutAcrossReplicas", func(t *testing.T) { testReplicaLockout(t, r) })
			t.Run("PasswordLockAcrossReplicas", func(t *testing.T) { testReplicaPasswordLock(t, r) })
		})
	}
}

// replicas is the shared database, as the test sees it through its own
// connection, and the two replicas serving it.
type replicas struct {
	cfg    store.Config
	store  *store.Store // the test's own connection: seeding and checks
	master []byte
	issuer string   // the same for both replicas
	urls   []string // where each replica listens (two, unless a test starts more)
	tenant *store.Tenant
	client *store.Client // public, PKCE, no consent page
	hash   string        // every user's password hash (cheap cost)
}

func newReplicas(t *testing.T) *replicas {
	t.Helper()
	ctx := context.Background()
	r := &replicas{cfg: storetest.PostgresConfig(t), urls: make([]string, 2)} // skips, or fails in CI, without a DSN
	r.master = make([]byte, 32)
	_, err := rand.Read(r.master)
	must(t, err)
	// Every replica, the portcullis binaries included, seals with the
	// master key's cipher.
	r.cfg.Cipher, err = secrets.AtRestCipher(r.master)
	must(t, err)
	r.store = storetest.Open(t, r.cfg)
	r.hash, err = secrets.HashPassword(testPassword, testArgon2)
	must(t, err)
	r.tenant = &store.Tenant{Slug: "acme", Name: "Acme", RequireTFA: true}
	must(t, r.store.CreateTenant(ctx, r.tenant))
	r.client = &store.Client{
		Name: "Acme CLI", Public: true, RedirectURIs: []string{"http://127.0.0.1:1/native"}, RequirePKCE: true,
		Scopes: claims.SupportedScopes, GrantTypes: []string{"authorization_code"}, SkipConsent: true,
	}
	must(t, r.store.CreateClient(ctx, r.client))
	return r
}

// startReplicaServers starts two idp.Servers in this process, each on its
// own *store.Store (its own pool) opened on the shared database.
func startReplicaServers(t *testing.T, r *replicas) {
	t.Helper()
	tpl, err := templates.Load()
	must(t, err)
	var ts [2]*httptest.Server
	for i := range ts {
		ts[i] = httptest.NewUnstartedServer(nil)
	}
	r.issuer = "http://" + ts[0].Listener.Addr().String()
	for i := range ts {
		a := testArgon2
		rates := throttle.DefaultRates.Scaled(100) // every replica test signs in from one address
		srv, err := idp.New(context.Background(), idp.Options{
			Store: storetest.Open(t, r.cfg), Templates: tpl, Issuer: r.issuer, MasterKey: r.master,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Argon2: &a, Rates: &rates,
		})
		must(t, err)
		ts[i].Config.Handler = srv.Handler()
		ts[i].Start()
		t.Cleanup(ts[i].Close)
		r.urls[i] = ts[i].URL
	}
}

// startReplicaProcesses builds cmd/portcullis and runs it twice, one
// after the other (so schema migration and the first signing key are not
// raced here), on the shared database with the same secrets key and
// issuer (the first replica's address).
func startReplicaProcesses(t *testing.T, r *replicas) {
	t.Helper()
	bin := buildPortcullis(t)
	dir := t.TempDir()
	var addrs [2]string
	for i := range addrs {
		addrs[i] = freeLoopbackAddr(t)
	}
	r.issuer = "http://" + addrs[0]
	for i, addr := range addrs {
		r.urls[i] = "http://" + addr
		startReplicaProcess(t, bin, fmt.Sprintf("replica-%c", 'A'+i), addr, r, filepath.Join(dir, fmt.Sprint(i)))
	}
}

// buildPortcullis builds cmd/portcullis from this tree into a temporary
// directory and returns the binary's path.
func buildPortcullis(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the go command is needed to build the replicas: %v", err)
		}
		t.Skipf("no go command to build the replicas: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "portcullis")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/portcullis-idp/portcullis/cmd/portcullis")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/portcullis: %v\n%s", err, out)
	}
	return bin
}

// freeLoopbackAddr returns a loopback address with a port free a moment
// ago (serve needs the port before it starts, for its issuer).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	must(t, ln.Close())
	return addr
}

func startReplicaProcess(t *testing.T, bin, name, addr string, r *replicas, dataDir string) {
	t.Helper()
	launchReplicaProcess(t, bin, name, addr, r, dataDir).waitReady(t)
}

// replicaProcess is a portcullis serve process of a test.
type replicaProcess struct {
	name, addr string
	cmd        *exec.Cmd
	exited     chan error
	logs       *lockedBuffer
}

// launchReplicaProcess starts serve on addr and returns at once; it is
// stopped (SIGINT) in t.Cleanup.
func launchReplicaProcess(t *testing.T, bin, name, addr string, r *replicas, dataDir string) *replicaProcess {
	t.Helper()
	cmd := exec.Command(bin, "serve",
		"--issuer", r.issuer, "--listen", addr, "--db", r.cfg.DSN, "--data-dir", dataDir,
		"--log-format", "text", "--log-level", "warn")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTCULLIS_") { // no configuration of the developer's
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PORTCULLIS_SECRETS_KEY="+base64.StdEncoding.EncodeToString(r.master),
		"PORTCULLIS_RATE_LIMITS_FACTOR=100") // every replica test signs in from one address
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop within 15 s of SIGINT", name)
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, logs.String())
		}
	})
	return &replicaProcess{name: name, addr: addr, cmd: cmd, exited: exited, logs: logs}
}

// waitReady waits for the replica to answer /health/ready with 200.
func (p *replicaProcess) waitReady(t *testing.T) {
	t.Helper()
	name, addr, exited, logs := p.name, p.addr, p.exited, p.logs
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("%s exited before it was ready: %v\n%s", name, err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 60 s:\n%s", name, logs.String())
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// replicaUser is a user with a confirmed authenticator; codes are computed
// on the real clock, which the replicas judge them by.
type replicaUser struct {
	id, email string
	secret    mfa.Secret
}

func (r *replicas) newUser(t *testing.T, email string) replicaUser {
	t.Helper()
	id, secret := enrollTOTP(t, r.store, r.tenant.ID, email, r.hash)
	return replicaUser{id: id, email: email, secret: secret}
}

// testReplicaPasswordLock: the password failure counters are shared:
// three wrong passwords at replica 0 and two at replica 1 lock the address
// out of the account at both.
func testReplicaPasswordLock(t *testing.T, r *replicas) {
	u := r.newUser(t, "pw-lock@example.com")
	try := func(i int, password string) int {
		b := newBrowser(t)
		_, body := b.get(r.authURL(i, oauth2.GenerateVerifier()))
		resp, _ := b.post(r.urls[i]+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {password}})
		return resp.StatusCode
	}
	for n, i := range []int{0, 1, 0, 1, 0} {
		if status := try(i, fmt.Sprint("wrong ", n)); status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d at replica %d: %d", n+1, i, status)
		}
	}
	for i := range 2 {
		if status := try(i, testPassword); status != http.StatusTooManyRequests {
			t.Fatalf("right password at replica %d after five failures across both: %d, want 429", i, status)
		}
	}
}

// authURL is an authorization request of the public client sent to
// replica i.
func (r *replicas) authURL(i int, verifier string) string {
	return r.urls[i] + "/oauth2/auth?" + url.Values{
		"response_type": {"code"}, "client_id": {r.client.ID}, "redirect_uri": {r.client.RedirectURIs[0]},
		"scope": {"openid email"}, "state": {"state-" + randomHex(8)}, "nonce": {"nonce-" + randomHex(8)},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}.Encode()
}

// browserAt is a fresh browser that talks to replica i only, with its own
// connections, at the code page of u's pending request.
type browserAt struct {
	replica  int
	fc       *flowClient
	verifier string
	ar       string // the pending request
}

func (r *replicas) atCodePage(t *testing.T, i int, u replicaUser) *browserAt {
	t.Helper()
	b := &browserAt{replica: i, fc: newFlowClient(&http.Transport{}), verifier: oauth2.GenerateVerifier()}
	t.Cleanup(b.fc.c.CloseIdleConnections)
	var err error
	b.ar, err = b.fc.toCodePage(r.urls[i], r.authURL(i, b.verifier), u.email, testPassword)
	must(t, err)
	return b
}

func (r *replicas) codeRequest(b *browserAt, code string) *http.Request {
	req, err := formRequest(r.urls[b.replica]+"/login/code", url.Values{"auth_request": {b.ar}, "code": {code}})
	if err != nil {
		panic(err)
	}
	return req
}

// testReplicaCodeRace: two browsers of one user, one at each replica, at
// the code page; the same code goes to both at once. Exactly one reaches
// the client with a code, the other is told the code was already used;
// the step is burned once, and the winner's code is good at the other
// replica's token endpoint. Each round has a fresh user, so its code is
// of a step never used (with the real clock there are only the steps of
// the ±1 window to use, and a user's steps must rise).
func testReplicaCodeRace(t *testing.T, r *replicas) {
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, r.issuer)
	must(t, err)
	verifier := provider.Verifier(&oidc.Config{ClientID: r.client.ID})
	const rounds = 20
	var wins [2]int
	for round := range rounds {
		u := r.newUser(t, fmt.Sprintf("race%02d-%s@example.com", round, randomHex(3)))
		bs := [2]*browserAt{r.atCodePage(t, 0, u), r.atCodePage(t, 1, u)}

		now := time.Now()
		code, err := mfa.GenerateCode(u.secret, now)
		must(t, err)
		type result struct {
			resp   *http.Response
			body   string
			landed *url.URL
			err    error
		}
		var results [2]result
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		for i, b := range bs {
			req := r.codeRequest(b, code)
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				ready.Done()
				<-start
				resp, body, err := b.fc.do(req)
				results[i] = result{resp, body, b.fc.landed, err}
			}()
		}
		ready.Wait()
		close(start)
		done.Wait()

		winner := -1
		for i, res := range results {
			if res.err != nil {
				t.Fatalf("round %d, replica %c: %v", round, 'A'+i, res.err)
			}
			if res.landed != nil {
				if winner >= 0 {
					t.Fatalf("round %d: the same code signed in at both replicas", round)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: neither replica accepted the code: %d %q / %d %q", round,
				results[0].resp.StatusCode, pageError(results[0].body), results[1].resp.StatusCode, pageError(results[1].body))
		}
		wins[winner]++
		loser := results[1-winner]
		if loser.resp.StatusCode != http.StatusUnauthorized || !strings.Contains(loser.body, "already used") {
			t.Fatalf("round %d: replica %c answered the replayed code with %d %q, want 401 \"already used\"",
				round, 'A'+1-winner, loser.resp.StatusCode, pageError(loser.body))
		}

		// The step is burned once, in the shared database.
		_, last, err := r.store.ActiveAuthenticator(ctx, u.id)
		must(t, err)
		if last != mfa.Step(now) {
			t.Errorf("round %d: last step %d, want %d", round, last, mfa.Step(now))
		}
		events, err := r.store.ListAudit(ctx, store.AuditFilter{TenantID: r.tenant.ID, SubjectID: u.id})
		must(t, err)
		counts := map[string]int{}
		for _, ev := range events {
			counts[string(ev.Event)]++
		}
		if counts["login.mfa"] != 1 || counts["mfa.code_failed"] != 1 {
			t.Errorf("round %d: audit %v, want one login.mfa and one mfa.code_failed", round, counts)
		}

		// The code the winner got is redeemed at the other replica.
		tok := exchangeAt(t, r.urls[1-winner], r.client, results[winner].landed.Query().Get("code"), bs[winner].verifier)
		idt, err := verifier.Verify(ctx, tok)
		must(t, err)
		var c idClaims
		must(t, idt.Claims(&c))
		if idt.Subject != u.id {
			t.Fatalf("round %d: ID token for %s, want %s", round, idt.Subject, u.id)
		}
		wantMFAClaims(t, c)
	}
	t.Logf("%d rounds: replica A won %d, replica B won %d", rounds, wins[0], wins[1])
}

// testReplicaLockout: five wrong codes, alternating between the replicas
// (A B A B A), lock code entry; both replicas then refuse the right code,
// which is not burned, and both show the lock on the code page of either
// browser.
func testReplicaLockout(t *testing.T, r *replicas) {
	ctx := context.Background()
	u := r.newUser(t, "locked-"+randomHex(3)+"@example.com")
	bs := [2]*browserAt{r.atCodePage(t, 0, u), r.atCodePage(t, 1, u)}
	wrong := wrongCodeNow(t, u.secret)
	for i := 1; i <= 5; i++ {
		b := bs[(i-1)%2]
		resp, body, err := b.fc.do(r.codeRequest(b, wrong))
		must(t, err)
		want := http.StatusUnauthorized
		if i == 5 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want || b.fc.landed != nil {
			t.Fatalf("wrong code %d at replica %c: %d %q, want %d", i, 'A'+b.replica, resp.StatusCode, pageError(body), want)
		}
	}
	for _, b := range bs {
		right, err := mfa.GenerateCode(u.secret, time.Now())
		must(t, err)
		resp, body, err := b.fc.do(r.codeRequest(b, right))
		must(t, err)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Try again in") || b.fc.landed != nil {
			t.Errorf("right code at replica %c while locked: %d %q", 'A'+b.replica, resp.StatusCode, pageError(body))
		}
		// The code page shows the lock at both replicas, the other one
		// included: it reads this browser's cookie (same secrets key; the
		// cookie is not tied to a port) and the pending request too.
		for _, at := range []int{b.replica, 1 - b.replica} {
			resp, body, err = b.fc.get(r.urls[at] + "/login/code?auth_request=" + url.QueryEscape(b.ar))
			must(t, err)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Too many wrong attempts") {
				t.Errorf("code page of a browser of replica %c at replica %c (%d) does not show the lock: %q",
					'A'+b.replica, 'A'+at, resp.StatusCode, pageError(body))
			}
		}
	}
	a, err := r.store.LoadAttempts(ctx, u.id)
	must(t, err)
	if !a.LockedAt(time.Now()) || a.Lockouts != 1 || a.Failures != 0 {
		t.Errorf("attempts %+v, want one lockout running", a)
	}
	if _, last, err := r.store.ActiveAuthenticator(ctx, u.id); err != nil || last != 0 {
		t.Errorf("last step %d (%v): the right code was burned while locked", last, err)
	}
	events, err := r.store.ListAudit(ctx, store.AuditFilter{TenantID: r.tenant.ID, SubjectID: u.id, Event: "mfa.lockout"})
	must(t, err)
	if len(events) != 1 {
		t.Errorf("%d mfa.lockout audit events, want 1", len(events))
	}
}

// wrongCodeNow returns a well-formed code that does not match s now.
func wrongCodeNow(t *testing.T, s mfa.Secret) string {
	t.Helper()
	for h := 1; ; h++ {
		c, err := mfa.GenerateCode(s, time.Now().Add(-time.Duration(h)*time.Hour))
		must(t, err)
		if _, ok := mfa.MatchStep(s, c, time.Now()); !ok {
			return c
		}
	}
}

// exchangeAt redeems code at the token endpoint of base and returns the ID
// token.
func exchangeAt(t *testing.T, base string, c *store.Client, code, verifier string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]},
		"client_id": {c.ID}, "code_verifier": {verifier},
	})
	must(t, err)
	defer resp.Body.Close()
	var body struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
		Desc    string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body.IDToken == "" {
		t.Fatalf("code exchange at %s: %d %s %s", base, resp.StatusCode, body.Error, body.Desc)
	}
	return body.IDToken
}

// alertRe finds the message of a page's error alert.
var alertRe = regexp.MustCompile(`role="alert"[^>]*>(?s:.*?)<p>([^<]*)</p>`)

// pageError is the error message of a page (or its start), for failure
// messages.
func pageError(body string) string {
	if m := alertRe.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	if len(body) > 300 {
		return body[:300] + "…"
	}
	return body
}
