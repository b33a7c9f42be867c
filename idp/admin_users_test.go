package idp_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp"
	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/credentials"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

var linkRe = regexp.MustCompile(`id="set-password-link"[^>]*>([^<]+)</textarea>`)

// linkFromPage is the one-time link shown on the admin's link page.
func linkFromPage(t *testing.T, body string) string {
	t.Helper()
	m := linkRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no one-time link on the page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

// tokenOf is the token of a one-time link.
func tokenOf(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	must(t, err)
	return u.Query().Get("token")
}

// setPassword opens link in b and sets password through its form, and
// returns the answer to the POST.
func (e *env) setPassword(b *browser, link, password, again string) (*http.Response, string) {
	e.t.Helper()
	resp, body := b.get(link)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d\n%s", link, resp.StatusCode, body)
	}
	return b.post(e.issuer+"/set-password", url.Values{"token": {tokenOf(e.t, link)}, "new_password": {password}, "confirm_password": {again}})
}

// passwordSignIn posts email and password to the sign-in page of a new
// account sign-in in b and returns where it went.
func (e *env) passwordSignIn(b *browser, email, password string) (*http.Response, string) {
	e.t.Helper()
	_, body := b.get(e.issuer + "/account")
	return b.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(e.t, body)}, "email": {email}, "password": {password}})
}

func (e *env) userCount(t *testing.T) int {
	t.Helper()
	us, err := e.store.ListUsers(context.Background(), e.tenant.ID)
	must(t, err)
	return len(us)
}

