package idp_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/credentials/passkeytest"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
)

// codeClock is the provider's clock for TOTP codes in tests: real time
// plus an offset that moves 30 s forward for every code the test computes,
// so each code has a fresh time step (the server accepts a step once per
// user) without waiting for one.
type codeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *codeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// next moves to the next time step and returns the time to compute at.
func (c *codeClock) next() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += mfa.Period
	return time.Now().Add(c.offset)
}

// authenticator is the test's phone: it holds the secret read off the
// enrollment page and computes codes on the provider's code clock.
type authenticator struct {
	secret mfa.Secret
	clock  *codeClock
}

func (e *env) app(s mfa.Secret) *authenticator { return &authenticator{secret: s, clock: e.codes} }

// code returns a valid code of a time step not used before.
func (a *authenticator) code(t testing.TB) string {
	t.Helper()
	c, err := mfa.GenerateCode(a.secret, a.clock.next())
	must(t, err)
	return c
}

// wrongCode returns a well-formed code that is not valid now.
func (a *authenticator) wrongCode(t testing.TB) string {
	c, err := mfa.GenerateCode(a.secret, time.Now().Add(-time.Hour))
	must(t, err)
	return c
}

var (
	otpauthRe     = regexp.MustCompile(`href="(otpauth://[^"]+)"`)
	recoveryKeyRe = regexp.MustCompile(`id="recovery-key"><span class="secret__lines">([^<]+)</span>`)
)

// secretFromPage reads the secret from the otpauth:// link of step 1.
func secretFromPage(t testing.TB, body string) mfa.Secret {
	t.Helper()
	m := otpauthRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no otpauth link on the page:\n%s", body)
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	must(t, err)
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("issuer") != "Portcullis" {
		t.Fatalf("otpauth link = %s", u)
	}
	s, err := mfa.ParseSecret(u.Query().Get("secret"))
	must(t, err)
	return s
}

func recoveryKeyFromPage(t testing.TB, body string) string {
	t.Helper()
	m := recoveryKeyRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no recovery key on the page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

// mfaUser is a user with the test's authenticator and saved recovery key.
type mfaUser struct {
	email, password string
	app             *authenticator
	recoveryKey     string
	pages           []string // paths seen during the last signIn
	// passkey, when set, is the user's passkey authenticator: enrollment
	// chooses a passkey and the passkey page is answered with it.
	passkey *passkeytest.Authenticator
}

// signIn drives an authorization request through every page Portcullis
// shows (password, code, the three enrollment steps, consent) until the
// client's redirect URI is reached, recording the pages.
var continueRe = regexp.MustCompile(`<a class="btn btn--primary btn--block" href="([^"]+)">Continue</a>`)

// continueLink is the Continue link of the page warning about wrong codes,
// or "".
func continueLink(body string) string {
	if !strings.Contains(body, `class="badge-icon badge-icon--warn"`) {
		return ""
	}
	m := continueRe.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func (e *env) signIn(b *browser, authURL string, u *mfaUser) *url.URL {
	e.t.Helper()
	u.pages = nil
	resp, body := b.get(authURL)
	for i := 0; i < 10 && b.landed == nil; i++ {
		path := resp.Request.URL.Path
		u.pages = append(u.pages, path)
		if resp.StatusCode != http.StatusOK {
			e.t.Fatalf("%s answered %d:\n%s", path, resp.StatusCode, body)
		}
		switch path {
		case "/login":
			resp, body = b.post(e.issuer+"/login", url.Values{
				"auth_request": {hiddenAuthRequest(e.t, body)}, "email": {u.email}, "password": {u.password}})
		case "/login/code":
			if next := continueLink(body); next != "" { // the warning about wrong codes
				resp, body = b.get(e.issuer + next)
				continue
			}
			resp, body = b.post(e.issuer+"/login/code", url.Values{
				"auth_request": {hiddenAuthRequest(e.t, body)}, "code": {u.app.code(e.t)}})
		case "/enroll":
			if strings.Contains(body, `action="/enroll/choose"`) { // passkeys are on offer
				factor := "totp"
				if u.passkey != nil {
					factor = "webauthn"
				}
				resp, body = b.post(e.issuer+"/enroll/choose", url.Values{"auth_request": {hiddenAuthRequest(e.t, body)}, "factor": {factor}})
				continue
			}
			u.app = e.app(secretFromPage(e.t, body))
			resp, body = b.post(e.issuer+"/enroll", url.Values{"auth_request": {hiddenAuthRequest(e.t, body)}})
		case "/enroll/recovery-key":
			u.recoveryKey = recoveryKeyFromPage(e.t, body)
			resp, body = b.post(e.issuer+"/enroll/recovery-key", url.Values{
				"auth_request": {hiddenAuthRequest(e.t, body)}, "stored": {"yes"}})
		case "/enroll/verify":
			if u.passkey != nil {
				resp, body = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {hiddenAuthRequest(e.t, body)},
					"name": {"Test passkey"}, "credential": {createPasskey(e.t, u.passkey, body)}})
				continue
			}
			resp, body = b.post(e.issuer+"/enroll/verify", url.Values{
				"auth_request": {hiddenAuthRequest(e.t, body)}, "code": {u.app.code(e.t)}, "name": {"Phone"}})
		case "/login/passkey":
			resp, body = b.post(e.issuer+"/login/passkey", url.Values{"auth_request": {hiddenAuthRequest(e.t, body)},
				"credential": {usePasskey(e.t, u.passkey, body)}})
		case "/consent":
			resp, body = b.post(e.issuer+"/consent", url.Values{
				"auth_request": {hiddenAuthRequest(e.t, body)}, "decision": {"allow"}})
		case "/account", "/admin":
			return resp.Request.URL
		default:
			e.t.Fatalf("unexpected page %s (%d):\n%s", resp.Request.URL, resp.StatusCode, body)
		}
	}
	if b.landed == nil {
		e.t.Fatalf("never reached the client; pages %v", u.pages)
	}
	return b.landed
}

