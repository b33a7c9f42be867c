package idp_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/credentials/passkeytest"
	"github.com/portcullis-idp/portcullis/idp/store"
)

var webauthnOptionsRe = regexp.MustCompile(`<script type="application/json" id="webauthn-options" nonce="[^"]*">(.*?)</script>`)

// webauthnOptions are the options a passkey page hands the browser.
func webauthnOptions(t testing.TB, body string) []byte {
	t.Helper()
	m := webauthnOptionsRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no WebAuthn options on the page:\n%s", body)
	}
	return []byte(m[1])
}

// createPasskey answers a registration page with a new credential.
func createPasskey(t testing.TB, a *passkeytest.Authenticator, body string) string {
	t.Helper()
	resp, err := a.Create(webauthnOptions(t, body))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// usePasskey answers a passkey sign-in page.
func usePasskey(t testing.TB, a *passkeytest.Authenticator, body string) string {
	t.Helper()
	if a == nil {
		t.Fatalf("the passkey page, for a user without a passkey:\n%s", body)
	}
	resp, err := a.Get(webauthnOptions(t, body))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestPasskeyEnrollmentAndSignIn: in a tenant that requires 2FA, the first
// sign-in offers the choice; choosing a passkey shows the recovery key,
// then creates the passkey, and the app gets amr [pwd hwk mfa] at the MFA
// level. The next sign-in asks for the passkey (with the recovery key as
// the way out), refuses an answer from another origin and a counter that
// went back (audited), and accepts a good one.
func TestPasskeyEnrollmentAndSignIn(t *testing.T) {
	forEachBackendWith(t, withLocalhost, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.requireTFA(true)
		relying := e.rp(e.client, e.secret)
		key := passkeytest.New(e.issuer)

		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		_, body := b.get(authURLFor(relying, verifier))
		resp, body := b.post(e.issuer+"/login", url.Values{
			"auth_request": {hiddenAuthRequest(t, body)}, "email": {e.user.Email}, "password": {testPassword}})
		if resp.Request.URL.Path != "/enroll" || !strings.Contains(body, `value="webauthn"`) || !strings.Contains(body, `value="totp"`) {
			t.Fatalf("after the password: %s\n%s", resp.Request.URL, body)
		}
		ar := hiddenAuthRequest(t, body)
		if resp, _ := b.post(e.issuer+"/enroll/choose", url.Values{"auth_request": {ar}, "factor": {"sms"}}); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("an unknown factor: %d", resp.StatusCode)
		}
		resp, body = b.post(e.issuer+"/enroll/choose", url.Values{"auth_request": {ar}, "factor": {"webauthn"}})
		if resp.Request.URL.Path != "/enroll/recovery-key" {
			t.Fatalf("after choosing a passkey: %s", resp.Request.URL)
		}
		recovery := recoveryKeyFromPage(t, body)
		resp, body = b.post(e.issuer+"/enroll/recovery-key", url.Values{"auth_request": {ar}, "stored": {"yes"}})
		if resp.Request.URL.Path != "/enroll/verify" || !strings.Contains(body, `data-purpose="register"`) || !strings.Contains(body, "Step 3 of 3") {
			t.Fatalf("step 3: %s\n%s", resp.Request.URL, body)
		}
		// The CSP lets exactly the page's script run.
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'nonce-") {
			t.Errorf("CSP = %q", csp)
		}
		// A reload keeps the ceremony; a bad name or answer changes nothing.
		_, again := b.get(e.issuer + "/enroll/verify?auth_request=" + ar)
		if string(webauthnOptions(t, again)) != string(webauthnOptions(t, body)) {
			t.Error("a reload began a new ceremony")
		}
		resp, _ = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {ar}, "name": {""}, "credential": {createPasskey(t, passkeytest.New(e.issuer), body)}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("empty name: %d", resp.StatusCode)
		}
		resp, body = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {ar}, "name": {"Laptop"}, "credential": {"{}"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, html.EscapeString("could not be checked")) {
			t.Fatalf("garbage answer: %d\n%s", resp.StatusCode, body)
		}
		if has, _ := e.store.HasActiveAuthenticator(ctx, e.user.ID); has {
			t.Fatal("a factor is active before the ceremony completed")
		}
		resp, body = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {ar}, "name": {"Laptop"}, "credential": {createPasskey(t, key, body)}})
		e.consentIfAsked(b, resp, body)
		if b.landed == nil {
			t.Fatalf("enrollment did not continue to the app: %s\n%s", b.last.Request.URL, body)
		}
		_, c := e.tokenFor(relying, b.landed, verifier)
		if c.ACR != claims.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "hwk", "mfa"}) {
			t.Fatalf("after enrolling a passkey: acr %q amr %v", c.ACR, c.AMR)
		}
		creds, err := e.store.WebAuthnCredentials(ctx, e.user.ID)
		if err != nil || len(creds) != 1 || creds[0].Name != "Laptop" {
			t.Fatalf("stored credentials: %+v, %v", creds, err)
		}

		// The next sign-in: the passkey page, with the recovery key as the
		// way out and no app link (there is no app).
		b2 := newBrowser(t)
		verifier = oauth2.GenerateVerifier()
		_, body = b2.get(authURLFor(relying, verifier))
		resp, body = b2.post(e.issuer+"/login", url.Values{
			"auth_request": {hiddenAuthRequest(t, body)}, "email": {e.user.Email}, "password": {testPassword}})
		if resp.Request.URL.Path != "/login/passkey" || !strings.Contains(body, "Use your recovery key") || strings.Contains(body, "authenticator app instead") {
			t.Fatalf("after the password: %s\n%s", resp.Request.URL, body)
		}
		ar = hiddenAuthRequest(t, body)
		phish := passkeytest.New("http://localhost.evil.test")
		phish.Creds = key.Creds
		resp, body = b2.post(e.issuer+"/login/passkey", url.Values{"auth_request": {ar}, "credential": {usePasskey(t, phish, body)}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("an answer made for another origin: %d", resp.StatusCode)
		}
		good := usePasskey(t, key, body)
		resp, body = b2.post(e.issuer+"/login/passkey", url.Values{"auth_request": {ar}, "credential": {good}})
		e.consentIfAsked(b2, resp, body)
		if b2.landed == nil {
			t.Fatalf("the passkey did not sign in: %s\n%s", b2.last.Request.URL, body)
		}
		_, c = e.tokenFor(relying, b2.landed, verifier)
		if c.ACR != claims.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "hwk", "mfa"}) {
			t.Fatalf("passkey sign-in: acr %q amr %v", c.ACR, c.AMR)
		}
		// The same answer again, on a new sign-in: its challenge is spent.
		b3 := newBrowser(t)
		_, body = b3.get(authURLFor(relying, oauth2.GenerateVerifier()))
		_, body = b3.post(e.issuer+"/login", url.Values{
			"auth_request": {hiddenAuthRequest(t, body)}, "email": {e.user.Email}, "password": {testPassword}})
		ar = hiddenAuthRequest(t, body)
		if resp, _ := b3.post(e.issuer+"/login/passkey", url.Values{"auth_request": {ar}, "credential": {good}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a replayed answer: %d", resp.StatusCode)
		}
		// A cloned key: its counter is behind the stored one.
		key.Creds[0].Counter = 0
		_, body = b3.get(e.issuer + "/login/passkey?auth_request=" + ar)
		resp, body = b3.post(e.issuer+"/login/passkey", url.Values{"auth_request": {ar}, "credential": {usePasskey(t, key, body)}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "counter went back") {
			t.Fatalf("a counter that went back: %d\n%s", resp.StatusCode, body)
		}
		// The recovery key still works, and removes the passkey.
		resp, _ = b3.post(e.issuer+"/login/recovery", url.Values{"auth_request": {ar}, "recovery_key": {recovery}})
		if resp.Request.URL.Path != "/enroll" {
			t.Fatalf("after the recovery key: %s", resp.Request.URL)
		}
		if f, _ := e.store.SecondFactorsOf(ctx, e.user.ID); f.Any() {
			t.Errorf("factors after the recovery key: %+v", f)
		}

		events := e.auditEvents(e.user.Email)
		for _, want := range []string{"mfa.enrollment_started", "mfa.enrollment_completed", "mfa.passkey_refused", "login.mfa", "mfa.recovery_used"} {
			if !slices.Contains(events, want) {
				t.Errorf("audit log lacks %s: %v", want, events)
			}
		}
		evs, err := e.store.ListAudit(ctx, store.AuditFilter{TenantID: e.tenant.ID, SubjectID: e.user.ID})
		must(t, err)
		var reasons []string
		for _, ev := range evs {
			if ev.Event == "mfa.passkey_refused" {
				reasons = append(reasons, ev.Detail)
			}
		}
		if !slices.ContainsFunc(reasons, func(d string) bool { return strings.Contains(d, `"reason":"counter"`) }) {
			t.Errorf("no refusal for the counter: %v", reasons)
		}
	})
}