// TestAdminCreatesUserWithLink: an admin creates a user on the page and
// gets a one-time link, once; bad and taken emails are refused with the
// form as typed and nothing created; opening the link does not spend it;
// the form refuses short and mismatched passwords; the password set, the
// link is spent (a second use is refused, changing nothing), and the user
// signs in and is sent to enroll, as the tenant requires.
func TestAdminCreatesUserWithLink(t *testing.T) {
	logs := &syncBuffer{}
	debugLog := func(o *idp.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	forEachBackendWith(t, debugLog, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)
		before := e.userCount(t)

		for _, c := range []struct {
			email  string
			status int
			msg    string
		}{
			{"not-an-email", http.StatusBadRequest, "Enter the user&#39;s email address"},
			{"Ada <ada2@example.com>", http.StatusBadRequest, "Enter the user&#39;s email address"},
			{"ADA@example.com", http.StatusConflict, "A user with this email already exists."},
		} {
			resp, body := b.post(e.issuer+"/admin/users", url.Values{"email": {c.email}, "name": {"Typed Name"}, "admin": {"yes"}})
			if resp.StatusCode != c.status || !strings.Contains(body, c.msg) || !strings.Contains(body, `value="Typed Name"`) ||
				!strings.Contains(body, `name="admin" value="yes" checked`) || !strings.Contains(body, `<details class="panel panel--quiet add-user" open>`) {
				t.Errorf("create %q: %d\n%s", c.email, resp.StatusCode, body)
			}
		}
		if n := e.userCount(t); n != before {
			t.Fatalf("refused forms created users: %d, was %d", n, before)
		}

		resp, body := b.post(e.issuer+"/admin/users", url.Values{"email": {" Newbie@Example.com "}, "name": {"Nina Newbie"}})
		if resp.StatusCode != http.StatusCreated || !strings.Contains(body, "User created") ||
			resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("create: %d %v\n%s", resp.StatusCode, resp.Header, body)
		}
		link := linkFromPage(t, body)
		if !strings.HasPrefix(link, e.issuer+"/set-password?token=") || len(tokenOf(t, link)) < 40 {
			t.Fatalf("link %q", link)
		}
		nina := mustUser(t, e, "newbie@example.com")
		if nina.Name != "Nina Newbie" || nina.IsAdmin() || nina.PasswordHash != "" {
			t.Errorf("created %+v", nina)
		}
		// The link is shown once: the admin page does not show it again.
		if _, body := b.get(e.issuer + "/admin"); strings.Contains(body, tokenOf(t, link)) {
			t.Error("the admin page shows the link again")
		}
		evs, err := e.store.ListAudit(ctx, store.AuditFilter{TenantID: e.tenant.ID, SubjectID: nina.ID})
		must(t, err)
		if len(evs) != 1 || evs[0].Event != audit.UserCreated || evs[0].ActorID != a.id || strings.Contains(evs[0].Detail, tokenOf(t, link)) ||
			!strings.Contains(evs[0].Detail, `"email":"newbie@example.com"`) || !strings.Contains(evs[0].Detail, `"via":"admin page"`) {
			t.Errorf("audit %+v", evs)
		}
		// No password works before the link is used.
		if resp, body := e.passwordSignIn(newBrowser(t), "newbie@example.com", ""); resp.StatusCode == http.StatusOK && !strings.Contains(body, "not correct") {
			t.Errorf("an empty password: %d", resp.StatusCode)
		}

		nb := newBrowser(t)
		for range 2 { // opening the link does not spend it
			resp, body := nb.get(link)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Choose your password") || !strings.Contains(body, `autocomplete="new-password"`) ||
				!strings.Contains(body, "At least 12 characters") || resp.Header.Get("Referrer-Policy") != "no-referrer" {
				t.Fatalf("the link's page: %d\n%s", resp.StatusCode, body)
			}
		}
		for _, c := range []struct{ pw, again, msg string }{
			{"short", "short", "at least 12 characters"},
			{"a long passphrase here", "a different passphrase", "The two passwords differ."},
		} {
			if resp, body := e.setPassword(nb, link, c.pw, c.again); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.msg) {
				t.Errorf("password %q/%q: %d\n%s", c.pw, c.again, resp.StatusCode, body)
			}
		}
		const ninaPassword = "correct horse battery staple"
		resp, body = e.setPassword(nb, link, ninaPassword, ninaPassword)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Your password is set") || !strings.Contains(body, `href="/account"`) {
			t.Fatalf("setting the password: %d\n%s", resp.StatusCode, body)
		}
		hash := mustUser(t, e, "newbie@example.com").PasswordHash
		if !strings.HasPrefix(hash, "$argon2id$") {
			t.Fatalf("hash %q", hash)
		}
		// Used twice: refused, with a way on, and nothing changes.
		resp, body = nb.post(e.issuer+"/set-password", url.Values{"token": {tokenOf(t, link)}, "new_password": {"another long password"}, "confirm_password": {"another long password"}})
		if resp.StatusCode != http.StatusGone || !strings.Contains(body, "This link was already used") || !strings.Contains(body, `href="/account"`) {
			t.Errorf("second use: %d\n%s", resp.StatusCode, body)
		}
		if resp, _ := nb.get(link); resp.StatusCode != http.StatusGone {
			t.Errorf("opening a used link: %d", resp.StatusCode)
		}
		if mustUser(t, e, "newbie@example.com").PasswordHash != hash {
			t.Error("a used link changed the password")
		}
		for _, bad := range []string{e.issuer + "/set-password?token=nonsense", e.issuer + "/set-password"} {
			if resp, body := nb.get(bad); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "This link does not work") {
				t.Errorf("%s: %d", bad, resp.StatusCode)
			}
		}
		if !slices.Contains(e.auditEvents("newbie@example.com"), string(audit.PasswordSetByLink)) {
			t.Error("no password.set_by_link event")
		}

		// The tenant requires TFA: the first sign-in enrolls.
		e.requireTFA(true)
		nu := &mfaUser{email: "newbie@example.com", password: ninaPassword}
		relying := e.rp(e.client, e.secret)
		e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), nu)
		if !slices.Equal(nu.pages, []string{"/login", "/enroll", "/enroll/recovery-key", "/enroll/verify", "/consent"}) {
			t.Errorf("Nina's first sign-in: %v", nu.pages)
		}
		// Neither the link nor the password was ever logged.
		if out := logs.String(); !strings.Contains(out, "/set-password") || strings.Contains(out, tokenOf(t, link)) || strings.Contains(out, ninaPassword) {
			t.Errorf("the log holds the link's token or the password (or no request to the page at all):\n%s", out)
		}
	})
}

