package admin

// The tenant's second-factor policy: which factors count (any, apps only,
// passkeys only), the enrollment deadline and passwordless sign-in, on the
// page and in the API, through one operation each.

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

const (
	pathAdminFactors      = "/admin/second-factors"
	pathAdminDeadline     = "/admin/enrollment-deadline"
	pathAdminPasswordless = "/admin/passwordless"

	pathAdminAPIFactors      = "/admin/api/tenant/second-factors"
	pathAdminAPIDeadline     = "/admin/api/tenant/enrollment-deadline"
	pathAdminAPIPasswordless = "/admin/api/tenant/passwordless"

	msgAdminNeedsPasskey = "A passkey or security key must be on your own account before you can require passkeys for everyone."
	msgChooseFactors     = "Choose which second factors your users may use."
	msgBadDeadline       = "Give the deadline as a date, such as 2027-01-31, no more than a year ahead."
)

// errAdminNeedsPasskey refuses requiring passkeys from an admin who has
// none: the policy would lock them out.
var errAdminNeedsPasskey = errors.New("the acting admin has no passkey")

var errAPIAdminPasskey = &apiError{Status: http.StatusConflict, Code: "admin_passkey_required",
	Desc: "A passkey or security key must be on your own account before you can require passkeys for everyone. Add one on the account page (/account) first."}

// factorSummary names a user's second factors for the users list: "App",
// "2 passkeys", "App · 1 passkey"; "" for none.
func factorSummary(st store.MFAState) string {
	var parts []string
	if st.TOTP {
		parts = append(parts, "App")
	}
	switch {
	case st.Passkeys == 1:
		parts = append(parts, "1 passkey")
	case st.Passkeys > 1:
		parts = append(parts, strconv.Itoa(st.Passkeys)+" passkeys")
	}
	return strings.Join(parts, " · ")
}

// maxDeadlineAhead bounds how far ahead an enrollment deadline may be.
const maxDeadlineAhead = 366 * 24 * time.Hour

// adminSetSecondFactors sets the tenant's allowed second factors;
// requiring passkeys needs one on the acting admin's own account.
func (a *Admin) adminSetSecondFactors(r *http.Request, admin *store.User, keepSessionID, factors string, clearSessions bool, via string) ([]store.EndedSession, error) {
	ctx := r.Context()
	if factors == store.FactorWebAuthn {
		f, err := a.Store.SecondFactorsOf(ctx, admin.ID)
		if err != nil {
			return nil, err
		}
		if !f.WebAuthn {
			return nil, errAdminNeedsPasskey
		}
	}
	return a.Sessions.End(r, store.EndReasonPhishingResistant, func() ([]store.EndedSession, error) {
		return a.Store.SetSecondFactors(ctx, admin.TenantID, factors, clearSessions, keepSessionID, adminActor(r, admin, via))
	})
}

// parseDeadline reads a deadline date (YYYY-MM-DD, 00:00 UTC), at most
// maxDeadlineAhead ahead.
func parseDeadline(v string, now time.Time) (*time.Time, bool) {
	d, err := time.Parse(time.DateOnly, v)
	if err != nil || d.After(now.Add(maxDeadlineAhead)) {
		return nil, false
	}
	return &d, true
}

// --- the page ---

// submitSecondFactors is POST /admin/second-factors: second_factors=any|
// totp|webauthn and, for webauthn, sessions=clear|keep (no default).
func (a *Admin) submitSecondFactors(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	factors := r.PostForm.Get("second_factors")
	clearSessions := false
	switch factors {
	case store.FactorsAny, store.FactorTOTP:
	case store.FactorWebAuthn:
		switch r.PostForm.Get("sessions") {
		case "clear":
			clearSessions = true
		case "keep":
		default:
			return a.renderAdmin(w, r, si, "", msgChooseOption, templates.AdminFormFactors, http.StatusBadRequest)
		}
	default:
		return a.renderAdmin(w, r, si, "", msgChooseFactors, templates.AdminFormFactors, http.StatusBadRequest)
	}
	ended, err := a.adminSetSecondFactors(r, si.User, si.Session.ID, factors, clearSessions, viaAdminPage)
	if errors.Is(err, errAdminNeedsPasskey) {
		return a.renderAdmin(w, r, si, "", msgAdminNeedsPasskey, templates.AdminFormFactors, http.StatusConflict)
	}
	if err != nil {
		return err
	}
	adminDone(w, r, "factors_"+factors, len(ended))
	return nil
}

