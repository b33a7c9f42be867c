package idp_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// virtualAuthenticator gives the browser a platform authenticator (the
// DevTools WebAuthn domain) that verifies its user and answers at once.
func virtualAuthenticator(t *testing.T, ctx context.Context) webauthn.AuthenticatorID {
	t.Helper()
	no := false
	_, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: &no})
	must(t, err)
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	must(t, err)
	return res.AuthenticatorID
}

// TestPasskeyInBrowser: in Chromium with a virtual authenticator, forced
// enrollment chooses a passkey (choice, recovery key, ceremony) and
// reaches the app with amr [pwd hwk mfa]; the next sign-in uses the
// passkey; once the passkey is removed on the server the browser's copy
// gets nowhere and the page says so. A second user who signs in with a
// code is stepped up to a passkey when the app asks for loa:phr.
func TestPasskeyInBrowser(t *testing.T) {
	e := newEnvWith(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) }, withLocalhost)
	e.requireTFA(true)
	relying := e.rp(e.client, e.secret)
	ctx := chromiumWithin(t, browserLimit)
	landings := watchLandings(t, ctx)
	authID := virtualAuthenticator(t, ctx)

	verifier := oauth2.GenerateVerifier()
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, verifier))))
	typePassword(t, ctx, "ada@example.com", testPassword)
	enrollPasskeyInBrowser(t, ctx, "passkey", "Work laptop")
	_, c := e.tokenFor(relying, waitLanding(t, ctx, landings), verifier)
	if c.ACR != claims.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "hwk", "mfa"}) {
		t.Fatalf("after enrolling a passkey in the browser: acr %q amr %v", c.ACR, c.AMR)
	}
	creds, err := e.store.WebAuthnCredentials(context.Background(), e.user.ID)
	if err != nil || len(creds) != 1 || creds[0].Name != "Work laptop" || !creds[0].UserVerified {
		t.Fatalf("stored: %+v, %v", creds, err)
	}

	// Sign in again (prompt=login): the passkey page, then the app.
	verifier = oauth2.GenerateVerifier()
	again := oauth2.SetAuthURLParam("prompt", "login")
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, verifier, again))))
	typePassword(t, ctx, "ada@example.com", testPassword)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#webauthn-start`))))
	wantPath(t, ctx, "/login/passkey")
	pollTrue(t, ctx, `!document.getElementById('webauthn-start').disabled`, "the passkey button stayed disabled")
	capture(t, ctx, "passkey-sign-in")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#webauthn-start`))))
	_, c = e.tokenFor(relying, waitLanding(t, ctx, landings), verifier)
	if !slices.Equal(c.AMR, []string{"pwd", "hwk", "mfa"}) {
		t.Fatalf("passkey sign-in in the browser: amr %v", c.AMR)
	}
	after, err := e.store.WebAuthnCredentials(context.Background(), e.user.ID)
	must(t, err)
	if after[0].LastUsedAt == nil {
		t.Error("the passkey's last use was not recorded")
	}

	// The passkey is removed on the server (an admin, another device);
	// another stays registered so the passkey page is still shown. The
	// browser's copy is not among the allowed ones: nothing signs in.
	ctxBG := context.Background()
	must(t, e.store.RemoveWebAuthnCredential(ctxBG, e.user.ID, creds[0].ID))
	must(t, e.store.AddWebAuthnCredential(ctxBG, &store.WebAuthnCredential{ID: "c29tZS1vdGhlci1rZXk", UserID: e.user.ID,
		Name: "Other key", PublicKey: creds[0].PublicKey}, nil))
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, oauth2.GenerateVerifier(), again))))
	typePassword(t, ctx, "ada@example.com", testPassword)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#webauthn-start`))))
	pollTrue(t, ctx, `!document.getElementById('webauthn-start').disabled`, "the passkey button stayed disabled")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#webauthn-start`))))
	pollTrue(t, ctx, `document.getElementById('webauthn-status').textContent.includes('not used')`,
		"a removed passkey: the page did not say the passkey was not used")
	wantPath(t, ctx, "/login/passkey")
	// The button keeps the focus of the mouse click, which shows no ring
	// (focus-visible); the audit checks keyboard focus.
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`)))
	capture(t, ctx, "passkey-not-used")
	_, err = chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: authID})
	must(t, err)

	// Step-up: Grace uses an app; the app asks for loa:phr.
	grace := e.newUser("grace@example.com")
	e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), grace) // enrolls the app over HTTP
	virtualAuthenticator(t, ctx)
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, oauth2.GenerateVerifier(), again))))
	typePassword(t, ctx, grace.email, grace.password)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#code`))))
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#code`), grace.app.code(t)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
	))
	waitLanding(t, ctx, landings)
	// The app asks for loa:phr: a code first (it only proves Grace), then
	// the passkey is created and used.
	verifier = oauth2.GenerateVerifier()
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, verifier,
		oauth2.SetAuthURLParam("acr_values", claims.ACRPhishingResistant)))))
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#code`))))
	capture(t, ctx, "passkey-step-up-code")
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#code`), grace.app.code(t)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[value="webauthn"]`)),
	))
	if n := evaluate[int](t, ctx, `document.querySelectorAll('input[name="factor"]').length`); n != 1 {
		t.Fatalf("the choice for loa:phr offers %d factors, want only the passkey", n)
	}
	enrollPasskeyInBrowser(t, ctx, "passkey-step-up", "")
	// (The creation page has a #webauthn-start too: wait for the page.)
	pollTrue(t, ctx, `location.pathname === '/login/passkey' && !!document.getElementById('webauthn-start')`, "the new passkey is not asked for")
	pollTrue(t, ctx, `!document.getElementById('webauthn-start').disabled`, "the passkey button stayed disabled")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#webauthn-start`))))
	_, c = e.tokenFor(relying, waitLanding(t, ctx, landings), verifier)
	if c.ACR != claims.ACRPhishingResistant || !slices.Equal(c.AMR, []string{"pwd", "hwk", "mfa"}) {
		t.Fatalf("after the step-up to a passkey: acr %q amr %v", c.ACR, c.AMR)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); strings.Contains(loc, "/enroll") {
		t.Fatalf("still enrolling at %s", loc)
	}
}

