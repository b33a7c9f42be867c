package idp_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
)

var sessionFieldRe = regexp.MustCompile(`name="session" value="([^"]+)"`)

// TestAccountSessions: the account page lists the user's sessions; "Sign
// out" ends one (its tokens with it), "Sign out everywhere else" ends the
// others, and a password change (current password and a code) ends the
// others too. Someone else's session id is not found.
func TestAccountSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := &mfaUser{email: "ada@example.com", password: testPassword}
		relying := e.rp(e.client, e.secret)

		// Three browsers: this one (the account page), a phone with tokens,
		// and a laptop.
		here, phone, laptop := newBrowser(t), newBrowser(t), newBrowser(t)
		phone.userAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1"
		e.signIn(here, e.issuer+"/account", u)
		verifier := oauth2.GenerateVerifier()
		phoneTok, _ := e.tokenFor(relying, e.signIn(phone, authURLFor(relying, verifier), u), verifier)
		e.signIn(laptop, authURLFor(relying, oauth2.GenerateVerifier()), u)

		_, body := here.get(e.issuer + "/account")
		// The sessions table's rows (the header's Sign out posts this one too).
		_, table, _ := strings.Cut(body, `id="sessions-table"`)
		ids := sessionFieldRe.FindAllStringSubmatch(table, -1)
		if len(ids) != 3 || !strings.Contains(body, "Safari on iPhone") || !strings.Contains(body, "This device") ||
			!strings.Contains(body, "Password only") || !strings.Contains(body, "127.0.0.1") {
			t.Fatalf("sessions on the account page (%d):\n%s", len(ids), body)
		}

		// Sign out the phone: its session and tokens end.
		phoneSID := sessionIDOf(t, e, phone)
		resp, body := here.post(e.issuer+"/account/sessions/end", url.Values{"session": {phoneSID}})
		if !strings.Contains(body, "The session was signed out") {
			t.Fatalf("sign out the phone: %d\n%s", resp.StatusCode, body)
		}
		if got := e.promptNone(phone, relying); got != "login_required" {
			t.Fatalf("phone after sign-out: %s", got)
		}
		if e.introspect(t, phoneTok.AccessToken) {
			t.Fatal("the phone's access token survived")
		}
		if _, err := relying.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: phoneTok.RefreshToken}).Token(); err == nil {
			t.Fatal("the phone's refresh token survived")
		}
		adaID := e.userID(t, u.email)
		e.wantAudit(t, "sign out the phone", audit.Logout, adaID, `{"via":"account page","current":false}`)

		// Another user's session id answers 404 and ends nothing.
		other := e.newUser("grace@example.com")
		otherB := newBrowser(t)
		e.signIn(otherB, authURLFor(relying, oauth2.GenerateVerifier()), other)
		if resp, _ := here.post(e.issuer+"/account/sessions/end", url.Values{"session": {sessionIDOf(t, e, otherB)}}); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("ending another user's session: %d", resp.StatusCode)
		}
		if got := e.promptNone(otherB, relying); got != "code" {
			t.Fatalf("the other user's session ended: %s", got)
		}

		// Sign out everywhere else: the laptop ends, this browser stays.
		here.post(e.issuer+"/account/sessions/end-others", nil)
		if got := e.promptNone(laptop, relying); got != "login_required" {
			t.Fatalf("laptop after sign-out everywhere else: %s", got)
		}
		if got := e.promptNone(here, relying); got != "code" {
			t.Fatalf("this browser after sign-out everywhere else: %s", got)
		}
		e.wantAudit(t, "sign out everywhere else", audit.LogoutOthers, adaID, `{"sessions_ended":1}`)

		// Password change: wrong current password refused; then it works,
		// ends the other sessions, and the new password signs in.
		e.signIn(laptop, authURLFor(relying, oauth2.GenerateVerifier()), u)
		resp, _ = here.post(e.issuer+"/account/password", url.Values{"current_password": {"wrong password!"}, "new_password": {"a new long passphrase"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong current password: %d", resp.StatusCode)
		}
		resp, _ = here.post(e.issuer+"/account/password", url.Values{"current_password": {testPassword}, "new_password": {"short"}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("short new password: %d", resp.StatusCode)
		}
		resp, body = here.post(e.issuer+"/account/password", url.Values{"current_password": {testPassword}, "new_password": {"a new long passphrase"}})
		if !strings.Contains(body, "Your password was changed") {
			t.Fatalf("password change: %d\n%s", resp.StatusCode, body)
		}
		if got := e.promptNone(laptop, relying); got != "login_required" {
			t.Fatalf("laptop after the password change: %s", got)
		}
		e.wantAudit(t, "password change", audit.PasswordChanged, adaID, `{"sessions_ended":1}`)
		u.password = "a new long passphrase"
		e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), u)

		// Signing out this browser shows the signed-out page.
		here.get(e.issuer + "/account")
		resp, body = here.post(e.issuer+"/account/sessions/end", url.Values{"session": {sessionIDOf(t, e, here)}})
		if !strings.Contains(body, "You have signed out") {
			t.Fatalf("signing out this browser: %d\n%s", resp.StatusCode, body)
		}
		e.wantAudit(t, "sign out this browser", audit.Logout, adaID,
			`{"via":"account page","current":true}`, `{"via":"account page","current":false}`)
	})
}

