// Package admin is the tenant admin page (/admin): the tenant's Require TFA policy, its
// users and their second factor (with user management: create with a
// one-time set-password link, reset password, disable, enable, delete;
// users.go), the audit log (pages and downloads; auditlog.go) and the
// back-channel logout deliveries. Only a signed-in admin of the tenant sees it; every action is
// a form POST guarded like the other forms, and a user id of another
// tenant answers as an unknown one (404), so tenants cannot be discovered.
// The same operations are offered as JSON in api.go; both go through
// the admin operations at the end of page.go.
package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/credentials"
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
	// Issuer is the provider's URL, the start of the one-time links.
	Issuer string
	// Passkeys says whether passkeys can be used here (the policy form
	// says so when they cannot).
	Passkeys *credentials.Passkeys
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
	ListClients(ctx context.Context) ([]store.Client, error)
	UpdateClientBy(ctx context.Context, c *store.Client, tenantID string, actor store.Actor) error
	ListLogoutDeliveries(ctx context.Context, tenantID string, limit int) ([]store.LogoutDelivery, error)
	ListUsers(ctx context.Context, tenantID string) ([]store.User, error)
	SearchUsers(ctx context.Context, p store.UserPage) ([]store.User, int, error)
	CreateUserWithLink(ctx context.Context, u *store.User, ttl time.Duration, actor store.Actor) (*store.IssuedLink, error)
	IssueResetLink(ctx context.Context, userID string, ttl time.Duration, actor store.Actor) (*store.IssuedLink, error)
	SetUserDisabled(ctx context.Context, userID string, disabled bool, actor store.Actor) ([]store.EndedSession, error)
	DeleteUser(ctx context.Context, userID string, actor store.Actor) ([]store.EndedSession, error)
	MFAStatus(ctx context.Context, tenantID string) (map[string]store.MFAState, error)
	ResetUserMFA(ctx context.Context, userID string, actor store.Actor) ([]store.EndedSession, error)
	RevokeUserSessions(ctx context.Context, userID, keepSessionID string, actor store.Actor) ([]store.EndedSession, error)
	SetRequireTFA(ctx context.Context, tenantID string, on, clearSessions bool, keepSessionID string, actor store.Actor) ([]store.EndedSession, error)
	TenantByID(ctx context.Context, id string) (*store.Tenant, error)
	TenantPasswordLocks(ctx context.Context, tenantID string) (map[string][]store.SignInCounter, error)
	Unlock(ctx context.Context, userID string, actor store.Actor) (*store.UserLocks, error)
	UserByID(ctx context.Context, id string) (*store.User, error)
	SecondFactorsOf(ctx context.Context, userID string) (store.SecondFactors, error)
	SetSecondFactors(ctx context.Context, tenantID, factors string, clearSessions bool, keepSessionID string, actor store.Actor) ([]store.EndedSession, error)
	SetEnrollmentDeadline(ctx context.Context, tenantID string, deadline *time.Time, actor store.Actor) error
	SetPasswordless(ctx context.Context, tenantID string, on bool, actor store.Actor) error
}