// TestPhishingResistantStepUp: an app asking for urn:portcullis:loa:phr
// gets it only through a passkey. A user signed in with a code is sent to
// enroll a passkey (the choice offers nothing else, and a code is refused
// there); after it the ID token says loa:phr with amr hwk, while an app
// that asks for nothing sees loa:2fa for the same kind of sign-in. A
// synced passkey gives swk. Discovery lists the level.
func TestPhishingResistantStepUp(t *testing.T) {
	forEachBackendWith(t, withLocalhost, func(t *testing.T, e *env) {
		e.requireTFA(true)
		relying := e.rp(e.client, e.secret)
		u := &mfaUser{email: e.user.Email, password: testPassword}
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		e.signIn(b, authURLFor(relying, verifier), u) // enrolls the app (TOTP), named "Phone"
		_, c := e.tokenFor(relying, b.landed, verifier)
		wantMFAClaims(t, c)
		if f, err := e.store.Factors(context.Background(), e.user.ID); err != nil || len(f) != 1 || f[0].Name != "Phone" || f[0].Kind != store.FactorTOTP {
			t.Fatalf("the app as named at enrollment: %+v, %v", f, err)
		}

		// Same browser, the app now asks for the phishing-resistant level.
		// The session's code does not prove the user now: a fresh code
		// first (it does not sign in here), then a passkey is added (no
		// new recovery key), then used.
		b.landed = nil
		verifier = oauth2.GenerateVerifier()
		phr := oauth2.SetAuthURLParam("acr_values", claims.ACRPhishingResistant)
		resp, body := b.get(authURLFor(relying, verifier, phr))
		if resp.Request.URL.Path != "/login/code" || !strings.Contains(body, "required here: after a code from your app confirms it is you") {
			t.Fatalf("a TOTP session asked for loa:phr: %s\n%s", resp.Request.URL, body)
		}
		ar := hiddenAuthRequest(t, body)
		// Enrollment is not reachable before the code.
		for _, try := range []func() (*http.Response, string){
			func() (*http.Response, string) { return b.get(e.issuer + "/enroll?auth_request=" + ar) },
			func() (*http.Response, string) {
				return b.post(e.issuer+"/enroll/choose", url.Values{"auth_request": {ar}, "factor": {"webauthn"}})
			},
		} {
			if resp, _ := try(); resp.Request.URL.Path != "/login/code" && resp.StatusCode == http.StatusOK {
				t.Fatalf("enrollment before the code: %s %d", resp.Request.URL, resp.StatusCode)
			}
		}
		keyBefore := recoveryHash(t, e, e.user.ID)
		resp, body = b.post(e.issuer+"/login/code", url.Values{"auth_request": {ar}, "code": {u.app.code(t)}})
		if resp.Request.URL.Path != "/enroll" || strings.Contains(body, `value="totp"`) || !strings.Contains(body, `value="webauthn"`) || b.landed != nil {
			t.Fatalf("after the code, for loa:phr: %s\n%s", resp.Request.URL, body)
		}
		if resp, _ := b.post(e.issuer+"/enroll/choose", url.Values{"auth_request": {ar}, "factor": {"totp"}}); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("choosing the app for loa:phr: %d", resp.StatusCode)
		}
		u.passkey = passkeytest.New(e.issuer)
		u.passkey.Synced = true
		e.signIn(b, e.issuer+"/enroll?auth_request="+ar, u)
		if !slices.Contains(u.pages, "/login/passkey") || slices.Contains(u.pages, "/enroll/recovery-key") {
			t.Errorf("adding a passkey went through %v, want the passkey used after it and no new recovery key", u.pages)
		}
		if recoveryHash(t, e, e.user.ID) != keyBefore {
			t.Error("adding a passkey replaced the recovery key")
		}
		_, c = e.tokenFor(relying, b.landed, verifier)
		if c.ACR != claims.ACRPhishingResistant || !slices.Equal(c.AMR, []string{"pwd", "swk", "mfa"}) {
			t.Fatalf("after the passkey step-up: acr %q amr %v", c.ACR, c.AMR)
		}

		// A fresh sign-in asking for loa:phr: the passkey page, without the
		// app as an alternative; a posted code is sent back to it.
		b2 := newBrowser(t)
		verifier = oauth2.GenerateVerifier()
		_, body = b2.get(authURLFor(relying, verifier, phr))
		resp, body = b2.post(e.issuer+"/login", url.Values{
			"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {u.password}})
		if resp.Request.URL.Path != "/login/passkey" || strings.Contains(body, "authenticator app instead") || !strings.Contains(body, "code from an app is not enough") {
			t.Fatalf("fresh loa:phr sign-in: %s\n%s", resp.Request.URL, body)
		}
		ar = hiddenAuthRequest(t, body)
		resp, _ = b2.get(e.issuer + "/login/code?auth_request=" + ar + "&use=code")
		if resp.Request.URL.Path != "/login/passkey" {
			t.Fatalf("the code page for loa:phr: %s", resp.Request.URL)
		}
		resp, _ = b2.post(e.issuer+"/login/code", url.Values{"auth_request": {ar}, "code": {u.app.code(t)}})
		if resp.Request.URL.Path != "/login/passkey" {
			t.Fatalf("a code posted for loa:phr: %s", resp.Request.URL)
		}
		e.signIn(b2, e.issuer+"/login/passkey?auth_request="+ar, u)
		_, c = e.tokenFor(relying, b2.landed, verifier)
		if c.ACR != claims.ACRPhishingResistant {
			t.Fatalf("fresh loa:phr: acr %q amr %v", c.ACR, c.AMR)
		}

		// Without acr_values: a user with both is asked for the passkey
		// first, may use the app instead, and the app sees loa:2fa.
		b3 := newBrowser(t)
		verifier = oauth2.GenerateVerifier()
		_, body = b3.get(authURLFor(relying, verifier))
		resp, body = b3.post(e.issuer+"/login", url.Values{
			"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {u.password}})
		if resp.Request.URL.Path != "/login/passkey" || !strings.Contains(body, "Use your authenticator app instead") {
			t.Fatalf("both factors: %s\n%s", resp.Request.URL, body)
		}
		e.signIn(b3, e.issuer+"/login/passkey?auth_request="+hiddenAuthRequest(t, body), u)
		_, c = e.tokenFor(relying, b3.landed, verifier)
		if c.ACR != claims.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "swk", "mfa"}) {
			t.Fatalf("no acr asked: acr %q amr %v", c.ACR, c.AMR)
		}

		_, disc := newBrowser(t).get(e.issuer + "/.well-known/openid-configuration")
		if !strings.Contains(disc, claims.ACRPhishingResistant) {
			t.Errorf("discovery lacks %s", claims.ACRPhishingResistant)
		}
	})
}

// TestAccountPasskeys: the account page lists the factors; from a fresh
// session a passkey is added (no new recovery key) and the app removed;
// a stale session must confirm with a second factor first; the last
// factor stays while the tenant requires 2FA; a removed passkey's
// assertion is refused even when a modified client sends it.
func TestAccountPasskeys(t *testing.T) {
	forEachBackendWith(t, withLocalhost, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.requireTFA(true)
		u := &mfaUser{email: e.user.Email, password: testPassword, app: e.activateAuthenticator(t, e.user.ID)}
		b := newBrowser(t)
		if landed := e.signIn(b, e.issuer+"/account", u); landed.Path != "/account" {
			t.Fatalf("account sign-in ended at %s", landed)
		}
		_, body := b.get(e.issuer + "/account")
		if !strings.Contains(body, "Authenticator app") || !strings.Contains(body, `action="/account/passkeys/add"`) {
			t.Fatalf("account page of a fresh session:\n%s", body)
		}
		resp, body := b.post(e.issuer+"/account/passkeys/add", nil)
		if resp.Request.URL.Path != "/enroll/verify" || strings.Contains(body, "Step 3 of 3") || !strings.Contains(body, `href="/account"`) {
			t.Fatalf("adding a passkey: %s\n%s", resp.Request.URL, body)
		}
		key := passkeytest.New(e.issuer)
		hashBefore := recoveryHash(t, e, e.user.ID)
		resp, body = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {hiddenAuthRequest(t, body)},
			"name": {"Phone"}, "credential": {createPasskey(t, key, body)}})
		if resp.Request.URL.Path != "/account" || !strings.Contains(body, "Your passkey was added") || !strings.Contains(body, "Phone") {
			t.Fatalf("after adding: %s\n%s", resp.Request.URL, body)
		}
		if recoveryHash(t, e, e.user.ID) != hashBefore {
			t.Error("adding a passkey replaced the recovery key")
		}
		// A registration is no assertion: the session is not upgraded.
		if ss, _ := e.store.ListUserSessions(ctx, e.user.ID, time.Hour); len(ss) != 1 || claims.PhishingResistant(ss[0].AMR) {
			t.Errorf("the session after adding a passkey: %+v", ss)
		}
		// An add begun while fresh, answered once the session is stale:
		// refused, nothing stored.
		_, body = b.post(e.issuer+"/account/passkeys/add", nil)
		late := createPasskey(t, passkeytest.New(e.issuer), body)
		stale(t, e, e.user.ID)
		resp, _ = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "name": {"Late"}, "credential": {late}})
		if creds, _ := e.store.WebAuthnCredentials(ctx, e.user.ID); resp.StatusCode != http.StatusForbidden || len(creds) != 1 {
			t.Fatalf("a passkey added from a stale session: %d, %d stored", resp.StatusCode, len(creds))
		}

		// A stale session: removing needs a fresh second factor.
		resp, body = b.post(e.issuer+"/account/factors/remove", url.Values{"factor": {"totp"}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Confirm it is you first") {
			t.Fatalf("removing from a stale session: %d\n%s", resp.StatusCode, body)
		}
		resp, body = b.post(e.issuer+"/account/verify", nil)
		if resp.Request.URL.Path != "/login/passkey" {
			t.Fatalf("confirming: %s", resp.Request.URL)
		}
		resp, body = b.post(e.issuer+"/login/passkey", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "credential": {usePasskey(t, key, body)}})
		if resp.Request.URL.Path != "/account" || !strings.Contains(body, "You confirmed it is you") {
			t.Fatalf("after confirming: %s\n%s", resp.Request.URL, body)
		}
		resp, body = b.post(e.issuer+"/account/factors/remove", url.Values{"factor": {"totp"}})
		if !strings.Contains(body, "The second factor was removed") || strings.Contains(body, "Authenticator app</td>") {
			t.Fatalf("removing the app: %d\n%s", resp.StatusCode, body)
		}
		if f, _ := e.store.SecondFactorsOf(ctx, e.user.ID); f.TOTP || !f.WebAuthn {
			t.Fatalf("factors after removing the app: %+v", f)
		}
		// The last one stays under the tenant's policy.
		creds, _ := e.store.WebAuthnCredentials(ctx, e.user.ID)
		resp, body = b.post(e.issuer+"/account/factors/remove", url.Values{"factor": {creds[0].ID}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "last second factor cannot be removed") {
			t.Fatalf("removing the last factor: %d", resp.StatusCode)
		}
		resp, _ = b.post(e.issuer+"/account/factors/remove", url.Values{"factor": {"no-such-key"}})
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("removing an unknown factor: %d", resp.StatusCode)
		}

		// A second passkey, then the first is removed: its assertion is
		// refused, sent by a client that ignores the allowed list.
		_, body = b.post(e.issuer+"/account/passkeys/add", nil)
		second := passkeytest.New(e.issuer)
		b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {hiddenAuthRequest(t, body)},
			"name": {"Key"}, "credential": {createPasskey(t, second, body)}})
		_, body = b.post(e.issuer+"/account/factors/remove", url.Values{"factor": {creds[0].ID}})
		if !strings.Contains(body, "The second factor was removed") {
			t.Fatalf("removing the first passkey:\n%s", body)
		}
		b2 := newBrowser(t)
		_, body = b2.get(e.issuer + "/account")
		_, body = b2.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {u.password}})
		removed, err := key.Assert(key.Creds[0], webauthnOptions(t, body))
		must(t, err)
		resp, body = b2.post(e.issuer+"/login/passkey", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "credential": {removed}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not registered to this account") {
			t.Fatalf("a removed passkey: %d\n%s", resp.StatusCode, body)
		}
		events := e.auditEvents(u.email)
		for _, want := range []string{"mfa.factor_added", "mfa.factor_removed", "mfa.passkey_refused"} {
			if !slices.Contains(events, want) {
				t.Errorf("audit log lacks %s: %v", want, events)
			}
		}
	})
}

