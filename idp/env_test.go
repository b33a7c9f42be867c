package idp_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
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
	"github.com/portcullis-idp/portcullis/templates"
)

// testArgon2 keeps password hashing cheap in tests; production uses
// secrets.DefaultArgon2.
var testArgon2 = secrets.Argon2Params{MemoryKiB: 1024, Passes: 1, Lanes: 1}

const (
	testPassword = "correct horse battery staple"
	rpRedirect   = "http://127.0.0.1:1/callback" // never dialled: the test browser stops at it
)

// env is one running provider with a tenant, a user and two clients.
type env struct {
	t       testing.TB
	store   *store.Store
	srv     *idp.Server
	ts      *httptest.Server
	issuer  string
	tenant  *store.Tenant
	user    *store.User
	client  *store.Client // confidential
	secret  string
	public  *store.Client
	machine *store.Client // client credentials
	mSecret string
	codes   *codeClock // the provider's clock for TOTP codes
	master  []byte     // the secrets key
}

func newEnv(t testing.TB, open func(testing.TB) *store.Store) *env {
	t.Helper()
	return newEnvWith(t, open, nil)
}

// newEnvWith is newEnv with a hook to change the server's options.
func newEnvWith(t testing.TB, open func(testing.TB) *store.Store, tune func(*idp.Options)) *env {
	t.Helper()
	ctx := context.Background()
	st := open(t)
	e := &env{t: t, store: st, codes: &codeClock{}}
	e.ts = httptest.NewUnstartedServer(nil)
	e.issuer = "http://" + e.ts.Listener.Addr().String()
	master := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, master); err != nil {
		t.Fatal(err)
	}
	tpl, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	a := testArgon2
	// Tests sign in many times from one address; the per-address rates
	// have tests of their own (limits_test.go).
	rates := throttle.DefaultRates.Scaled(100)
	opts := idp.Options{
		Store: st, Templates: tpl, Issuer: e.issuer, MasterKey: master,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Argon2: &a,
		CodeClock: e.codes.now, Rates: &rates,
	}
	if tune != nil {
		tune(&opts)
	}
	e.issuer = opts.Issuer
	e.master = master
	e.srv, err = idp.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.ts.Config.Handler = e.srv.Handler()
	e.ts.Start()
	t.Cleanup(e.ts.Close)

	e.tenant = &store.Tenant{Slug: "acme", Name: "Acme", RequireTFA: false}
	must(t, st.CreateTenant(ctx, e.tenant))
	hash, err := secrets.HashPassword(testPassword, testArgon2)
	must(t, err)
	e.user = &store.User{TenantID: e.tenant.ID, Email: "Ada@Example.com", Name: "Ada Lovelace", PasswordHash: hash}
	must(t, st.CreateUser(ctx, e.user))

	var secretHash []byte
	e.secret, secretHash, err = e.srv.ClientSecret()
	must(t, err)
	e.client = &store.Client{
		Name: "Acme Web", SecretHash: secretHash, RedirectURIs: []string{rpRedirect},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1:1/"}, RequirePKCE: true,
		Scopes:     claims.SupportedScopes,
		GrantTypes: []string{"authorization_code", "refresh_token"},
	}
	must(t, st.CreateClient(ctx, e.client))
	e.public = &store.Client{
		Name: "Acme CLI", Public: true, RedirectURIs: []string{"http://127.0.0.1:1/native"}, RequirePKCE: true,
		Scopes: claims.SupportedScopes, GrantTypes: []string{"authorization_code", "refresh_token"}, SkipConsent: true,
	}
	must(t, st.CreateClient(ctx, e.public))
	var mHash []byte
	e.mSecret, mHash, err = e.srv.ClientSecret()
	must(t, err)
	e.machine = &store.Client{Name: "Batch", SecretHash: mHash, Scopes: []string{"reports"}, GrantTypes: []string{"client_credentials"}}
	must(t, st.CreateClient(ctx, e.machine))
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// forEachBackend runs f on SQLite and, when configured, PostgreSQL.
func forEachBackend(t *testing.T, f func(t *testing.T, e *env)) {
	forEachBackendWith(t, nil, f)
}

// forEachBackendWith is forEachBackend with a hook to change the server's
// options.
func forEachBackendWith(t *testing.T, tune func(*idp.Options), f func(t *testing.T, e *env)) {
	for name, open := range storetest.Backends(t) {
		t.Run(name, func(t *testing.T) { f(t, newEnvWith(t, open, tune)) })
	}
}

