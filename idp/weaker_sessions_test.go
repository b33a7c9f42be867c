package idp_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
)

// weakSession is a browser signed in with a password alone, with the
// tokens an app got through it.
type weakSession struct {
	b   *browser
	rp  *rp
	tok *oauth2.Token
	sid string
}

// TestGainingASecondFactorEndsWeakerSessions: when a user enrolls (from
// the account page, forced during a sign-in, or after a reset), or signs
// in with the recovery key, their other password-only sessions end: no
// account page, refresh and access tokens revoked, a back-channel logout
// queued. The session that gained the factor goes on.
func TestGainingASecondFactorEndsWeakerSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		secret, hash, err := e.srv.ClientSecret()
		must(t, err)
		app := &store.Client{Name: "Acme Wiki", SecretHash: hash, RedirectURIs: []string{rpRedirect}, RequirePKCE: true,
			SkipConsent: true, BackchannelLogoutURI: "http://127.0.0.1:1/backchannel", Scopes: claims.SupportedScopes,
			GrantTypes: []string{"authorization_code", "refresh_token"}}
		must(t, e.store.CreateClient(ctx, app))

		weak := func(u *mfaUser) *weakSession {
			t.Helper()
			ws := &weakSession{b: newBrowser(t), rp: e.rp(app, secret)}
			verifier := oauth2.GenerateVerifier()
			var c idClaims
			ws.tok, c = e.tokenFor(ws.rp, e.signIn(ws.b, authURLFor(ws.rp, verifier), u), verifier)
			if c.ACR != claims.ACRPassword {
				t.Fatalf("%s: acr %s, want a password-only session", u.email, c.ACR)
			}
			ws.sid = c.SID
			return ws
		}
		wantEnded := func(what string, ws *weakSession, reason string) {
			t.Helper()
			if _, err := ws.rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: ws.tok.RefreshToken}).Token(); err == nil {
				t.Errorf("%s: the refresh token of the password-only session still works", what)
			}
			if _, out := e.introspectAs(t, app.ID, secret, ws.tok.AccessToken, ""); out["active"] != false {
				t.Errorf("%s: the access token of the password-only session is active", what)
			}
			bs, err := e.store.SessionByID(ctx, ws.sid)
			if err != nil || bs.EndedAt == nil || bs.EndReason != reason {
				t.Errorf("%s: session ended %v for %q (%v), want ended for %s", what, bs.EndedAt, bs.EndReason, err, reason)
			}
			if resp, _ := ws.b.get(e.issuer + "/account"); resp.Request.URL.Path != "/login" {
				t.Errorf("%s: the password-only browser reaches %s", what, resp.Request.URL.Path)
			}
			ds, err := e.store.ListLogoutDeliveries(ctx, e.tenant.ID, 100)
			must(t, err)
			if !slices.ContainsFunc(ds, func(d store.LogoutDelivery) bool { return d.SessionID == ws.sid && d.ClientID == app.ID }) {
				t.Errorf("%s: no back-channel logout for the ended session", what)
			}
		}
		wantLive := func(what string, b *browser) {
			t.Helper()
			if resp, _ := b.get(e.issuer + "/account"); resp.Request.URL.Path != "/account" || resp.StatusCode != http.StatusOK {
				t.Errorf("%s: the session that gained the factor is at %s (%d)", what, resp.Request.URL.Path, resp.StatusCode)
			}
		}

		// Enrolling from the account page.
		ada := &mfaUser{email: "ada@example.com", password: testPassword}
		phone := weak(ada)
		laptop := newBrowser(t)
		e.signIn(laptop, e.issuer+"/account", ada)
		e.enrollFromAccount(laptop, ada)
		wantEnded("enrolled from /account", phone, store.EndReasonMFAGained)
		wantLive("enrolled from /account", laptop)
		adaID := e.userID(t, ada.email)
		e.wantAudit(t, "enrolled from /account", audit.MFAEnrollmentCompleted, adaID, `{"sessions_ended":1,"factor":"totp"}`)

		// Reset by an admin, then enrolled again.
		_, err = e.store.ResetUserMFA(ctx, e.user.ID, store.Actor{Via: "cli"})
		must(t, err)
		phone = weak(ada)
		laptop = newBrowser(t)
		e.signIn(laptop, e.issuer+"/account", ada)
		e.enrollFromAccount(laptop, ada)
		wantEnded("reset, then enrolled", phone, store.EndReasonMFAGained)
		e.wantAudit(t, "reset, then enrolled", audit.MFAEnrollmentCompleted, adaID, `{"sessions_ended":1,"factor":"totp"}`, `{"sessions_ended":1,"factor":"totp"}`)
		wantLive("reset, then enrolled", laptop)

		// Forced enrollment at a sign-in, once the tenant requires TFA.
		grace := e.newUser("grace@example.com")
		phone = weak(grace)
		e.requireTFA(true)
		laptop = newBrowser(t)
		e.signIn(laptop, authURLFor(e.rp(app, secret), oauth2.GenerateVerifier()), grace)
		if grace.pages[1] != "/enroll" {
			t.Fatalf("forced enrollment: pages %v", grace.pages)
		}
		wantEnded("forced enrollment", phone, store.EndReasonMFAGained)
		e.wantAudit(t, "forced enrollment", audit.MFAEnrollmentCompleted, e.userID(t, grace.email), `{"sessions_ended":1,"factor":"totp"}`)
		wantLive("forced enrollment", laptop)
		e.requireTFA(false)

		// The recovery key. A password-only session of a user with an
		// authenticator exists only from before it (given by the store
		// here, as enrolling through Portcullis ends such sessions).
		linus := e.newUser("linus@example.com")
		phone = weak(linus)
		linusUser, err := e.store.UserByEmail(ctx, "linus@example.com")
		must(t, err)
		key, err := mfa.NewRecoveryKey(nil)
		must(t, err)
		totp, err := mfa.NewSecret(nil)
		must(t, err)
		must(t, e.store.BeginEnrollment(ctx, linusUser.ID, totp))
		must(t, e.store.ConfirmEnrollment(ctx, linusUser.ID, totp, 1, mfa.HashRecoveryKey(key)))
		laptop = newBrowser(t)
		_, body := laptop.get(authURLFor(e.rp(app, secret), oauth2.GenerateVerifier()))
		resp, body := laptop.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)},
			"email": {linus.email}, "password": {linus.password}})
		if resp.Request.URL.Path != "/login/code" {
			t.Fatalf("linus: %s after the password", resp.Request.URL.Path)
		}
		laptop.post(e.issuer+"/login/recovery", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "recovery_key": {string(key)}})
		if laptop.landed == nil || laptop.landed.Query().Get("code") == "" {
			t.Fatalf("recovery key sign-in did not reach the app: %s", laptop.last.Request.URL)
		}
		wantEnded("recovery key", phone, store.EndReasonRecoveryUsed)
		e.wantAudit(t, "recovery key", audit.MFARecoveryUsed, linusUser.ID, `{"sessions_ended":1}`)
		wantLive("recovery key", laptop)
	})
}

