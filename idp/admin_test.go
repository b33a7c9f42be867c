package idp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/mfa"
)

// adminFixture is a tenant admin and a client allowed the admin scope.
type adminFixture struct {
	user    *mfaUser
	id      string
	console *store.Client
	secret  string
}

// newAdmin adds an admin (root@example.com) to the env's tenant, and
// "Acme Console", a confidential client registered with the
// portcullis:admin scope.
func (e *env) newAdmin(t *testing.T) *adminFixture {
	t.Helper()
	ctx := context.Background()
	hash, err := secrets.HashPassword(testPassword, testArgon2)
	must(t, err)
	u := &store.User{TenantID: e.tenant.ID, Email: "root@example.com", Name: "Grace Hopper", PasswordHash: hash, Role: store.RoleAdmin}
	must(t, e.store.CreateUser(ctx, u))
	secret, secretHash, err := e.srv.ClientSecret()
	must(t, err)
	c := &store.Client{Name: "Acme Console", SecretHash: secretHash, RedirectURIs: []string{rpRedirect}, RequirePKCE: true,
		Scopes: []string{"openid", "email", claims.ScopeAdmin}, GrantTypes: []string{"authorization_code", "refresh_token"}}
	must(t, e.store.CreateClient(ctx, c))
	return &adminFixture{user: &mfaUser{email: u.Email, password: testPassword}, id: u.ID, console: c, secret: secret}
}

// adminBrowser signs the admin in to /admin in a new browser.
func (e *env) adminBrowser(t *testing.T, a *adminFixture) *browser {
	t.Helper()
	b := newBrowser(t)
	if landed := e.signIn(b, e.issuer+"/admin", a.user); landed.Path != "/admin" {
		t.Fatalf("admin sign-in ended at %s", landed)
	}
	return b
}

// adminToken has the console sign in through b's session and returns the
// access token.
func (e *env) adminToken(b *browser, a *adminFixture, u *mfaUser, scopes ...string) string {
	e.t.Helper()
	relying := e.rp(a.console, a.secret, scopes...)
	verifier := oauth2.GenerateVerifier()
	tok, _ := e.tokenFor(relying, e.signIn(b, authURLFor(relying, verifier), u), verifier)
	return tok.AccessToken
}

// enrollFromAccount activates 2FA from the account page of b's session
// (which ends at the MFA level).
func (e *env) enrollFromAccount(b *browser, u *mfaUser) {
	e.t.Helper()
	resp, body := b.post(e.issuer+"/account/2fa/activate", nil)
	if resp.Request.URL.Path != "/enroll" {
		e.t.Fatalf("activate went to %s", resp.Request.URL)
	}
	ar := hiddenAuthRequest(e.t, body)
	u.app = e.app(secretFromPage(e.t, body))
	_, body = b.post(e.issuer+"/enroll", url.Values{"auth_request": {ar}})
	u.recoveryKey = recoveryKeyFromPage(e.t, body)
	b.post(e.issuer+"/enroll/recovery-key", url.Values{"auth_request": {ar}, "stored": {"yes"}})
	resp, _ = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {ar}, "code": {u.app.code(e.t)}})
	if resp.Request.URL.Path != "/account" {
		e.t.Fatalf("enrollment ended at %s", resp.Request.URL)
	}
}

// api calls the admin API with token (none when empty) and returns the
// status, headers and JSON body.
func (e *env) api(method, path, token, body string, contentType ...string) (int, http.Header, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.issuer+path, rd)
	must(e.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(contentType) > 0 {
		req.Header.Set("Content-Type", contentType[0])
	}
	resp, err := http.DefaultClient.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if resp.StatusCode != http.StatusMethodNotAllowed {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s answered %d with non-JSON: %s", method, path, resp.StatusCode, raw)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			e.t.Errorf("%s %s: Cache-Control %q", method, path, resp.Header.Get("Cache-Control"))
		}
	}
	return resp.StatusCode, resp.Header, out
}

// wantAPIError checks an API answer's status and error code.
func wantAPIError(t *testing.T, what string, status int, out map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || out["error"] != wantCode || out["error_description"] == "" {
		t.Errorf("%s: %d %v, want %d %s with a description", what, status, out, wantStatus, wantCode)
	}
}

// requireTFAEvents returns the tenant's tenant.require_tfa audit events,
// newest first, with their detail decoded.
func (e *env) requireTFAEvents(t *testing.T) ([]store.AuditEvent, []map[string]any) {
	t.Helper()
	evs, err := e.store.ListAudit(context.Background(), store.AuditFilter{TenantID: e.tenant.ID, Event: audit.TenantRequireTFA})
	must(t, err)
	details := make([]map[string]any, len(evs))
	for i, ev := range evs {
		must(t, json.Unmarshal([]byte(ev.Detail), &details[i]))
	}
	return evs, details
}