// tokenFor exchanges the code that landed and returns the verified claims.
func (e *env) tokenFor(relying *rp, landed *url.URL, verifier string) (*oauth2.Token, idClaims) {
	e.t.Helper()
	ctx := context.Background()
	code := landed.Query().Get("code")
	if code == "" {
		e.t.Fatalf("no code in %s", landed)
	}
	tok, err := relying.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	must(e.t, err)
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := relying.verifier.Verify(ctx, rawID)
	must(e.t, err)
	var c idClaims
	must(e.t, idt.Claims(&c))
	return tok, c
}

func (e *env) newUser(email string) *mfaUser {
	e.t.Helper()
	hash, err := secrets.HashPassword(testPassword, testArgon2)
	must(e.t, err)
	u := &store.User{TenantID: e.tenant.ID, Email: email, PasswordHash: hash}
	must(e.t, e.store.CreateUser(context.Background(), u))
	return &mfaUser{email: email, password: testPassword}
}

func (e *env) requireTFA(on bool) {
	e.t.Helper()
	must(e.t, e.store.SetTenantRequireTFA(context.Background(), e.tenant.ID, on))
}

func (e *env) auditEvents(userEmail string) []string {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.store.UserByEmail(ctx, userEmail)
	must(e.t, err)
	evs, err := e.store.ListAudit(ctx, store.AuditFilter{TenantID: e.tenant.ID, SubjectID: u.ID})
	must(e.t, err)
	var out []string
	for _, ev := range evs {
		out = append(out, string(ev.Event))
	}
	return out
}

func wantMFAClaims(t *testing.T, c idClaims) {
	t.Helper()
	if c.ACR != claims.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("acr=%q amr=%v, want the MFA level and [pwd otp mfa]", c.ACR, c.AMR)
	}
}

func authURLFor(relying *rp, verifier string, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce("nonce-1234567890"), oauth2.S256ChallengeOption(verifier)}, extra...)
	return relying.cfg.AuthCodeURL("state-1234567890", opts...)
}