// TestAdminDisableEnableDelete: disabling needs the confirmation step,
// then ends the user's sessions (tokens revoked, refresh refused,
// prompt=none login_required) and refuses their sign-in with the wrong
// password's answer; enabling lets them in again; deleting (confirmed)
// removes the user and keeps the audit rows; nobody acts on themselves or
// on another tenant's users.
func TestAdminDisableEnableDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)
		adaB := newBrowser(t)
		relying, tok := e.signedInWithTokens(adaB)
		ada := mustUser(t, e, "ada@example.com")
		disable := e.issuer + "/admin/users/" + ada.ID + "/disable"

		resp, body := b.get(disable)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Disable ada@example.com?") || !strings.Contains(body, "All their sessions end now") ||
			!strings.Contains(body, `action="/admin/users/`+ada.ID+`/disable"`) || !strings.Contains(body, `href="/admin#users">Cancel</a>`) {
			t.Fatalf("disable confirmation: %d\n%s", resp.StatusCode, body)
		}
		if resp, body := b.post(disable, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Disable ada@example.com?") {
			t.Fatalf("disable without confirming: %d", resp.StatusCode)
		}
		if mustUser(t, e, ada.Email).Disabled || !e.introspect(t, tok.AccessToken) {
			t.Fatal("the confirmation page disabled Ada")
		}
		resp, body = b.post(disable, url.Values{"confirmed": {"yes"}})
		if resp.Request.URL.Path != "/admin" || !strings.Contains(body, "The user was disabled and cannot sign in. 1 session was ended.") {
			t.Fatalf("disable: %s\n%s", resp.Request.URL, body)
		}
		if e.introspect(t, tok.AccessToken) {
			t.Error("Ada's access token is active after she was disabled")
		}
		if _, err := relying.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
			t.Error("Ada's refresh token works after she was disabled")
		}
		if got := e.promptNone(adaB, relying); got != "login_required" {
			t.Errorf("prompt=none after disabling: %s", got)
		}
		resp, body = e.passwordSignIn(newBrowser(t), ada.Email, testPassword)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, html.EscapeString(credentials.MsgBadCredentials)) {
			t.Errorf("a disabled user's sign-in: %d\n%s", resp.StatusCode, body)
		}
		if !slices.Contains(e.auditEvents(ada.Email), string(audit.UserDisabled)) {
			t.Error("no user.disabled event")
		}

		resp, body = b.post(e.issuer+"/admin/users/"+ada.ID+"/enable", nil)
		if !strings.Contains(body, "The user was enabled") || mustUser(t, e, ada.Email).Disabled {
			t.Fatalf("enable: %d\n%s", resp.StatusCode, body)
		}
		e.signedInWithTokens(newBrowser(t)) // signs in again

		// Not on oneself: no links on one's own row, and 409 by hand.
		for _, p := range []string{"/disable", "/delete"} {
			if resp, body := b.post(e.issuer+"/admin/users/"+a.id+p, url.Values{"confirmed": {"yes"}}); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "your own account") {
				t.Errorf("%s oneself: %d", p, resp.StatusCode)
			}
			if resp, _ := b.get(e.issuer + "/admin/users/" + a.id + p); resp.StatusCode != http.StatusConflict {
				t.Errorf("GET %s oneself: %d", p, resp.StatusCode)
			}
		}
		// Not on another tenant's user, nor a made-up one: 404, nothing done.
		other := &store.Tenant{Slug: "globex", Name: "Globex"}
		must(t, e.store.CreateTenant(ctx, other))
		stranger := &store.User{TenantID: other.ID, Email: "hank@globex.example", PasswordHash: "x"}
		must(t, e.store.CreateUser(ctx, stranger))
		for _, id := range []string{stranger.ID, "nobody"} {
			for _, p := range []string{"/disable", "/enable", "/delete", "/reset-password"} {
				if resp, body := b.post(e.issuer+"/admin/users/"+id+p, url.Values{"confirmed": {"yes"}}); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "User not found") {
					t.Errorf("%s%s: %d", id, p, resp.StatusCode)
				}
			}
			if resp, _ := b.get(e.issuer + "/admin/users/" + id + "/delete"); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET delete %s: %d", id, resp.StatusCode)
			}
		}
		if u, err := e.store.UserByID(ctx, stranger.ID); err != nil || u.Disabled {
			t.Errorf("the stranger was changed: %+v %v", u, err)
		}

		// Delete: confirmed only.
		del := e.issuer + "/admin/users/" + ada.ID + "/delete"
		if resp, body := b.post(del, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Delete ada@example.com?") || !strings.Contains(body, "This cannot be undone.") {
			t.Fatalf("delete without confirming: %d\n%s", resp.StatusCode, body)
		}
		mustUser(t, e, ada.Email)
		resp, body = b.post(del, url.Values{"confirmed": {"yes"}})
		if resp.Request.URL.Path != "/admin" || !strings.Contains(body, "The user was deleted. 1 session was ended.") {
			t.Fatalf("delete: %s\n%s", resp.Request.URL, body)
		}
		if _, err := e.store.UserByEmail(ctx, ada.Email); err == nil {
			t.Fatal("Ada still exists")
		}
		evs, err := e.store.ListAudit(ctx, store.AuditFilter{TenantID: e.tenant.ID, SubjectID: ada.ID, Limit: 500})
		must(t, err)
		if len(evs) < 5 || evs[0].Event != audit.UserDeleted || !strings.Contains(evs[0].Detail, `"email":"ada@example.com"`) {
			t.Errorf("Ada's audit rows after the deletion: %d, newest %+v", len(evs), evs[0])
		}
		if resp, _ := e.passwordSignIn(newBrowser(t), ada.Email, testPassword); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a deleted user's sign-in: %d", resp.StatusCode)
		}
		if resp, _ := b.post(del, url.Values{"confirmed": {"yes"}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("deleting again: %d", resp.StatusCode)
		}
	})
}

