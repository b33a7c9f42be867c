package idp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/portcullis-idp/portcullis/idp"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/logout"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/templates"
)

// fastLogouts keeps the worker quick in tests; no test depends on the exact
// intervals, only on delivery happening before a generous deadline.
var fastLogouts = logout.Options{
	PollInterval:   50 * time.Millisecond,
	RetryBase:      100 * time.Millisecond,
	RetryMax:       time.Second,
	Timeout:        2 * time.Second,
	ExpiryInterval: 100 * time.Millisecond,
}

// logoutEnv is an env whose servers get Logout options and share one
// master key, so a second server can start on the same store (a restart).
type logoutEnv struct {
	*env
	master  []byte
	tpl     *templates.Templates
	opts    logout.Options
	handler atomic.Pointer[http.Handler] // the server answering at issuer
	logs    *syncBuffer
}

// newLogoutEnv is newEnv with Logout options: a provider (not yet running
// its background work), a tenant and a user.
func newLogoutEnv(t *testing.T, open func(testing.TB) *store.Store, lo logout.Options) *logoutEnv {
	t.Helper()
	ctx := context.Background()
	le := &logoutEnv{env: &env{t: t, store: open(t)}, opts: lo, logs: &syncBuffer{}}
	le.master = make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, le.master); err != nil {
		t.Fatal(err)
	}
	var err error
	if le.tpl, err = templates.Load(); err != nil {
		t.Fatal(err)
	}
	le.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*le.handler.Load()).ServeHTTP(w, r)
	}))
	le.issuer = "http://" + le.ts.Listener.Addr().String()
	le.srv = le.newServer()
	le.ts.Start()
	t.Cleanup(le.ts.Close)

	le.tenant = &store.Tenant{Slug: "acme", Name: "Acme"}
	must(t, le.store.CreateTenant(ctx, le.tenant))
	le.user = &store.User{TenantID: le.tenant.ID, Email: "ada@example.com", Name: "Ada", PasswordHash: "$argon2id$stub"}
	must(t, le.store.CreateUser(ctx, le.user))
	return le
}

// newServer builds a provider on the env's store and makes it the one
// answering at the issuer.
func (le *logoutEnv) newServer() *idp.Server {
	le.t.Helper()
	a := testArgon2
	srv, err := idp.New(context.Background(), idp.Options{
		Store: le.store, Templates: le.tpl, Issuer: le.issuer, MasterKey: le.master,
		Logger: slog.New(slog.NewTextHandler(le.logs, nil)), Argon2: &a, Logout: le.opts,
	})
	must(le.t, err)
	h := srv.Handler()
	le.handler.Store(&h)
	return srv
}

// run starts srv's background work; stop (also run at cleanup) ends it.
func (le *logoutEnv) run(srv *idp.Server) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Run(ctx)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		<-done
	})
	le.t.Cleanup(stop)
	return stop
}

// client registers a relying app with back-channel logout URI uri.
func (le *logoutEnv) client(name, uri string) *store.Client {
	le.t.Helper()
	c := &store.Client{Name: name, RedirectURIs: []string{rpRedirect}, BackchannelLogoutURI: uri,
		Scopes: claims.SupportedScopes, GrantTypes: []string{"authorization_code"}, Public: true, RequirePKCE: true}
	must(le.t, le.store.CreateClient(context.Background(), c))
	return c
}

// session starts a live session of the env's user signed into clients.
func (le *logoutEnv) session(expires time.Duration, clients ...*store.Client) *store.BrowserSession {
	le.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	bs := &store.BrowserSession{SecretHash: "hash-" + store.NewID(), UserID: le.user.ID, TenantID: le.tenant.ID,
		AuthTime: now, AMR: []string{"pwd"}, ExpiresAt: now.Add(expires)}
	must(le.t, le.store.CreateBrowserSession(ctx, bs))
	for _, c := range clients {
		must(le.t, le.store.RecordSessionClient(ctx, bs.ID, c.ID))
	}
	return bs
}

func (le *logoutEnv) end(bs *store.BrowserSession) {
	le.t.Helper()
	ended, err := le.store.EndSession(context.Background(), bs.ID, "logout")
	must(le.t, err)
	if len(ended) != 1 {
		le.t.Fatalf("EndSession(%s) ended %d sessions", bs.ID, len(ended))
	}
}

