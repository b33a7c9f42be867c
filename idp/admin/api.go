package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

// The admin API (/admin/api/...): the admin page's operations as JSON.
//
// A caller presents a bearer access token (Authorization header only) that
// Portcullis issued through the authorization-code flow, with the
// portcullis:admin scope granted, to an admin of the tenant who is not
// disabled and whose sign-in passed the second factor (acr ACRMFA). A
// missing or invalid token is 401 with a Bearer challenge; a valid token
// that falls short is 403; a user id of another tenant is 404, like an
// unknown one. Errors are {"error": ..., "error_description": ...}.
//
//	GET       /admin/api/tenant                     policy and counts
//	PUT|POST  /admin/api/tenant/require-tfa         {"require_tfa":bool,"clear_sessions":bool}
//	GET       /admin/api/users                      users and their second factor
//	POST      /admin/api/users/{id}/reset-2fa       remove authenticator and recovery key, end sessions
//	POST      /admin/api/users/{id}/end-sessions    end the user's sessions
//	GET       /admin/api/audit?user=&event=&limit=  audit log, newest first
//	GET       /admin/api/logout-deliveries?limit=   back-channel logout deliveries, newest first
const (
	pathAdminAPITenant     = "/admin/api/tenant"
	pathAdminAPIRequireTFA = "/admin/api/tenant/require-tfa"
	pathAdminAPIUsers      = "/admin/api/users"
	pathAdminAPIUserReset  = "/admin/api/users/{id}/reset-2fa"
	pathAdminAPIUserEnd    = "/admin/api/users/{id}/end-sessions"
	pathAdminAPIAudit      = "/admin/api/audit"
	pathAdminAPILogouts    = "/admin/api/logout-deliveries"
	maxAdminAPILimit       = 500
)

// apiError is what an admin API handler returns to answer with a JSON
// error; Err is logged only.
type apiError struct {
	Status    int
	Code      string
	Desc      string
	Challenge string // WWW-Authenticate value, when the error is about the token
	Err       error
}

func (e *apiError) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Desc + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Desc
}

func (e *apiError) Unwrap() error { return e.Err }

func apiBadRequest(desc string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Desc: desc}
}

var (
	errAPIUserNotFound = &apiError{Status: http.StatusNotFound, Code: "not_found",
		Desc: "There is no such user in your organisation."}
	errAPIAdmin2FA = &apiError{Status: http.StatusConflict, Code: "admin_2fa_required",
		Desc: "Two-factor authentication must be active on your own account before you can require it for everyone. Set it up on the account page (/account) first."}
)

// adminCaller is who an admin API request acts as.
type adminCaller struct {
	User    *store.User
	Session *store.Session // the access token's session
}

// adminAPI authorizes the request's bearer token (authorizeAdmin) and runs
// h, answering its error as JSON.
func (a *Admin) adminAPI(h func(w http.ResponseWriter, r *http.Request, c *adminCaller) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := a.authorizeAdmin(r)
		if err == nil {
			err = h(w, r, c)
		}
		if err != nil {
			a.writeAPIError(w, r, err)
		}
	}
}

// authorizeAdmin checks the bearer token: issued by Portcullis and active,
// for a user (not a client acting for itself), with the portcullis:admin
// scope, to an admin who is not disabled, through a sign-in that passed
// the second factor.
func (a *Admin) authorizeAdmin(r *http.Request) (*adminCaller, error) {
	ctx := r.Context()
	var token string
	if scheme, value, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "bearer") {
		token = strings.TrimSpace(value)
	}
	if token == "" {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: "invalid_request",
			Desc: "An access token is required (Authorization: Bearer).", Challenge: `Bearer realm="portcullis"`}
	}
	invalid := func(desc string, err error) *apiError {
		return &apiError{Status: http.StatusUnauthorized, Code: "invalid_token", Desc: desc, Err: err,
			Challenge: `Bearer realm="portcullis", error="invalid_token", error_description="` + desc + `"`}
	}
	use, ar, err := a.Tokens.IntrospectToken(ctx, token, fosite.AccessToken, store.NewSession())
	if err != nil || use != fosite.AccessToken {
		return nil, invalid("The access token is not valid.", err)
	}
	sess, ok := ar.GetSession().(*store.Session)
	if !ok || sess.ClientID != "" || sess.Subject == "" {
		return nil, &apiError{Status: http.StatusForbidden, Code: "access_denied",
			Desc: "The access token does not belong to a user; the admin API acts for a signed-in administrator."}
	}
	if !ar.GetGrantedScopes().Has(claims.ScopeAdmin) {
		desc := "The access token lacks the " + claims.ScopeAdmin + " scope."
		return nil, &apiError{Status: http.StatusForbidden, Code: "insufficient_scope", Desc: desc,
			Challenge: `Bearer realm="portcullis", error="insufficient_scope", error_description="` + desc + `", scope="` + claims.ScopeAdmin + `"`}
	}
	user, err := a.Store.UserByID(ctx, sess.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid("The access token's user no longer exists.", nil)
	}
	if err != nil {
		return nil, err
	}
	if user.Disabled || !user.IsAdmin() || (sess.TenantID != "" && sess.TenantID != user.TenantID) {
		return nil, &apiError{Status: http.StatusForbidden, Code: "access_denied",
			Desc: "Only an administrator of the organisation may use the admin API."}
	}
	if sess.Claims == nil || sess.Claims.AuthenticationContextClassReference != claims.ACRMFA {
		// RFC 9470's error, with the level to ask for.
		desc := "The access token comes from a sign-in without a second factor. Sign in again with acr_values=" + claims.ACRMFA + "."
		return nil, &apiError{Status: http.StatusForbidden, Code: "insufficient_user_authentication", Desc: desc,
			Challenge: `Bearer realm="portcullis", error="insufficient_user_authentication", error_description="` + desc + `", acr_values="` + claims.ACRMFA + `"`}
	}
	return &adminCaller{User: user, Session: sess}, nil
}