// TestAdminResetPasswordLink: the reset link keeps the current password
// working until it is used; using it sets the new one, ends the user's
// sessions, and a second use or an expired link is refused.
func TestAdminResetPasswordLink(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)
		adaB := newBrowser(t)
		relying, tok := e.signedInWithTokens(adaB)
		ada := mustUser(t, e, "ada@example.com")
		reset := e.issuer + "/admin/users/" + ada.ID + "/reset-password"

		resp, body := b.post(reset, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Password reset link") || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("reset: %d\n%s", resp.StatusCode, body)
		}
		link := linkFromPage(t, body)
		// The current password still works, and the session goes on.
		if resp, _ := e.passwordSignIn(newBrowser(t), ada.Email, testPassword); resp.Request.URL.Path != "/account" {
			t.Errorf("the current password after the link was issued: %s", resp.Request.URL)
		}
		if !e.introspect(t, tok.AccessToken) {
			t.Error("issuing the link ended Ada's session")
		}
		const fresh = "a brand new passphrase"
		if resp, body := e.setPassword(newBrowser(t), link, fresh, fresh); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Your password is set") {
			t.Fatalf("setting: %d\n%s", resp.StatusCode, body)
		}
		if e.introspect(t, tok.AccessToken) {
			t.Error("Ada's token is active after the new password")
		}
		if got := e.promptNone(adaB, relying); got != "login_required" {
			t.Errorf("prompt=none after the new password: %s", got)
		}
		if resp, _ := e.passwordSignIn(newBrowser(t), ada.Email, testPassword); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the old password: %d", resp.StatusCode)
		}
		if resp, _ := e.passwordSignIn(newBrowser(t), ada.Email, fresh); resp.Request.URL.Path != "/account" {
			t.Errorf("the new password: %s", resp.Request.URL)
		}
		if resp, _ := newBrowser(t).get(link); resp.StatusCode != http.StatusGone {
			t.Errorf("the used link: %d", resp.StatusCode)
		}
		evs := e.auditEvents(ada.Email)
		if !slices.Contains(evs, string(audit.UserPasswordResetLink)) || !slices.Contains(evs, string(audit.PasswordSetByLink)) {
			t.Errorf("audit %v", evs)
		}

		// An expired link is refused and changes nothing.
		_, body = b.post(reset, nil)
		link = linkFromPage(t, body)
		_, err := e.store.SQLDB().ExecContext(ctx, "UPDATE password_links SET expires_at = created_at")
		must(t, err)
		hash := mustUser(t, e, ada.Email).PasswordHash
		nb := newBrowser(t)
		if resp, body := nb.get(link); resp.StatusCode != http.StatusGone || !strings.Contains(body, "This link has expired") {
			t.Errorf("an expired link: %d\n%s", resp.StatusCode, body)
		}
		resp, _ = nb.post(e.issuer+"/set-password", url.Values{"token": {tokenOf(t, link)}, "new_password": {fresh + "!"}, "confirm_password": {fresh + "!"}})
		if resp.StatusCode != http.StatusGone || mustUser(t, e, ada.Email).PasswordHash != hash {
			t.Errorf("posting to an expired link: %d", resp.StatusCode)
		}
		// A cross-site post to the form is refused.
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/set-password", strings.NewReader("token=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err = http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site post: %d", resp.StatusCode)
		}
	})
}

