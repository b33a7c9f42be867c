package idp_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/credentials/passkeytest"
	"github.com/portcullis-idp/portcullis/idp/store"
	"golang.org/x/oauth2"
)

// addPasskeyFromAccount activates 2FA with a passkey from the account
// page of b's session (which ends upgraded by the passkey).
func (e *env) addPasskeyFromAccount(b *browser, key *passkeytest.Authenticator) {
	e.t.Helper()
	resp, body := b.post(e.issuer+"/account/2fa/activate", nil)
	if resp.Request.URL.Path != "/enroll" {
		e.t.Fatalf("activate went to %s", resp.Request.URL)
	}
	ar := hiddenAuthRequest(e.t, body)
	b.post(e.issuer+"/enroll/choose", url.Values{"auth_request": {ar}, "factor": {"webauthn"}})
	_, body = b.post(e.issuer+"/enroll/recovery-key", url.Values{"auth_request": {ar}, "stored": {"yes"}})
	resp, _ = b.post(e.issuer+"/enroll/verify", url.Values{"auth_request": {ar}, "name": {"Admin key"}, "credential": {createPasskey(e.t, key, body)}})
	if resp.Request.URL.Path != "/account" {
		e.t.Fatalf("passkey enrollment ended at %s", resp.Request.URL)
	}
}