// TestForcedEnrollmentThenCode: in a tenant that requires TFA, the first
// sign-in enrolls (QR, recovery key, code) and reaches the app at the MFA
// level; the next sign-in asks for a code, refuses a used one, and accepts
// a fresh one.
func TestForcedEnrollmentThenCode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.requireTFA(true)
		relying := e.rp(e.client, e.secret)
		u := &mfaUser{email: "ada@example.com", password: testPassword}

		// Walk enrollment by hand first, to check each step's guards.
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		_, body := b.get(authURLFor(relying, verifier))
		resp, body := b.post(e.issuer+"/login", url.Values{
			"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {u.password}})
		if resp.Request.URL.Path != "/enroll" {
			t.Fatalf("after the password: %s", resp.Request.URL)
		}
		ar := hiddenAuthRequest(t, body)
		first := secretFromPage(t, body)
		if !strings.Contains(body, `src="data:image/png;base64,`) || !strings.Contains(body, first.Grouped()) {
			t.Fatal("step 1 lacks the QR code or the grouped secret")
		}
		// A reload (or the Back button) shows the same secret; only "Start
		// over" makes a new one, and nothing is active yet.
		_, body = b.get(e.issuer + "/enroll?auth_request=" + ar)
		if again := secretFromPage(t, body); again != first {
			t.Fatal("visiting step 1 again drew a new secret")
		}
		_, body = b.get(e.issuer + "/enroll?auth_request=" + ar + "&restart=1")
		if second := secretFromPage(t, body); second == first {
			t.Fatal("starting over kept the same secret")
		}
		if has, _ := e.store.HasActiveAuthenticator(ctx, e.user.ID); has {
			t.Fatal("an authenticator is active before the confirming code")
		}
		u.app = e.app(secretFromPage(t, body))
		secret := secretFromPage(t, body)
		// Later steps cannot be reached before their turn.
		if resp, _ := b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {ar}, "code": {u.app.code(t)}}); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("skipping to step 3 answered %d", resp.StatusCode)
		}
		_, body = b.post(e.issuer+"/enroll", url.Values{"auth_request": {ar}})
		u.recoveryKey = recoveryKeyFromPage(t, body)
		// The key downloads as a text file.
		resp, file := b.get(e.issuer + "/enroll/recovery-key.txt?auth_request=" + ar)
		if !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") || !strings.Contains(file, strings.Split(u.recoveryKey, "\n")[0][:10]) {
			t.Fatalf("download: %v\n%s", resp.Header, file)
		}
		// Without the acknowledgement the server refuses to go on.
		resp, body = b.post(e.issuer+"/enroll/recovery-key", url.Values{"auth_request": {ar}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "stored your recovery key") {
			t.Fatalf("unacknowledged key: %d", resp.StatusCode)
		}
		resp, _ = b.post(e.issuer+"/enroll/recovery-key", url.Values{"auth_request": {ar}, "stored": {"yes"}})
		if resp.Request.URL.Path != "/enroll/verify" {
			t.Fatalf("after the key: %s", resp.Request.URL)
		}
		// Back from step 3 shows the same key (never "Sign-in expired"),
		// Back to step 1 the same secret; going forward again works.
		resp, body = b.get(e.issuer + "/enroll/recovery-key?auth_request=" + ar)
		if resp.StatusCode != http.StatusOK || recoveryKeyFromPage(t, body) != u.recoveryKey {
			t.Fatalf("Back to step 2: %d, same key %v", resp.StatusCode, resp.StatusCode == http.StatusOK && recoveryKeyFromPage(t, body) == u.recoveryKey)
		}
		_, body = b.get(e.issuer + "/enroll?auth_request=" + ar)
		if secretFromPage(t, body) != secret {
			t.Fatal("Back to step 1 drew a new secret")
		}
		_, body = b.post(e.issuer+"/enroll", url.Values{"auth_request": {ar}})
		if recoveryKeyFromPage(t, body) != u.recoveryKey {
			t.Fatal("step 2 again shows another key")
		}
		resp, _ = b.post(e.issuer+"/enroll/recovery-key", url.Values{"auth_request": {ar}, "stored": {"yes"}})
		if resp.Request.URL.Path != "/enroll/verify" {
			t.Fatalf("after the key again: %s", resp.Request.URL)
		}
		resp, body = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {ar}, "code": {u.app.wrongCode(t)}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not correct") {
			t.Fatalf("wrong code: %d", resp.StatusCode)
		}
		enrollCode := u.app.code(t)
		resp, body = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {ar}, "code": {enrollCode}})
		e.consentIfAsked(b, resp, body)
		if b.landed == nil {
			t.Fatalf("enrollment did not continue to the app: %s", b.last.Request.URL)
		}
		_, c := e.tokenFor(relying, b.landed, verifier)
		wantMFAClaims(t, c)

		// Second sign-in, another browser: the code page; the enrollment
		// code is refused as used, a fresh one passes.
		b2 := newBrowser(t)
		verifier = oauth2.GenerateVerifier()
		_, body = b2.get(authURLFor(relying, verifier))
		resp, body = b2.post(e.issuer+"/login", url.Values{
			"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {u.password}})
		if resp.Request.URL.Path != "/login/code" || !strings.Contains(body, `autocomplete="one-time-code"`) || !strings.Contains(body, `inputmode="numeric"`) {
			t.Fatalf("after the password: %s\n%s", resp.Request.URL, body)
		}
		ar = hiddenAuthRequest(t, body)
		resp, body = b2.post(e.issuer+"/login/code", url.Values{"auth_request": {ar}, "code": {enrollCode}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "already used") {
			t.Fatalf("replayed code: %d\n%s", resp.StatusCode, body)
		}
		_, body = b2.post(e.issuer+"/login/code", url.Values{"auth_request": {ar}, "code": {u.app.code(t)}})
		// The replayed code counted as a wrong one: the user is told first.
		next := continueLink(body)
		if next == "" {
			t.Fatalf("no warning about the replayed code:\n%s", body)
		}
		b2.get(e.issuer + next)
		if b2.landed == nil {
			t.Fatalf("code did not continue to the app: %s", b2.last.Request.URL)
		}
		_, c = e.tokenFor(relying, b2.landed, verifier)
		wantMFAClaims(t, c)

		events := e.auditEvents(u.email)
		for _, want := range []string{"mfa.enrollment_started", "mfa.enrollment_completed", "mfa.code_failed", "login.mfa"} {
			if !slices.Contains(events, want) {
				t.Errorf("audit log lacks %s: %v", want, events)
			}
		}
	})
}

