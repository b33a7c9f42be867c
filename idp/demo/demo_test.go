package demo

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/portcullis-idp/portcullis/templates"
)

const (
	testClientID     = "demo-app"
	testClientSecret = "s3cret-s3cret-s3cret"
	testRedirectURL  = "http://127.0.0.1:8081/callback"
)

// fakeProvider is just enough of an OpenID provider for the demo app:
// discovery and keys from oidctest, and a token endpoint that checks what
// a real one checks (client authentication, code, PKCE verifier) and
// signs an ID token with the nonce that came with the code.
type fakeProvider struct {
	t           *testing.T
	srv         *httptest.Server
	key         *rsa.PrivateKey
	discoveries atomic.Int32

	mu    sync.Mutex
	codes map[string]grant
}

// grant is what the provider remembers about an issued code.
type grant struct {
	challenge string // PKCE S256 code challenge
	nonce     string // goes into the ID token as is
}

func newFakeProvider(t *testing.T) *fakeProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProvider{t: t, key: key, codes: make(map[string]grant)}
	op := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discoveries.Add(1)
		op.ServeHTTP(w, r)
	})
	mux.Handle("/", op)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	op.SetIssuer(p.srv.URL)
	return p
}

// issue registers code as issued for an authorization request.
func (p *fakeProvider) issue(code string, g grant) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.codes[code] = g
}

func (p *fakeProvider) token(w http.ResponseWriter, r *http.Request) {
	fail := func(code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != testClientID || secret != testClientSecret {
		fail("invalid_client")
		return
	}
	if r.PostFormValue("grant_type") != "authorization_code" || r.PostFormValue("redirect_uri") != testRedirectURL {
		fail("invalid_request")
		return
	}
	p.mu.Lock()
	g, ok := p.codes[r.PostFormValue("code")]
	delete(p.codes, r.PostFormValue("code"))
	p.mu.Unlock()
	if !ok || s256(r.PostFormValue("code_verifier")) != g.challenge {
		fail("invalid_grant")
		return
	}
	claims, _ := json.Marshal(map[string]any{
		"iss":   p.srv.URL,
		"aud":   testClientID,
		"sub":   "user-1",
		"iat":   time.Now().Unix(),
		"exp":   time.Now().Add(time.Hour).Unix(),
		"nonce": g.nonce,
		"email": "ada@demo.test",
	})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": "at-1",
		"token_type":   "Bearer",
		"expires_in":   900,
		"id_token":     oidctest.SignIDToken(p.key, "k1", oidc.RS256, string(claims)),
	})
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newTestApp(t *testing.T, issuer string) http.Handler {
	t.Helper()
	tpl, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{
		Issuer:       issuer,
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		RedirectURL:  testRedirectURL,
		Templates:    tpl,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, target string, cookies ...*http.Cookie) *http.Response {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sessionCookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatalf("no session cookie set: %v", resp.Header.Values("Set-Cookie"))
	return nil
}

func flowCookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == flowCookie {
			return c
		}
	}
	t.Fatalf("response sets no %s cookie", flowCookie)
	return nil
}

// startLogin runs /login and returns the flow cookie and the query of the
// redirect to the provider.
func startLogin(t *testing.T, app http.Handler) (*http.Cookie, url.Values) {
	t.Helper()
	resp := get(app, "/login")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("/login: status %d, want 302\n%s", resp.StatusCode, body(t, resp))
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return flowCookieOf(t, resp), loc.Query()
}

