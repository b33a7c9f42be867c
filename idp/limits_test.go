package idp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/chromedp/chromedp"
	"github.com/portcullis-idp/portcullis/idp"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/credentials"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/idp/throttle"
	"github.com/portcullis-idp/portcullis/mfa"
)

// signInFrom posts email and password on a fresh pending request from the
// client address from, and returns the answer.
func (e *env) signInFrom(relying *rp, from, email, password string) (*http.Response, string) {
	e.t.Helper()
	b := newBrowser(e.t.(*testing.T))
	b.from = from
	_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
	return b.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(e.t, body)}, "email": {email}, "password": {password}})
}

// tightLimits lowers the account-wide and address-wide ceilings to three
// failures, so a test reaches them in a few requests.
func tightLimits(o *idp.Options) {
	withProxy(o)
	l := credentials.DefaultPasswordLimits
	l.Account.Lock = mfa.LockoutPolicy{MaxFailures: 3, BaseCooldown: 30 * time.Second, MaxCooldown: time.Minute}
	l.Address.Lock = mfa.LockoutPolicy{MaxFailures: 3, BaseCooldown: time.Minute, MaxCooldown: time.Hour}
	o.PasswordLimits = l
}

// TestAccountWideCeiling: failures spread over many addresses slow the
// account down for new addresses only ("try again in N seconds"), never
// for an address the owner signed in from before.
func TestAccountWideCeiling(t *testing.T) {
	forEachBackendWith(t, tightLimits, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		const home = "198.51.100.1"
		if resp, _ := e.signInFrom(relying, home, "ada@example.com", testPassword); resp.Request.URL.Path == "/login" {
			t.Fatalf("first sign-in from home: %d", resp.StatusCode)
		}
		for i := range 3 {
			if resp, _ := e.signInFrom(relying, fmt.Sprint("203.0.113.", 10+i), "ada@example.com", "guess"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d", i+1, resp.StatusCode)
			}
		}
		resp, body := e.signInFrom(relying, "203.0.113.99", "ada@example.com", testPassword)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "This account has had too many failed sign-ins. Try again in 30 seconds.") {
			t.Fatalf("a new address during the slow-down: %d", resp.StatusCode)
		}
		if resp, body := e.signInFrom(relying, home, "ada@example.com", testPassword); resp.Request.URL.Path == "/login" {
			t.Fatalf("the known address was held back: %d\n%s", resp.StatusCode, body)
		}
	})
}

// TestAddressWideLimit: one address failing on many accounts (credential
// stuffing) is held back on every account, except one it signed in to
// before.
func TestAddressWideLimit(t *testing.T) {
	forEachBackendWith(t, tightLimits, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		const office = "192.0.2.50"
		if resp, _ := e.signInFrom(relying, office, "ada@example.com", testPassword); resp.Request.URL.Path == "/login" {
			t.Fatalf("Ada's first sign-in: %d", resp.StatusCode)
		}
		for i := range 3 {
			if resp, _ := e.signInFrom(relying, office, fmt.Sprintf("user%d@example.com", i), "guess"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("stuffing %d: %d", i+1, resp.StatusCode)
			}
		}
		resp, body := e.signInFrom(relying, office, "someone@example.com", "guess")
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins from your network.") {
			t.Fatalf("another account from the address: %d", resp.StatusCode)
		}
		if resp, _ := e.signInFrom(relying, office, "ada@example.com", testPassword); resp.Request.URL.Path == "/login" {
			t.Fatalf("Ada, who signed in from this address before, was held back: %d", resp.StatusCode)
		}
	})
}

// slowRates allow two requests of each kind, then one a minute.
func slowRates(o *idp.Options) {
	withProxy(o)
	one := throttle.Rate{PerMinute: 1, Burst: 2}
	o.Rates = &throttle.Rates{Password: one, Code: one, ClientAuth: one, Pending: one}
}