// recoveryHash is the stored hash of the user's recovery key.
func recoveryHash(t *testing.T, e *env, userID string) string {
	t.Helper()
	var h []byte
	must(t, e.store.SQLDB().QueryRow(`SELECT key_hash FROM mfa_recovery_keys WHERE user_id = $1`, userID).Scan(&h))
	return string(h)
}

// stale makes the user's sessions look as if their second factor was
// passed an hour ago.
func stale(t *testing.T, e *env, userID string) {
	t.Helper()
	sessions, err := e.store.ListUserSessions(context.Background(), userID, time.Hour)
	must(t, err)
	for _, s := range sessions {
		must(t, e.store.UpdateSessionAuth(context.Background(), s.ID, store.SessionUpdate{AuthTime: time.Now().Add(-time.Hour)}))
	}
}

// TestTenantFactorPolicy: a tenant that allows apps only offers no
// passkey and does not accept one; a tenant that allows passkeys only
// sends a user who has only an app to set up a passkey (a code is not
// accepted); an enrollment deadline ahead offers Later (password-level
// sign-in, audited), and once it has passed enrollment is forced.
func TestTenantFactorPolicy(t *testing.T) {
	forEachBackendWith(t, withLocalhost, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.requireTFA(true)
		relying := e.rp(e.client, e.secret)
		admin := store.Actor{Via: "cli"}
		login := func(b *browser, u *mfaUser, extra ...oauth2.AuthCodeOption) (*http.Response, string, string) {
			t.Helper()
			verifier := oauth2.GenerateVerifier()
			_, body := b.get(authURLFor(relying, verifier, extra...))
			resp, body := b.post(e.issuer+"/login", url.Values{
				"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {u.password}})
			return resp, body, verifier
		}

		// Apps only: Ada, who has a passkey, must set up an app.
		ada := &mfaUser{email: e.user.Email, password: testPassword, passkey: passkeytest.New(e.issuer)}
		e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), ada) // enrolls the passkey
		_, err := e.store.SetSecondFactors(ctx, e.tenant.ID, store.FactorTOTP, false, "", admin)
		must(t, err)
		adaB := newBrowser(t)
		resp, body, _ := login(adaB, ada)
		if resp.Request.URL.Path != "/login/passkey" || !strings.Contains(body, "accepts authenticator apps only") {
			t.Fatalf("apps only, a user with a passkey: %s\n%s", resp.Request.URL, body)
		}
		ar := hiddenAuthRequest(t, body)
		resp, body = adaB.post(e.issuer+"/login/passkey", url.Values{"auth_request": {ar}, "credential": {usePasskey(t, ada.passkey, body)}})
		if resp.Request.URL.Path != "/enroll" || !strings.Contains(body, `id="totp-secret"`) || strings.Contains(body, `value="webauthn"`) || adaB.landed != nil {
			t.Fatalf("apps only, after the passkey: %s\n%s", resp.Request.URL, body)
		}

		// Passkeys only: Grace, who has an app, must set up a passkey.
		grace := e.newUser("grace@example.com")
		_, err = e.store.SetSecondFactors(ctx, e.tenant.ID, store.FactorsAny, false, "", admin)
		must(t, err)
		e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), grace) // enrolls an app
		_, err = e.store.SetSecondFactors(ctx, e.tenant.ID, store.FactorWebAuthn, false, "", admin)
		must(t, err)
		ahead := time.Now().Add(48 * time.Hour)
		must(t, e.store.SetEnrollmentDeadline(ctx, e.tenant.ID, &ahead, admin))
		b := newBrowser(t)
		resp, body, verifier := login(b, grace)
		if resp.Request.URL.Path != "/login/code" {
			t.Fatalf("passkeys only, a user with an app: %s\n%s", resp.Request.URL, body)
		}
		ar = hiddenAuthRequest(t, body)
		resp, body = b.post(e.issuer+"/login/code", url.Values{"auth_request": {ar}, "code": {grace.app.code(t)}})
		if resp.Request.URL.Path != "/enroll" || strings.Contains(body, `value="totp"`) || !strings.Contains(body, `value="webauthn"`) || b.landed != nil {
			t.Fatalf("passkeys only, after the code: %s\n%s", resp.Request.URL, body)
		}
		if strings.Contains(body, "Later (") {
			t.Fatal("Later offered to a user who has a factor")
		}
		grace.passkey = passkeytest.New(e.issuer)
		e.signIn(b, e.issuer+"/enroll?auth_request="+ar, grace)
		_, c := e.tokenFor(relying, b.landed, verifier)
		if c.ACR != claims.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "hwk", "mfa"}) {
			t.Fatalf("passkeys only: acr %q amr %v", c.ACR, c.AMR)
		}
		// Codes do not count on the account page either: a new recovery
		// key needs a session that passed a passkey a moment ago.
		gb := newBrowser(t)
		e.signIn(gb, e.issuer+"/account", grace)
		if resp, _ := gb.post(e.issuer+"/account/2fa/recovery-key", url.Values{"code": {grace.app.code(t)}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("a new recovery key from a fresh passkey session: %d", resp.StatusCode)
		}
		stale(t, e, e.userID(t, grace.email))
		if resp, body := gb.post(e.issuer+"/account/2fa/recovery-key", url.Values{"code": {grace.app.code(t)}}); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Confirm it is you first") {
			t.Fatalf("a code for a new recovery key where passkeys are required: %d", resp.StatusCode)
		}

		// A deadline ahead: Linus may put enrollment off.
		_, err = e.store.SetSecondFactors(ctx, e.tenant.ID, store.FactorsAny, false, "", admin)
		must(t, err)
		deadline := time.Now().Add(10*24*time.Hour - time.Minute)
		must(t, e.store.SetEnrollmentDeadline(ctx, e.tenant.ID, &deadline, admin))
		linus := e.newUser("linus@example.com")
		b = newBrowser(t)
		resp, body, verifier = login(b, linus)
		if resp.Request.URL.Path != "/enroll" || !strings.Contains(body, "Later (10 days left)") || !strings.Contains(body, "Set up now") {
			t.Fatalf("before the deadline: %s\n%s", resp.Request.URL, body)
		}
		resp, body = b.post(e.issuer+"/enroll/later", url.Values{"auth_request": {hiddenAuthRequest(t, body)}})
		e.consentIfAsked(b, resp, body)
		if b.landed == nil {
			t.Fatalf("Later did not continue to the app: %s\n%s", b.last.Request.URL, body)
		}
		_, c = e.tokenFor(relying, b.landed, verifier)
		if c.ACR != claims.ACRPassword || !slices.Equal(c.AMR, []string{"pwd"}) {
			t.Fatalf("after Later: acr %q amr %v", c.ACR, c.AMR)
		}
		if !slices.Contains(e.auditEvents(linus.email), "mfa.enrollment_postponed") {
			t.Errorf("audit: %v", e.auditEvents(linus.email))
		}
		// An app that asks for two factors gets no Later.
		_, body, _ = login(newBrowser(t), linus, oauth2.SetAuthURLParam("acr_values", claims.ACRMFA))
		if strings.Contains(body, "Later (") {
			t.Fatal("Later offered to an app that asked for the MFA level")
		}
		// Past the deadline: no Later, and posting it is refused.
		past := time.Now().Add(-time.Hour)
		must(t, e.store.SetEnrollmentDeadline(ctx, e.tenant.ID, &past, admin))
		b = newBrowser(t)
		resp, body, _ = login(b, linus)
		if resp.Request.URL.Path != "/enroll" || strings.Contains(body, "Later (") {
			t.Fatalf("after the deadline: %s\n%s", resp.Request.URL, body)
		}
		if resp, _ := b.post(e.issuer+"/enroll/later", url.Values{"auth_request": {hiddenAuthRequest(t, body)}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("Later after the deadline: %d", resp.StatusCode)
		}
	})
}