// TestPasswordStepIssuesNothing: between the password and the code no
// session exists, so a new authorization request still needs a sign-in.
func TestPasswordStepIssuesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.requireTFA(true)
		relying := e.rp(e.client, e.secret)
		b := newBrowser(t)
		_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
		resp, _ := b.post(e.issuer+"/login", url.Values{
			"auth_request": {hiddenAuthRequest(t, body)}, "email": {"ada@example.com"}, "password": {testPassword}})
		if resp.Request.URL.Path != "/enroll" {
			t.Fatalf("after the password: %s", resp.Request.URL)
		}
		b.get(authURLFor(relying, oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("prompt", "none")))
		if b.landed == nil || b.landed.Query().Get("error") != "login_required" {
			t.Fatalf("prompt=none after the password alone: %v", b.landed)
		}
	})
}

// TestLockoutAfterFiveWrongCodes: the fifth wrong code locks code entry;
// then even the right code is refused, with the time to wait shown.
func TestLockoutAfterFiveWrongCodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		u := e.newUser("grace@example.com")
		e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("acr_values", claims.ACRMFA)), u)

		b := newBrowser(t)
		_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
		_, body = b.post(e.issuer+"/login", url.Values{
			"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {u.password}})
		ar := hiddenAuthRequest(t, body)
		for i := 1; i <= 5; i++ {
			resp, body := b.post(e.issuer+"/login/code", url.Values{"auth_request": {ar}, "code": {u.app.wrongCode(t)}})
			want := http.StatusUnauthorized
			if i == 5 {
				want = http.StatusTooManyRequests
			}
			if resp.StatusCode != want {
				t.Fatalf("wrong code %d answered %d:\n%s", i, resp.StatusCode, body)
			}
		}
		resp, body := b.post(e.issuer+"/login/code", url.Values{"auth_request": {ar}, "code": {u.app.code(t)}})
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Try again in") || b.landed != nil {
			t.Fatalf("right code while locked: %d\n%s", resp.StatusCode, body)
		}
		if !slices.Contains(e.auditEvents(u.email), "mfa.lockout") {
			t.Error("no lockout audit event")
		}
		st, err := e.store.MFAStatus(context.Background(), e.tenant.ID)
		must(t, err)
		users, _ := e.store.UserByEmail(context.Background(), u.email)
		if st[users.ID].LockedUntil == nil {
			t.Error("MFAStatus does not report the lock")
		}
	})
}