// enrollPasskeyInBrowser walks forced enrollment from the choice to the
// created passkey, named name ("" keeps the default), in a browser with a
// virtual authenticator; with shot it checks and photographs the choice
// and the passkey step (shot-choose, shot-create).
func enrollPasskeyInBrowser(t *testing.T, ctx context.Context, shot, name string) {
	t.Helper()
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`input[value="webauthn"]`))))
	wantPath(t, ctx, "/enroll")
	if shot != "" {
		capture(t, ctx, shot+"-choose")
	}
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`input[value="webauthn"]`)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
	))
	// A first factor shows the recovery key; one added beside others
	// does not.
	pollTrue(t, ctx, `!!(document.getElementById('stored') || document.getElementById('passkey-name'))`, "neither the recovery key nor the passkey step came")
	if evaluate[bool](t, ctx, `!!document.getElementById('stored')`) {
		must(t, chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#stored`)),
			chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#passkey-name`)),
		))
	}
	wantPath(t, ctx, "/enroll/verify")
	pollTrue(t, ctx, `!document.getElementById('webauthn-start').disabled`, "the script did not enable the passkey button (blocked by the CSP?)")
	if shot != "" {
		capture(t, ctx, shot+"-create")
	}
	if name != "" {
		must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('passkey-name').value = `+strconv.Quote(name))))
	}
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#webauthn-start`))))
}

// TestPasswordlessInBrowser: in a tenant that allows it, the password page
// offers "Sign in with a passkey"; the discoverable passkey made at
// enrollment signs in with no password (amr [hwk user mfa]).
func TestPasswordlessInBrowser(t *testing.T) {
	e := newEnvWith(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) }, withLocalhost)
	e.requireTFA(true)
	must(t, e.store.SetPasswordless(context.Background(), e.tenant.ID, true, store.Actor{Via: "cli"}))
	relying := e.rp(e.client, e.secret)
	ctx := chromiumWithin(t, browserLimit)
	landings := watchLandings(t, ctx)
	virtualAuthenticator(t, ctx)

	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, oauth2.GenerateVerifier()))))
	typePassword(t, ctx, "ada@example.com", testPassword)
	enrollPasskeyInBrowser(t, ctx, "", "")
	waitLanding(t, ctx, landings)

	// The browser's passkey autofill (conditional mediation): the virtual
	// authenticator answers at once, as a user picking the passkey from
	// the email field's suggestions would.
	verifier := oauth2.GenerateVerifier()
	again := oauth2.SetAuthURLParam("prompt", "login")
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, verifier, again))))
	_, c := e.tokenFor(relying, waitLanding(t, ctx, landings), verifier)
	if c.ACR != claims.ACRMFA || !slices.Equal(c.AMR, []string{"hwk", "user", "mfa"}) {
		t.Fatalf("passwordless by autofill: acr %q amr %v", c.ACR, c.AMR)
	}

	// A browser without the autofill: the button.
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`})
	must(t, err)
	verifier = oauth2.GenerateVerifier()
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, verifier, again))))
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#webauthn-start`))))
	if ac := evaluate[string](t, ctx, `document.getElementById('email').getAttribute('autocomplete')`); ac != "username webauthn" {
		t.Errorf("email autocomplete %q, want passkey autofill", ac)
	}
	pollTrue(t, ctx, `!document.getElementById('webauthn-start').disabled`, "the passkey button stayed disabled")
	capture(t, ctx, "passwordless-login")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#webauthn-start`))))
	_, c = e.tokenFor(relying, waitLanding(t, ctx, landings), verifier)
	if c.ACR != claims.ACRMFA || !slices.Equal(c.AMR, []string{"hwk", "user", "mfa"}) {
		t.Fatalf("passwordless by the button: acr %q amr %v", c.ACR, c.AMR)
	}

	// A browser without WebAuthn: the page says so, the button stays off,
	// and the password form is there as ever.
	_, err = chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `delete window.PublicKeyCredential;`})
	must(t, err)
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, oauth2.GenerateVerifier(), again))))
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#webauthn-start`))))
	pollTrue(t, ctx, `document.getElementById('webauthn-status').textContent.includes('cannot use passkeys')`,
		"a browser without WebAuthn is not told")
	if !evaluate[bool](t, ctx, `document.getElementById('webauthn-start').disabled && !!document.getElementById('password')`) {
		t.Error("without WebAuthn: the passkey button is enabled or the password field is missing")
	}
	capture(t, ctx, "passwordless-no-webauthn")
}

