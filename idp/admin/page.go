// Package admin is the tenant admin page (/admin): the tenant's Require TFA policy, its
// users and their second factor, the audit log and the back-channel logout
// deliveries. Only a signed-in admin of the tenant sees it; every action is
// a form POST guarded like the other forms, and a user id of another
// tenant answers as an unknown one (404), so tenants cannot be discovered.
// The same operations are offered as JSON in api.go; both go through
// the admin operations at the end of page.go.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/portcullis-idp/portcullis/idp/account"
	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/signin"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

// Admin serves the admin page and its JSON API.
type Admin struct {
	Store     Store
	Gate      *signin.Gate
	Sessions  *browser.Sessions
	Templates *templates.Templates
	Pages     *web.Pages
	// Tokens checks the admin API's bearer tokens (fosite's provider).
	Tokens interface {
		IntrospectToken(ctx context.Context, token string, use fosite.TokenUse, session fosite.Session, scope ...string) (fosite.TokenUse, fosite.AccessRequester, error)
	}
}

// Store is what the admin page and API need of the database.
type Store interface {
	ClientByID(ctx context.Context, id string) (*store.Client, error)
	HasActiveAuthenticator(ctx context.Context, userID string) (bool, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)
	ListLogoutDeliveries(ctx context.Context, tenantID string, limit int) ([]store.LogoutDelivery, error)
	ListUsers(ctx context.Context, tenantID string) ([]store.User, error)
	MFAStatus(ctx context.Context, tenantID string) (map[string]store.MFAState, error)
	ResetUserMFA(ctx context.Context, userID string, actor store.Actor) ([]store.EndedSession, error)
	RevokeUserSessions(ctx context.Context, userID, keepSessionID string, actor store.Actor) ([]store.EndedSession, error)
	SetRequireTFA(ctx context.Context, tenantID string, on, clearSessions bool, keepSessionID string, actor store.Actor) ([]store.EndedSession, error)
	TenantByID(ctx context.Context, id string) (*store.Tenant, error)
	UserByID(ctx context.Context, id string) (*store.User, error)
}

// Mount adds the admin page and API to the route table. The API
// authenticates with a bearer token, not the cookie, so it is not
// origin-checked.
func (a *Admin) Mount(rt *web.Router) {
	act := func(h func(http.ResponseWriter, *http.Request, *browser.SignedIn) error) web.PageFunc {
		return a.adminAction(h)
	}
	rt.Page("GET "+pathAdmin, a.showAdmin)
	rt.Form("POST "+pathAdminRequireTFA, act(a.submitRequireTFA))
	rt.Form("POST "+pathAdminUserReset, act(a.submitResetUser2FA))
	rt.Form("POST "+pathAdminUserEnd, act(a.submitEndUserSessions))
	rt.Handle("GET "+pathAdminAPITenant, a.adminAPI(a.apiGetTenant))
	rt.Handle("PUT "+pathAdminAPIRequireTFA, a.adminAPI(a.apiSetRequireTFA))
	rt.Handle("POST "+pathAdminAPIRequireTFA, a.adminAPI(a.apiSetRequireTFA))
	rt.Handle("GET "+pathAdminAPIUsers, a.adminAPI(a.apiListUsers))
	rt.Handle("POST "+pathAdminAPIUserReset, a.adminAPI(a.apiResetUser2FA))
	rt.Handle("POST "+pathAdminAPIUserEnd, a.adminAPI(a.apiEndUserSessions))
	rt.Handle("GET "+pathAdminAPIAudit, a.adminAPI(a.apiListAudit))
	rt.Handle("GET "+pathAdminAPILogouts, a.adminAPI(a.apiListLogoutDeliveries))
}

const (
	pathAdmin           = "/admin"
	pathAdminRequireTFA = "/admin/require-tfa"
	pathAdminUserReset  = "/admin/users/{id}/reset-2fa"
	pathAdminUserEnd    = "/admin/users/{id}/end-sessions"
	adminDoneParam      = "done"
	adminCountParam     = "n"
	adminAuditLimit     = 100
	adminLogoutLimit    = 50

	viaAdminPage = "admin page"
	viaAdminAPI  = "admin api"

	msgEnrollFirst  = "Two-factor authentication must be active on your own account before you can require it for everyone."
	msgChooseOption = "Choose what happens to the users who are signed in now: clear all user sessions, or allow them to stay logged in."
)

var (
	errNotAdmin = &web.Error{Code: http.StatusForbidden, Heading: "Administrators only",
		Msg: "This page is for your organisation's administrators. Ask one of them if something needs to change."}
	errAdminSignedOut = &web.Error{Code: http.StatusUnauthorized, Heading: "You are signed out",
		Msg: "Your session has ended. Open the admin page again to sign in."}
	errAdminUserNotFound = &web.Error{Code: http.StatusNotFound, Heading: "User not found",
		Msg: "There is no such user in your organisation."}
)