// TestPasswordlessSignIn: where the tenant allows it, the password page
// offers a passkey; a discoverable passkey that verified its user signs in
// without a password (amr [hwk user mfa], loa:phr when asked for). A
// passkey without user verification, a disabled user, a replayed answer
// and a tenant that does not allow it are refused.
func TestPasswordlessSignIn(t *testing.T) {
	forEachBackendWith(t, withLocalhost, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.requireTFA(true)
		relying := e.rp(e.client, e.secret)
		ada := &mfaUser{email: e.user.Email, password: testPassword, passkey: passkeytest.New(e.issuer)}
		e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), ada) // enrolls the passkey

		// Off: the password page offers no passkey.
		b := newBrowser(t)
		_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
		if strings.Contains(body, "Sign in with a passkey") || strings.Contains(body, "webauthn") {
			t.Fatalf("passwordless offered while off:\n%s", body)
		}
		must(t, e.store.SetPasswordless(ctx, e.tenant.ID, true, store.Actor{Via: "cli"}))

		b = newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		resp, body := b.get(authURLFor(relying, verifier, oauth2.SetAuthURLParam("acr_values", claims.ACRPhishingResistant)))
		if !strings.Contains(body, `autocomplete="username webauthn"`) || !strings.Contains(body, `data-purpose="passwordless"`) {
			t.Fatalf("password page with passwordless on:\n%s", body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'nonce-") {
			t.Errorf("CSP = %q", csp)
		}
		ar := hiddenAuthRequest(t, body)
		// Without user verification the passkey is only one factor.
		ada.passkey.UserVerification = false
		resp, body = b.post(e.issuer+"/login/passwordless", url.Values{"auth_request": {ar}, "credential": {usePasskey(t, ada.passkey, body)}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("no user verification: %d", resp.StatusCode)
		}
		ada.passkey.UserVerification = true
		answer := usePasskey(t, ada.passkey, body)
		resp, body = b.post(e.issuer+"/login/passwordless", url.Values{"auth_request": {ar}, "credential": {answer}})
		e.consentIfAsked(b, resp, body)
		if b.landed == nil {
			t.Fatalf("passwordless did not sign in: %s\n%s", b.last.Request.URL, body)
		}
		_, c := e.tokenFor(relying, b.landed, verifier)
		if c.ACR != claims.ACRPhishingResistant || !slices.Equal(c.AMR, []string{"hwk", "user", "mfa"}) {
			t.Fatalf("passwordless: acr %q amr %v", c.ACR, c.AMR)
		}
		if !slices.Contains(e.auditEvents(ada.email), "login.passkey") {
			t.Errorf("audit: %v", e.auditEvents(ada.email))
		}
		// A counter that went back, without a password too: refused and
		// audited.
		cb := newBrowser(t)
		_, body = cb.get(authURLFor(relying, oauth2.GenerateVerifier()))
		counter := ada.passkey.Creds[0].Counter
		ada.passkey.Creds[0].Counter = 0
		if resp, _ := cb.post(e.issuer+"/login/passwordless", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "credential": {usePasskey(t, ada.passkey, body)}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a cloned passkey without a password: %d", resp.StatusCode)
		}
		ada.passkey.Creds[0].Counter = counter + 10
		evs, err := e.store.ListAudit(ctx, store.AuditFilter{TenantID: e.tenant.ID, Event: "mfa.passkey_refused"})
		must(t, err)
		if len(evs) == 0 || !strings.Contains(evs[0].Detail, `"reason":"counter"`) {
			t.Errorf("the refused clone is not audited: %+v", evs)
		}

		// The same answer on a new page: its challenge is spent.
		b2 := newBrowser(t)
		_, body = b2.get(authURLFor(relying, oauth2.GenerateVerifier()))
		ar = hiddenAuthRequest(t, body)
		if resp, _ := b2.post(e.issuer+"/login/passwordless", url.Values{"auth_request": {ar}, "credential": {answer}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a replayed answer: %d", resp.StatusCode)
		}
		// A disabled user's passkey gets nowhere.
		_, err = e.store.SQLDB().Exec(`UPDATE users SET disabled = TRUE WHERE id = $1`, e.user.ID)
		must(t, err)
		_, body = b2.get(e.issuer + "/login?auth_request=" + ar)
		if resp, _ := b2.post(e.issuer+"/login/passwordless", url.Values{"auth_request": {ar}, "credential": {usePasskey(t, ada.passkey, body)}}); resp.StatusCode != http.StatusUnauthorized || b2.landed != nil {
			t.Fatalf("a disabled user: %d", resp.StatusCode)
		}
		_, err = e.store.SQLDB().Exec(`UPDATE users SET disabled = FALSE WHERE id = $1`, e.user.ID)
		must(t, err)
		// Turned off meanwhile: refused with the reason.
		must(t, e.store.SetPasswordless(ctx, e.tenant.ID, false, store.Actor{Via: "cli"}))
		must(t, e.store.SetPasswordless(ctx, e.tenant.ID, true, store.Actor{Via: "cli"}))
		_, body = b2.get(e.issuer + "/login?auth_request=" + ar)
		must(t, e.store.SetPasswordless(ctx, e.tenant.ID, false, store.Actor{Via: "cli"}))
		resp, body = b2.post(e.issuer+"/login/passwordless", url.Values{"auth_request": {ar}, "credential": {usePasskey(t, ada.passkey, body)}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "does not allow signing in with a passkey alone") {
			t.Fatalf("tenant without passwordless: %d\n%s", resp.StatusCode, body)
		}
		if b2.landed != nil {
			t.Fatal("signed in although the tenant does not allow it")
		}
	})
}

// TestNoFactorToOffer: where what is required cannot be set up, the user
// is told so instead of going round in circles or being offered what the
// tenant forbids: an app asking for loa:phr in a tenant of apps only (a
// right code does not lead back to the code page), and a tenant of
// passkeys only on an issuer that cannot have passkeys (an IP address).
func TestNoFactorToOffer(t *testing.T) {
	forEachBackendWith(t, withLocalhost, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.requireTFA(true)
		relying := e.rp(e.client, e.secret)
		u := &mfaUser{email: e.user.Email, password: testPassword}
		e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), u) // enrolls the app
		_, err := e.store.SetSecondFactors(ctx, e.tenant.ID, store.FactorTOTP, false, "", store.Actor{Via: "cli"})
		must(t, err)
		b := newBrowser(t)
		_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("acr_values", claims.ACRPhishingResistant)))
		resp, body := b.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "email": {u.email}, "password": {u.password}})
		if resp.Request.URL.Path != "/login/code" {
			t.Fatalf("after the password: %s", resp.Request.URL)
		}
		resp, body = b.post(e.issuer+"/login/code", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "code": {u.app.code(t)}})
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "No second factor can be set up") {
			t.Fatalf("loa:phr where only apps are allowed: %d %s", resp.StatusCode, resp.Request.URL)
		}
	})
	forEachBackend(t, func(t *testing.T, e *env) { // issuer on 127.0.0.1: no passkeys
		e.requireTFA(true)
		_, err := e.store.SetSecondFactors(context.Background(), e.tenant.ID, store.FactorWebAuthn, false, "", store.Actor{Via: "cli"})
		must(t, err)
		relying := e.rp(e.client, e.secret)
		b := newBrowser(t)
		_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
		resp, body := b.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "email": {e.user.Email}, "password": {testPassword}})
		if resp.StatusCode != http.StatusConflict || strings.Contains(body, `id="totp-secret"`) {
			t.Fatalf("passkeys only without passkeys: %d %s", resp.StatusCode, resp.Request.URL)
		}
	})
}