// TestAdminUserManagementAPI: create (the link once, 201), a taken or bad
// email (409, 400), search and pages, reset-password, disable, enable,
// delete, and 404 for another tenant's user; the admin cannot disable or
// delete themselves.
func TestAdminUserManagementAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)
		e.enrollFromAccount(b, a.user)
		tok := e.adminToken(b, a, a.user, "openid", claims.ScopeAdmin)

		status, _, out := e.api(http.MethodPost, "/admin/api/users", tok, `{"email":"Api.User@example.com","name":"Api User","admin":true}`)
		user, _ := out["user"].(map[string]any)
		link, _ := out["set_password_link"].(string)
		if status != http.StatusCreated || user["email"] != "api.user@example.com" || user["role"] != "admin" ||
			!strings.HasPrefix(link, e.issuer+"/set-password?token=") || out["link_expires_at"] == nil {
			t.Fatalf("create: %d %v", status, out)
		}
		id := user["id"].(string)
		status, _, out = e.api(http.MethodPost, "/admin/api/users", tok, `{"email":"api.user@EXAMPLE.com"}`)
		wantAPIError(t, "taken email", status, out, http.StatusConflict, "conflict")
		for _, body := range []string{`{"email":"nope"}`, `{"name":"x"}`, `{"email":"a@b.example","extra":1}`, `{"email":"a@b.example","name":"` + strings.Repeat("n", 201) + `"}`} {
			status, _, out = e.api(http.MethodPost, "/admin/api/users", tok, body)
			wantAPIError(t, body, status, out, http.StatusBadRequest, "invalid_request")
		}

		// Search and pages.
		for i := range 7 {
			must(t, e.store.CreateUser(ctx, &store.User{TenantID: e.tenant.ID, Email: fmt.Sprintf("zed%d@example.com", i), Name: "Zed Person", PasswordHash: "x"}))
		}
		status, _, out = e.api(http.MethodGet, "/admin/api/users?q=ZED&limit=5", tok, "")
		if users, _ := out["users"].([]any); status != http.StatusOK || len(users) != 5 || out["total"] != float64(7) || out["next_offset"] != float64(5) {
			t.Fatalf("search: %d %v", status, out)
		}
		status, _, out = e.api(http.MethodGet, "/admin/api/users?q=person&limit=5&offset=5", tok, "")
		if users, _ := out["users"].([]any); status != http.StatusOK || len(users) != 2 || out["next_offset"] != nil {
			t.Fatalf("second page: %d %v", status, out)
		}
		for _, q := range []string{"offset=-1", "limit=0", "q=a&q=b"} {
			status, _, out = e.api(http.MethodGet, "/admin/api/users?"+q, tok, "")
			wantAPIError(t, q, status, out, http.StatusBadRequest, "invalid_request")
		}

		status, _, out = e.api(http.MethodPost, "/admin/api/users/"+id+"/reset-password", tok, "")
		if status != http.StatusOK || out["set_password_link"] == link || out["set_password_link"] == nil {
			t.Fatalf("reset-password: %d %v", status, out)
		}
		if resp, _ := newBrowser(t).get(link); resp.StatusCode != http.StatusNotFound {
			t.Errorf("the replaced link: %d", resp.StatusCode)
		}
		status, _, out = e.api(http.MethodPost, "/admin/api/users/"+id+"/disable", tok, "")
		if status != http.StatusOK || out["disabled"] != true || !mustUser(t, e, "api.user@example.com").Disabled {
			t.Fatalf("disable: %d %v", status, out)
		}
		status, _, out = e.api(http.MethodPost, "/admin/api/users/"+id+"/reset-password", tok, "")
		wantAPIError(t, "reset-password of a disabled user", status, out, http.StatusConflict, "conflict")
		status, _, out = e.api(http.MethodPost, "/admin/api/users/"+id+"/enable", tok, "{}")
		if status != http.StatusOK || out["disabled"] != false {
			t.Fatalf("enable: %d %v", status, out)
		}
		for _, p := range []string{"/disable"} {
			status, _, out = e.api(http.MethodPost, "/admin/api/users/"+a.id+p, tok, "")
			wantAPIError(t, "oneself"+p, status, out, http.StatusConflict, "conflict")
		}
		status, _, out = e.api(http.MethodDelete, "/admin/api/users/"+a.id, tok, "")
		wantAPIError(t, "deleting oneself", status, out, http.StatusConflict, "conflict")

		other := &store.Tenant{Slug: "globex", Name: "Globex"}
		must(t, e.store.CreateTenant(ctx, other))
		stranger := &store.User{TenantID: other.ID, Email: "hank@globex.example", PasswordHash: "x"}
		must(t, e.store.CreateUser(ctx, stranger))
		for _, p := range []string{"/disable", "/enable", "/reset-password"} {
			status, _, out = e.api(http.MethodPost, "/admin/api/users/"+stranger.ID+p, tok, "")
			wantAPIError(t, "stranger"+p, status, out, http.StatusNotFound, "not_found")
		}
		status, _, out = e.api(http.MethodDelete, "/admin/api/users/"+stranger.ID, tok, "")
		wantAPIError(t, "deleting a stranger", status, out, http.StatusNotFound, "not_found")

		status, _, out = e.api(http.MethodDelete, "/admin/api/users/"+id, tok, "")
		if status != http.StatusOK || out["deleted"] != true {
			t.Fatalf("delete: %d %v", status, out)
		}
		if _, err := e.store.UserByID(ctx, id); err == nil {
			t.Error("the user survived DELETE")
		}
		status, _, out = e.api(http.MethodGet, "/admin/api/audit?user="+id, tok, "")
		wantAPIError(t, "audit of a deleted user", status, out, http.StatusNotFound, "not_found")
		status, _, out = e.api(http.MethodGet, "/admin/api/audit?event=user.deleted", tok, "")
		if evs, _ := out["events"].([]any); status != http.StatusOK || len(evs) != 1 {
			t.Errorf("user.deleted events: %d %v", status, out)
		}
	})
}