// errAdminNeeds2FA refuses turning Require TFA on for an admin without an
// active authenticator of their own.
var errAdminNeeds2FA = errors.New("the acting admin has no active authenticator")

// adminNotices are the confirmations shown after a redirect back to the
// admin page (?done=...&n=...); fixed texts, so the query cannot inject any.
var adminNotices = map[string]string{
	"tfa_on_cleared": "Require TFA is on. %s ended; everyone without an authenticator sets one up at their next sign-in.",
	"tfa_on_kept":    "Require TFA is on. Sessions stay signed in until they end; users without an authenticator set one up at their next sign-in.",
	"tfa_off":        "Require TFA is off. Users without an authenticator sign in with their password alone.",
	"reset":          "Two-factor authentication was reset; the user sets up a new authenticator at their next sign-in. %s ended.",
	"ended":          "%s ended.",
}

func adminNotice(q url.Values) string {
	text, ok := adminNotices[q.Get(adminDoneParam)]
	if !ok {
		return ""
	}
	if strings.Contains(text, "%s") {
		n, err := strconv.Atoi(q.Get(adminCountParam))
		if err != nil || n < 0 {
			return ""
		}
		text = fmt.Sprintf(text, sessionCount(n))
	}
	return text
}

// sessionCount is "1 session was" / "N sessions were", capitalised.
func sessionCount(n int) string {
	switch n {
	case 0:
		return "No session was"
	case 1:
		return "1 session was"
	default:
		return strconv.Itoa(n) + " sessions were"
	}
}

func adminDone(w http.ResponseWriter, r *http.Request, done string, n int) {
	q := url.Values{adminDoneParam: {done}}
	if strings.Contains(adminNotices[done], "%s") {
		q.Set(adminCountParam, strconv.Itoa(n))
	}
	http.Redirect(w, r, pathAdmin+"?"+q.Encode(), http.StatusSeeOther)
}

var errAdminStepUp = &web.Error{Code: http.StatusForbidden, Heading: "Confirm with a code first",
	Msg: "Your session has not passed your second factor. Open the admin page again and enter a code from your app."}

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
	return a.renderAdmin(w, r, si, adminNotice(r.URL.Query()), "", "", http.StatusOK)
}

