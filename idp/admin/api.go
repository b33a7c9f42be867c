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
//	GET       /admin/api/users?q=&offset=&limit=    users and their second factor (search, pages)
//	POST      /admin/api/users                      {"email","name","admin"}: create, with a one-time link
//	DELETE    /admin/api/users/{id}                 end the user's sessions and delete them
//	POST      /admin/api/users/{id}/disable         end the user's sessions; no sign-in until enabled
//	POST      /admin/api/users/{id}/enable          let a disabled user sign in again
//	POST      /admin/api/users/{id}/reset-password  a new one-time link to choose a password
//	POST      /admin/api/users/{id}/reset-2fa       remove authenticator and recovery key, end sessions
//	POST      /admin/api/users/{id}/end-sessions    end the user's sessions
//	POST      /admin/api/users/{id}/unlock          clear the user's password and code locks
//	GET       /admin/api/audit?user=&event=&limit=&before=&after=  audit log, newest first, in pages
//	GET       /admin/api/audit/export?format=csv|jsonl&user=&event=  the whole (filtered) log, streamed
//	GET       /admin/api/logout-deliveries?limit=   back-channel logout deliveries, newest first
//	GET       /admin/api/clients                    the clients bound to the organisation
//	PATCH     /admin/api/clients/{id}               {"introspect":[...],"web_origins":[...]}: change a client's settings
const (
	pathAdminAPIClients      = "/admin/api/clients"
	pathAdminAPIClient       = "/admin/api/clients/{id}"
	pathAdminAPITenant       = "/admin/api/tenant"
	pathAdminAPIRequireTFA   = "/admin/api/tenant/require-tfa"
	pathAdminAPIUsers        = "/admin/api/users"
	pathAdminAPIUser         = "/admin/api/users/{id}"
	pathAdminAPIUserDisable  = "/admin/api/users/{id}/disable"
	pathAdminAPIUserEnable   = "/admin/api/users/{id}/enable"
	pathAdminAPIUserPassword = "/admin/api/users/{id}/reset-password"
	pathAdminAPIUserReset    = "/admin/api/users/{id}/reset-2fa"
	pathAdminAPIUserEnd      = "/admin/api/users/{id}/end-sessions"
	pathAdminAPIUserUnlock   = "/admin/api/users/{id}/unlock"
	pathAdminAPIAudit        = "/admin/api/audit"
	pathAdminAPILogouts      = "/admin/api/logout-deliveries"
	maxAdminAPILimit         = 500
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
	errAPIClientNotFound = &apiError{Status: http.StatusNotFound, Code: "not_found",
		Desc: "There is no such client in your organisation."}
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
	if store.IsUnavailable(err) {
		return nil, err // 503, not a verdict on the token
	}
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
	if !passedSecondFactor(sess) {
		// RFC 9470's error, with the level to ask for.
		desc := "The access token comes from a sign-in without a second factor. Sign in again with acr_values=" + claims.ACRMFA + "."
		return nil, &apiError{Status: http.StatusForbidden, Code: "insufficient_user_authentication", Desc: desc,
			Challenge: `Bearer realm="portcullis", error="insufficient_user_authentication", error_description="` + desc + `", acr_values="` + claims.ACRMFA + `"`}
	}
	return &adminCaller{User: user, Session: sess}, nil
}

// passedSecondFactor reports whether the token's sign-in passed a second
// factor: acr the MFA level, or the phishing-resistant one (a passkey).
func passedSecondFactor(sess *store.Session) bool {
	if sess.Claims == nil {
		return false
	}
	acr := sess.Claims.AuthenticationContextClassReference
	return acr == claims.ACRMFA || acr == claims.ACRPhishingResistant
}

// writeAPIError answers err as a JSON error. An error that is not an
// *apiError is unexpected: it is logged, and the caller gets a 500 without
// its text.
func (a *Admin) writeAPIError(w http.ResponseWriter, r *http.Request, err error) {
	log := a.Pages.Logger(r)
	ae, ok := errors.AsType[*apiError](err)
	switch {
	case store.IsUnavailable(err):
		log.Error("admin api request failed: storage unavailable", "err", err)
		w.Header().Set("Retry-After", "1")
		ae = &apiError{Status: http.StatusServiceUnavailable, Code: "server_error",
			Desc: "The service is temporarily unavailable. Try again in a moment."}
	case !ok:
		log.Error("admin api request failed", "err", err)
		ae = &apiError{Status: http.StatusInternalServerError, Code: "server_error",
			Desc: "The request could not be completed. If it keeps failing, contact support with this response's X-Request-Id."}
	default:
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
	// The second-factor policy: "any", "totp" or "webauthn"; the
	// enrollment deadline (absent when none); passwordless sign-in.
	SecondFactors      string     `json:"second_factors"`
	EnrollmentDeadline *time.Time `json:"enrollment_deadline,omitempty"`
	Passwordless       bool       `json:"passwordless"`
}

// apiFactors are a user's second factors.
type apiFactors struct {
	TOTP     bool `json:"totp"`
	Passkeys int  `json:"passkeys"`
}

type apiUser struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	Name        string     `json:"name,omitempty"`
	Role        string     `json:"role"`
	Disabled    bool       `json:"disabled"`
	MFA         string     `json:"mfa"` // active, not_enrolled or locked
	MFAActive   bool       `json:"mfa_active"`
	Factors     apiFactors `json:"factors"`
	LockedUntil *time.Time `json:"locked_until,omitempty"` // code entry
	// PasswordLocks are the addresses password entry is locked for;
	// address "*" means every address the user never signed in from.
	PasswordLocks []apiLock  `json:"password_locks"`
	LastLoginAt   *time.Time `json:"last_login_at"`
}

type apiLock struct {
	Address string    `json:"address"`
	Until   time.Time `json:"until"`
}

func apiLocks(counters []store.SignInCounter) []apiLock {
	out := make([]apiLock, 0, len(counters))
	for _, c := range counters {
		out = append(out, apiLock{Address: c.Address, Until: c.LockedUntil.UTC()})
	}
	return out
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

// apiClient is a client as the admin API shows it (never its secret).
type apiClient struct {
	ClientID     string   `json:"client_id"`
	Name         string   `json:"name"`
	Public       bool     `json:"public"`
	RedirectURIs []string `json:"redirect_uris"`
	GrantTypes   []string `json:"grant_types"`
	Scopes       []string `json:"scopes"`
	Introspect   []string `json:"introspect"`
	WebOrigins   []string `json:"web_origins"`
}

func toAPIClient(c *store.Client) apiClient {
	nonNil := func(xs []string) []string {
		if xs == nil {
			return []string{}
		}
		return xs
	}
	return apiClient{ClientID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: nonNil(c.RedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), Introspect: nonNil(c.Introspect),
		WebOrigins: nonNil(c.WebOrigins)}
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