// TestRateLimitedRoutes: each limited route answers 429 with Retry-After
// once the address's bucket is empty: the page for the forms, an OAuth
// error for client authentication; another address is not affected.
func TestRateLimitedRoutes(t *testing.T) {
	forEachBackendWith(t, slowRates, func(t *testing.T, e *env) {
		post := func(from, path string, form url.Values) *http.Response {
			req, _ := http.NewRequest("POST", e.issuer+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", from)
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			resp.Body.Close()
			return resp
		}
		limited := func(what string, resp *http.Response, wantJSON bool) {
			t.Helper()
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" {
				t.Fatalf("%s: %d, Retry-After %q; want 429, 60", what, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") != wantJSON {
				t.Fatalf("%s: Content-Type %s", what, ct)
			}
		}
		for i := range 2 {
			if resp := post("203.0.113.1", "/login", url.Values{"email": {"a@example.com"}}); resp.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("password post %d limited within the burst", i+1)
			}
		}
		limited("third password post", post("203.0.113.1", "/login", nil), false)
		if resp := post("203.0.113.2", "/login", nil); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatal("another address was limited")
		}

		// Codes, recovery keys and enrollment codes share one bucket.
		post("203.0.113.3", "/login/code", nil)
		post("203.0.113.3", "/login/recovery", nil)
		limited("enrollment code after two codes", post("203.0.113.3", "/enroll/verify", nil), false)

		// Client authentication: only failures count, then every request waits.
		token := func(secret string) *http.Response {
			req, _ := http.NewRequest("POST", e.issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", "203.0.113.4")
			req.SetBasicAuth(url.QueryEscape(e.client.ID), url.QueryEscape(secret))
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			defer resp.Body.Close()
			var body struct{ Error string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode == http.StatusTooManyRequests && body.Error != "temporarily_unavailable" {
				t.Fatalf("429 error %q", body.Error)
			}
			return resp
		}
		for range 3 {
			if resp := token(e.secret); resp.StatusCode == http.StatusTooManyRequests {
				t.Fatal("successful client authentications were counted")
			}
		}
		for i := range 2 {
			if resp := token("wrong"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong secret %d: %d", i+1, resp.StatusCode)
			}
		}
		limited("right secret after two failures", token(e.secret), true)

		// Opening pending sign-ins.
		relying := e.rp(e.client, e.secret)
		b := newBrowser(t)
		b.from = "203.0.113.5"
		for i := range 2 {
			if resp, _ := b.get(authURLFor(relying, oauth2.GenerateVerifier())); resp.StatusCode != http.StatusOK {
				t.Fatalf("authorization request %d: %d", i+1, resp.StatusCode)
			}
		}
		resp, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
		limited("third authorization request", resp, false)
		if !strings.Contains(body, "Too many requests from your network. Try again in 1 minute.") {
			t.Fatalf("page: %s", body)
		}
		// The page's way on is the same request, to try again later.
		if m := regexp.MustCompile(`class="error__back"><a [^>]*href="(/oauth2/auth\?client_id=[^"]+)">Try again</a>`).FindStringSubmatch(body); m == nil ||
			!strings.Contains(html.UnescapeString(m[1]), "state="+resp.Request.URL.Query().Get("state")) {
			t.Errorf("the 429 page does not offer to try again:\n%s", body)
		}
	})
}

// TestPendingRequestFloodIsBounded: 10,000 unauthenticated authorization
// requests from one address leave at most the bucket's burst plus its
// refill in rows (60 + 60 a minute by default), and the rest are 429.
func TestPendingRequestFloodIsBounded(t *testing.T) {
	forEachBackendWith(t, func(o *idp.Options) { o.Rates = nil }, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		authURL := authURLFor(relying, oauth2.GenerateVerifier())
		var before int64
		must(t, e.store.DB().Table("auth_requests").Count(&before).Error)
		start := time.Now()
		var next, created, limited atomic.Int64
		var wg sync.WaitGroup
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for range 16 {
			wg.Go(func() {
				for next.Add(1) <= 10_000 {
					resp, err := client.Get(authURL)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusSeeOther: // to the sign-in page of a new pending request
						created.Add(1)
					case http.StatusTooManyRequests:
						limited.Add(1)
					default:
						t.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		var after int64
		must(t, e.store.DB().Table("auth_requests").Count(&after).Error)
		bound := int64(throttle.DefaultRates.Pending.Burst) + int64(elapsed.Minutes()*throttle.DefaultRates.Pending.PerMinute) + 1
		if rows := after - before; rows > bound || rows != created.Load() {
			t.Fatalf("%d rows after 10,000 requests in %s (%d answered 200), bound %d", rows, elapsed.Round(time.Millisecond), created.Load(), bound)
		}
		t.Logf("10,000 requests in %s: %d rows, %d refused with 429", elapsed.Round(time.Millisecond), after-before, limited.Load())
	})
}

// TestHashingGateAnswersBusy: when every hashing place is taken and the
// queue is full, a password post is answered 503 "busy" with Retry-After
// at once, and it works again when a place frees up.
func TestHashingGateAnswersBusy(t *testing.T) {
	gate := throttle.NewGate(1, 0, time.Second)
	forEachBackendWith(t, func(o *idp.Options) { o.Hashing = gate }, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		leave, err := gate.Enter(context.Background())
		must(t, err)
		resp, body := e.signInFrom(relying, "", "ada@example.com", testPassword)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Portcullis is busy right now.") {
			t.Fatalf("with the gate full: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		leave()
		if resp, _ := e.signInFrom(relying, "", "ada@example.com", testPassword); resp.Request.URL.Path == "/login" {
			t.Fatalf("after the gate freed: %d", resp.StatusCode)
		}
	})
}

// TestAdminSeesAndClearsLocks: a password lock shows on the admin page
// (which address, until when) and in the API's users list, counts in
// users_locked_out, and is cleared from the page and from the API, each
// audited; the locked address can then sign in.
func TestAdminSeesAndClearsLocks(t *testing.T) {
	forEachBackendWith(t, withProxy, func(t *testing.T, e *env) {
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)
		e.enrollFromAccount(b, a.user) // the API wants an MFA-level token
		token := e.adminToken(b, a, a.user, "openid", claims.ScopeAdmin)
		relying := e.rp(e.client, e.secret)
		const from = "203.0.113.77"
		lock := func() {
			t.Helper()
			for i := range 5 {
				e.signInFrom(relying, from, "ada@example.com", fmt.Sprint("wrong ", i))
			}
			if resp, _ := e.signInFrom(relying, from, "ada@example.com", testPassword); resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("not locked: %d", resp.StatusCode)
			}
		}
		unlockPath := "/admin/users/" + e.user.ID + "/unlock"

		lock()
		_, body := b.get(e.issuer + "/admin")
		for _, want := range []string{"Password locked from " + from + " until", `action="` + unlockPath + `"`, "<dt>Locked out</dt><dd>1</dd>"} {
			if !strings.Contains(body, want) {
				t.Fatalf("admin page lacks %q", want)
			}
		}
		status, _, out := e.api("GET", "/admin/api/tenant", token, "")
		if status != http.StatusOK || out["users_locked_out"] != float64(1) {
			t.Fatalf("tenant: %d %v", status, out)
		}
		_, _, out = e.api("GET", "/admin/api/users", token, "")
		var locks []any
		for _, u := range out["users"].([]any) {
			if u := u.(map[string]any); u["id"] == e.user.ID {
				locks = u["password_locks"].([]any)
			}
		}
		if len(locks) != 1 || locks[0].(map[string]any)["address"] != from {
			t.Fatalf("API password_locks %v", locks)
		}

		resp, body := b.post(e.issuer+unlockPath, nil)
		if resp.Request.URL.Path != "/admin" || !strings.Contains(body, "The user&#39;s locks were cleared") || strings.Contains(body, "Password locked from") {
			t.Fatalf("unlock from the page: %s", resp.Request.URL)
		}
		if resp, _ := e.signInFrom(relying, from, "ada@example.com", testPassword); resp.Request.URL.Path == "/login" {
			t.Fatalf("still refused after the unlock: %d", resp.StatusCode)
		}

		lock()
		status, _, out = e.api("POST", "/admin/api/users/"+e.user.ID+"/unlock", token, "")
		cleared, _ := out["password_locks_cleared"].([]any)
		if status != http.StatusOK || len(cleared) != 1 || out["code_lock_cleared"] != false {
			t.Fatalf("unlock from the API: %d %v", status, out)
		}
		if resp, _ := e.signInFrom(relying, from, "ada@example.com", testPassword); resp.Request.URL.Path == "/login" {
			t.Fatalf("still refused after the API unlock: %d", resp.StatusCode)
		}
		var vias []string
		must(t, e.store.DB().Table("audit_events").Where("event = ? AND subject_id = ?", "user.unlocked", e.user.ID).Order("id").Pluck("detail", &vias).Error)
		if len(vias) != 2 || !strings.Contains(vias[0], `"via":"admin page"`) || !strings.Contains(vias[1], `"via":"admin api"`) {
			t.Fatalf("audit: %q", vias)
		}
	})
}

// TestToldOfWrongCodes: after wrong codes, the next successful sign-in
// shows how many were tried before going on to the app; the sign-in after
// that goes straight through.
func TestToldOfWrongCodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		app := e.activateAuthenticator(t, e.user.ID)
		b := newBrowser(t)
		_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
		_, body = b.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "email": {"ada@example.com"}, "password": {testPassword}})
		ar := hiddenAuthRequest(t, body)
		for _, wrong := range []string{"000000", "999999", "123456"} {
			if wrong == app.code(t) {
				continue
			}
			if resp, _ := b.post(e.issuer+"/login/code", url.Values{"auth_request": {ar}, "code": {wrong}}); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong code: %d", resp.StatusCode)
			}
		}
		_, body = b.post(e.issuer+"/login/code", url.Values{"auth_request": {ar}, "code": {app.code(t)}})
		if !strings.Contains(body, "wrong codes were") || continueLink(body) == "" {
			t.Fatalf("no warning after wrong codes:\n%s", body)
		}
		if !strings.Contains(body, "3 wrong codes were") && !strings.Contains(body, "2 wrong codes were") {
			t.Fatalf("warning does not count the wrong codes:\n%s", body)
		}
		resp, body := b.get(e.issuer + continueLink(body))
		if resp.Request.URL.Path == "/consent" {
			b.post(e.issuer+"/consent", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "decision": {"allow"}})
		}
		if b.landed == nil || b.landed.Query().Get("code") == "" {
			t.Fatalf("Continue did not reach the app: %v", b.landed)
		}

		u := &mfaUser{email: "ada@example.com", password: testPassword, app: app}
		e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), u)
		if !slices.Equal(u.pages, []string{"/login", "/login/code"}) {
			t.Fatalf("the next sign-in showed %v", u.pages)
		}
	})
}