// adminNeedsCode reports whether an admin must pass a code before
// administering: one who has an authenticator administers with a session
// that passed it, so a session from before enrolling steps up first.
func (a *Admin) adminNeedsCode(r *http.Request, si *browser.SignedIn) (bool, error) {
	if si.Session.ACR == claims.ACRMFA {
		return false, nil
	}
	return a.Store.HasActiveAuthenticator(r.Context(), si.User.ID)
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
	target, err := a.tenantUser(r.Context(), si.User.TenantID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return errAdminUserNotFound
	}
	if err != nil {
		return err
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

func (a *Admin) renderAdmin(w http.ResponseWriter, r *http.Request, si *browser.SignedIn, notice, errMsg, errFor string, status int) error {
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
	filter, err := a.auditFilter(ctx, tenant.ID, r.URL.Query().Get("user"), r.URL.Query().Get("event"))
	if err != nil {
		return err
	}
	events, err := a.Store.ListAudit(ctx, filter)
	if err != nil {
		return err
	}
	deliveries, err := a.Store.ListLogoutDeliveries(ctx, tenant.ID, adminLogoutLimit)
	if err != nil {
		return err
	}
	page := templates.AdminPage{
		Page:             templates.Page{RequestID: web.RequestID(ctx), SignedInAs: admin.Email},
		TenantName:       tenant.Name,
		RequireTFA:       tenant.RequireTFA,
		AdminTFAActive:   ov.mfa[admin.ID].Active,
		EnrollURL:        "/account",
		RequireTFAAction: pathAdminRequireTFA,
		Notice:           notice,
		Error:            errMsg,
		ErrorFor:         errFor,
		UserCount:        len(ov.users),
		ActiveCount:      ov.active,
		ToEnrollCount:    ov.toEnroll,
		LockedCount:      ov.locked,
		AuditAction:      pathAdmin,
		AuditFiltered:    filter.SubjectID != "" || filter.Event != "",
		AuditClearURL:    pathAdmin + "#audit",
	}

	emails := make(map[string]string, len(ov.users))
	for _, u := range ov.users {
		emails[u.ID] = u.Email
		id := url.PathEscape(u.ID)
		row := templates.AdminUserRow{
			ID: u.ID, Email: u.Email, Name: u.Name, Admin: u.IsAdmin(), Disabled: u.Disabled,
			You:      u.ID == admin.ID,
			MFA:      mfaStateName(ov.mfa[u.ID]),
			AuditURL: pathAdmin + "?" + url.Values{"user": {u.ID}}.Encode() + "#audit",
		}
		if l := ov.mfa[u.ID].LockedUntil; l != nil {
			row.LockedUntil = account.FormatTime(*l)
		}
		if u.LastLoginAt != nil {
			row.LastSignIn, row.LastSignInISO = account.FormatTime(*u.LastLoginAt), u.LastLoginAt.UTC().Format(time.RFC3339)
		}
		if !row.You {
			// An admin manages their own factor and sessions on the
			// account page.
			row.ResetAction = strings.Replace(pathAdminUserReset, "{id}", id, 1)
			row.EndAction = strings.Replace(pathAdminUserEnd, "{id}", id, 1)
		}
		page.Users = append(page.Users, row)
		page.AuditUsers = append(page.AuditUsers, templates.AdminOption{Value: u.ID, Label: u.Email, Selected: u.ID == filter.SubjectID})
	}

	for _, ev := range audit.All() {
		page.AuditEvents = append(page.AuditEvents, templates.AdminOption{Value: string(ev), Label: audit.Label(ev), Selected: ev == filter.Event})
	}

	for _, e := range events {
		row := templates.AdminAuditRow{
			Time: account.FormatTime(e.CreatedAt), TimeISO: e.CreatedAt.UTC().Format(time.RFC3339),
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
			Time: account.FormatTime(d.CreatedAt), TimeISO: d.CreatedAt.UTC().Format(time.RFC3339),
			App: name, User: auditParty(d.UserID, tenant, emails), Attempts: d.Attempts, LastError: d.LastError,
		}
		switch row.Outcome = deliveryOutcome(&d); row.Outcome {
		case templates.AdminLogoutDelivered:
			row.When, row.LastError = account.FormatTime(*d.DeliveredAt), ""
		case templates.AdminLogoutFailed:
			row.When = fmt.Sprintf("gave up after %s", attempts(d.Attempts))
		default:
			if d.Attempts > 0 {
				row.When = fmt.Sprintf("%s so far; next %s", attempts(d.Attempts), account.FormatTime(d.NextAttemptAt))
			}
		}
		page.Logouts = append(page.Logouts, row)
	}

	web.PageHeaders(w, "")
	w.WriteHeader(status)
	return a.Templates.Admin(w, page)
}

func attempts(n int) string { return plural(n, "attempt", "attempts") }

// plural is "1 session", "0 sessions", "2 sessions".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// auditParty names an audit event's actor or subject for the page: the
// user's email, "Organisation" for the tenant itself, nothing for nobody
// (the system, or an unknown email at sign-in).
func auditParty(id string, tenant *store.Tenant, emails map[string]string) string {
	switch {
	case id == "":
		return ""
	case id == tenant.ID:
		return "Organisation"
	case emails[id] != "":
		return emails[id]
	default:
		return "Unknown user"
	}
}

// auditDetails renders an event's JSON detail as short "key: value"
// pairs, the known administrative ones in words.
func auditDetails(detail string) string {
	var m map[string]any
	if json.Unmarshal([]byte(detail), &m) != nil || len(m) == 0 {
		return ""
	}
	var parts []string
	if on, ok := m["require_tfa"].(bool); ok {
		if on {
			parts = append(parts, "turned on")
		} else {
			parts = append(parts, "turned off")
		}
		delete(m, "require_tfa")
	}
	switch m["option"] {
	case store.RequireTFAClearSessions:
		parts = append(parts, "Clear all user sessions")
		delete(m, "option")
	case store.RequireTFAKeepSessions:
		parts = append(parts, "Allow user sessions to stay logged in")
		delete(m, "option")
	}
	if n, ok := m["sessions_ended"].(float64); ok {
		parts = append(parts, plural(int(n), "session", "sessions")+" ended")
		delete(m, "sessions_ended")
	}
	if via, ok := m["via"].(string); ok {
		parts = append(parts, "via "+via)
		delete(m, "via")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %v", strings.ReplaceAll(k, "_", " "), m[k]))
	}
	return web.Truncate(strings.Join(parts, " · "), 300)
}

func mfaStateName(st store.MFAState) string {
	switch {
	case st.LockedUntil != nil:
		return templates.AdminMFALocked
	case st.Active:
		return templates.AdminMFAActive
	default:
		return templates.AdminMFANotEnrolled
	}
}

// --- the admin operations, shared by the page and the API ---

// adminOverviewData is a tenant's users with their second factor, counted.
type adminOverviewData struct {
	users                    []store.User
	mfa                      map[string]store.MFAState
	active, toEnroll, locked int
}

func (a *Admin) adminOverview(ctx context.Context, tenantID string) (*adminOverviewData, error) {
	users, err := a.Store.ListUsers(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	status, err := a.Store.MFAStatus(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	ov := &adminOverviewData{users: users, mfa: status}
	for _, u := range users {
		st := status[u.ID]
		switch {
		case st.Active:
			ov.active++
		case !u.Disabled:
			ov.toEnroll++
		}
		if st.LockedUntil != nil {
			ov.locked++
		}
	}
	return ov, nil
}

// tenantUser returns the user with id when they belong to tenantID, and
// ErrNotFound otherwise: another tenant's user is as unknown as a made-up
// id.
func (a *Admin) tenantUser(ctx context.Context, tenantID, id string) (*store.User, error) {
	if id == "" || len(id) > 100 {
		return nil, store.ErrNotFound
	}
	u, err := a.Store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.TenantID != tenantID {
		return nil, store.ErrNotFound
	}
	return u, nil
}

// auditFilter checks the audit log filters: user is the id of a user of
// the tenant (ErrNotFound otherwise), event a name in the catalogue.
func (a *Admin) auditFilter(ctx context.Context, tenantID, user, event string) (store.AuditFilter, error) {
	f := store.AuditFilter{TenantID: tenantID, Limit: adminAuditLimit}
	if user != "" {
		u, err := a.tenantUser(ctx, tenantID, user)
		if errors.Is(err, store.ErrNotFound) {
			return f, errAdminUserNotFound
		}
		if err != nil {
			return f, err
		}
		f.SubjectID = u.ID
	}
	if event != "" {
		if !audit.Known(audit.Event(event)) {
			return f, web.BadRequest("The event filter is not an event name.")
		}
		f.Event = audit.Event(event)
	}
	return f, nil
}

func adminActor(r *http.Request, admin *store.User, via string) store.Actor {
	return store.Actor{UserID: admin.ID, IP: web.ClientIP(r), UserAgent: web.Truncate(r.UserAgent(), 300), Via: via}
}

// adminSetRequireTFA turns the tenant's Require TFA policy on or off in one
// store call (policy, session endings and the audit event in one
// transaction). Turning it on needs the acting admin's own active
// authenticator (errAdminNeeds2FA); clearing sessions keeps keepSessionID,
// the admin's own.
func (a *Admin) adminSetRequireTFA(r *http.Request, admin *store.User, keepSessionID string, on, clearSessions bool, via string) ([]store.EndedSession, error) {
	ctx := r.Context()
	if on {
		active, err := a.Store.HasActiveAuthenticator(ctx, admin.ID)
		if err != nil {
			return nil, err
		}
		if !active {
			return nil, errAdminNeeds2FA
		}
	}
	return a.Sessions.End(r, store.EndReasonRequireTFA, func() ([]store.EndedSession, error) {
		return a.Store.SetRequireTFA(ctx, admin.TenantID, on, clearSessions, keepSessionID, adminActor(r, admin, via))
	})
}

// adminResetUser2FA removes the target's authenticator and recovery key and
// ends all their sessions.
func (a *Admin) adminResetUser2FA(r *http.Request, admin, target *store.User, via string) ([]store.EndedSession, error) {
	return a.Sessions.End(r, store.EndReasonMFAReset, func() ([]store.EndedSession, error) {
		return a.Store.ResetUserMFA(r.Context(), target.ID, adminActor(r, admin, via))
	})
}

// adminEndUserSessions ends the target's sessions, except keepSessionID
// (the admin's own, when the target is the admin).
func (a *Admin) adminEndUserSessions(r *http.Request, admin, target *store.User, keepSessionID, via string) ([]store.EndedSession, error) {
	if target.ID != admin.ID {
		keepSessionID = ""
	}
	return a.Sessions.End(r, store.EndReasonRevoked, func() ([]store.EndedSession, error) {
		return a.Store.RevokeUserSessions(r.Context(), target.ID, keepSessionID, adminActor(r, admin, via))
	})
}

// deliveryOutcome is where a back-channel logout delivery stands, for the
// admin page and the admin API alike.
func deliveryOutcome(d *store.LogoutDelivery) string {
	switch {
	case d.DeliveredAt != nil:
		return templates.AdminLogoutDelivered
	case d.FailedAt != nil:
		return templates.AdminLogoutFailed
	default:
		return templates.AdminLogoutPending
	}
}