// TestEnrollmentDeadlineInBrowser: before the tenant's deadline the first
// step offers "Later (N days left)", which signs in with the password
// alone; once the deadline has passed the button is gone and enrollment
// is forced.
func TestEnrollmentDeadlineInBrowser(t *testing.T) {
	e := newEnvWith(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) }, withLocalhost)
	e.requireTFA(true)
	ctxBG := context.Background()
	deadline := time.Now().Add(3*24*time.Hour - time.Minute)
	must(t, e.store.SetEnrollmentDeadline(ctxBG, e.tenant.ID, &deadline, store.Actor{Via: "cli"}))
	relying := e.rp(e.client, e.secret)
	ctx := chromiumWithin(t, browserLimit)
	landings := watchLandings(t, ctx)

	verifier := oauth2.GenerateVerifier()
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, verifier))))
	typePassword(t, ctx, "ada@example.com", testPassword)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`form.later button`))))
	label, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`form.later button`)))
	must(t, err)
	if !strings.Contains(label, "Later (3 days left)") {
		t.Errorf("Later button reads %q", label)
	}
	capture(t, ctx, "enroll-later")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form.later button`))))
	_, c := e.tokenFor(relying, waitLanding(t, ctx, landings), verifier)
	if c.ACR != claims.ACRPassword || !slices.Equal(c.AMR, []string{"pwd"}) {
		t.Fatalf("after Later: acr %q amr %v", c.ACR, c.AMR)
	}

	past := time.Now().Add(-time.Minute)
	must(t, e.store.SetEnrollmentDeadline(ctxBG, e.tenant.ID, &past, store.Actor{Via: "cli"}))
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("prompt", "login")))))
	typePassword(t, ctx, "ada@example.com", testPassword)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`input[value="totp"]`))))
	wantPath(t, ctx, "/enroll")
	if n := evaluate[int](t, ctx, `document.querySelectorAll('form.later').length`); n != 0 {
		t.Fatal("Later is offered after the deadline")
	}
}

// TestAccountFactorsInBrowser: the account page lists the factors; from a
// fresh session "Add a passkey or security key" runs the ceremony (no
// step bar, a way back to the account page) and the passkey joins the
// list; the app is then removed.
func TestAccountFactorsInBrowser(t *testing.T) {
	e := newEnvWith(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) }, withLocalhost)
	e.requireTFA(true)
	app := e.activateAuthenticator(t, e.user.ID)
	ctx := chromiumWithin(t, browserLimit)
	virtualAuthenticator(t, ctx)

	must(t, chromedp.Do(ctx, chromedp.Navigate(e.issuer+"/account")))
	typePassword(t, ctx, "ada@example.com", testPassword)
	must(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
		chromedp.SendKeys(chromedp.CSS(`#code`), app.code(t)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/passkeys/add"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/account/passkeys/add"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#passkey-name`)),
	))
	wantPath(t, ctx, "/enroll/verify")
	if n := evaluate[int](t, ctx, `document.querySelectorAll('.steps').length`); n != 0 {
		t.Error("adding a passkey shows the enrollment step bar")
	}
	pollTrue(t, ctx, `!document.getElementById('webauthn-start').disabled`, "the passkey button stayed disabled")
	capture(t, ctx, "account-add-passkey")
	must(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.getElementById('passkey-name').value = 'Laptop'`),
		chromedp.Click(chromedp.CSS(`#webauthn-start`)),
		chromedp.WaitVisible(chromedp.CSS(`.factor-list`)),
	))
	wantPath(t, ctx, "/account")
	rows, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.factor-list tbody`)))
	must(t, err)
	if !strings.Contains(rows, "Laptop") || !strings.Contains(rows, "Authenticator app") {
		t.Fatalf("factors listed:\n%s", rows)
	}
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`)))
	capture(t, ctx, "account-factors")
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/account/factors/remove"]:has(input[value="totp"]) button`)),
	))
	pollTrue(t, ctx, `(document.querySelector('.alert--notice') || {textContent: ''}).textContent.includes('removed')`,
		"no notice after removing the app")
	rows, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.factor-list tbody`)))
	must(t, err)
	if strings.Contains(rows, "Authenticator app") || !strings.Contains(rows, "Laptop") {
		t.Fatalf("after removing the app:\n%s", rows)
	}
}
