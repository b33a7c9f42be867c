package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

// The admin API's handlers, one per route (see Mount).

func (a *Admin) apiGetTenant(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	ctx := r.Context()
	tenant, err := a.Store.TenantByID(ctx, c.User.TenantID)
	if err != nil {
		return err
	}
	ov, err := a.adminOverview(ctx, tenant.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiTenant{
		ID: tenant.ID, Slug: tenant.Slug, Name: tenant.Name, RequireTFA: tenant.RequireTFA,
		Users: len(ov.users), UsersWith2FA: ov.active, UsersToEnroll: ov.toEnroll, UsersLockedOut: ov.locked,
		SecondFactors: tenant.SecondFactors, EnrollmentDeadline: utcPtr(tenant.EnrollmentDeadline), Passwordless: tenant.Passwordless,
	})
	return nil
}

func (a *Admin) apiSetRequireTFA(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	var body struct {
		RequireTFA    *bool `json:"require_tfa"`
		ClearSessions *bool `json:"clear_sessions"`
	}
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	if body.RequireTFA == nil {
		return apiBadRequest("require_tfa (true or false) is required.")
	}
	on := *body.RequireTFA
	if on && body.ClearSessions == nil {
		return apiBadRequest("clear_sessions is required when turning Require TFA on: true clears all user sessions (every session of the organisation's users ends now, except yours), false allows user sessions to stay logged in until their normal end.")
	}
	clearSessions := body.ClearSessions != nil && *body.ClearSessions
	ended, err := a.adminSetRequireTFA(r, c.User, c.Session.SessionID, on, clearSessions, viaAdminAPI)
	switch {
	case errors.Is(err, errAdminNeeds2FA):
		return errAPIAdmin2FA
	case errors.Is(err, store.ErrInvalidArgument):
		// The store's rule: sessions are cleared only when turning it on.
		return apiBadRequest("clear_sessions applies only when turning Require TFA on.")
	case err != nil:
		return err
	}
	resp := struct {
		RequireTFA    bool   `json:"require_tfa"`
		Option        string `json:"option,omitempty"`
		SessionsEnded int    `json:"sessions_ended"`
	}{RequireTFA: on, SessionsEnded: len(ended)}
	if on {
		resp.Option = store.RequireTFAKeepSessions
		if clearSessions {
			resp.Option = store.RequireTFAClearSessions
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// apiListUsers is GET /admin/api/users?q=&offset=&limit=: one page of the
// organisation's users (by email) matching q, a substring of the email
// or name in any case; next_offset is there when more follow.
func (a *Admin) apiListUsers(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	ctx := r.Context()
	q, err := queryParams(r)
	if err != nil {
		return err
	}
	limit, err := apiLimit(q, adminAuditLimit)
	if err != nil {
		return err
	}
	offset := 0
	if v := q["offset"]; v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 || offset > 100_000_000 {
			return apiBadRequest("offset must be a whole number, 0 or more.")
		}
	}
	if len(q["q"]) > 4*maxNameLength {
		return apiBadRequest("q is too long.")
	}
	ov, err := a.adminOverview(ctx, c.User.TenantID)
	if err != nil {
		return err
	}
	users, total, err := a.Store.SearchUsers(ctx, store.UserPage{TenantID: c.User.TenantID, Search: q["q"], Offset: offset, Limit: limit})
	if err != nil {
		return err
	}
	out := make([]apiUser, 0, len(users))
	for _, u := range users {
		out = append(out, toAPIUser(&u, ov))
	}
	resp := map[string]any{"users": out, "total": total}
	if offset+len(users) < total {
		resp["next_offset"] = offset + len(users)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func toAPIUser(u *store.User, ov *adminOverviewData) apiUser {
	st := ov.mfa[u.ID]
	return apiUser{
		ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Disabled: u.Disabled,
		MFA: mfaStateName(st), MFAActive: st.Active, LockedUntil: utcPtr(st.LockedUntil),
		Factors:       apiFactors{TOTP: st.TOTP, Passkeys: st.Passkeys},
		PasswordLocks: apiLocks(ov.passwordLocks[u.ID]), LastLoginAt: utcPtr(u.LastLoginAt),
	}
}

// apiLink is a one-time set-password link in an API answer: shown once.
type apiLink struct {
	UserID          string    `json:"user_id"`
	SetPasswordLink string    `json:"set_password_link"`
	LinkExpiresAt   time.Time `json:"link_expires_at"`
}

// apiCreateUser is POST /admin/api/users {"email","name","admin"}: 201
// with the user and the one-time link to choose a password.
func (a *Admin) apiCreateUser(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	var body struct {
		Email *string `json:"email"`
		Name  string  `json:"name"`
		Admin bool    `json:"admin"`
	}
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	if body.Email == nil {
		return apiBadRequest("email is required.")
	}
	u, link, err := a.adminCreateUser(r, c.User, *body.Email, body.Name, body.Admin, viaAdminAPI)
	if err != nil {
		msg, status := createUserProblem(err)
		switch status {
		case 0:
			return err
		case http.StatusConflict:
			return &apiError{Status: status, Code: "conflict", Desc: msg}
		}
		return apiBadRequest(msg)
	}
	writeJSON(w, http.StatusCreated, struct {
		User apiUser `json:"user"`
		apiLink
	}{apiUser{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, MFA: templates.AdminMFANotEnrolled, PasswordLocks: []apiLock{}},
		apiLink{u.ID, a.linkURL(link.Token), link.ExpiresAt.UTC()}})
	return nil
}

var errAPISelf = &apiError{Status: http.StatusConflict, Code: "conflict",
	Desc: "You cannot disable or delete your own account. Ask another administrator."}

func (a *Admin) apiSetDisabled(w http.ResponseWriter, r *http.Request, c *adminCaller, disabled bool) error {
	target, err := a.apiTargetUser(r, c)
	if err != nil {
		return err
	}
	ended, err := a.adminSetDisabled(r, c.User, target, disabled, viaAdminAPI)
	if errors.Is(err, errSelf) {
		return errAPISelf
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		UserID        string `json:"user_id"`
		Disabled      bool   `json:"disabled"`
		SessionsEnded int    `json:"sessions_ended"`
	}{target.ID, disabled, len(ended)})
	return nil
}

func (a *Admin) apiDisableUser(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	return a.apiSetDisabled(w, r, c, true)
}

func (a *Admin) apiEnableUser(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	return a.apiSetDisabled(w, r, c, false)
}

// apiDeleteUser is DELETE /admin/api/users/{id}.
func (a *Admin) apiDeleteUser(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	target, err := a.apiTargetUser(r, c)
	if err != nil {
		return err
	}
	ended, err := a.adminDeleteUser(r, c.User, target, viaAdminAPI)
	if errors.Is(err, errSelf) {
		return errAPISelf
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		UserID        string `json:"user_id"`
		Deleted       bool   `json:"deleted"`
		SessionsEnded int    `json:"sessions_ended"`
	}{target.ID, true, len(ended)})
	return nil
}

// apiResetPassword is POST /admin/api/users/{id}/reset-password: a new
// one-time link (earlier ones stop working; the current password works
// until it is used).
func (a *Admin) apiResetPassword(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	target, err := a.apiTargetUser(r, c)
	if err != nil {
		return err
	}
	link, err := a.adminResetPassword(r, c.User, target, viaAdminAPI)
	if errors.Is(err, store.ErrInvalidArgument) {
		return &apiError{Status: http.StatusConflict, Code: "conflict", Desc: errAdminUserDisabled.Msg}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiLink{target.ID, a.linkURL(link.Token), link.ExpiresAt.UTC()})
	return nil
}

// apiTargetUser reads the {id} of a user action: a user of the caller's
// tenant, and an empty (or {}) body.
func (a *Admin) apiTargetUser(r *http.Request, c *adminCaller) (*store.User, error) {
	target, err := a.tenantUser(r.Context(), c.User.TenantID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errAPIUserNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := decodeJSON(r, &struct{}{}, true); err != nil {
		return nil, err
	}
	return target, nil
}

func (a *Admin) apiResetUser2FA(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	target, err := a.apiTargetUser(r, c)
	if err != nil {
		return err
	}
	ended, err := a.adminResetUser2FA(r, c.User, target, viaAdminAPI)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiSessionsEnded{UserID: target.ID, SessionsEnded: len(ended)})
	return nil
}

func (a *Admin) apiEndUserSessions(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	target, err := a.apiTargetUser(r, c)
	if err != nil {
		return err
	}
	ended, err := a.adminEndUserSessions(r, c.User, target, c.Session.SessionID, viaAdminAPI)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiSessionsEnded{UserID: target.ID, SessionsEnded: len(ended)})
	return nil
}

func (a *Admin) apiUnlockUser(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	target, err := a.apiTargetUser(r, c)
	if err != nil {
		return err
	}
	cleared, err := a.adminUnlock(r, c.User, target, viaAdminAPI)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		UserID          string    `json:"user_id"`
		PasswordLocks   []apiLock `json:"password_locks_cleared"`
		CodeLockCleared bool      `json:"code_lock_cleared"`
	}{target.ID, apiLocks(cleared.Password), cleared.CodesUntil != nil})
	return nil
}