// TestProxyHeadersOnlyFromTrustedProxies: audit rows record the address
// of X-Forwarded-For only when the peer is a trusted proxy; from anyone
// else the header is ignored (a client cannot choose its address, nor
// escape a per-address limit by changing it).
func TestProxyHeadersOnlyFromTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tune   func(*idp.Options)
		wantIP string
	}{
		{"untrusted peer", nil, "127.0.0.1"},
		{"trusted proxy", withProxy, "203.0.113.66"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackendWith(t, tc.tune, func(t *testing.T, e *env) {
				relying := e.rp(e.client, e.secret)
				e.signInFrom(relying, "203.0.113.66", "ada@example.com", "wrong")
				var ips []string
				must(t, e.store.DB().Table("audit_events").Where("event = ? AND subject_id = ?", "login.failed", e.user.ID).Pluck("ip", &ips).Error)
				if len(ips) != 1 || ips[0] != tc.wantIP {
					t.Fatalf("audited address %q, want %s", ips, tc.wantIP)
				}
			})
		})
	}
}

// TestLockedSignInPageInBrowser: the sign-in page after the address is
// locked out of the account says so and looks finished (the page audit
// checks contrast, labels and width at every viewport).
func TestLockedSignInPageInBrowser(t *testing.T) {
	ctx := chromium(t)
	e := newEnv(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) })
	relying := e.rp(e.client, e.secret)
	for i := range 5 {
		e.signInFrom(relying, "", "ada@example.com", fmt.Sprint("wrong ", i))
	}
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(authURLFor(relying, oauth2.GenerateVerifier())),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), testPassword),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#login-error`)),
	))
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
	must(t, err)
	if !strings.Contains(text, "Too many failed sign-ins to this account from your network.") {
		t.Fatalf("page text: %s", text)
	}
	capture(t, ctx, "login-locked")
}