// TestAdminSecondFactorPolicy: the admin page and API set the tenant's
// second factors (requiring passkeys needs one of the admin's own, and a
// choice for open sessions), the enrollment deadline and passwordless
// sign-in; each change is audited, the users list shows each user's
// factors, and bad input changes nothing.
func TestAdminSecondFactorPolicy(t *testing.T) {
	forEachBackendWith(t, withLocalhost, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)
		tenant := func() *store.Tenant {
			tn, err := e.store.TenantByID(ctx, e.tenant.ID)
			must(t, err)
			return tn
		}

		_, body := b.get(e.issuer + "/admin")
		if !strings.Contains(body, `id="factors-any" name="second_factors" value="any" required checked`) || !strings.Contains(body, "Turn on passwordless sign-in") {
			t.Fatalf("admin page lacks the second-factor policy:\n%s", body)
		}
		resp, body := b.post(e.issuer+"/admin/second-factors", url.Values{"second_factors": {"webauthn"}, "sessions": {"keep"}})
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "must be on your own account") {
			t.Fatalf("requiring passkeys without one: %d", resp.StatusCode)
		}
		e.addPasskeyFromAccount(b, passkeytest.New(e.issuer))

		// Ada signs in with her password (the tenant does not require 2FA).
		ada := &mfaUser{email: e.user.Email, password: testPassword}
		adaB := newBrowser(t)
		e.signIn(adaB, e.issuer+"/account", ada)

		for _, bad := range []url.Values{{"second_factors": {"sms"}}, {"second_factors": {"webauthn"}}} {
			if resp, _ := b.post(e.issuer+"/admin/second-factors", bad); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("second factors %v: %d", bad, resp.StatusCode)
			}
		}
		if tn := tenant(); tn.SecondFactors != store.FactorsAny {
			t.Fatalf("a refused form changed the policy: %q", tn.SecondFactors)
		}
		resp, body = b.post(e.issuer+"/admin/second-factors", url.Values{"second_factors": {"webauthn"}, "sessions": {"clear"}})
		if resp.Request.URL.Path != "/admin" || !strings.Contains(body, "Passkeys are required: 1 session was ended") {
			t.Fatalf("requiring passkeys: %s\n%s", resp.Request.URL, body)
		}
		if resp, _ := adaB.get(e.issuer + "/account"); resp.Request.URL.Path == "/account" {
			t.Error("Ada's password session survived requiring passkeys with clear")
		}
		if tenant().SecondFactors != store.FactorWebAuthn || !strings.Contains(body, "1 passkey") {
			t.Errorf("policy %q; users list shows the admin's passkey: %v", tenant().SecondFactors, strings.Contains(body, "1 passkey"))
		}

		// The enrollment deadline and passwordless sign-in.
		if resp, _ := b.post(e.issuer+"/admin/enrollment-deadline", url.Values{"deadline": {"31/12/2026"}}); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a bad deadline: %d", resp.StatusCode)
		}
		if resp, _ := b.post(e.issuer+"/admin/enrollment-deadline", url.Values{"deadline": {"2099-01-01"}}); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a deadline decades ahead: %d", resp.StatusCode)
		}
		deadline := time.Now().UTC().AddDate(0, 1, 0).Format("2006-01-02")
		_, body = b.post(e.issuer+"/admin/enrollment-deadline", url.Values{"deadline": {deadline}})
		if tn := tenant(); tn.EnrollmentDeadline == nil || tn.EnrollmentDeadline.Format("2006-01-02") != deadline || !strings.Contains(body, "Remove the deadline ("+deadline+")") {
			t.Fatalf("deadline: %v", tn.EnrollmentDeadline)
		}
		b.post(e.issuer+"/admin/enrollment-deadline", url.Values{"remove": {"1"}})
		if tenant().EnrollmentDeadline != nil {
			t.Fatal("the deadline was not removed")
		}
		_, body = b.post(e.issuer+"/admin/passwordless", url.Values{"passwordless": {"on"}})
		if !tenant().Passwordless || !strings.Contains(body, "Passwordless sign-in is on") {
			t.Fatal("passwordless was not turned on")
		}

		// The API.
		tok := e.adminToken(b, a, a.user, "openid", claims.ScopeAdmin)
		status, _, out := e.api(http.MethodPut, "/admin/api/tenant/second-factors", tok, `{"second_factors":"sms"}`)
		wantAPIError(t, "unknown factors", status, out, http.StatusBadRequest, "invalid_request")
		status, _, out = e.api(http.MethodPut, "/admin/api/tenant/second-factors", tok, `{"second_factors":"webauthn"}`)
		wantAPIError(t, "webauthn without clear_sessions", status, out, http.StatusBadRequest, "invalid_request")
		status, _, out = e.api(http.MethodPut, "/admin/api/tenant/second-factors", tok, `{"second_factors":"any"}`)
		if status != http.StatusOK || out["second_factors"] != "any" || tenant().SecondFactors != store.FactorsAny {
			t.Fatalf("API second factors: %d %v", status, out)
		}
		status, _, out = e.api(http.MethodPut, "/admin/api/tenant/enrollment-deadline", tok, `{"deadline":"soon"}`)
		wantAPIError(t, "bad deadline", status, out, http.StatusBadRequest, "invalid_request")
		status, _, out = e.api(http.MethodPut, "/admin/api/tenant/enrollment-deadline", tok, `{"deadline":"`+deadline+`"}`)
		if status != http.StatusOK || tenant().EnrollmentDeadline == nil {
			t.Fatalf("API deadline: %d %v", status, out)
		}
		status, _, out = e.api(http.MethodPut, "/admin/api/tenant/passwordless", tok, `{}`)
		wantAPIError(t, "passwordless missing", status, out, http.StatusBadRequest, "invalid_request")
		status, _, _ = e.api(http.MethodPut, "/admin/api/tenant/passwordless", tok, `{"passwordless":false}`)
		if status != http.StatusOK || tenant().Passwordless {
			t.Fatalf("API passwordless: %d", status)
		}
		status, _, out = e.api(http.MethodGet, "/admin/api/tenant", tok, "")
		if status != http.StatusOK || out["second_factors"] != "any" || out["passwordless"] != false || out["enrollment_deadline"] == nil {
			t.Fatalf("API tenant: %d %v", status, out)
		}
		status, _, out = e.api(http.MethodGet, "/admin/api/users?q=root", tok, "")
		users, _ := out["users"].([]any)
		if status != http.StatusOK || len(users) != 1 {
			t.Fatalf("API users: %d %v", status, out)
		}
		if f, _ := users[0].(map[string]any)["factors"].(map[string]any); f["passkeys"] != float64(1) || f["totp"] != false {
			t.Errorf("the admin's factors in the API: %v", users[0])
		}

		// A token from a passkey sign-in the console asked loa:phr for is
		// an admin token too.
		console := e.rp(a.console, a.secret, "openid", claims.ScopeAdmin)
		v := oauth2.GenerateVerifier()
		phrTok, c := e.tokenFor(console, e.signIn(b, authURLFor(console, v, oauth2.SetAuthURLParam("acr_values", claims.ACRPhishingResistant)), a.user), v)
		if c.ACR != claims.ACRPhishingResistant {
			t.Fatalf("console sign-in: acr %q", c.ACR)
		}
		if status, _, out := e.api(http.MethodGet, "/admin/api/tenant", phrTok.AccessToken, ""); status != http.StatusOK {
			t.Fatalf("admin API with a loa:phr token: %d %v", status, out)
		}

		evs, err := e.store.ListAudit(ctx, store.AuditFilter{TenantID: e.tenant.ID})
		must(t, err)
		seen := map[string]int{}
		for _, ev := range evs {
			seen[string(ev.Event)]++
		}
		if seen["tenant.second_factors"] != 2 || seen["tenant.enrollment_deadline"] != 3 || seen["tenant.passwordless"] != 2 {
			t.Errorf("audit: %v", seen)
		}
	})
}