// auditTable is the audit log table of the admin page.
func auditTable(body string) string {
	_, rest, _ := strings.Cut(body, `<table class="sessions admin-audit">`)
	table, _, _ := strings.Cut(rest, "</table>")
	return table
}

func (e *env) tenantRequiresTFA(t *testing.T) bool {
	t.Helper()
	tn, err := e.store.TenantByID(context.Background(), e.tenant.ID)
	must(t, err)
	return tn.RequireTFA
}

// TestAdminRequireTFAClearSessions: an admin without 2FA is refused (page
// and API) and told where to enroll; after enrolling, "Clear all user
// sessions" ends another user's session (refresh token refused,
// introspection inactive, prompt=none login_required) but not the admin's
// own, and writes one audit event with the option and the count.
func TestAdminRequireTFAClearSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newAdmin(t)
		adaB := newBrowser(t)
		relying, adaTok := e.signedInWithTokens(adaB)

		// Ada's session also signed into an app with a back-channel
		// logout URI; the provider's background work delivers to it.
		rpServer := newLogoutRP(t, status(always(http.StatusOK)))
		wiki := &store.Client{Name: "Acme Wiki", Public: true, RequirePKCE: true, SkipConsent: true,
			RedirectURIs: []string{rpRedirect}, BackchannelLogoutURI: rpServer.uri(),
			Scopes: claims.SupportedScopes, GrantTypes: []string{"authorization_code"}}
		must(t, e.store.CreateClient(ctx, wiki))
		wikiRP := e.rp(wiki, "")
		wikiVerifier := oauth2.GenerateVerifier()
		_, adaClaims := e.tokenFor(wikiRP, e.signIn(adaB, authURLFor(wikiRP, wikiVerifier), &mfaUser{email: "ada@example.com", password: testPassword}), wikiVerifier)
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		go e.srv.Run(runCtx)

		b := e.adminBrowser(t, a)
		_, body := b.get(e.issuer + "/admin")
		if !strings.Contains(body, "First, set up two-factor authentication for yourself") || !strings.Contains(body, `href="/account"`) {
			t.Fatalf("admin page without 2FA:\n%s", body)
		}
		resp, body := b.post(e.issuer+"/admin/require-tfa", url.Values{"require_tfa": {"on"}, "sessions": {"clear"}})
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "must be active on your own account") ||
			!strings.Contains(body, `<a href="/account">Set up 2FA on your account page</a>`) {
			t.Fatalf("turning on without 2FA: %d\n%s", resp.StatusCode, body)
		}
		// The API refuses a token of this password-only sign-in.
		pwTok := e.adminToken(b, a, a.user, "openid", claims.ScopeAdmin)
		status, h, out := e.api(http.MethodPut, "/admin/api/tenant/require-tfa", pwTok, `{"require_tfa":true,"clear_sessions":true}`)
		wantAPIError(t, "password-only token", status, out, http.StatusForbidden, "insufficient_user_authentication")
		if !strings.Contains(h.Get("WWW-Authenticate"), `acr_values="`+claims.ACRMFA+`"`) {
			t.Errorf("password-only token: WWW-Authenticate %q", h.Get("WWW-Authenticate"))
		}
		if e.tenantRequiresTFA(t) {
			t.Fatal("Require TFA turned on for an admin without 2FA")
		}
		if evs, _ := e.requireTFAEvents(t); len(evs) != 0 {
			t.Fatalf("a refused change was audited: %v", evs)
		}

		e.enrollFromAccount(b, a.user)
		resp, body = b.post(e.issuer+"/admin/require-tfa", url.Values{"require_tfa": {"on"}, "sessions": {"clear"}})
		if resp.Request.URL.Path != "/admin" || resp.StatusCode != http.StatusOK ||
			!strings.Contains(body, "Require TFA is on. 1 session was ended") {
			t.Fatalf("turning on: %s %d\n%s", resp.Request.URL, resp.StatusCode, body)
		}
		if !e.tenantRequiresTFA(t) {
			t.Fatal("Require TFA is not on")
		}

		// Ada's session is over, and so are her tokens.
		if _, err := relying.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: adaTok.RefreshToken}).Token(); err == nil {
			t.Error("the refresh token of an ended session still works")
		}
		if e.introspect(t, adaTok.AccessToken) {
			t.Error("the access token of an ended session is active")
		}
		if got := e.promptNone(adaB, relying); got != "login_required" {
			t.Errorf("prompt=none after the sessions were cleared: %s", got)
		}
		// The wiki got a logout token for Ada's session that verifies
		// against the JWKS.
		waitFor(t, "the back-channel logout", func() bool { return len(rpServer.tokens()) == 1 })
		le := &logoutEnv{env: e}
		cl := le.logoutClaims(rpServer.tokens()[0], wiki, &store.BrowserSession{ID: adaClaims.SID})
		if cl["sid"] != adaClaims.SID {
			t.Errorf("logout token sid = %v, want %s", cl["sid"], adaClaims.SID)
		}
		// The admin's own session goes on.
		if resp, _ := b.get(e.issuer + "/admin"); resp.Request.URL.Path != "/admin" || resp.StatusCode != http.StatusOK {
			t.Errorf("the admin's session did not survive: %s %d", resp.Request.URL, resp.StatusCode)
		}

		evs, details := e.requireTFAEvents(t)
		if len(evs) != 1 || evs[0].ActorID != a.id || evs[0].SubjectID != e.tenant.ID ||
			details[0]["require_tfa"] != true || details[0]["option"] != store.RequireTFAClearSessions ||
			details[0]["sessions_ended"] != float64(1) || details[0]["via"] != "admin page" {
			t.Fatalf("audit: %+v %v", evs, details)
		}
		_, body = b.get(e.issuer + "/admin?event=" + string(audit.TenantRequireTFA))
		if log := auditTable(body); !strings.Contains(log, "Require TFA changed") || !strings.Contains(log, "turned on · Clear all user sessions · 1 session ended · via admin page") {
			t.Errorf("the audit log on the page lacks the event:\n%s", body)
		}
	})
}