// sessionIDOf returns the sid of the browser's session, read from a fresh
// ID token obtained with prompt=none.
func sessionIDOf(t *testing.T, e *env, b *browser) string {
	t.Helper()
	relying := e.rp(e.public, "")
	verifier := oauth2.GenerateVerifier()
	b.get(authURLFor(relying, verifier, oauth2.SetAuthURLParam("prompt", "none")))
	if b.landed == nil || b.landed.Query().Get("code") == "" {
		t.Fatalf("no session in this browser: %v", b.landed)
	}
	_, c := e.tokenFor(relying, b.landed, verifier)
	return c.SID
}

// TestTenantSessionLifetimes: a tenant's absolute and idle overrides end
// sessions sooner than the deployment's.
func TestTenantSessionLifetimes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		relying := e.rp(e.client, e.secret)
		u := &mfaUser{email: "ada@example.com", password: testPassword}
		for _, tc := range []struct {
			name           string
			absolute, idle time.Duration
		}{
			{"absolute", 3 * time.Second, 0},
			{"idle", 0, 3 * time.Second},
		} {
			t.Run(tc.name, func(t *testing.T) {
				must(t, e.store.SetTenantSessionLifetimes(ctx, e.tenant.ID, tc.absolute, tc.idle, store.Actor{Via: "test"}))
				b := newBrowser(t)
				e.signIn(b, authURLFor(relying, oauth2.GenerateVerifier()), u)
				if got := e.promptNone(b, relying); got != "code" {
					t.Fatalf("right after sign-in: %s", got)
				}
				time.Sleep(3500 * time.Millisecond)
				if got := e.promptNone(b, relying); got != "login_required" {
					t.Fatalf("after the tenant's %s limit: %s", tc.name, got)
				}
			})
		}
	})
}

// TestSigningInAgainEndsTheEarlierSession: prompt=login in the same
// browser, as the same user, ends the session the cookie held (its access
// token stops working) and leaves exactly one live session.
func TestSigningInAgainEndsTheEarlierSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		relying := e.rp(e.client, e.secret)
		b := newBrowser(t)
		v := oauth2.GenerateVerifier()
		landed := e.authorize(b, relying.cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(v)), e.user.Email, testPassword)
		first, err := relying.cfg.Exchange(ctx, landed.Query().Get("code"), oauth2.VerifierOption(v))
		must(t, err)
		if !e.introspect(t, first.AccessToken) {
			t.Fatal("the first access token is not active")
		}

		b.landed = nil
		v = oauth2.GenerateVerifier()
		landed = e.authorize(b, relying.cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(v),
			oauth2.SetAuthURLParam("prompt", "login")), e.user.Email, testPassword)
		second, err := relying.cfg.Exchange(ctx, landed.Query().Get("code"), oauth2.VerifierOption(v))
		must(t, err)
		if e.introspect(t, first.AccessToken) {
			t.Error("the earlier session's access token still works after signing in again")
		}
		if !e.introspect(t, second.AccessToken) {
			t.Error("the new session's access token does not work")
		}
		live, err := e.store.ListUserSessions(ctx, e.user.ID, time.Hour)
		must(t, err)
		if len(live) != 1 {
			t.Errorf("%d live sessions after signing in again, want 1", len(live))
		}
		e.wantAudit(t, "signing in again", audit.SessionReplaced, e.user.ID, `{}`)
	})
}