// TestAccountNeedsTheSecondFactor: once a user has an authenticator, a
// password-only session of theirs (from before it) is sent to enter a
// code on GET /account and refused on every account action, so it cannot
// change the password or end the user's stronger sessions; after the code
// the page is theirs again.
func TestAccountNeedsTheSecondFactor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ada := &mfaUser{email: "ada@example.com", password: testPassword}
		weakB := newBrowser(t)
		e.signIn(weakB, e.issuer+"/account", ada)
		ada.app = e.activateAuthenticator(t, e.user.ID) // by the operator's store, so the session stays
		strong := newBrowser(t)
		e.signIn(strong, e.issuer+"/account", ada)
		strongSID := sessionIDOf(t, e, strong)

		for _, action := range []string{"/account/sessions/end-others", "/account/password", "/account/2fa/deactivate",
			"/account/2fa/recovery-key", "/account/sessions/end"} {
			resp, _ := weakB.post(e.issuer+action, url.Values{"session": {strongSID}, "current_password": {testPassword},
				"new_password": {"another long password 123"}, "confirm_password": {"another long password 123"}, "code": {ada.app.code(t)}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s from a password-only session: %d, want 403", action, resp.StatusCode)
			}
		}
		if bs, err := e.store.SessionByID(ctx, strongSID); err != nil || bs.EndedAt != nil {
			t.Fatalf("the MFA session was ended by a password-only one (%v)", err)
		}
		u, err := e.store.UserByID(ctx, e.user.ID)
		must(t, err)
		if u.PasswordHash != e.user.PasswordHash {
			t.Fatal("a password-only session changed the password")
		}

		// GET /account asks for the code, and after it shows the page.
		resp, body := weakB.get(e.issuer + "/account")
		if resp.Request.URL.Path != "/login/code" {
			t.Fatalf("GET /account from a password-only session: %s, want the code page", resp.Request.URL.Path)
		}
		resp, _ = weakB.post(e.issuer+"/login/code", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "code": {ada.app.code(t)}})
		if resp.Request.URL.Path != "/account" || resp.StatusCode != http.StatusOK {
			t.Fatalf("after the code: %s (%d)", resp.Request.URL.Path, resp.StatusCode)
		}
		resp, _ = weakB.post(e.issuer+"/account/sessions/end-others", nil)
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/account" {
			t.Errorf("end others after the code: %s (%d)", resp.Request.URL.Path, resp.StatusCode)
		}
	})
}