// withLocalhost names the issuer by the host name localhost instead of
// 127.0.0.1 (the server still listens on 127.0.0.1 only): WebAuthn needs
// a domain name as relying-party id, so passkeys are offered only then.
func withLocalhost(o *idp.Options) { o.Issuer = strings.Replace(o.Issuer, "127.0.0.1", "localhost", 1) }

// withProxy makes the test client (127.0.0.1) a trusted proxy, so a
// browser's from field sets its client address.
func withProxy(o *idp.Options) { o.TrustedProxies = []string{"127.0.0.1/32"} }

// rp is a relying party using the real go-oidc and x/oauth2 clients.
type rp struct {
	cfg      oauth2.Config
	verifier *oidc.IDTokenVerifier
	provider *oidc.Provider
}

func (e *env) rp(c *store.Client, secret string, scopes ...string) *rp {
	e.t.Helper()
	p, err := oidc.NewProvider(context.Background(), e.issuer)
	must(e.t, err)
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}
	}
	return &rp{
		cfg: oauth2.Config{ClientID: c.ID, ClientSecret: secret, Endpoint: p.Endpoint(),
			RedirectURL: c.RedirectURIs[0], Scopes: scopes},
		verifier: p.Verifier(&oidc.Config{ClientID: c.ID}),
		provider: p,
	}
}

// browser is a cookie-keeping HTTP client that follows redirects until it
// reaches a client's redirect URI (127.0.0.1:1, never dialled).
type browser struct {
	t      *testing.T
	c      *http.Client
	last   *http.Response
	landed *url.URL // the redirect URI reached, with its query
	// userAgent is sent with every request when set.
	userAgent string
	// from is sent as X-Forwarded-For when set: the client address a
	// server that trusts 127.0.0.1 as its proxy sees (withProxy).
	from string
}

// uaTransport sets the browser's User-Agent on every request, redirects
// included.
type uaTransport struct{ b *browser }

func (t uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.b.userAgent != "" || t.b.from != "" {
		r = r.Clone(r.Context())
	}
	if t.b.userAgent != "" {
		r.Header.Set("User-Agent", t.b.userAgent)
	}
	if t.b.from != "" {
		r.Header.Set("X-Forwarded-For", t.b.from)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t}
	b.c = &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: uaTransport{b}}
	b.c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		// The test clients' redirect URIs: port 1 on loopback (never
		// dialled) and native apps' private-use schemes.
		if req.URL.Host == "127.0.0.1:1" || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
			b.landed = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}
	return b
}

// get fetches u and returns the final response body.
func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	b.landed = nil
	resp, err := b.c.Get(u)
	must(b.t, err)
	return b.read(resp)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	b.landed = nil
	resp, err := b.c.PostForm(u, form)
	must(b.t, err)
	return b.read(resp)
}

func (b *browser) read(resp *http.Response) (*http.Response, string) {
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last = resp
	return resp, string(body)
}

var authRequestRe = regexp.MustCompile(`name="auth_request" value="([^"]+)"`)

func hiddenAuthRequest(t testing.TB, body string) string {
	t.Helper()
	m := authRequestRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no auth_request field in page:\n%s", body)
	}
	return m[1]
}

// authorize runs an authorization request through sign-in and consent as
// needed and returns the redirect the client received.
func (e *env) authorize(b *browser, authURL, email, password string) *url.URL {
	e.t.Helper()
	resp, body := b.get(authURL)
	for i := 0; i < 5 && b.landed == nil; i++ {
		path := resp.Request.URL.Path
		switch {
		case path == "/login":
			resp, body = b.post(e.issuer+"/login", url.Values{
				"auth_request": {hiddenAuthRequest(e.t, body)}, "email": {email}, "password": {password}})
		case path == "/consent":
			resp, body = b.post(e.issuer+"/consent", url.Values{
				"auth_request": {hiddenAuthRequest(e.t, body)}, "decision": {"allow"}})
		default:
			e.t.Fatalf("unexpected page %s (%d):\n%s", resp.Request.URL, resp.StatusCode, body)
		}
	}
	if b.landed == nil {
		e.t.Fatalf("never reached the client; last page %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	return b.landed
}

func getenv(k string) string { return os.Getenv(k) }