func TestLogin(t *testing.T) {
	p := newFakeProvider(t)
	app := newTestApp(t, p.srv.URL)

	resp := get(app, "/login")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302\n%s", resp.StatusCode, body(t, resp))
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := loc.Scheme+"://"+loc.Host+loc.Path, p.srv.URL+"/auth"; got != want {
		t.Errorf("redirect to %s, want the authorization endpoint %s", got, want)
	}
	c := flowCookieOf(t, resp)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != int(flowLifetime.Seconds()) || c.Secure {
		t.Errorf("flow cookie attributes: %+v", c)
	}
	f, ok := decodeFlow(c.Value)
	if !ok {
		t.Fatalf("flow cookie %q does not decode", c.Value)
	}
	q := loc.Query()
	for k, want := range map[string]string{
		"response_type":         "code",
		"client_id":             testClientID,
		"redirect_uri":          testRedirectURL,
		"scope":                 "openid profile email",
		"state":                 f.State,
		"nonce":                 f.Nonce,
		"code_challenge":        s256(f.Verifier),
		"code_challenge_method": "S256",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if strings.Contains(loc.RawQuery, f.Verifier) {
		t.Error("the PKCE verifier itself went to the provider")
	}

	// A second sign-in gets fresh values.
	c2, q2 := startLogin(t, app)
	if c2.Value == c.Value || q2.Get("state") == f.State {
		t.Error("a second /login reused the state")
	}
}

func TestCallback(t *testing.T) {
	p := newFakeProvider(t)
	app := newTestApp(t, p.srv.URL)

	for _, tc := range []struct {
		name   string
		query  func(q url.Values, code string) string // the callback's query string
		cookie func(c *http.Cookie) *http.Cookie      // what the browser sends back
		nonce  func(nonce string) string              // what the provider puts in the ID token
		status int
		text   string // expected on the page
	}{
		{
			// To a clean address; the start page shows who signed in.
			name:   "signs in",
			status: http.StatusSeeOther,
			text:   "",
		},
		{
			name:   "no flow cookie",
			cookie: func(*http.Cookie) *http.Cookie { return nil },
			status: http.StatusBadRequest,
			text:   "Sign-in expired",
		},
		{
			name: "mangled flow cookie",
			cookie: func(c *http.Cookie) *http.Cookie {
				return &http.Cookie{Name: c.Name, Value: c.Value[:len(c.Value)-1]}
			},
			status: http.StatusBadRequest,
			text:   "Sign-in expired",
		},
		{
			name: "state from another sign-in",
			query: func(q url.Values, code string) string {
				return url.Values{"code": {code}, "state": {randomToken()}}.Encode()
			},
			status: http.StatusBadRequest,
			text:   "does not belong to the sign-in this browser started",
		},
		{
			name: "provider refused",
			query: func(q url.Values, code string) string {
				return url.Values{"error": {"access_denied"}, "error_description": {"The user said <no>"}, "state": {q.Get("state")}}.Encode()
			},
			status: http.StatusBadRequest,
			text:   "access_denied",
		},
		{
			name: "unknown code",
			query: func(q url.Values, code string) string {
				return url.Values{"code": {"not-" + code}, "state": {q.Get("state")}}.Encode()
			},
			status: http.StatusBadGateway,
			text:   "invalid_grant",
		},
		{
			name:   "ID token for another sign-in",
			nonce:  func(string) string { return randomToken() },
			status: http.StatusBadGateway,
			text:   "could not be verified",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cookie, q := startLogin(t, app)
			code := "code-" + randomToken()
			nonce := q.Get("nonce")
			if tc.nonce != nil {
				nonce = tc.nonce(nonce)
			}
			p.issue(code, grant{challenge: q.Get("code_challenge"), nonce: nonce})

			query := url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
			if tc.query != nil {
				query = tc.query(q, code)
			}
			var cookies []*http.Cookie
			if tc.cookie != nil {
				cookie = tc.cookie(cookie)
			}
			if cookie != nil {
				cookies = append(cookies, cookie)
			}
			resp := get(app, "/callback?"+query, cookies...)
			page := body(t, resp)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d\n%s", resp.StatusCode, tc.status, page)
			}
			if !strings.Contains(page, tc.text) {
				t.Errorf("page does not say %q:\n%s", tc.text, page)
			}
			if tc.status >= 400 && !strings.Contains(page, `href="/">Back to the demo app</a>`) {
				t.Errorf("error page does not lead back to the demo app:\n%s", page)
			}
			if strings.Contains(page, "<no>") || strings.Contains(page, "goroutine") {
				t.Errorf("page shows unescaped input or a stack trace:\n%s", page)
			}
			if c := flowCookieOf(t, resp); c.MaxAge >= 0 || c.Value != "" {
				t.Errorf("callback did not clear the flow cookie: %+v", c)
			}
			if resp.StatusCode == http.StatusSeeOther {
				if loc := resp.Header.Get("Location"); loc != "/" {
					t.Errorf("signed in: redirected to %q, want / (no code or state in the address)", loc)
				}
				home := body(t, get(app, "/", sessionCookieOf(t, resp)))
				if !strings.Contains(home, "Signed in as <strong>ada@demo.test</strong>") || !strings.Contains(home, "Sign out") {
					t.Errorf("the start page does not show who is signed in:\n%s", home)
				}
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})
	}
}

