package idp_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

var scriptNonceRe = regexp.MustCompile(`<script src="/static/copy.js" nonce="([^"]+)" defer></script>`)

// wantCopyScript checks that a page showing a key loads the copy script
// with a nonce, and that its Content-Security-Policy allows exactly that
// nonce and no inline script.
func wantCopyScript(t *testing.T, what string, resp *http.Response, body string) {
	t.Helper()
	m := scriptNonceRe.FindAllStringSubmatch(body, -1)
	if len(m) != 1 || len(m[0][1]) < 22 {
		t.Fatalf("%s: copy script tags %q", what, m)
	}
	if strings.Count(body, "<script") != 1 {
		t.Errorf("%s: %d script tags, want the copy script alone", what, strings.Count(body, "<script"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	var scriptSrc []string
	for _, d := range strings.Split(csp, ";") {
		if f := strings.Fields(d); len(f) > 0 && f[0] == "script-src" {
			scriptSrc = append(scriptSrc, f[1:]...)
		}
	}
	if len(scriptSrc) != 1 || scriptSrc[0] != "'nonce-"+m[0][1]+"'" {
		t.Errorf("%s: CSP script-src %q, want only the page's nonce %s (%s)", what, scriptSrc, m[0][1], csp)
	}
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("%s: CSP %s", what, csp)
	}
}

// TestCopyScriptUnderCSP: the enrollment steps that show a key, and the
// new recovery key of the account page, load the copy script with a fresh
// nonce that their CSP allows and nothing else; the script is served.
func TestCopyScriptUnderCSP(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	e.requireTFA(true)
	relying := e.rp(e.client, e.secret)
	b := newBrowser(t)
	_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
	resp, body := b.post(e.issuer+"/login", url.Values{
		"auth_request": {hiddenAuthRequest(t, body)}, "email": {"ada@example.com"}, "password": {testPassword}})
	wantCopyScript(t, "step 1", resp, body)
	first := scriptNonceRe.FindStringSubmatch(body)[1]
	ar := hiddenAuthRequest(t, body)
	resp, body = b.get(e.issuer + "/enroll?auth_request=" + ar)
	wantCopyScript(t, "step 1 again", resp, body)
	if scriptNonceRe.FindStringSubmatch(body)[1] == first {
		t.Error("the nonce is the same on two answers")
	}
	resp, body = b.post(e.issuer+"/enroll", url.Values{"auth_request": {ar}})
	wantCopyScript(t, "step 2", resp, body)

	resp, js := b.get(e.issuer + "/static/copy.js")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(js, "navigator.clipboard.writeText") {
		t.Fatalf("copy.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// A page without a key runs no script.
	resp, body = b.get(e.issuer + "/")
	if strings.Contains(body, "<script") || strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src") {
		t.Errorf("the start page allows or has a script: %s", resp.Header.Get("Content-Security-Policy"))
	}
}

// TestEnrollmentContinueFromCachedStep: a step shown again from the
// browser's back-forward cache posts its Continue while the request is
// already further on; the sign-in goes on (to the next step) instead of
// answering "Sign-in expired".
func TestEnrollmentContinueFromCachedStep(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	e.requireTFA(true)
	relying := e.rp(e.client, e.secret)
	b := newBrowser(t)
	verifier := oauth2.GenerateVerifier()
	_, body := b.get(authURLFor(relying, verifier))
	_, body = b.post(e.issuer+"/login", url.Values{
		"auth_request": {hiddenAuthRequest(t, body)}, "email": {"ada@example.com"}, "password": {testPassword}})
	ar := hiddenAuthRequest(t, body)
	secret := secretFromPage(t, body)
	_, body = b.post(e.issuer+"/enroll", url.Values{"auth_request": {ar}})
	key := recoveryKeyFromPage(t, body)

	// Step 1's Continue again, at step 2: step 2, the same key.
	resp, body := b.post(e.issuer+"/enroll", url.Values{"auth_request": {ar}})
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/enroll/recovery-key" || recoveryKeyFromPage(t, body) != key {
		t.Fatalf("step 1's Continue at step 2: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	b.post(e.issuer+"/enroll/recovery-key", url.Values{"auth_request": {ar}, "stored": {"yes"}})
	// Step 2's Continue again, at step 3: step 3.
	resp, _ = b.post(e.issuer+"/enroll/recovery-key", url.Values{"auth_request": {ar}, "stored": {"yes"}})
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/enroll/verify" {
		t.Fatalf("step 2's Continue at step 3: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	// Step 1's Continue at step 3: back to step 2, and on.
	resp, body = b.post(e.issuer+"/enroll", url.Values{"auth_request": {ar}})
	if resp.Request.URL.Path != "/enroll/recovery-key" || recoveryKeyFromPage(t, body) != key {
		t.Fatalf("step 1's Continue at step 3: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	b.post(e.issuer+"/enroll/recovery-key", url.Values{"auth_request": {ar}, "stored": {"yes"}})
	resp, body = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {ar}, "code": {e.app(secret).code(t)}})
	e.consentIfAsked(b, resp, body)
	if b.landed == nil {
		t.Fatalf("the enrollment did not reach the app; last page %s", b.last.Request.URL)
	}
	_, c := e.tokenFor(relying, b.landed, verifier)
	wantMFAClaims(t, c)
}

// TestSharedHeader: /account and /admin share a header that links them
// (Admin only for admins), marks the current page, and signs out.
func TestSharedHeader(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	a := e.newAdmin(t)
	admin := e.adminBrowser(t, a)
	_, body := admin.get(e.issuer + "/admin")
	for _, want := range []string{`href="/account">Account</a>`, `href="/admin" aria-current="page">Admin</a>`,
		`<form class="site-user__signout" method="post" action="/account/sessions/end">`} {
		if !strings.Contains(body, want) {
			t.Errorf("admin page header lacks %s", want)
		}
	}
	_, body = admin.get(e.issuer + "/account")
	for _, want := range []string{`href="/account" aria-current="page">Account</a>`, `<a class="site-nav__link" href="/admin">Admin</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("account page of an admin lacks %s", want)
		}
	}

	user := newBrowser(t)
	if landed := e.signIn(user, e.issuer+"/account", &mfaUser{email: "ada@example.com", password: testPassword}); landed.Path != "/account" {
		t.Fatalf("sign-in ended at %s", landed)
	}
	_, body = user.get(e.issuer + "/account")
	if !strings.Contains(body, `href="/account" aria-current="page">Account</a>`) || strings.Contains(body, `href="/admin"`) {
		t.Error("a user's header does not link the account page alone")
	}
	// Sign out from the header: this browser's session ends.
	_, header, _ := strings.Cut(body, `class="site-user__signout"`)
	sid := sessionFieldRe.FindStringSubmatch(header)
	if sid == nil {
		t.Fatal("no session in the header's Sign out")
	}
	resp, body := user.post(e.issuer+"/account/sessions/end", url.Values{"session": {sid[1]}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed out") {
		t.Fatalf("header Sign out: %d\n%s", resp.StatusCode, body)
	}
	if _, body = user.get(e.issuer + "/account"); !strings.Contains(body, `name="password"`) {
		t.Error("after Sign out the account page does not ask to sign in")
	}
}

// TestErrorPagesOfferAWayBack: each kind of error page links somewhere
// useful: the start page for unknown addresses and broken sign-in links,
// the account and admin pages for theirs, the same page again after a
// rate limit.
func TestErrorPagesOfferAWayBack(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	back := regexp.MustCompile(`<p class="error__back"><a class="btn btn--primary btn--block" href="([^"]*)">([^<]*)</a></p>`)
	check := func(what string, resp *http.Response, body string, status int, href, label string) {
		t.Helper()
		m := back.FindStringSubmatch(body)
		if resp.StatusCode != status || m == nil || m[1] != href || m[2] != label {
			t.Errorf("%s: %d, way back %q; want %d, %s %q", what, resp.StatusCode, m, status, href, label)
		}
	}
	b := newBrowser(t)
	resp, body := b.get(e.issuer + "/no-such-page")
	check("unknown address", resp, body, http.StatusNotFound, "/", "Go to the start page")
	resp, body = b.get(e.issuer + "/login?auth_request=gone")
	check("expired sign-in", resp, body, http.StatusBadRequest, "/", "Go to the start page")
	resp, body = b.get(e.issuer + "/oauth2/auth?client_id=nobody&response_type=code&scope=openid&redirect_uri=http://127.0.0.1:1/cb")
	check("unknown app", resp, body, http.StatusBadRequest, "/", "Go to the start page")
	resp, body = b.post(e.issuer+"/account/sessions/end", url.Values{"session": {"x"}})
	check("account action signed out", resp, body, http.StatusUnauthorized, "/account", "Sign in again")

	// A user who is no admin on /admin: to their account.
	user := newBrowser(t)
	e.signIn(user, e.issuer+"/account", &mfaUser{email: "ada@example.com", password: testPassword})
	resp, body = user.get(e.issuer + "/admin")
	check("not an admin", resp, body, http.StatusForbidden, "/account", "Go to your account")
	resp, body = user.post(e.issuer+"/account/sessions/end", url.Values{"session": {"not-a-session"}})
	check("unknown session", resp, body, http.StatusNotFound, "/account", "Back to your account")
}

// TestSignInKeepsTheEmail: after a wrong password the sign-in page keeps
// the email typed and never the password.
func TestSignInKeepsTheEmail(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	relying := e.rp(e.client, e.secret)
	b := newBrowser(t)
	_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
	const typed = "a wrong password 123"
	resp, body := b.post(e.issuer+"/login", url.Values{
		"auth_request": {hiddenAuthRequest(t, body)}, "email": {"ada@example.com"}, "password": {typed}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if !strings.Contains(body, `value="ada@example.com"`) {
		t.Error("the sign-in page lost the email after a wrong password")
	}
	if strings.Contains(body, typed) {
		t.Error("the sign-in page echoes the password")
	}
}

// TestStepNotCurrentLeadsOn: a sign-in page posted while the pending
// request is at another step (the password page shown again by Back
// after the password was accepted) answers with a link to the step the
// sign-in is at, not "Sign-in expired".
func TestStepNotCurrentLeadsOn(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	e.requireTFA(true)
	relying := e.rp(e.client, e.secret)
	b := newBrowser(t)
	_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
	ar := hiddenAuthRequest(t, body)
	b.post(e.issuer+"/login", url.Values{"auth_request": {ar}, "email": {"ada@example.com"}, "password": {testPassword}})
	resp, body := b.post(e.issuer+"/login", url.Values{"auth_request": {ar}, "email": {"ada@example.com"}, "password": {testPassword}})
	want := `href="/enroll?auth_request=` + url.QueryEscape(ar) + `">Continue where you left off</a>`
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "This step is not current") || !strings.Contains(body, want) {
		t.Fatalf("the password page again at step 1: %d\n%s", resp.StatusCode, body)
	}
	// A request that is gone is still "Sign-in expired".
	resp, body = b.get(e.issuer + "/login?auth_request=unknown")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Sign-in expired") {
		t.Fatalf("unknown request: %d\n%s", resp.StatusCode, body)
	}
}
