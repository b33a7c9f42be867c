package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

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

func (a *Admin) apiListUsers(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	ov, err := a.adminOverview(r.Context(), c.User.TenantID)
	if err != nil {
		return err
	}
	out := make([]apiUser, 0, len(ov.users))
	for _, u := range ov.users {
		st := ov.mfa[u.ID]
		out = append(out, apiUser{
			ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Disabled: u.Disabled,
			MFA: mfaStateName(st), MFAActive: st.Active, LockedUntil: utcPtr(st.LockedUntil),
			PasswordLocks: apiLocks(ov.passwordLocks[u.ID]), LastLoginAt: utcPtr(u.LastLoginAt),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
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

func (a *Admin) apiListAudit(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	ctx := r.Context()
	q, err := queryParams(r)
	if err != nil {
		return err
	}
	f, err := a.auditFilter(ctx, c.User.TenantID, q["user"], q["event"])
	if errors.Is(err, errAdminUserNotFound) {
		return errAPIUserNotFound
	}
	if he, ok := errors.AsType[*web.Error](err); ok {
		return apiBadRequest(he.Msg)
	}
	if err != nil {
		return err
	}
	if f.Limit, err = apiLimit(q, adminAuditLimit); err != nil {
		return err
	}
	events, err := a.Store.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	out := make([]apiAuditEvent, 0, len(events))
	for _, e := range events {
		detail := json.RawMessage(e.Detail)
		if !json.Valid(detail) {
			detail, _ = json.Marshal(e.Detail)
		}
		out = append(out, apiAuditEvent{
			ID: e.ID, Time: e.CreatedAt.UTC(), Event: e.Event, ActorID: e.ActorID, SubjectID: e.SubjectID,
			Detail: detail, IP: e.IP, UserAgent: e.UserAgent,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
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
	if err := a.Store.UpdateClient(ctx, &target); err != nil {
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