// writeAPIError answers err as a JSON error. An error that is not an
// *apiError is unexpected: it is logged, and the caller gets a 500 without
// its text.
func (a *Admin) writeAPIError(w http.ResponseWriter, r *http.Request, err error) {
	log := a.Pages.Logger(r)
	ae, ok := errors.AsType[*apiError](err)
	if !ok {
		log.Error("admin api request failed", "err", err)
		ae = &apiError{Status: http.StatusInternalServerError, Code: "server_error",
			Desc: "The request could not be completed. If it keeps failing, contact support with this response's X-Request-Id."}
	} else {
		log.Info("admin api request refused", "status", ae.Status, "reason", ae.Error())
	}
	if ae.Challenge != "" {
		w.Header().Set("WWW-Authenticate", ae.Challenge)
	}
	writeJSON(w, ae.Status, map[string]string{"error": ae.Code, "error_description": ae.Desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decodeJSON reads the request body strictly into v: one JSON object,
// application/json, no unknown fields, nothing after it. An empty body is
// accepted only when emptyOK (v then stays as it is). The middleware
// already caps bodies at 1 MiB.
func decodeJSON(r *http.Request, v any, emptyOK bool) error {
	body, err := io.ReadAll(r.Body)
	if tooBig, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request",
			Desc: "The request body is larger than " + strconv.FormatInt(tooBig.Limit, 10) + " bytes."}
	}
	if err != nil {
		return apiBadRequest("The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return apiBadRequest("A JSON object is required in the request body.")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: "invalid_request",
			Desc: "Send the request body as application/json."}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			if te.Field == "" {
				return apiBadRequest("The request body must be a JSON object.")
			}
			return apiBadRequest("The field '" + web.Truncate(te.Field, 50) + "' has the wrong type (" + te.Value + ").")
		}
		if _, ok := errors.AsType[*json.SyntaxError](err); ok || errors.Is(err, io.ErrUnexpectedEOF) {
			return apiBadRequest("The request body is not valid JSON.")
		}
		// An unknown field: `json: unknown field "x"`.
		return apiBadRequest("The request body is not valid for this request: " + web.Truncate(strings.TrimPrefix(err.Error(), "json: "), 100) + ".")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apiBadRequest("The request body must hold one JSON object and nothing after it.")
	}
	return nil
}

// queryParams returns the query, refusing a parameter sent twice.
func queryParams(r *http.Request) (map[string]string, error) {
	q := map[string]string{}
	for k, v := range r.URL.Query() {
		if len(v) > 1 {
			return nil, apiBadRequest("The parameter '" + web.Truncate(k, 50) + "' was sent more than once.")
		}
		q[k] = v[0]
	}
	return q, nil
}

func apiLimit(q map[string]string, def int) (int, error) {
	v, ok := q["limit"]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxAdminAPILimit {
		return 0, apiBadRequest("limit must be a whole number from 1 to " + strconv.Itoa(maxAdminAPILimit) + ".")
	}
	return n, nil
}

// --- responses ---

type apiTenant struct {
	ID             string `json:"id"`
	Slug           string `json:"slug"`
	Name           string `json:"name"`
	RequireTFA     bool   `json:"require_tfa"`
	Users          int    `json:"users"`
	UsersWith2FA   int    `json:"users_with_2fa"`
	UsersToEnroll  int    `json:"users_to_enroll"` // not disabled, without an active authenticator
	UsersLockedOut int    `json:"users_locked_out"`
}

type apiUser struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	Name        string     `json:"name,omitempty"`
	Role        string     `json:"role"`
	Disabled    bool       `json:"disabled"`
	MFA         string     `json:"mfa"` // active, not_enrolled or locked
	MFAActive   bool       `json:"mfa_active"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	LastLoginAt *time.Time `json:"last_login_at"`
}

type apiAuditEvent struct {
	ID        int64           `json:"id"`
	Time      time.Time       `json:"time"`
	Event     audit.Event     `json:"event"`
	ActorID   string          `json:"actor_id,omitempty"`
	SubjectID string          `json:"subject_id,omitempty"`
	Detail    json.RawMessage `json:"detail"`
	IP        string          `json:"ip,omitempty"`
	UserAgent string          `json:"user_agent,omitempty"`
}

type apiLogoutDelivery struct {
	ID            int64      `json:"id"`
	Status        string     `json:"status"` // delivered, pending or failed
	SessionID     string     `json:"session_id"`
	ClientID      string     `json:"client_id"`
	UserID        string     `json:"user_id"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	FailedAt      *time.Time `json:"failed_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

type apiSessionsEnded struct {
	UserID        string `json:"user_id"`
	SessionsEnded int    `json:"sessions_ended"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// --- handlers ---

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
			LastLoginAt: utcPtr(u.LastLoginAt),
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