func (le *logoutEnv) deliveries() []store.LogoutDelivery {
	le.t.Helper()
	ds, err := le.store.ListLogoutDeliveries(context.Background(), le.tenant.ID, 1000)
	must(le.t, err)
	return ds
}

// checkLogs fails if a logout token the RP received shows up in the logs.
func (le *logoutEnv) checkLogs(rp *logoutRP) {
	le.t.Helper()
	logs := le.logs.String()
	for _, tok := range rp.tokens() {
		if strings.Contains(logs, tok) || strings.Contains(logs, strings.Split(tok, ".")[2]) {
			le.t.Error("a logout token was logged")
		}
	}
	for _, d := range le.deliveries() {
		if strings.Contains(d.LastError, "eyJ") {
			le.t.Errorf("delivery %d stored a token in its error: %q", d.ID, d.LastError)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// forEachLogoutBackend is forEachBackend for a logoutEnv.
func forEachLogoutBackend(t *testing.T, lo logout.Options, f func(t *testing.T, le *logoutEnv)) {
	for name, open := range storetest.Backends(t) {
		t.Run(name, func(t *testing.T) { f(t, newLogoutEnv(t, open, lo)) })
	}
}

// logoutRP is a relying app's back-channel logout endpoint: it records
// every logout token and answers the n-th request (from 1) with reply.
type logoutRP struct {
	ts  *httptest.Server
	mu  sync.Mutex
	got []string
}

func newLogoutRP(t testing.TB, reply func(w http.ResponseWriter, r *http.Request, n int)) *logoutRP {
	rp := &logoutRP{}
	rp.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("back-channel logout request: %s with Content-Type %q, want a form POST", r.Method, r.Header.Get("Content-Type"))
		}
		tok := r.PostFormValue("logout_token")
		if tok == "" || len(r.PostForm) != 1 {
			t.Errorf("back-channel logout form = %v, want only logout_token", r.PostForm)
		}
		rp.mu.Lock()
		rp.got = append(rp.got, tok)
		n := len(rp.got)
		rp.mu.Unlock()
		reply(w, r, n)
	}))
	t.Cleanup(rp.ts.Close)
	return rp
}

// status replies with the code status(n) returns.
func status(code func(n int) int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, n int) { w.WriteHeader(code(n)) }
}

func always(code int) func(int) int { return func(int) int { return code } }

func (rp *logoutRP) uri() string { return rp.ts.URL + "/backchannel-logout?rp=1" }

func (rp *logoutRP) tokens() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]string(nil), rp.got...)
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logoutClaims verifies a logout token against the provider's published
// JWKS and checks it as an RP must (spec §2.6), returning its claims.
func (le *logoutEnv) logoutClaims(tok string, c *store.Client, bs *store.BrowserSession) map[string]any {
	le.t.Helper()
	resp, err := http.Get(le.issuer + "/.well-known/jwks.json")
	must(le.t, err)
	defer resp.Body.Close()
	var jwks jose.JSONWebKeySet
	must(le.t, json.NewDecoder(resp.Body).Decode(&jwks))

	jws, err := jose.ParseSigned(tok)
	must(le.t, err)
	if len(jws.Signatures) != 1 {
		le.t.Fatalf("logout token has %d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != "logout+jwt" {
		le.t.Errorf("typ = %v, want logout+jwt", typ)
	}
	keys := jwks.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		le.t.Fatalf("kid %q names %d published keys", h.KeyID, len(keys))
	}
	if h.Algorithm != keys[0].Algorithm {
		le.t.Errorf("alg = %s, want the key's %s", h.Algorithm, keys[0].Algorithm)
	}
	payload, err := jws.Verify(&keys[0])
	if err != nil {
		le.t.Fatalf("logout token does not verify against the JWKS: %v", err)
	}
	var cl map[string]any
	must(le.t, json.Unmarshal(payload, &cl))
	for k, want := range map[string]string{"iss": le.issuer, "aud": c.ID, "sub": le.user.ID, "sid": bs.ID} {
		if cl[k] != want {
			le.t.Errorf("%s = %v, want %s", k, cl[k], want)
		}
	}
	ev, _ := cl["events"].(map[string]any)
	if e, ok := ev["http://schemas.openid.net/event/backchannel-logout"].(map[string]any); !ok || len(e) != 0 || len(ev) != 1 {
		le.t.Errorf("events = %v, want only the back-channel logout event with {}", cl["events"])
	}
	if _, ok := cl["nonce"]; ok {
		le.t.Error("logout token carries a nonce")
	}
	iat, _ := cl["iat"].(float64)
	exp, _ := cl["exp"].(float64)
	if now := float64(time.Now().Unix()); iat < now-60 || iat > now+5 || exp <= iat || exp > iat+600 {
		le.t.Errorf("iat %v, exp %v: want issued now and expiring soon after", iat, exp)
	}
	if jti, _ := cl["jti"].(string); len(jti) < 16 {
		le.t.Errorf("jti = %q, want a random value", jti)
	}
	return cl
}