// TestSecondFactorPagesSayWhoAndWhere: between the password and the
// second factor the header says "Signing in to APP as EMAIL" (not "Signed
// in as"), and "Not you? Start over" opens the same app's sign-in afresh
// at the password page. A first enrollment does not show the text that
// explains a re-enrollment after the recovery key.
func TestSecondFactorPagesSayWhoAndWhere(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		e.activateAuthenticator(t, e.user.ID)
		b := newBrowser(t)
		_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
		resp, body := b.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "email": {"ada@example.com"}, "password": {testPassword}})
		if resp.Request.URL.Path != "/login/code" {
			t.Fatalf("after the password: %s", resp.Request.URL)
		}
		for _, want := range []string{`Signing in to <span class="whoami__app">Acme Web</span> as</span> <span class="whoami__email">ada@example.com</span>`, `>Not you? Start over</a>`} {
			if !strings.Contains(body, want) {
				t.Fatalf("the code page lacks %s", want)
			}
		}
		if strings.Contains(body, "Signed in as") {
			t.Fatal("the code page says Signed in as before the second factor")
		}
		m := regexp.MustCompile(`<a class="whoami__link" href="([^"]+)">`).FindStringSubmatch(body)
		if m == nil {
			t.Fatal("no start-over link")
		}
		resp, body = b.get(e.issuer + html.UnescapeString(m[1]))
		if resp.Request.URL.Path != "/login" || !strings.Contains(body, "Sign in to continue to <strong>Acme Web</strong>") {
			t.Fatalf("start over led to %s (%d)", resp.Request.URL, resp.StatusCode)
		}

		// A first enrollment: no recovery explanation.
		e.requireTFA(true)
		u := e.newUser("grace@example.com")
		b = newBrowser(t)
		_, body = b.get(authURLFor(relying, oauth2.GenerateVerifier()))
		_, body = b.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {u.password}})
		if !strings.Contains(body, "Add Portcullis to your authenticator app") || strings.Contains(body, `id="after-recovery"`) {
			t.Fatal("the first enrollment page is not plain")
		}
	})
}