// TestAdminRequireTFAKeepSessions: "Allow user sessions to stay logged in"
// leaves a user's session working (prompt=none still gets a code) while a
// fresh interactive sign-in of that user is sent to enroll. Turning the
// policy on needs one of the two options.
func TestAdminRequireTFAKeepSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)
		e.enrollFromAccount(b, a.user)
		adaB := newBrowser(t)
		relying, _ := e.signedInWithTokens(adaB)

		_, body := b.get(e.issuer + "/admin")
		for _, want := range []string{
			`type="radio" id="sessions-clear" name="sessions" value="clear" required`, "Clear all user sessions",
			`type="radio" id="sessions-keep" name="sessions" value="keep" required`, "Allow user sessions to stay logged in",
		} {
			if !strings.Contains(body, want) {
				t.Fatalf("admin page lacks %q:\n%s", want, body)
			}
		}
		// (The second-factors form below shows the tenant's current choice.)
		if policy, _, _ := strings.Cut(body, `id="factors"`); strings.Contains(policy, " checked") {
			t.Error("an option is chosen by default")
		}
		for _, sessions := range []string{"", "both"} {
			resp, body := b.post(e.issuer+"/admin/require-tfa", url.Values{"require_tfa": {"on"}, "sessions": {sessions}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Choose what happens to the users who are signed in now") {
				t.Fatalf("turning on with sessions=%q: %d\n%s", sessions, resp.StatusCode, body)
			}
		}
		if e.tenantRequiresTFA(t) {
			t.Fatal("Require TFA turned on without an option")
		}

		resp, body := b.post(e.issuer+"/admin/require-tfa", url.Values{"require_tfa": {"on"}, "sessions": {"keep"}})
		if resp.Request.URL.Path != "/admin" || !strings.Contains(body, "Sessions stay signed in until they end") || !e.tenantRequiresTFA(t) {
			t.Fatalf("turning on: %s\n%s", resp.Request.URL, body)
		}
		if got := e.promptNone(adaB, relying); got != "code" {
			t.Errorf("prompt=none in a kept session: %s", got)
		}
		ada := &mfaUser{email: "ada@example.com", password: testPassword}
		e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), ada)
		if !slices.Contains(ada.pages, "/enroll") {
			t.Errorf("a fresh sign-in was not sent to enroll: %v", ada.pages)
		}

		// Turning it off asks first: the POST without confirmed=yes shows
		// the confirmation, and does nothing.
		resp, body = b.post(e.issuer+"/admin/require-tfa", url.Values{"require_tfa": {"off"}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Turn off Require TFA for Acme?") ||
			!strings.Contains(body, `name="confirmed" value="yes"`) || !strings.Contains(body, `href="/admin#policy">Cancel</a>`) || !e.tenantRequiresTFA(t) {
			t.Fatalf("turning off without confirming: %d\n%s", resp.StatusCode, body)
		}
		resp, body = b.post(e.issuer+"/admin/require-tfa", url.Values{"require_tfa": {"off"}, "confirmed": {"yes"}})
		if !strings.Contains(body, "Require TFA is off.") || e.tenantRequiresTFA(t) {
			t.Fatalf("turning off: %d\n%s", resp.StatusCode, body)
		}
		evs, details := e.requireTFAEvents(t)
		if len(evs) != 2 ||
			details[0]["require_tfa"] != false || details[0]["option"] != nil ||
			details[1]["require_tfa"] != true || details[1]["option"] != store.RequireTFAKeepSessions || details[1]["sessions_ended"] != float64(0) {
			t.Fatalf("audit: %v", details)
		}
	})
}