// TestRecoveryKeySignIn: the paper key, typed in lower case with spaces,
// signs in once, removes the authenticator and leads to a new enrollment
// (the tenant requires TFA); the spent key never works again.
func TestRecoveryKeySignIn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.requireTFA(true)
		relying := e.rp(e.client, e.secret)
		u := e.newUser("hedy@example.com")
		e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), u)
		oldSecret, oldKey := u.app.secret, u.recoveryKey

		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		_, body := b.get(authURLFor(relying, verifier))
		_, body = b.post(e.issuer+"/login", url.Values{
			"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {u.password}})
		ar := hiddenAuthRequest(t, body)
		if !strings.Contains(body, "/login/recovery?auth_request=") {
			t.Fatal("the code page has no recovery link")
		}
		resp, _ := b.post(e.issuer+"/login/recovery", url.Values{"auth_request": {ar}, "recovery_key": {strings.Repeat("A", 64)}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong key answered %d", resp.StatusCode)
		}
		typed := strings.ToLower(strings.ReplaceAll(oldKey, "-", " "))
		resp, body = b.post(e.issuer+"/login/recovery", url.Values{"auth_request": {ar}, "recovery_key": {typed}})
		if resp.Request.URL.Path != "/enroll" {
			t.Fatalf("after the recovery key: %s (%d)\n%s", resp.Request.URL, resp.StatusCode, body)
		}
		if secretFromPage(t, body) == oldSecret {
			t.Fatal("re-enrollment reused the old secret")
		}
		if !strings.Contains(body, `id="after-recovery"`) || !strings.Contains(body, "Your old authenticator was removed") {
			t.Fatal("the enrollment page after the recovery key does not say why")
		}
		if has, _ := e.store.HasActiveAuthenticator(context.Background(), mustUser(t, e, u.email).ID); has {
			t.Fatal("the old authenticator survived the recovery key")
		}
		// Finish enrollment from this page on.
		u.app = e.app(secretFromPage(t, body))
		_, body = b.post(e.issuer+"/enroll", url.Values{"auth_request": {ar}})
		if newKey := recoveryKeyFromPage(t, body); newKey == oldKey {
			t.Fatal("re-enrollment kept the old recovery key")
		}
		b.post(e.issuer+"/enroll/recovery-key", url.Values{"auth_request": {ar}, "stored": {"yes"}})
		resp, body = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {ar}, "code": {u.app.code(t)}})
		e.consentIfAsked(b, resp, body)
		if b.landed == nil {
			t.Fatalf("did not reach the app: %s", b.last.Request.URL)
		}
		_, c := e.tokenFor(relying, b.landed, verifier)
		wantMFAClaims(t, c)

		// The spent key is refused.
		b3 := newBrowser(t)
		_, body = b3.get(authURLFor(relying, oauth2.GenerateVerifier()))
		_, body = b3.post(e.issuer+"/login", url.Values{
			"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {u.password}})
		resp, _ = b3.post(e.issuer+"/login/recovery", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "recovery_key": {oldKey}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("spent key answered %d", resp.StatusCode)
		}
		if !slices.Contains(e.auditEvents(u.email), "mfa.recovery_used") {
			t.Error("no recovery_used audit event")
		}
	})
}

// consentIfAsked allows the consent page when the last step landed on it.
func (e *env) consentIfAsked(b *browser, resp *http.Response, body string) {
	e.t.Helper()
	if resp.Request.URL.Path == "/consent" {
		b.post(e.issuer+"/consent", url.Values{"auth_request": {hiddenAuthRequest(e.t, body)}, "decision": {"allow"}})
	}
}

func mustUser(t *testing.T, e *env, email string) *store.User {
	t.Helper()
	u, err := e.store.UserByEmail(context.Background(), email)
	must(t, err)
	return u
}