// TestAdminUsersSearchAndPages: the page's users list searches by a part
// of the email or name in any case and pages by 50, without script.
func TestAdminUsersSearchAndPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)
		for i := range 60 {
			must(t, e.store.CreateUser(ctx, &store.User{TenantID: e.tenant.ID, Email: fmt.Sprintf("member%02d@example.com", i), Name: fmt.Sprintf("Member Number %d", i), PasswordHash: "x"}))
		}
		_, body := b.get(e.issuer + "/admin")
		if !strings.Contains(body, "Users 1–50 of 62") || !strings.Contains(body, `href="/admin?upage=2#users" rel="next"`) {
			t.Fatalf("first page of users:\n%s", body)
		}
		_, body = b.get(e.issuer + "/admin?upage=2")
		if !strings.Contains(body, "Users 51–62 of 62") || !strings.Contains(body, `href="/admin#users" rel="prev"`) || strings.Contains(body, `rel="next">Next`) ||
			!strings.Contains(body, "root@example.com") {
			t.Errorf("second page of users:\n%s", body)
		}
		_, body = b.get(e.issuer + "/admin?q=NUMBER+1")
		// Member Number 1 and 10..19.
		_, users, _ := strings.Cut(body, `id="users"`)
		users, _, _ = strings.Cut(users, `id="audit"`)
		if !strings.Contains(users, "Users 1–11 of 11") || !strings.Contains(users, `value="NUMBER 1"`) || strings.Contains(users, "member02@") ||
			!strings.Contains(users, "member19@") {
			t.Errorf("search:\n%s", body)
		}
		_, body = b.get(e.issuer + "/admin?q=nobody-at-all")
		if !strings.Contains(body, "No user matches “nobody-at-all”.") {
			t.Errorf("search without match:\n%s", body)
		}
		for _, q := range []string{"upage=0", "upage=x"} {
			if resp, _ := b.get(e.issuer + "/admin?" + q); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d", q, resp.StatusCode)
			}
		}
	})
}

var olderRe = regexp.MustCompile(`href="([^"]*before=[^"]*)" rel="next"`)
var newerRe = regexp.MustCompile(`href="([^"]*after=[^"]*)" rel="prev"`)