// TestBackchannelLogoutDelivered: ending a session sends each app it
// signed into that has a back-channel URI a verifiable logout token, and
// nothing to an app without one.
func TestBackchannelLogoutDelivered(t *testing.T) {
	forEachLogoutBackend(t, fastLogouts, func(t *testing.T, le *logoutEnv) {
		rp := newLogoutRP(t, status(always(http.StatusOK)))
		withURI := le.client("Wiki", rp.uri())
		without := le.client("Legacy", "")
		le.run(le.srv)

		// A session only in the app without a URI is ended first: had it
		// produced anything, it would arrive no later than the second.
		quiet := le.session(time.Hour, without)
		le.end(quiet)
		bs := le.session(time.Hour, withURI, without)
		le.end(bs)

		waitFor(t, "the delivery to be recorded", func() bool {
			ds := le.deliveries()
			return len(ds) == 1 && ds[0].DeliveredAt != nil
		})
		toks := rp.tokens()
		if len(toks) != 1 {
			t.Fatalf("the RP received %d logout tokens, want 1", len(toks))
		}
		le.logoutClaims(toks[0], withURI, bs)
		d := le.deliveries()[0]
		if d.ClientID != withURI.ID || d.SessionID != bs.ID || d.Attempts != 1 || d.FailedAt != nil {
			t.Errorf("delivery = %+v, want delivered on the first attempt (1 send) to %s", d, withURI.ID)
		}
		le.checkLogs(rp)
		if !strings.Contains(le.logs.String(), "back-channel logout delivered") {
			t.Error("the delivery was not logged")
		}
	})
}

// TestBackchannelLogoutRetried: an app that fails first gets the logout
// again, and it is recorded as delivered after one failed attempt.
func TestBackchannelLogoutRetried(t *testing.T) {
	forEachLogoutBackend(t, fastLogouts, func(t *testing.T, le *logoutEnv) {
		rp := newLogoutRP(t, status(func(n int) int {
			if n == 1 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		}))
		c := le.client("Wiki", rp.uri())
		le.run(le.srv)
		bs := le.session(time.Hour, c)
		le.end(bs)

		waitFor(t, "delivery after a retry", func() bool {
			ds := le.deliveries()
			return len(ds) == 1 && ds[0].DeliveredAt != nil
		})
		d := le.deliveries()[0]
		if d.Attempts != 2 || d.FailedAt != nil || !strings.Contains(d.LastError, "503") {
			t.Errorf("delivery = %+v, want delivered at the second send after a failed one (503)", d)
		}
		toks := rp.tokens()
		if len(toks) != 2 {
			t.Fatalf("the RP received %d requests, want 2", len(toks))
		}
		first, second := le.logoutClaims(toks[0], c, bs), le.logoutClaims(toks[1], c, bs)
		if first["jti"] == second["jti"] {
			t.Error("the retry reused the jti of the first token")
		}
		le.checkLogs(rp)
	})
}