// TestStepUp: a password-only session is asked for more when the app
// sends acr_values (or an acr claim) with the MFA level: enrollment for a
// user without an authenticator, the code alone for one with it; never the
// password again. prompt=none below the level is interaction_required;
// prompt=login redoes both factors.
func TestStepUp(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		u := &mfaUser{email: "ada@example.com", password: testPassword}
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		_, c := e.tokenFor(relying, e.signIn(b, authURLFor(relying, verifier), u), verifier)
		if c.ACR != claims.ACRPassword || !slices.Equal(c.AMR, []string{"pwd"}) {
			t.Fatalf("password sign-in: acr=%q amr=%v", c.ACR, c.AMR)
		}
		mfaLevel := oauth2.SetAuthURLParam("acr_values", claims.ACRMFA)

		b.get(authURLFor(relying, oauth2.GenerateVerifier(), mfaLevel, oauth2.SetAuthURLParam("prompt", "none")))
		if b.landed == nil || b.landed.Query().Get("error") != "interaction_required" {
			t.Fatalf("prompt=none below the level: %v", b.landed)
		}

		// No authenticator: enrollment, without the password.
		verifier = oauth2.GenerateVerifier()
		_, c = e.tokenFor(relying, e.signIn(b, authURLFor(relying, verifier, mfaLevel), u), verifier)
		wantMFAClaims(t, c)
		if u.pages[0] != "/enroll" {
			t.Fatalf("step-up pages %v, want enrollment first", u.pages)
		}

		// A password-only session of a user who has an authenticator (the
		// session predates it: the operator's store gave it, since
		// enrolling through Portcullis ends such sessions): the code
		// alone, asked through the claims parameter this time.
		other := newBrowser(t)
		u2 := e.newUser("grace@example.com")
		e.signIn(other, authURLFor(relying, oauth2.GenerateVerifier()), u2)
		grace, err := e.store.UserByEmail(context.Background(), "grace@example.com")
		must(t, err)
		u2.app = e.activateAuthenticator(t, grace.ID)
		verifier = oauth2.GenerateVerifier()
		claims := oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"values":["`+claims.ACRMFA+`"]}}}`)
		_, c = e.tokenFor(relying, e.signIn(other, authURLFor(relying, verifier, claims), u2), verifier)
		wantMFAClaims(t, c)
		if !slices.Equal(u2.pages, []string{"/login/code"}) {
			t.Fatalf("step-up pages %v, want only the code", u2.pages)
		}

		// prompt=login: password and code again.
		verifier = oauth2.GenerateVerifier()
		_, c = e.tokenFor(relying, e.signIn(other, authURLFor(relying, verifier, oauth2.SetAuthURLParam("prompt", "login")), u2), verifier)
		wantMFAClaims(t, c)
		if !slices.Equal(u2.pages, []string{"/login", "/login/code"}) {
			t.Fatalf("prompt=login pages %v", u2.pages)
		}
	})
}

// TestAccountTwoFactor: activation from the account page, a new recovery
// key (the old one stops working), and deactivation, which needs a fresh
// code and is refused while the tenant requires TFA.
func TestAccountTwoFactor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := &mfaUser{email: "ada@example.com", password: testPassword}
		b := newBrowser(t)
		if landed := e.signIn(b, e.issuer+"/account", u); landed.Path != "/account" {
			t.Fatalf("account sign-in ended at %s", landed)
		}
		resp, body := b.get(e.issuer + "/account")
		if !strings.Contains(body, "Activate 2FA") {
			t.Fatalf("account page (%d) has no Activate 2FA:\n%s", resp.StatusCode, body)
		}
		resp, body = b.post(e.issuer+"/account/2fa/activate", nil)
		if resp.Request.URL.Path != "/enroll" {
			t.Fatalf("activate went to %s", resp.Request.URL)
		}
		// signIn walks the enrollment pages and stops back at /account.
		u.pages = nil
		ar := hiddenAuthRequest(t, body)
		u.app = e.app(secretFromPage(t, body))
		_, body = b.post(e.issuer+"/enroll", url.Values{"auth_request": {ar}})
		oldKey := recoveryKeyFromPage(t, body)
		b.post(e.issuer+"/enroll/recovery-key", url.Values{"auth_request": {ar}, "stored": {"yes"}})
		resp, body = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {ar}, "code": {u.app.code(t)}})
		if resp.Request.URL.Path != "/account" || !strings.Contains(body, "Two-factor authentication is now active") {
			t.Fatalf("after activation: %s\n%s", resp.Request.URL, body)
		}

		// A new recovery key needs a code; the old key then fails.
		resp, _ = b.post(e.issuer+"/account/2fa/recovery-key", url.Values{"code": {u.app.wrongCode(t)}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("new key with a wrong code: %d", resp.StatusCode)
		}
		_, body = b.post(e.issuer+"/account/2fa/recovery-key", url.Values{"code": {u.app.code(t)}})
		newKey := recoveryKeyFromPage(t, body)
		if newKey == oldKey || !strings.Contains(body, `href="data:text/plain;charset=utf-8;base64,`) {
			t.Fatalf("new recovery key page:\n%s", body)
		}
		user := mustUser(t, e, u.email)
		oldNorm, _ := mfa.NormalizeRecoveryKey(oldKey)
		if ok, _ := e.store.RecoveryKeyMatches(ctx, user.ID, mfa.HashRecoveryKey(oldNorm)); ok {
			t.Fatal("the old recovery key still matches")
		}

		// Deactivation is refused under the tenant's policy...
		e.requireTFA(true)
		resp, body = b.post(e.issuer+"/account/2fa/deactivate", url.Values{"code": {u.app.code(t)}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "requires two-factor authentication") {
			t.Fatalf("deactivate under policy: %d", resp.StatusCode)
		}
		// ...and works without it, with a fresh code.
		e.requireTFA(false)
		resp, _ = b.post(e.issuer+"/account/2fa/deactivate", url.Values{"code": {u.app.wrongCode(t)}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("deactivate with a wrong code: %d", resp.StatusCode)
		}
		resp, body = b.post(e.issuer+"/account/2fa/deactivate", url.Values{"code": {u.app.code(t)}})
		if !strings.Contains(body, "Two-factor authentication is turned off") {
			t.Fatalf("deactivate: %d\n%s", resp.StatusCode, body)
		}
		if has, _ := e.store.HasActiveAuthenticator(ctx, user.ID); has {
			t.Fatal("authenticator still active after deactivation")
		}
		if !slices.Contains(e.auditEvents(u.email), "mfa.deactivated") || !slices.Contains(e.auditEvents(u.email), "mfa.recovery_regenerated") {
			t.Errorf("audit: %v", e.auditEvents(u.email))
		}
	})
}