func TestCallbackCodeIsUsedOnce(t *testing.T) {
	p := newFakeProvider(t)
	app := newTestApp(t, p.srv.URL)
	cookie, q := startLogin(t, app)
	p.issue("c1", grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce")})
	target := "/callback?" + url.Values{"code": {"c1"}, "state": {q.Get("state")}}.Encode()

	if resp := get(app, target, cookie); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first callback: status %d\n%s", resp.StatusCode, body(t, resp))
	}
	// Replaying the same callback with the same (old) cookie: the browser
	// would have dropped it, but an attacker holding a copy gets nowhere.
	p.issue("c1", grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce")})
	resp := get(app, target)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("replay without the cookie: status %d, want 400", resp.StatusCode)
	}
}

func TestDiscoveryIsLazyAndRetried(t *testing.T) {
	// Nothing listens here yet, as when the demo starts with the provider.
	var provider http.Handler
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := provider
		mu.Unlock()
		if h == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	app := newTestApp(t, srv.URL)

	if resp := get(app, "/"); resp.StatusCode != http.StatusOK || !strings.Contains(body(t, resp), `href="/login"`) {
		t.Fatalf("home page: status %d", resp.StatusCode)
	}
	resp := get(app, "/login")
	if page := body(t, resp); resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "could not reach the identity provider") {
		t.Fatalf("/login before the provider is up: status %d\n%s", resp.StatusCode, page)
	}

	op := &oidctest.Server{}
	op.SetIssuer(srv.URL)
	var discoveries atomic.Int32
	mu.Lock()
	provider = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		discoveries.Add(1)
		op.ServeHTTP(w, r)
	})
	mu.Unlock()
	for range 2 {
		if resp := get(app, "/login"); resp.StatusCode != http.StatusFound {
			t.Fatalf("/login once the provider is up: status %d\n%s", resp.StatusCode, body(t, resp))
		}
	}
	if n := discoveries.Load(); n != 1 {
		t.Errorf("discovery ran %d times, want once", n)
	}
}

func TestLogoutClearsFlowCookie(t *testing.T) {
	p := newFakeProvider(t)
	app := newTestApp(t, p.srv.URL)
	if n := p.discoveries.Load(); n != 0 {
		t.Fatalf("New ran discovery %d times; it must wait for the first sign-in", n)
	}
	if resp := get(app, "/logout"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /logout: status %d, want 404 (signing out is a form post)", resp.StatusCode)
	}
	cross := httptest.NewRequest(http.MethodPost, "/logout", nil)
	cross.Header.Set("Sec-Fetch-Site", "cross-site")
	w := httptest.NewRecorder()
	app.ServeHTTP(w, cross)
	if w.Code != http.StatusForbidden {
		t.Fatalf("cross-site POST /logout: status %d, want 403", w.Code)
	}
	r := httptest.NewRequest(http.MethodPost, "/logout", nil)
	w = httptest.NewRecorder()
	app.ServeHTTP(w, r)
	resp := w.Result()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
		t.Fatalf("/logout: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c := flowCookieOf(t, resp); c.MaxAge >= 0 {
		t.Errorf("flow cookie not cleared: %+v", c)
	}
}

func TestDecodeFlow(t *testing.T) {
	f := newFlow()
	if got, ok := decodeFlow(f.encode()); !ok || got != f {
		t.Fatalf("decodeFlow(encode(f)) = %+v, %v; want %+v", got, ok, f)
	}
	for _, v := range []string{
		"",
		f.State,
		f.State + "." + f.Nonce,
		f.encode() + ".x",
		f.State + "." + f.Nonce + "." + f.Verifier[1:],
		f.State + "." + f.Nonce + "." + strings.Repeat("*", tokenLen),
	} {
		if _, ok := decodeFlow(v); ok {
			t.Errorf("decodeFlow(%q) accepted a malformed value", v)
		}
	}
}