// submitEnrollmentDeadline is POST /admin/enrollment-deadline: deadline=
// YYYY-MM-DD, or remove=1.
func (a *Admin) submitEnrollmentDeadline(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	var deadline *time.Time
	if r.PostForm.Get("remove") == "" {
		d, ok := parseDeadline(r.PostForm.Get("deadline"), a.Sessions.Now())
		if !ok {
			return a.renderAdmin(w, r, si, "", msgBadDeadline, templates.AdminFormDeadline, http.StatusBadRequest)
		}
		deadline = d
	}
	if err := a.Store.SetEnrollmentDeadline(r.Context(), si.User.TenantID, deadline, adminActor(r, si.User, viaAdminPage)); err != nil {
		return err
	}
	if deadline == nil {
		adminDone(w, r, "deadline_removed", 0)
	} else {
		adminDone(w, r, "deadline_set", 0)
	}
	return nil
}

// submitPasswordless is POST /admin/passwordless: passwordless=on|off.
func (a *Admin) submitPasswordless(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	var on bool
	switch r.PostForm.Get("passwordless") {
	case "on":
		on = true
	case "off":
	default:
		return web.BadRequest("The form did not say whether to turn passwordless sign-in on or off.")
	}
	if err := a.Store.SetPasswordless(r.Context(), si.User.TenantID, on, adminActor(r, si.User, viaAdminPage)); err != nil {
		return err
	}
	if on {
		adminDone(w, r, "passwordless_on", 0)
	} else {
		adminDone(w, r, "passwordless_off", 0)
	}
	return nil
}

// --- the API ---

// apiSetSecondFactors is PUT /admin/api/tenant/second-factors:
// {"second_factors":"any"|"totp"|"webauthn","clear_sessions":bool}
// (clear_sessions required with webauthn).
func (a *Admin) apiSetSecondFactors(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	var body struct {
		Factors       string `json:"second_factors"`
		ClearSessions *bool  `json:"clear_sessions"`
	}
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	switch body.Factors {
	case store.FactorsAny, store.FactorTOTP:
		if body.ClearSessions != nil && *body.ClearSessions {
			return apiBadRequest("clear_sessions applies only when requiring passkeys (second_factors webauthn).")
		}
	case store.FactorWebAuthn:
		if body.ClearSessions == nil {
			return apiBadRequest("clear_sessions is required with webauthn: true ends now every session that did not pass a passkey (except yours), false lets them run to their normal end.")
		}
	default:
		return apiBadRequest(`second_factors must be "any", "totp" or "webauthn".`)
	}
	clearSessions := body.ClearSessions != nil && *body.ClearSessions
	ended, err := a.adminSetSecondFactors(r, c.User, c.Session.SessionID, body.Factors, clearSessions, viaAdminAPI)
	if errors.Is(err, errAdminNeedsPasskey) {
		return errAPIAdminPasskey
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Factors       string `json:"second_factors"`
		SessionsEnded int    `json:"sessions_ended"`
	}{body.Factors, len(ended)})
	return nil
}

// apiSetEnrollmentDeadline is PUT /admin/api/tenant/enrollment-deadline:
// {"deadline":"2027-01-31"} or {"deadline":null}.
func (a *Admin) apiSetEnrollmentDeadline(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	var body struct {
		Deadline *string `json:"deadline"`
	}
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	var deadline *time.Time
	if body.Deadline != nil {
		d, ok := parseDeadline(*body.Deadline, a.Sessions.Now())
		if !ok {
			return apiBadRequest("deadline must be a date such as 2027-01-31, no more than a year ahead, or null to remove it.")
		}
		deadline = d
	}
	if err := a.Store.SetEnrollmentDeadline(r.Context(), c.User.TenantID, deadline, adminActor(r, c.User, viaAdminAPI)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Deadline *time.Time `json:"enrollment_deadline"`
	}{deadline})
	return nil
}

// apiSetPasswordless is PUT /admin/api/tenant/passwordless:
// {"passwordless":bool}.
func (a *Admin) apiSetPasswordless(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	var body struct {
		Passwordless *bool `json:"passwordless"`
	}
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	if body.Passwordless == nil {
		return apiBadRequest("passwordless (true or false) is required.")
	}
	if err := a.Store.SetPasswordless(r.Context(), c.User.TenantID, *body.Passwordless, adminActor(r, c.User, viaAdminAPI)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Passwordless bool `json:"passwordless"`
	}{*body.Passwordless})
	return nil
}