// TestAdminAPI: who may call the API (token, scope, admin, second factor),
// strict bodies, tenant isolation (404), and the operations.
func TestAdminAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)

		status, h, out := e.api(http.MethodGet, "/admin/api/tenant", "", "")
		wantAPIError(t, "no token", status, out, http.StatusUnauthorized, "invalid_request")
		if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("no token: WWW-Authenticate %q", h.Get("WWW-Authenticate"))
		}
		status, h, out = e.api(http.MethodGet, "/admin/api/tenant", "not-a-token", "")
		wantAPIError(t, "bad token", status, out, http.StatusUnauthorized, "invalid_token")
		if !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("bad token: WWW-Authenticate %q", h.Get("WWW-Authenticate"))
		}
		pwTok := e.adminToken(b, a, a.user, "openid", claims.ScopeAdmin)
		status, _, out = e.api(http.MethodGet, "/admin/api/tenant", pwTok, "")
		wantAPIError(t, "password-only sign-in", status, out, http.StatusForbidden, "insufficient_user_authentication")

		e.enrollFromAccount(b, a.user)
		tok := e.adminToken(b, a, a.user, "openid", claims.ScopeAdmin)
		status, _, out = e.api(http.MethodGet, "/admin/api/tenant", e.adminToken(b, a, a.user, "openid"), "")
		wantAPIError(t, "no scope", status, out, http.StatusForbidden, "insufficient_scope")
		// Ada is no admin: asking for the admin scope, she is granted the
		// rest, and her token is refused.
		adaB := newBrowser(t)
		ada := &mfaUser{email: "ada@example.com", password: testPassword}
		adaTok := e.adminToken(adaB, a, ada, "openid", claims.ScopeAdmin)
		status, _, out = e.api(http.MethodGet, "/admin/api/users", adaTok, "")
		wantAPIError(t, "non-admin", status, out, http.StatusForbidden, "insufficient_scope")

		status, _, out = e.api(http.MethodGet, "/admin/api/tenant", tok, "")
		if status != http.StatusOK || out["require_tfa"] != false || out["users"] != float64(2) ||
			out["users_with_2fa"] != float64(1) || out["users_to_enroll"] != float64(1) || out["name"] != "Acme" {
			t.Fatalf("tenant: %d %v", status, out)
		}
		adaUser := mustUser(t, e, "ada@example.com")
		status, _, out = e.api(http.MethodGet, "/admin/api/users", tok, "")
		users, _ := out["users"].([]any)
		if status != http.StatusOK || len(users) != 2 {
			t.Fatalf("users: %d %v", status, out)
		}
		for _, x := range users {
			u := x.(map[string]any)
			want := map[string]any{adaUser.ID: "not_enrolled", a.id: "active"}[u["id"].(string)]
			if u["mfa"] != want || u["last_login_at"] == nil {
				t.Errorf("user %v: mfa %v, want %v, and a last sign-in", u["email"], u["mfa"], want)
			}
		}

		// Bodies are strict, and never a 500.
		for _, c := range []struct {
			body, contentType string
			status            int
		}{
			{`{"require_tfa":true}`, "", http.StatusBadRequest},
			{`{"require_tfa":true,"clear_sessions":true,"extra":1}`, "", http.StatusBadRequest},
			{`{"require_tfa":false,"clear_sessions":true}`, "", http.StatusBadRequest},
			{`{"require_tfa":"yes","clear_sessions":false}`, "", http.StatusBadRequest},
			{`{"clear_sessions":false}`, "", http.StatusBadRequest},
			{`{"require_tfa":true,"clear_sessions":false}{}`, "", http.StatusBadRequest},
			{`[true]`, "", http.StatusBadRequest},
			{`{"require_tfa":tru`, "", http.StatusBadRequest},
			{`{"require_tfa":true,"clear_sessions":false}`, "text/plain", http.StatusUnsupportedMediaType},
			{`{"pad":"` + strings.Repeat("x", 2<<20) + `"}`, "", http.StatusRequestEntityTooLarge},
		} {
			var ct []string
			if c.contentType != "" {
				ct = []string{c.contentType}
			}
			status, _, out = e.api(http.MethodPut, "/admin/api/tenant/require-tfa", tok, c.body, ct...)
			if status != c.status || out["error"] == nil {
				t.Errorf("body %.60s: %d %v, want %d", c.body, status, out, c.status)
			}
		}
		if status, _, _ := e.api(http.MethodDelete, "/admin/api/tenant", tok, ""); status != http.StatusMethodNotAllowed {
			t.Errorf("DELETE tenant: %d", status)
		}
		if e.tenantRequiresTFA(t) {
			t.Fatal("a refused request changed the policy")
		}

		// Policy on, clearing sessions: Ada's session and token end, the
		// admin's session (the token's) goes on.
		status, _, out = e.api(http.MethodPut, "/admin/api/tenant/require-tfa", tok, `{"require_tfa":true,"clear_sessions":true}`)
		if status != http.StatusOK || out["require_tfa"] != true || out["option"] != "clear_sessions" || out["sessions_ended"] != float64(1) {
			t.Fatalf("require TFA on: %d %v", status, out)
		}
		if status, _, _ := e.api(http.MethodGet, "/admin/api/users", adaTok, ""); status != http.StatusUnauthorized {
			t.Errorf("Ada's token after the sessions were cleared: %d", status)
		}
		status, _, out = e.api(http.MethodGet, "/admin/api/tenant", tok, "")
		if status != http.StatusOK || out["require_tfa"] != true {
			t.Fatalf("tenant after turning on: %d %v", status, out)
		}
		_, details := e.requireTFAEvents(t)
		if len(details) != 1 || details[0]["via"] != "admin api" || details[0]["sessions_ended"] != float64(1) {
			t.Fatalf("audit: %v", details)
		}
		status, _, out = e.api(http.MethodPost, "/admin/api/tenant/require-tfa", tok, `{"require_tfa":false}`)
		if status != http.StatusOK || out["require_tfa"] != false || e.tenantRequiresTFA(t) {
			t.Fatalf("require TFA off: %d %v", status, out)
		}

		// Reset 2FA: Ada enrolls (step-up), then the admin resets her.
		relying := e.rp(e.client, e.secret)
		e.signIn(adaB, authURLFor(relying, oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("acr_values", claims.ACRMFA)), ada)
		if has, _ := e.store.HasActiveAuthenticator(ctx, adaUser.ID); !has {
			t.Fatal("Ada did not enroll")
		}
		path := "/admin/api/users/" + adaUser.ID + "/reset-2fa"
		status, _, out = e.api(http.MethodPost, path, tok, `{"force":true}`)
		wantAPIError(t, "reset with an unknown field", status, out, http.StatusBadRequest, "invalid_request")
		status, _, out = e.api(http.MethodPost, path, tok, "")
		if status != http.StatusOK || out["user_id"] != adaUser.ID || out["sessions_ended"] != float64(1) {
			t.Fatalf("reset-2fa: %d %v", status, out)
		}
		if has, _ := e.store.HasActiveAuthenticator(ctx, adaUser.ID); has {
			t.Fatal("Ada's authenticator survived the reset")
		}
		status, _, out = e.api(http.MethodPost, "/admin/api/users/"+adaUser.ID+"/end-sessions", tok, "{}")
		if status != http.StatusOK || out["sessions_ended"] != float64(0) {
			t.Fatalf("end-sessions: %d %v", status, out)
		}
		status, _, out = e.api(http.MethodGet, "/admin/api/audit?event=mfa.reset", tok, "")
		events, _ := out["events"].([]any)
		if status != http.StatusOK || len(events) != 1 {
			t.Fatalf("audit: %d %v", status, out)
		}
		ev := events[0].(map[string]any)
		if ev["subject_id"] != adaUser.ID || ev["actor_id"] != a.id || ev["detail"].(map[string]any)["via"] != "admin api" {
			t.Errorf("audit event: %v", ev)
		}
		status, _, out = e.api(http.MethodGet, "/admin/api/audit?user="+url.QueryEscape(adaUser.ID)+"&limit=500", tok, "")
		if events, _ := out["events"].([]any); status != http.StatusOK || len(events) < 3 {
			t.Errorf("audit of Ada: %d %v", status, out)
		}
		for _, q := range []string{"event=no%20such!", "limit=0", "limit=x", "user=a&user=b"} {
			status, _, out = e.api(http.MethodGet, "/admin/api/audit?"+q, tok, "")
			wantAPIError(t, "audit?"+q, status, out, http.StatusBadRequest, "invalid_request")
		}
		if status, _, out = e.api(http.MethodGet, "/admin/api/logout-deliveries", tok, ""); status != http.StatusOK || out["deliveries"] == nil {
			t.Errorf("logout deliveries: %d %v", status, out)
		}

		// Another tenant's user is as unknown as a made-up id.
		other := &store.Tenant{Slug: "globex", Name: "Globex"}
		must(t, e.store.CreateTenant(ctx, other))
		stranger := &store.User{TenantID: other.ID, Email: "hank@globex.example", PasswordHash: "x"}
		must(t, e.store.CreateUser(ctx, stranger))
		for _, id := range []string{stranger.ID, "no-such-user"} {
			for _, p := range []string{"/reset-2fa", "/end-sessions"} {
				status, _, out = e.api(http.MethodPost, "/admin/api/users/"+id+p, tok, "")
				wantAPIError(t, id+p, status, out, http.StatusNotFound, "not_found")
			}
			status, _, out = e.api(http.MethodGet, "/admin/api/audit?user="+id, tok, "")
			wantAPIError(t, "audit of "+id, status, out, http.StatusNotFound, "not_found")
		}
	})
}