func TestNotFoundAndStatic(t *testing.T) {
	app := newTestApp(t, "http://127.0.0.1:1")
	if resp := get(app, "/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nope: status %d, want 404", resp.StatusCode)
	}
	resp := get(app, "/static/portcullis.css")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("/static/portcullis.css: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestNewRequiresConfig(t *testing.T) {
	tpl, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{},
		{Issuer: "http://127.0.0.1:8080", ClientID: "x", Templates: tpl},
		{Issuer: "http://127.0.0.1:8080", ClientID: "x", RedirectURL: "/callback", Templates: tpl},
		{Issuer: "http://127.0.0.1:8080", ClientID: "x", RedirectURL: testRedirectURL},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted an incomplete config", cfg)
		}
	}
}

// signedIn signs the app in through the fake provider and returns the
// session cookie.
func signedIn(t *testing.T, p *fakeProvider, app http.Handler) *http.Cookie {
	t.Helper()
	cookie, q := startLogin(t, app)
	code := "code-" + randomToken()
	p.issue(code, grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce")})
	resp := get(app, "/callback?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), cookie)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d\n%s", resp.StatusCode, body(t, resp))
	}
	return sessionCookieOf(t, resp)
}

// TestBackchannelLogout: a logout token is checked as Back-Channel Logout
// 1.0 §2.6 asks (signature, iss, aud, exp, the event, sid or sub, no
// nonce); a valid one ends the app's session, and the start page says so
// once.
func TestBackchannelLogout(t *testing.T) {
	p := newFakeProvider(t)
	app := newTestApp(t, p.srv.URL)
	session := signedIn(t, p, app)
	event := map[string]any{backchannelLogoutEvent: map[string]any{}}
	token := func(edit func(c map[string]any)) string {
		c := map[string]any{"iss": p.srv.URL, "aud": testClientID, "sub": "user-1", "iat": time.Now().Unix(),
			"exp": time.Now().Add(2 * time.Minute).Unix(), "jti": randomToken(), "events": event}
		if edit != nil {
			edit(c)
		}
		b, _ := json.Marshal(c)
		return oidctest.SignIDToken(p.key, "k1", oidc.RS256, string(b))
	}
	post := func(tok string) int {
		r := httptest.NewRequest(http.MethodPost, "/backchannel-logout", strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		return w.Code
	}
	for name, tok := range map[string]string{
		"another audience": token(func(c map[string]any) { c["aud"] = "other-app" }),
		"another issuer":   token(func(c map[string]any) { c["iss"] = "https://evil.example" }),
		"expired":          token(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }),
		"no event":         token(func(c map[string]any) { delete(c, "events") }),
		"another event":    token(func(c map[string]any) { c["events"] = map[string]any{"urn:other": map[string]any{}} }),
		"a nonce":          token(func(c map[string]any) { c["nonce"] = "n" }),
		"neither sid nor sub": token(func(c map[string]any) {
			delete(c, "sub")
		}),
		"not signed": "eyJhbGciOiJub25lIn0.e30.",
		"empty":      "",
	} {
		if got := post(tok); got != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, got)
		}
	}
	if home := body(t, get(app, "/", session)); !strings.Contains(home, "Signed in as") {
		t.Fatalf("a refused logout token ended the session:\n%s", home)
	}
	if got := post(token(func(c map[string]any) { c["sid"] = "another-session"; delete(c, "sub") })); got != http.StatusOK {
		t.Fatalf("another session's logout: status %d", got)
	}
	if home := body(t, get(app, "/", session)); !strings.Contains(home, "Signed in as") {
		t.Fatalf("another session's logout ended this one:\n%s", home)
	}
	if got := post(token(nil)); got != http.StatusOK {
		t.Fatalf("valid logout token: status %d", got)
	}
	home := body(t, get(app, "/", session))
	if !strings.Contains(home, "was ended at Portcullis") || !strings.Contains(home, "Sign in with Portcullis") {
		t.Fatalf("the start page does not say the session was ended:\n%s", home)
	}
	if home := body(t, get(app, "/", session)); strings.Contains(home, "was ended at Portcullis") {
		t.Errorf("the notice is shown twice:\n%s", home)
	}
}