// TestPasswordChangeWithTwoFactor: with 2FA active, changing the password
// takes the current password and a fresh code, and a wrong one of the two
// gets one answer, so the page does not tell someone who holds only the
// session whether a guessed password was right.
func TestPasswordChangeWithTwoFactor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		u := &mfaUser{email: "ada@example.com", password: testPassword, app: e.activateAuthenticator(t, e.user.ID)}
		b := newBrowser(t)
		if landed := e.signIn(b, e.issuer+"/account", u); landed.Path != "/account" {
			t.Fatalf("account sign-in ended at %s", landed)
		}
		change := func(password, code string) (int, string) {
			resp, body := b.post(e.issuer+"/account/password", url.Values{
				"current_password": {password}, "new_password": {"a new long passphrase"}, "code": {code}})
			return resp.StatusCode, body
		}
		for _, c := range []struct{ name, password, code string }{
			{"wrong password, wrong code", "wrong password!", u.app.wrongCode(t)},
			{"right password, wrong code", testPassword, u.app.wrongCode(t)},
			{"wrong password, right code", "wrong password!", u.app.code(t)},
		} {
			status, body := change(c.password, c.code)
			if status != http.StatusUnauthorized || !strings.Contains(body, "Your current password or the code is not correct.") {
				t.Errorf("%s: status %d, want 401 with the one message", c.name, status)
			}
		}
		if status, body := change(testPassword, u.app.code(t)); !strings.Contains(body, "Your password was changed") {
			t.Fatalf("right password and code: status %d\n%s", status, body)
		}
	})
}