// TestBackchannelLogoutSurvivesRestart: what is owed when a server stops,
// an attempt that failed or a session ended while none ran, is delivered by
// the next server on the same database.
func TestBackchannelLogoutSurvivesRestart(t *testing.T) {
	forEachLogoutBackend(t, fastLogouts, func(t *testing.T, le *logoutEnv) {
		var up atomic.Bool
		rp := newLogoutRP(t, status(func(int) int {
			if up.Load() {
				return http.StatusOK
			}
			return http.StatusServiceUnavailable
		}))
		c := le.client("Wiki", rp.uri())
		stop := le.run(le.srv)
		failed := le.session(time.Hour, c)
		le.end(failed)
		waitFor(t, "a failed attempt to be recorded", func() bool {
			ds := le.deliveries()
			return len(ds) == 1 && ds[0].Attempts >= 1
		})
		stop()
		whileDown := le.session(time.Hour, c)
		le.end(whileDown)

		up.Store(true)
		le.run(le.newServer())
		waitFor(t, "both deliveries after the restart", func() bool {
			ds := le.deliveries()
			return len(ds) == 2 && ds[0].DeliveredAt != nil && ds[1].DeliveredAt != nil
		})
		sids := map[string]bool{}
		toks := rp.tokens()
		for _, tok := range toks[len(toks)-2:] {
			sid, _ := le.logoutClaims(tok, c, sessionOf(tok, failed, whileDown))["sid"].(string)
			sids[sid] = true
		}
		if !sids[failed.ID] || !sids[whileDown.ID] {
			t.Errorf("the last two tokens were for sessions %v, want %s and %s", sids, failed.ID, whileDown.ID)
		}
		le.checkLogs(rp)
	})
}

// sessionOf picks, by the unverified sid claim, which of sessions tok is
// about (logoutClaims then checks it with the signature verified).
func sessionOf(tok string, sessions ...*store.BrowserSession) *store.BrowserSession {
	jws, err := jose.ParseSigned(tok)
	if err != nil {
		return sessions[0]
	}
	var cl struct{ Sid string }
	_ = json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &cl)
	for _, bs := range sessions {
		if bs.ID == cl.Sid {
			return bs
		}
	}
	return sessions[0]
}

// TestBackchannelLogoutRedirectIsFailure: a redirect is not followed and
// counts as a failure; after MaxAttempts the delivery is given up.
func TestBackchannelLogoutRedirectIsFailure(t *testing.T) {
	lo := fastLogouts
	lo.MaxAttempts = 2
	forEachLogoutBackend(t, lo, func(t *testing.T, le *logoutEnv) {
		var followed atomic.Bool
		target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
		t.Cleanup(target.Close)
		rp := newLogoutRP(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
		})
		c := le.client("Wiki", rp.uri())
		le.run(le.srv)
		le.end(le.session(time.Hour, c))

		waitFor(t, "the delivery to be given up", func() bool {
			ds := le.deliveries()
			return len(ds) == 1 && ds[0].FailedAt != nil
		})
		d := le.deliveries()[0]
		if d.Attempts != 2 || d.DeliveredAt != nil || !strings.Contains(d.LastError, "redirect") {
			t.Errorf("delivery = %+v, want given up after 2 attempts, error naming the redirect", d)
		}
		if followed.Load() {
			t.Error("the redirect was followed")
		}
		if n := len(rp.tokens()); n != 2 {
			t.Errorf("the RP received %d requests, want 2", n)
		}
		le.checkLogs(rp)
	})
}

// TestBackchannelLogoutOnExpiry: a session that runs out is ended by the
// worker's sweep, and its apps are told.
func TestBackchannelLogoutOnExpiry(t *testing.T) {
	forEachLogoutBackend(t, fastLogouts, func(t *testing.T, le *logoutEnv) {
		rp := newLogoutRP(t, status(always(http.StatusNoContent)))
		c := le.client("Wiki", rp.uri())
		bs := le.session(300*time.Millisecond, c)
		stays := le.session(time.Hour, c)
		le.run(le.srv)
		waitFor(t, "the expired session's logout", func() bool { return len(rp.tokens()) == 1 })
		le.logoutClaims(rp.tokens()[0], c, bs)
		got, err := le.store.SessionByID(context.Background(), bs.ID)
		must(t, err)
		if got.EndedAt == nil || got.EndReason != "expired" {
			t.Errorf("expired session: ended %v, reason %q", got.EndedAt, got.EndReason)
		}
		if got, _ := le.store.SessionByID(context.Background(), stays.ID); got.EndedAt != nil {
			t.Error("a live session was ended")
		}
	})
}
