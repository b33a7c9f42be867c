package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/signin"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

// showAdmin is GET /admin: sign-in first when needed, then the page for
// an admin, a 403 page for anyone else.
func (a *Admin) showAdmin(w http.ResponseWriter, r *http.Request) error {
	si, err := a.Gate.SignedIn(w, r, pathAdmin, errAdminSignedOut)
	if err != nil || si == nil {
		return err
	}
	if !si.User.IsAdmin() {
		return errNotAdmin
	}
	if need, err := a.adminNeedsCode(r, si); err != nil || need {
		if err != nil {
			return err
		}
		return a.Gate.Start(w, r, flow.StageCode, flow.AccountForm(pathAdmin, ""), si)
	}
	return a.renderAdminWith(w, r, si, adminRender{notice: adminNotice(r.URL.Query()), status: http.StatusOK})
}

// adminNeedsCode reports whether an admin must pass a code before
// administering: one who has an authenticator administers with a session
// that passed it, so a session from before enrolling steps up first (the
// Gate's rule, as on the account page).
func (a *Admin) adminNeedsCode(r *http.Request, si *browser.SignedIn) (bool, error) {
	return a.Gate.NeedsCode(r, si)
}

// adminAction is the shape of every admin page POST: a live session of an
// admin, past the second factor when the admin has one, and a form that
// parses.
func (a *Admin) adminAction(h func(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error) func(http.ResponseWriter, *http.Request) error {
	return a.Gate.Action(errAdminSignedOut, func(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
		if !si.User.IsAdmin() {
			return errNotAdmin
		}
		if need, err := a.adminNeedsCode(r, si); err != nil || need {
			if err != nil {
				return err
			}
			return errAdminStepUp
		}
		return h(w, r, si)
	})
}

// submitRequireTFA is POST /admin/require-tfa: require_tfa=on|off and,
// when turning it on, sessions=clear|keep (no default).
func (a *Admin) submitRequireTFA(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	var on, clearSessions bool
	switch r.PostForm.Get("require_tfa") {
	case "on":
		on = true
		switch r.PostForm.Get("sessions") {
		case "clear":
			clearSessions = true
		case "keep":
		default:
			return a.renderAdmin(w, r, si, "", msgChooseOption, templates.AdminFormRequireTFA, http.StatusBadRequest)
		}
	case "off":
		if !confirmed(r) {
			return a.confirmTurnOff(w, r, si)
		}
	default:
		return web.BadRequest("The form did not say whether to turn Require TFA on or off.")
	}
	ended, err := a.adminSetRequireTFA(r, si.User, si.Session.ID, on, clearSessions, viaAdminPage)
	if errors.Is(err, errAdminNeeds2FA) {
		return a.renderAdmin(w, r, si, "", msgEnrollFirst, templates.AdminFormEnrollFirst, http.StatusConflict)
	}
	if err != nil {
		return err
	}
	switch {
	case !on:
		adminDone(w, r, "tfa_off", 0)
	case clearSessions:
		adminDone(w, r, "tfa_on_cleared", len(ended))
	default:
		adminDone(w, r, "tfa_on_kept", 0)
	}
	return nil
}

// submitResetUser2FA is POST /admin/users/{id}/reset-2fa.
func (a *Admin) submitResetUser2FA(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	target, err := a.pageTarget(r, si)
	if err != nil {
		return err
	}
	if !confirmed(r) {
		return a.confirmUserAction(pathAdminUserReset)(w, r, si)
	}
	ended, err := a.adminResetUser2FA(r, si.User, target, viaAdminPage)
	if err != nil {
		return err
	}
	if target.ID == si.User.ID {
		// Every session of the admin ended, this one included.
		return a.Gate.SignedOut(w, r, "")
	}
	adminDone(w, r, "reset", len(ended))
	return nil
}

// submitEndUserSessions is POST /admin/users/{id}/end-sessions. An admin
// ending their own sessions keeps the one in use.
func (a *Admin) submitEndUserSessions(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	target, err := a.tenantUser(r.Context(), si.User.TenantID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return errAdminUserNotFound
	}
	if err != nil {
		return err
	}
	ended, err := a.adminEndUserSessions(r, si.User, target, si.Session.ID, viaAdminPage)
	if err != nil {
		return err
	}
	adminDone(w, r, "ended", len(ended))
	return nil
}

// submitUnlockUser is POST /admin/users/{id}/unlock: the user's password
// and code locks are cleared.
func (a *Admin) submitUnlockUser(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	target, err := a.tenantUser(r.Context(), si.User.TenantID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return errAdminUserNotFound
	}
	if err != nil {
		return err
	}
	if _, err := a.adminUnlock(r, si.User, target, viaAdminPage); err != nil {
		return err
	}
	adminDone(w, r, "unlocked", 0)
	return nil
}

func (a *Admin) renderAdmin(w http.ResponseWriter, r *http.Request, si *browser.SignedIn, notice, errMsg, errFor string, status int) error {
	return a.renderAdminWith(w, r, si, adminRender{notice: notice, errMsg: errMsg, errFor: errFor, status: status})
}

// adminRender is what a rendering of the admin page says besides the
// state of the tenant: a notice or an error (for which form), the status,
// and the new user form as typed.
type adminRender struct {
	notice, errMsg, errFor  string
	status                  int
	createEmail, createName string
	createAdmin             bool
}

func (a *Admin) renderAdminWith(w http.ResponseWriter, r *http.Request, si *browser.SignedIn, ar adminRender) error {
	ctx := r.Context()
	admin := si.User
	tenant, err := a.Store.TenantByID(ctx, admin.TenantID)
	if err != nil {
		return err
	}
	ov, err := a.adminOverview(ctx, tenant.ID)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	filter, err := a.auditFilter(ctx, tenant.ID, q.Get("user"), q.Get("event"))
	if err != nil {
		return err
	}
	if filter.Before, filter.After, err = auditCursors(q.Get("before"), q.Get("after")); err != nil {
		return err
	}
	events, err := a.Store.ListAudit(ctx, auditPeek(filter))
	if err != nil {
		return err
	}
	uq, err := parseUsersQuery(q)
	if err != nil {
		return err
	}
	users, matching, err := a.searchUsers(ctx, tenant.ID, uq)
	if err != nil {
		return err
	}
	deliveries, err := a.Store.ListLogoutDeliveries(ctx, tenant.ID, adminLogoutLimit)
	if err != nil {
		return err
	}
	deadline := ""
	if tenant.EnrollmentDeadline != nil {
		deadline = tenant.EnrollmentDeadline.UTC().Format(time.DateOnly)
	}
	page := templates.AdminPage{
		Deadline:           deadline,
		Page:               templates.Page{RequestID: web.RequestID(ctx), SignedInAs: admin.Email, Nav: signin.Nav(si, templates.NavAdmin)},
		TenantName:         tenant.Name,
		RequireTFA:         tenant.RequireTFA,
		AdminTFAActive:     ov.mfa[admin.ID].Active,
		EnrollURL:          "/account",
		RequireTFAAction:   pathAdminRequireTFA,
		SecondFactors:      tenant.SecondFactors,
		Passwordless:       tenant.Passwordless,
		PasskeysAvailable:  a.Passkeys.Available(),
		FactorsAction:      pathAdminFactors,
		DeadlineAction:     pathAdminDeadline,
		PasswordlessAction: pathAdminPasswordless,
		Notice:             ar.notice,
		Error:              ar.errMsg,
		ErrorFor:           ar.errFor,
		UserCount:          len(ov.users),
		ActiveCount:        ov.active,
		ToEnrollCount:      ov.toEnroll,
		LockedCount:        ov.locked,
		CreateUserAction:   pathAdminUsers,
		CreateEmail:        ar.createEmail,
		CreateName:         ar.createName,
		CreateAdmin:        ar.createAdmin,
		UserSearchAction:   pathAdmin,
		UserSearch:         uq.search,
		AuditAction:        pathAdmin,
		AuditFiltered:      filter.SubjectID != "" || filter.Event != "",
		AuditClearURL:      pathAdmin + "#audit",
	}
	page.UsersShown, page.UsersPrevURL, page.UsersNextURL = usersPager(q, uq, len(users), matching)
	events, page.AuditNewerURL, page.AuditOlderURL = auditPager(q, filter, events)
	page.AuditCSVURL, page.AuditJSONURL = exportURLs(pathAdminAuditExport, filter)

	emails := make(map[string]string, len(ov.users))
	for _, u := range ov.users {
		emails[u.ID] = u.Email
		page.AuditUsers = append(page.AuditUsers, templates.AdminOption{Value: u.ID, Label: u.Email, Selected: u.ID == filter.SubjectID})
	}
	for _, u := range users {
		id := url.PathEscape(u.ID)
		row := templates.AdminUserRow{
			ID: u.ID, Email: u.Email, Name: u.Name, Admin: u.IsAdmin(), Disabled: u.Disabled,
			You:      u.ID == admin.ID,
			MFA:      mfaStateName(ov.mfa[u.ID]),
			Factors:  factorSummary(ov.mfa[u.ID]),
			AuditURL: pathAdmin + "?" + url.Values{"user": {u.ID}}.Encode() + "#audit",
		}
		if l := ov.mfa[u.ID].LockedUntil; l != nil {
			row.LockedUntil = web.FormatTime(*l)
		}
		row.PasswordLocks = passwordLockNotes(ov.passwordLocks[u.ID])
		if u.LastLoginAt != nil {
			row.LastSignIn, row.LastSignInISO = web.FormatTime(*u.LastLoginAt), u.LastLoginAt.UTC().Format(time.RFC3339)
		}
		if !row.You {
			// An admin manages their own factor and sessions on the
			// account page.
			row.EndAction = strings.Replace(pathAdminUserEnd, "{id}", id, 1)
			if row.LockedUntil != "" || len(row.PasswordLocks) > 0 {
				row.UnlockAction = strings.Replace(pathAdminUserUnlock, "{id}", id, 1)
			}
			row.DeleteURL = pathFor(pathAdminUserDelete, u.ID)
			if u.Disabled {
				row.EnableAction = pathFor(pathAdminUserEnable, u.ID)
			} else {
				row.ResetURL = pathFor(pathAdminUserReset, u.ID)
				row.PasswordAction = pathFor(pathAdminUserPassword, u.ID)
				row.DisableURL = pathFor(pathAdminUserDisable, u.ID)
			}
		}
		page.Users = append(page.Users, row)
	}

	for _, ev := range audit.All() {
		page.AuditEvents = append(page.AuditEvents, templates.AdminOption{Value: string(ev), Label: audit.Label(ev), Selected: ev == filter.Event})
	}

	for _, e := range events {
		row := templates.AdminAuditRow{
			Time: e.CreatedAt.UTC().Format(auditTimeFormat), TimeISO: e.CreatedAt.UTC().Format(time.RFC3339),
			Event: string(e.Event), Label: audit.Label(e.Event),
			Subject: auditParty(e.SubjectID, tenant, emails),
			Details: auditDetails(e.Detail),
			IP:      e.IP,
		}
		if e.ActorID != e.SubjectID {
			// Someone acted on someone else (an admin on a user).
			row.Actor = auditParty(e.ActorID, tenant, emails)
		}
		page.Audit = append(page.Audit, row)
	}

	clients := map[string]string{}
	for _, d := range deliveries {
		name, ok := clients[d.ClientID]
		if !ok {
			name = d.ClientID
			if c, err := a.Store.ClientByID(ctx, d.ClientID); err == nil && c.Name != "" {
				name = c.Name
			}
			clients[d.ClientID] = name
		}
		row := templates.AdminLogoutRow{
			Time: web.FormatTime(d.CreatedAt), TimeISO: d.CreatedAt.UTC().Format(time.RFC3339),
			App: name, User: auditParty(d.UserID, tenant, emails), Attempts: d.Attempts, LastError: d.LastError,
		}
		switch row.Outcome = deliveryOutcome(&d); row.Outcome {
		case templates.AdminLogoutDelivered:
			row.When, row.LastError = web.FormatTime(*d.DeliveredAt), ""
		case templates.AdminLogoutFailed:
			row.When = fmt.Sprintf("gave up after %s", attempts(d.Attempts))
		default:
			if d.Attempts > 0 {
				row.When = fmt.Sprintf("%s so far; next %s", attempts(d.Attempts), web.FormatTime(d.NextAttemptAt))
			}
		}
		page.Logouts = append(page.Logouts, row)
	}

	web.PageHeaders(w, "")
	w.WriteHeader(ar.status)
	return a.Templates.Admin(w, page)
}