// apiListAudit is GET /admin/api/audit: a page of the log, newest
// first; "older" and "newer" are the cursors of the neighbouring pages,
// to pass as before= and after=.
func (a *Admin) apiListAudit(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	ctx := r.Context()
	q, err := queryParams(r)
	if err != nil {
		return err
	}
	f, err := a.apiAuditFilter(ctx, c, q)
	if err != nil {
		return err
	}
	if f.Limit, err = apiLimit(q, adminAuditLimit); err != nil {
		return err
	}
	if f.Before, f.After, err = auditCursors(q["before"], q["after"]); err != nil {
		return apiBadRequest(err.(*web.Error).Msg)
	}
	events, err := a.Store.ListAudit(ctx, auditPeek(f))
	if err != nil {
		return err
	}
	events, older, newer := auditPage(f, events)
	out := make([]apiAuditEvent, 0, len(events))
	for _, e := range events {
		out = append(out, toAPIAuditEvent(e))
	}
	resp := map[string]any{"events": out}
	if older != "" {
		resp["older"] = older
	}
	if newer != "" {
		resp["newer"] = newer
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (a *Admin) apiListLogoutDeliveries(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	q, err := queryParams(r)
	if err != nil {
		return err
	}
	limit, err := apiLimit(q, adminLogoutLimit)
	if err != nil {
		return err
	}
	ds, err := a.Store.ListLogoutDeliveries(r.Context(), c.User.TenantID, limit)
	if err != nil {
		return err
	}
	out := make([]apiLogoutDelivery, 0, len(ds))
	for _, d := range ds {
		row := apiLogoutDelivery{
			ID: d.ID, SessionID: d.SessionID, ClientID: d.ClientID, UserID: d.UserID, Attempts: d.Attempts,
			LastError: d.LastError, DeliveredAt: utcPtr(d.DeliveredAt), FailedAt: utcPtr(d.FailedAt), CreatedAt: d.CreatedAt.UTC(),
		}
		if row.Status = deliveryOutcome(&d); row.Status == templates.AdminLogoutPending {
			row.NextAttemptAt = utcPtr(&d.NextAttemptAt)
		}
		out = append(out, row)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
	return nil
}

// tenantClients returns the clients bound to tenantID: the ones its
// admins manage (clients open to every tenant are the operator's).
func (a *Admin) tenantClients(ctx context.Context, tenantID string) ([]store.Client, error) {
	all, err := a.Store.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Client
	for _, c := range all {
		if c.TenantID != nil && *c.TenantID == tenantID {
			out = append(out, c)
		}
	}
	return out, nil
}

func (a *Admin) apiListClients(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	cs, err := a.tenantClients(r.Context(), c.User.TenantID)
	if err != nil {
		return err
	}
	out := make([]apiClient, 0, len(cs))
	for i := range cs {
		out = append(out, toAPIClient(&cs[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": out})
	return nil
}

// apiUpdateClient changes the settings given in the body of a client
// bound to the caller's organisation:
//
//	introspect  what it may introspect besides its own tokens: "tenant"
//	            (the organisation's tokens) and ids of the organisation's
//	            clients; [] for its own tokens only
//	web_origins the origins whose pages may call the token, revocation
//	            and userinfo endpoints for it (CORS); [] for none
func (a *Admin) apiUpdateClient(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	ctx := r.Context()
	cs, err := a.tenantClients(ctx, c.User.TenantID)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	idx := slices.IndexFunc(cs, func(cl store.Client) bool { return cl.ID == id })
	if idx < 0 {
		return errAPIClientNotFound
	}
	target := cs[idx]
	var body struct {
		Introspect *[]string `json:"introspect"`
		WebOrigins *[]string `json:"web_origins"`
	}
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	if body.Introspect == nil && body.WebOrigins == nil {
		return apiBadRequest("Nothing to change: send introspect or web_origins.")
	}
	if body.WebOrigins != nil {
		origins := store.StringList{}
		for _, o := range *body.WebOrigins {
			if err := store.CheckWebOrigin(o); err != nil {
				return apiBadRequest("web_origins: " + web.Truncate(err.Error(), 200))
			}
			if !slices.Contains(origins, o) {
				origins = append(origins, o)
			}
		}
		target.WebOrigins = origins
	}
	if body.Introspect != nil {
		list, err := checkIntrospect(*body.Introspect, &target, cs)
		if err != nil {
			return err
		}
		target.Introspect = list
	}
	if err := a.Store.UpdateClientBy(ctx, &target, c.User.TenantID, adminActor(r, c.User, viaAdminAPI)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPIClient(&target))
	return nil
}

// checkIntrospect checks a client's new introspect list: a public client
// cannot introspect, and a tenant admin may name "tenant" and the
// organisation's own clients only.
func checkIntrospect(list []string, target *store.Client, tenantClients []store.Client) (store.StringList, error) {
	out := store.StringList{}
	for _, v := range list {
		if slices.Contains(out, v) {
			continue
		}
		if v != store.IntrospectTenant && !slices.ContainsFunc(tenantClients, func(cl store.Client) bool { return cl.ID == v }) {
			return nil, apiBadRequest("introspect: '" + web.Truncate(v, 64) + "' is neither \"tenant\" nor a client of your organisation.")
		}
		out = append(out, v)
	}
	if len(out) > 0 && target.Public {
		return nil, apiBadRequest("introspect: a public client cannot authenticate at the introspection endpoint.")
	}
	return out, nil
}