// TestHomePage: / says what this server is and links to the account page
// when signed out; signed in it links to the account page, and for an
// admin to the admin page too.
func TestHomePage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		b := newBrowser(t)
		resp, body := b.get(e.issuer + "/")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `href="/account">Sign in to your account</a>`) || strings.Contains(body, `href="/admin"`) {
			t.Fatalf("signed out: %d\n%s", resp.StatusCode, body)
		}
		relying := e.rp(e.client, e.secret)
		e.authorize(b, authURLFor(relying, oauth2.GenerateVerifier()), "ada@example.com", testPassword)
		_, body = b.get(e.issuer + "/")
		if !strings.Contains(body, `href="/account">Your account</a>`) || strings.Contains(body, `href="/admin"`) {
			t.Fatalf("signed in: %s", body)
		}
		a := e.newAdmin(t)
		_, body = e.adminBrowser(t, a).get(e.issuer + "/")
		if !strings.Contains(body, `href="/admin">Administration</a>`) {
			t.Fatalf("admin: %s", body)
		}
		if resp, _ := b.get(e.issuer + "/nothing-here"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("an unknown path: %d", resp.StatusCode)
		}
	})
}

// TestHomePageInBrowser: the signed-out start page looks finished (the
// page audit at every viewport).
func TestHomePageInBrowser(t *testing.T) {
	ctx := chromium(t)
	e := newEnv(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) })
	must(t, chromedp.Do(ctx, chromedp.Navigate(e.issuer+"/"), chromedp.WaitVisible(chromedp.CSS(`main h1`))))
	capture(t, ctx, "home")
}