// TestAdminAuditPagesAndExports: the audit log pages by (time, id) with
// Older and Newer links, shows times to the second, and downloads the
// whole filtered log as CSV (with formula injection guarded) and JSON
// lines, on the page and in the API.
func TestAdminAuditPagesAndExports(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)
		ada := mustUser(t, e, "ada@example.com")
		base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		for i := range 150 {
			// Pairs of events share a second.
			ev := &store.AuditEvent{TenantID: e.tenant.ID, SubjectID: ada.ID, Event: audit.SessionsRevoked, ActorID: a.id,
				Detail: fmt.Sprintf(`{"sessions_ended":%d,"via":"cli"}`, i), CreatedAt: base.Add(time.Duration(i/2) * time.Second)}
			if i == 149 {
				ev.UserAgent, ev.IP = `=HYPERLINK("http://evil.example","click")`, "@evil"
			}
			must(t, e.store.Audit(ctx, ev))
		}
		_, body := b.get(e.issuer + "/admin?event=sessions.revoked&user=" + ada.ID)
		if !strings.Contains(body, "When (UTC)") || !strings.Contains(body, base.Add(74*time.Second).Format("2006-01-02 15:04:05")) {
			t.Fatalf("times to the second:\n%s", auditTable(body))
		}
		if strings.Count(auditTable(body), "<tr>")-1 != 100 || newerRe.MatchString(body) {
			t.Fatalf("first page: %d rows", strings.Count(auditTable(body), "<tr>")-1)
		}
		m := olderRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no Older link:\n%s", body)
		}
		_, body = b.get(e.issuer + html.UnescapeString(m[1]))
		if n := strings.Count(auditTable(body), "<tr>") - 1; n != 50 || olderRe.MatchString(body) || !newerRe.MatchString(body) {
			t.Fatalf("second page: %d rows, older %v, newer %v", n, olderRe.MatchString(body), newerRe.MatchString(body))
		}
		if !strings.Contains(body, "user="+ada.ID) || !strings.Contains(body, "event=sessions.revoked") {
			t.Error("the links lose the filters")
		}
		_, body = b.get(e.issuer + html.UnescapeString(newerRe.FindStringSubmatch(body)[1]))
		if n := strings.Count(auditTable(body), "<tr>") - 1; n != 100 || newerRe.MatchString(body) {
			t.Errorf("back to the newest page: %d rows, newer link %v", n, newerRe.MatchString(body))
		}
		for _, q := range []string{"before=x", "before=1-1&after=1-1", "after=12"} {
			if resp, _ := b.get(e.issuer + "/admin?" + q); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d", q, resp.StatusCode)
			}
		}

		// CSV from the page: every event of the filter, newest first.
		resp, raw := b.get(e.issuer + "/admin/audit/export?format=csv&event=sessions.revoked&user=" + ada.ID)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
			!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="audit-acme-`) {
			t.Fatalf("csv: %d %v", resp.StatusCode, resp.Header)
		}
		records, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
		must(t, err)
		if len(records) != 151 || !slices.Equal(records[0], []string{"id", "time", "event", "label", "actor_id", "actor", "subject_id", "subject", "detail", "ip", "user_agent"}) {
			t.Fatalf("csv: %d records, header %v", len(records), records[0])
		}
		newest := records[1]
		if newest[2] != "sessions.revoked" || newest[5] != "root@example.com" || newest[7] != "ada@example.com" ||
			newest[9] != "'@evil" || newest[10] != `'=HYPERLINK("http://evil.example","click")` || newest[8] != `{"sessions_ended":149,"via":"cli"}` {
			t.Errorf("newest row %q", newest)
		}
		if _, err := time.Parse(time.RFC3339, newest[1]); err != nil {
			t.Errorf("time %q", newest[1])
		}
		if resp, _ := b.get(e.issuer + "/admin/audit/export?format=xml"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("format=xml: %d", resp.StatusCode)
		}
		if resp, _ := newBrowser(t).get(e.issuer + "/admin/audit/export?format=csv"); resp.Request.URL.Path != "/login" {
			t.Errorf("a signed-out download went to %s", resp.Request.URL)
		}

		// The API: pages with cursors, and JSON lines.
		e.enrollFromAccount(b, a.user)
		tok := e.adminToken(b, a, a.user, "openid", claims.ScopeAdmin)
		status, _, out := e.api(http.MethodGet, "/admin/api/audit?event=sessions.revoked&limit=60", tok, "")
		events, _ := out["events"].([]any)
		older, _ := out["older"].(string)
		if status != http.StatusOK || len(events) != 60 || older == "" || out["newer"] != nil {
			t.Fatalf("api page: %d %d events %v", status, len(events), out["older"])
		}
		status, _, out = e.api(http.MethodGet, "/admin/api/audit?event=sessions.revoked&limit=100&before="+url.QueryEscape(older), tok, "")
		if events, _ := out["events"].([]any); status != http.StatusOK || len(events) != 90 || out["older"] != nil || out["newer"] == nil {
			t.Fatalf("api second page: %d %d %v", status, len(events), out)
		}
		req, _ := http.NewRequest(http.MethodGet, e.issuer+"/admin/api/audit/export?format=jsonl&event=sessions.revoked", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err = http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/jsonl") {
			t.Fatalf("jsonl: %d %v", resp.StatusCode, resp.Header)
		}
		sc := bufio.NewScanner(resp.Body)
		var lines []map[string]any
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("line %d: %v: %s", len(lines)+1, err, sc.Text())
			}
			lines = append(lines, v)
		}
		must(t, sc.Err())
		if len(lines) != 150 || lines[0]["user_agent"] != `=HYPERLINK("http://evil.example","click")` || lines[0]["detail"].(map[string]any)["sessions_ended"] != float64(149) ||
			lines[149]["detail"].(map[string]any)["sessions_ended"] != float64(0) {
			t.Errorf("jsonl: %d lines, first %v", len(lines), lines[0])
		}
		req, _ = http.NewRequest(http.MethodGet, e.issuer+"/admin/api/audit/export?format=csv", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp2, err := http.DefaultClient.Do(req)
		must(t, err)
		rows, err := csv.NewReader(resp2.Body).ReadAll()
		resp2.Body.Close()
		must(t, err)
		all, err := e.store.ListAudit(ctx, store.AuditFilter{TenantID: e.tenant.ID, Limit: 1000})
		must(t, err)
		if len(rows) != len(all)+1 {
			t.Errorf("api csv: %d rows for %d events", len(rows), len(all))
		}
		status, _, out = e.api(http.MethodGet, "/admin/api/audit/export?format=pdf", tok, "")
		wantAPIError(t, "format=pdf", status, out, http.StatusBadRequest, "invalid_request")
	})
}