// TestAdminPageUserActions: End sessions and Reset 2FA from the page, the
// audit filter, and who may do them: not a non-admin (403), not on
// another tenant's user (404), not signed out, not cross-site.
func TestAdminPageUserActions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)

		adaB := newBrowser(t)
		relying := e.rp(e.client, e.secret)
		ada := &mfaUser{email: "ada@example.com", password: testPassword}
		verifier := oauth2.GenerateVerifier()
		tok, _ := e.tokenFor(relying, e.signIn(adaB, authURLFor(relying, verifier, oauth2.SetAuthURLParam("acr_values", claims.ACRMFA)), ada), verifier)
		adaID := mustUser(t, e, ada.email).ID
		endPath, resetPath := "/admin/users/"+adaID+"/end-sessions", "/admin/users/"+adaID+"/reset-2fa"

		_, body := b.get(e.issuer + "/admin")
		for _, want := range []string{`action="` + endPath + `"`, `href="` + resetPath + `"`, `<span class="status status--on">Active</span>`} {
			if !strings.Contains(body, want) {
				t.Fatalf("admin page lacks %q:\n%s", want, body)
			}
		}

		resp, body := b.post(e.issuer+endPath, nil)
		if resp.Request.URL.Path != "/admin" || !strings.Contains(body, "1 session was ended.") {
			t.Fatalf("end sessions: %s\n%s", resp.Request.URL, body)
		}
		if e.introspect(t, tok.AccessToken) {
			t.Error("Ada's token is active after End sessions")
		}
		if got := e.promptNone(adaB, relying); got != "login_required" {
			t.Errorf("prompt=none after End sessions: %s", got)
		}

		e.signIn(adaB, authURLFor(relying, oauth2.GenerateVerifier()), ada)
		if !slices.Equal(ada.pages, []string{"/login", "/login/code"}) {
			t.Fatalf("Ada's sign-in: %v", ada.pages)
		}
		// Reset 2FA asks first, on a GET page or in answer to a POST
		// without confirmed=yes; neither resets anything.
		for _, ask := range []func() (*http.Response, string){
			func() (*http.Response, string) { return b.get(e.issuer + resetPath) },
			func() (*http.Response, string) { return b.post(e.issuer+resetPath, nil) },
		} {
			resp, body := ask()
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Reset 2FA for ada@example.com?") ||
				!strings.Contains(body, "Their authenticator and recovery key are removed.") {
				t.Fatalf("reset confirmation: %d\n%s", resp.StatusCode, body)
			}
			if has, _ := e.store.HasActiveAuthenticator(ctx, adaID); !has {
				t.Fatal("the confirmation page reset Ada's 2FA")
			}
		}
		resp, body = b.post(e.issuer+resetPath, url.Values{"confirmed": {"yes"}})
		if resp.Request.URL.Path != "/admin" || !strings.Contains(body, "Two-factor authentication was reset; the user sets up a new authenticator at their next sign-in. 1 session was ended.") {
			t.Fatalf("reset: %s\n%s", resp.Request.URL, body)
		}
		if has, _ := e.store.HasActiveAuthenticator(ctx, adaID); has {
			t.Error("Ada's authenticator survived the reset")
		}
		if got := e.promptNone(adaB, relying); got != "login_required" {
			t.Errorf("prompt=none after the reset: %s", got)
		}
		events := e.auditEvents(ada.email)
		if !slices.Contains(events, string(audit.MFAReset)) || !slices.Contains(events, string(audit.SessionsRevoked)) {
			t.Errorf("audit of Ada: %v", events)
		}

		// The audit log, filtered to Ada and then to one event.
		_, body = b.get(e.issuer + "/admin?user=" + adaID)
		log := auditTable(body)
		if !strings.Contains(log, string(audit.MFAReset)) || !strings.Contains(log, string(audit.SessionsRevoked)) ||
			!strings.Contains(log, "login.mfa") || !strings.Contains(body, `<option value="`+adaID+`" selected>`) {
			t.Errorf("audit filtered to Ada:\n%s", body)
		}
		_, body = b.get(e.issuer + "/admin?user=" + adaID + "&event=" + string(audit.MFAReset))
		if log := auditTable(body); !strings.Contains(log, "2FA reset") || strings.Count(log, "<tr>") != 2 ||
			!strings.Contains(log, "1 session ended · via admin page") {
			t.Errorf("audit filtered to Ada's resets:\n%s", log)
		}
		if resp, _ := b.get(e.issuer + "/admin?event=%3Cb%3E"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a bad event filter: %d", resp.StatusCode)
		}

		// Another tenant's user, or none: 404.
		other := &store.Tenant{Slug: "globex", Name: "Globex"}
		must(t, e.store.CreateTenant(ctx, other))
		stranger := &store.User{TenantID: other.ID, Email: "hank@globex.example", PasswordHash: "x"}
		must(t, e.store.CreateUser(ctx, stranger))
		for _, p := range []string{"/admin/users/" + stranger.ID + "/reset-2fa", "/admin/users/" + stranger.ID + "/end-sessions", "/admin/users/nobody/reset-2fa"} {
			if resp, body := b.post(e.issuer+p, nil); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "User not found") {
				t.Errorf("%s: %d", p, resp.StatusCode)
			}
		}
		if resp, _ := b.get(e.issuer + "/admin?user=" + stranger.ID); resp.StatusCode != http.StatusNotFound {
			t.Errorf("audit filter on another tenant's user: %d", resp.StatusCode)
		}

		// A cross-site form post is refused.
		req, _ := http.NewRequest(http.MethodPost, e.issuer+endPath, nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := b.c.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site post: %d", resp.StatusCode)
		}

		// Not an admin: 403 for the page and its actions.
		adaAccount := newBrowser(t)
		e.signIn(adaAccount, e.issuer+"/account", ada)
		if resp, body := adaAccount.get(e.issuer + "/admin"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Administrators only") {
			t.Errorf("a member's /admin: %d", resp.StatusCode)
		}
		if resp, _ := adaAccount.post(e.issuer+"/admin/users/"+a.id+"/reset-2fa", nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a member's reset: %d", resp.StatusCode)
		}
		if resp, _ := adaAccount.post(e.issuer+"/admin/require-tfa", url.Values{"require_tfa": {"off"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a member's policy change: %d", resp.StatusCode)
		}
		// Signed out: 401, nothing done.
		if resp, _ := newBrowser(t).post(e.issuer+"/admin/require-tfa", url.Values{"require_tfa": {"off"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a signed-out policy change: %d", resp.StatusCode)
		}
	})
}

// TestAdminPageInBrowser renders the admin page in Chromium (desktop and
// phone widths) with every state on it, for a person to look at
// (PORTCULLIS_SCREENSHOT_DIR).
func TestAdminPageInBrowser(t *testing.T) {
	ctx := chromium(t)
	e := newEnv(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) })
	a := e.newAdmin(t)
	bg := context.Background()
	st := e.store

	// Users in every state.
	hash, err := secrets.HashPassword(testPassword, testArgon2)
	must(t, err)
	enrolled := func(id string) {
		must(t, st.BeginEnrollment(bg, id, mfa.Secret("secret-"+id)))
		must(t, st.ConfirmEnrollment(bg, id, mfa.Secret("secret-"+id), 1, []byte("recovery-hash")))
	}
	linus := &store.User{TenantID: e.tenant.ID, Email: "linus@example.com", Name: "Linus Torvalds", PasswordHash: hash}
	margaret := &store.User{TenantID: e.tenant.ID, Email: "margaret.hamilton@example.com", Name: "Margaret Hamilton", PasswordHash: hash}
	old := &store.User{TenantID: e.tenant.ID, Email: "former@example.com", PasswordHash: hash, Disabled: true}
	for _, u := range []*store.User{linus, margaret, old} {
		must(t, st.CreateUser(bg, u))
	}
	enrolled(linus.ID)
	enrolled(margaret.ID)
	ok, err := st.SaveAttempts(bg, linus.ID, 0, mfa.Attempts{Failures: 5, Lockouts: 1, LockedUntil: time.Now().Add(15 * time.Minute)})
	if err != nil || !ok {
		t.Fatalf("lock out: %v %v", ok, err)
	}
	for _, id := range []string{e.user.ID, margaret.ID, linus.ID} {
		must(t, st.TouchLastLogin(bg, id))
	}
	// Margaret's password entry is locked from one address, and slowed
	// down for every address she never signed in from.
	for range 20 {
		_, err := st.ChargeSignInFailure(bg, margaret.ID, "203.0.113.9", time.Hour)
		must(t, err)
	}
	cs, err := st.SignInCountersFor(bg, margaret.ID, "203.0.113.9")
	must(t, err)
	for _, c := range []store.SignInCounter{cs.Pair, cs.Account} {
		if ok, err := st.LockSignIn(bg, c, time.Now().Add(20*time.Minute), 5); !ok || err != nil {
			t.Fatalf("lock %+v: %v %v", c, ok, err)
		}
	}

	// Back-channel logouts: delivered, retrying, failed.
	wiki := &store.Client{Name: "Acme Wiki", RedirectURIs: []string{rpRedirect}, BackchannelLogoutURI: "https://wiki.example.com/logout",
		Scopes: claims.SupportedScopes, GrantTypes: []string{"authorization_code"}, Public: true, RequirePKCE: true}
	must(t, st.CreateClient(bg, wiki))
	for _, u := range []*store.User{e.user, margaret, linus} {
		now := time.Now().UTC()
		bs := &store.BrowserSession{SecretHash: "hash-" + store.NewID(), UserID: u.ID, TenantID: e.tenant.ID,
			AuthTime: now, AMR: []string{"pwd"}, ExpiresAt: now.Add(time.Hour)}
		must(t, st.CreateBrowserSession(bg, bs))
		must(t, st.RecordSessionClient(bg, bs.ID, wiki.ID))
		must(t, st.RecordSessionClient(bg, bs.ID, e.client.ID))
		if _, err := st.RevokeUserSessions(bg, u.ID, "", store.Actor{Via: "cli"}); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := st.ListLogoutDeliveries(bg, e.tenant.ID, 10)
	must(t, err)
	if len(ds) != 3 {
		t.Fatalf("%d deliveries, want 3", len(ds))
	}
	must(t, st.MarkLogoutDelivered(bg, ds[2].ID))
	must(t, st.MarkLogoutFailed(bg, ds[1].ID, 2, "Post \"https://wiki.example.com/logout\": dial tcp: connection refused", time.Now().Add(time.Minute), false))
	must(t, st.MarkLogoutFailed(bg, ds[0].ID, 8, "the app answered 500 Internal Server Error", time.Now(), true))
	_, err = st.ResetUserMFA(bg, margaret.ID, store.Actor{UserID: a.id, Via: "admin page", IP: "192.0.2.10"})
	must(t, err)

	// Sign in as the admin (password only), then give the admin an
	// authenticator so the page offers the Require TFA options.
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(e.issuer+"/admin"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), a.user.email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), testPassword),
		chromedp.Submit(chromedp.CSS(`input[name="password"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#policy`)),
	))
	screenshot(t, ctx, "admin-without-2fa")
	// The admin now has an authenticator, so the page first asks this
	// password-only session for a code.
	app := e.activateAuthenticator(t, a.id)
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(e.issuer+"/admin"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="code"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="code"]`), app.code(t)),
		chromedp.Submit(chromedp.CSS(`input[name="code"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#sessions-clear`)),
		chromedp.Click(chromedp.CSS(`#sessions-keep`)),
		chromedp.Click(chromedp.CSS(`tr:nth-child(2) details.manage summary`)),
	))
	screenshot(t, ctx, "admin")
	if notes, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#users`))); err != nil || !strings.Contains(notes, "Password locked from 203.0.113.9 until") ||
		!strings.Contains(notes, "Password locked from new addresses until") {
		t.Errorf("the users list does not show Margaret's password locks: %v", err)
	}
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#sessions-keep').checked`))
	must(t, err)
	if !checked {
		t.Error("clicking the option's card did not choose it")
	}
	must(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(e.issuer+"/admin"),
		chromedp.WaitVisible(chromedp.CSS(`#policy`)),
	))
	screenshot(t, ctx, "admin-phone")

	// Turning the policy on through the page, "Allow user sessions to stay
	// logged in".
	must(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Click(chromedp.CSS(`#sessions-keep`)),
		chromedp.Click(chromedp.CSS(`#policy button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.alert--notice`)),
	))
	screenshot(t, ctx, "admin-require-tfa-on")
	if !e.tenantRequiresTFA(t) {
		t.Error("Require TFA is not on after the browser's form")
	}

	// Off again, then on with "Clear all user sessions": Linus's open
	// session ends, the admin's own does not.
	now := time.Now().UTC()
	linusSession := &store.BrowserSession{SecretHash: "hash-" + store.NewID(), UserID: linus.ID, TenantID: e.tenant.ID,
		AuthTime: now, AMR: []string{"pwd"}, ExpiresAt: now.Add(time.Hour)}
	must(t, st.CreateBrowserSession(bg, linusSession))
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#policy button.btn--danger`)),
		chromedp.WaitVisible(chromedp.CSS(`.consequences`)),
	))
	screenshot(t, ctx, "admin-confirm-turn-off")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form button.btn--danger`))))
	eventually(t, "Require TFA off", func() bool { return !e.tenantRequiresTFA(t) })
	must(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`#sessions-clear`)),
		chromedp.Click(chromedp.CSS(`#sessions-clear`)),
		chromedp.Click(chromedp.CSS(`#policy button[type="submit"]`)),
	))
	eventually(t, "Require TFA on, Linus signed out", func() bool {
		live, _ := st.ListUserSessions(bg, linus.ID, time.Hour)
		return e.tenantRequiresTFA(t) && len(live) == 0
	})

	// Reset Linus's 2FA from his row.
	reset := `a[href="/admin/users/` + linus.ID + `/reset-2fa"]`
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#users`))))
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('`+reset+`').closest('details').open = true`))
	must(t, err)
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(reset)),
		chromedp.WaitVisible(chromedp.CSS(`.consequences`)),
	))
	screenshot(t, ctx, "admin-confirm-reset-2fa")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form button.btn--danger`))))
	eventually(t, "Linus's 2FA reset", func() bool {
		has, _ := st.HasActiveAuthenticator(bg, linus.ID)
		return !has
	})
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.alert--notice`))))
	screenshot(t, ctx, "admin-after-reset")
}

// eventually polls cond until it holds, failing after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// activateAuthenticator gives the user an active authenticator, straight in
// the store, and returns the test's app for it.
func (e *env) activateAuthenticator(t *testing.T, userID string) *authenticator {
	t.Helper()
	ctx := context.Background()
	secret, err := mfa.NewSecret(nil)
	must(t, err)
	must(t, e.store.BeginEnrollment(ctx, userID, secret))
	must(t, e.store.ConfirmEnrollment(ctx, userID, secret, 1, []byte("recovery-hash")))
	return e.app(secret)
}