// Mount adds the admin page and API to the route table. The API
// authenticates with a bearer token, not the cookie, so it is not
// origin-checked.
func (a *Admin) Mount(rt *web.Router) {
	act := func(h func(http.ResponseWriter, *http.Request, *browser.SignedIn) error) web.PageFunc {
		return a.adminAction(h)
	}
	rt.Page("GET "+pathAdmin, a.showAdmin)
	rt.Page("GET "+pathAdminAuditExport, a.adminView(a.exportAudit))
	rt.Form("POST "+pathAdminRequireTFA, act(a.submitRequireTFA))
	rt.Form("POST "+pathAdminFactors, act(a.submitSecondFactors))
	rt.Form("POST "+pathAdminDeadline, act(a.submitEnrollmentDeadline))
	rt.Form("POST "+pathAdminPasswordless, act(a.submitPasswordless))
	rt.Form("POST "+pathAdminUsers, act(a.submitCreateUser))
	rt.Page("GET "+pathAdminUserReset, a.adminView(a.confirmUserAction(pathAdminUserReset)))
	rt.Form("POST "+pathAdminUserReset, act(a.submitResetUser2FA))
	rt.Form("POST "+pathAdminUserEnd, act(a.submitEndUserSessions))
	rt.Form("POST "+pathAdminUserUnlock, act(a.submitUnlockUser))
	rt.Form("POST "+pathAdminUserPassword, act(a.submitResetPassword))
	rt.Page("GET "+pathAdminUserDisable, a.adminView(a.confirmUserAction(pathAdminUserDisable)))
	rt.Form("POST "+pathAdminUserDisable, act(a.submitDisableUser))
	rt.Form("POST "+pathAdminUserEnable, act(a.submitEnableUser))
	rt.Page("GET "+pathAdminUserDelete, a.adminView(a.confirmUserAction(pathAdminUserDelete)))
	rt.Form("POST "+pathAdminUserDelete, act(a.submitDeleteUser))
	rt.Handle("GET "+pathAdminAPITenant, a.adminAPI(a.apiGetTenant))
	rt.Handle("PUT "+pathAdminAPIRequireTFA, a.adminAPI(a.apiSetRequireTFA))
	rt.Handle("POST "+pathAdminAPIRequireTFA, a.adminAPI(a.apiSetRequireTFA))
	rt.Handle("PUT "+pathAdminAPIFactors, a.adminAPI(a.apiSetSecondFactors))
	rt.Handle("PUT "+pathAdminAPIDeadline, a.adminAPI(a.apiSetEnrollmentDeadline))
	rt.Handle("PUT "+pathAdminAPIPasswordless, a.adminAPI(a.apiSetPasswordless))
	rt.Handle("GET "+pathAdminAPIUsers, a.adminAPI(a.apiListUsers))
	rt.Handle("POST "+pathAdminAPIUsers, a.adminAPI(a.apiCreateUser))
	rt.Handle("DELETE "+pathAdminAPIUser, a.adminAPI(a.apiDeleteUser))
	rt.Handle("POST "+pathAdminAPIUserDisable, a.adminAPI(a.apiDisableUser))
	rt.Handle("POST "+pathAdminAPIUserEnable, a.adminAPI(a.apiEnableUser))
	rt.Handle("POST "+pathAdminAPIUserPassword, a.adminAPI(a.apiResetPassword))
	rt.Handle("POST "+pathAdminAPIUserReset, a.adminAPI(a.apiResetUser2FA))
	rt.Handle("POST "+pathAdminAPIUserEnd, a.adminAPI(a.apiEndUserSessions))
	rt.Handle("POST "+pathAdminAPIUserUnlock, a.adminAPI(a.apiUnlockUser))
	rt.Handle("GET "+pathAdminAPIAudit, a.adminAPI(a.apiListAudit))
	rt.Handle("GET "+pathAdminAPIAuditExport, a.adminAPI(a.apiExportAudit))
	rt.Handle("GET "+pathAdminAPILogouts, a.adminAPI(a.apiListLogoutDeliveries))
	rt.Handle("GET "+pathAdminAPIClients, a.adminAPI(a.apiListClients))
	rt.Handle("PATCH "+pathAdminAPIClient, a.adminAPI(a.apiUpdateClient))
}

const (
	pathAdmin           = "/admin"
	pathAdminRequireTFA = "/admin/require-tfa"
	pathAdminUserReset  = "/admin/users/{id}/reset-2fa"
	pathAdminUserEnd    = "/admin/users/{id}/end-sessions"
	pathAdminUserUnlock = "/admin/users/{id}/unlock"
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
		Msg: "This page is for your organisation's administrators. Ask one of them if something needs to change.", Back: web.Link{URL: "/account", Label: "Go to your account"}}
	errAdminSignedOut = &web.Error{Code: http.StatusUnauthorized, Heading: "You are signed out",
		Msg: "Your session has ended. Open the admin page again to sign in.", Back: web.Link{URL: pathAdmin, Label: "Sign in again"}}
	errAdminUserNotFound = &web.Error{Code: http.StatusNotFound, Heading: "User not found",
		Msg: "There is no such user in your organisation."}
)

// errAdminNeeds2FA refuses turning Require TFA on for an admin without an
// active authenticator of their own.
var errAdminNeeds2FA = errors.New("the acting admin has no active authenticator")

// adminNotices are the confirmations shown after a redirect back to the
// admin page (?done=...&n=...); fixed texts, so the query cannot inject any.
var adminNotices = map[string]string{
	"tfa_on_cleared":   "Require TFA is on. %s ended; everyone without an authenticator sets one up at their next sign-in.",
	"tfa_on_kept":      "Require TFA is on. Sessions stay signed in until they end; users without an authenticator set one up at their next sign-in.",
	"tfa_off":          "Require TFA is off. Users without an authenticator sign in with their password alone.",
	"reset":            "Two-factor authentication was reset; the user sets up a new authenticator at their next sign-in. %s ended.",
	"ended":            "%s ended.",
	"unlocked":         "The user's locks were cleared: they can sign in again from every address.",
	"disabled":         "The user was disabled and cannot sign in. %s ended.",
	"enabled":          "The user was enabled and can sign in again.",
	"deleted":          "The user was deleted. %s ended.",
	"factors_any":      "Users may use an authenticator app or a passkey.",
	"factors_totp":     "Users may use authenticator apps only; passkeys no longer count.",
	"factors_webauthn": "Passkeys are required: %s ended; users without a passkey set one up at their next sign-in.",
	"deadline_set":     "The enrollment deadline is set. Until then, users without a second factor may put off setting one up.",
	"deadline_removed": "The enrollment deadline was removed: setting up a second factor is forced where Require TFA is on.",
	"passwordless_on":  "Passwordless sign-in is on: users may sign in with a passkey alone.",
	"passwordless_off": "Passwordless sign-in is off: the password is always asked first.",
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
	Msg: "Your session has not passed your second factor. Open the admin page again and enter a code from your app.", Back: web.Link{URL: pathAdmin, Label: "Enter a code"}}