// TestAdminUserManagementInBrowser: in Chromium, an admin creates a user
// on /admin and the page shows the one-time link; a fresh browser context
// opens it, sets a password, signs in, is made to enroll an authenticator
// (the tenant requires 2FA) and reaches the account page. The users list,
// the link page, a confirmation page and the set-password pages pass the
// page audit at desktop and phone widths (screenshots with
// PORTCULLIS_SCREENSHOT_DIR).
func TestAdminUserManagementInBrowser(t *testing.T) {
	ctx := chromiumWithin(t, browserLimit)
	e := newEnv(t, storetest.OpenSQLite)
	e.requireTFA(true)
	a := e.newAdmin(t)
	app := e.activateAuthenticator(t, a.id)
	bg := context.Background()
	for i, name := range []string{"Linus Torvalds", "Margaret Hamilton", "Barbara Liskov"} {
		must(t, e.store.CreateUser(bg, &store.User{TenantID: e.tenant.ID, Email: fmt.Sprintf("%s@example.com", strings.ToLower(strings.Fields(name)[0])),
			Name: name, PasswordHash: "x", Disabled: i == 2}))
	}
	ada := mustUser(t, e, "ada@example.com")
	_, err := e.store.RevokeUserSessions(bg, ada.ID, "", store.Actor{UserID: a.id, Via: "admin page", IP: "2001:db8:85a3::8a2e:370:7334",
		UserAgent: "Mozilla/5.0"})
	must(t, err)

	// The admin signs in (password, code) and adds a user.
	must(t, chromedp.Do(ctx, chromedp.Navigate(e.issuer+"/admin")))
	typePassword(t, ctx, a.user.email, testPassword)
	must(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`input[name="code"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="code"]`), app.code(t)),
		chromedp.Submit(chromedp.CSS(`input[name="code"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#users`)),
		chromedp.Click(chromedp.CSS(`.add-user summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-email`)),
	))
	capture(t, ctx, "admin-users")
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#new-email`), "grace.new@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#new-name`), "Grace New"),
		chromedp.Click(chromedp.CSS(`.admin-create button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#set-password-link`)),
	))
	capture(t, ctx, "admin-link-shown")
	link := evaluate[string](t, ctx, `document.getElementById('set-password-link').value`)
	if !strings.HasPrefix(link, e.issuer+"/set-password?token=") {
		t.Fatalf("link %q", link)
	}

	// Ada's actions, opened.
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(e.issuer+"/admin#users"),
		chromedp.WaitVisible(chromedp.CSS(`#users`)),
		chromedp.Click(chromedp.CSS(`#users tbody tr:first-child details.manage summary`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/users/`+ada.ID+`/delete"]`)),
	))
	capture(t, ctx, "admin-users-manage")

	// A confirmation page, and Cancel back to the list.
	must(t, chromedp.Do(ctx, chromedp.Navigate(e.issuer+"/admin/users/"+ada.ID+"/disable"), chromedp.WaitVisible(chromedp.CSS(`.consequences`))))
	capture(t, ctx, "admin-confirm-disable")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a.btn--secondary`)), chromedp.WaitVisible(chromedp.CSS(`#users`))))
	wantPath(t, ctx, "/admin")
	if mustUser(t, e, ada.Email).Disabled {
		t.Fatal("Cancel disabled Ada")
	}

	// The new user, in a browser of their own (no cookie of the admin's).
	fresh := chromiumWithin(t, browserLimit)
	const password = "a sunny day in the park"
	must(t, chromedp.Do(fresh, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#new_password`))))
	if focused := evaluate[string](t, fresh, `document.activeElement && document.activeElement.id`); focused != "new_password" {
		t.Errorf("the password field has no focus on load (focus on %q)", focused)
	}
	// A new browser's first page is not yet the focused window: click, as
	// a person would, so the audit sees the focus ring.
	must(t, chromedp.Do(fresh, chromedp.Click(chromedp.CSS(`#new_password`))))
	capture(t, fresh, "set-password")
	must(t, chromedp.Do(fresh,
		chromedp.SendKeys(chromedp.CSS(`#new_password`), password),
		chromedp.SendKeys(chromedp.CSS(`#confirm_password`), password+"x"),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#set-password-error`)),
	))
	capture(t, fresh, "set-password-error")
	must(t, chromedp.Do(fresh,
		chromedp.SendKeys(chromedp.CSS(`#new_password`), password),
		chromedp.SendKeys(chromedp.CSS(`#confirm_password`), password),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account"]`)),
	))
	capture(t, fresh, "set-password-done")
	must(t, chromedp.Do(fresh, chromedp.Click(chromedp.CSS(`a[href="/account"]`))))
	typePassword(t, fresh, "grace.new@example.com", password)
	enrollInBrowser(t, fresh, e, "new-user-enroll")
	must(t, chromedp.Do(fresh, chromedp.WaitVisible(chromedp.CSS(`#password-heading`))))
	wantPath(t, fresh, "/account")
	u := mustUser(t, e, "grace.new@example.com")
	if has, _ := e.store.HasActiveAuthenticator(bg, u.ID); !has {
		t.Error("the new user has no authenticator")
	}

	// The link again: used.
	must(t, chromedp.Do(fresh, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`h1`))))
	if h := evaluate[string](t, fresh, `document.querySelector('h1').textContent`); h != "This link was already used" {
		t.Errorf("the used link says %q", h)
	}
	capture(t, fresh, "set-password-used")
}
