package admin

// User management on the admin page: create a user (a one-time
// set-password link is shown once), reset a password (the same), disable,
// enable and delete; and the confirmation pages that come before
// "Turn off Require TFA", "Reset 2FA", "Disable" and "Delete". A
// confirmation page is a GET (or the answer to a POST without
// confirmed=yes) whose button posts again with confirmed=yes; nothing is
// done without it.

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/signin"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

const (
	pathAdminUsers        = "/admin/users"
	pathAdminUserDisable  = "/admin/users/{id}/disable"
	pathAdminUserEnable   = "/admin/users/{id}/enable"
	pathAdminUserDelete   = "/admin/users/{id}/delete"
	pathAdminUserPassword = "/admin/users/{id}/reset-password"
	// pathSetPasswordLink is where a one-time link leads (idp/passwordlink's page).
	pathSetPasswordLink = "/set-password"

	confirmedField = "confirmed"
	maxNameLength  = 200
	adminUsersPage = 50
)

// Errors of user management, for the page (the API maps them to JSON).
var (
	errBadEmail = errors.New("not an email address")
	errBadName  = errors.New("not a name")
	errSelf     = errors.New("an admin acting on their own account")
)

var errAdminSelf = &web.Error{Code: http.StatusConflict, Heading: "Not on your own account",
	Msg: "You cannot disable or delete your own account. Ask another administrator."}

var errAdminUserDisabled = &web.Error{Code: http.StatusConflict, Heading: "The user is disabled",
	Msg: "Enable the user before resetting their password."}

func pathFor(pattern, id string) string {
	return strings.Replace(pattern, "{id}", url.PathEscape(id), 1)
}

// checkNewUser checks what the new user form or API body says and returns
// the email normalized and the name trimmed.
func checkNewUser(email, name string) (string, string, error) {
	email = store.NormalizeEmail(email)
	if len(email) > 254 || !utf8.ValidString(email) {
		return "", "", errBadEmail
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") {
		return "", "", errBadEmail
	}
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxNameLength || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) }) {
		return "", "", errBadName
	}
	return email, name, nil
}

// adminCreateUser creates a user of the admin's tenant with a one-time
// link to choose a password (store.ErrConflict for a taken email).
func (a *Admin) adminCreateUser(r *http.Request, admin *store.User, email, name string, isAdmin bool, via string) (*store.User, *store.IssuedLink, error) {
	email, name, err := checkNewUser(email, name)
	if err != nil {
		return nil, nil, err
	}
	u := &store.User{TenantID: admin.TenantID, Email: email, Name: name, Role: store.RoleMember}
	if isAdmin {
		u.Role = store.RoleAdmin
	}
	link, err := a.Store.CreateUserWithLink(r.Context(), u, store.NewUserLinkLifetime, adminActor(r, admin, via))
	if err != nil {
		return nil, nil, err
	}
	return u, link, nil
}

// adminResetPassword gives the target a one-time link to choose a new
// password; their current one works until it is used.
func (a *Admin) adminResetPassword(r *http.Request, admin, target *store.User, via string) (*store.IssuedLink, error) {
	return a.Store.IssueResetLink(r.Context(), target.ID, store.ResetLinkLifetime, adminActor(r, admin, via))
}

// adminSetDisabled disables (ending every session of) or enables the
// target; never the acting admin.
func (a *Admin) adminSetDisabled(r *http.Request, admin, target *store.User, disabled bool, via string) ([]store.EndedSession, error) {
	if target.ID == admin.ID {
		return nil, errSelf
	}
	return a.Sessions.End(r, store.EndReasonUserDisabled, func() ([]store.EndedSession, error) {
		return a.Store.SetUserDisabled(r.Context(), target.ID, disabled, adminActor(r, admin, via))
	})
}

// adminDeleteUser ends the target's sessions and deletes them; never the
// acting admin.
func (a *Admin) adminDeleteUser(r *http.Request, admin, target *store.User, via string) ([]store.EndedSession, error) {
	if target.ID == admin.ID {
		return nil, errSelf
	}
	return a.Sessions.End(r, store.EndReasonUserDeleted, func() ([]store.EndedSession, error) {
		return a.Store.DeleteUser(r.Context(), target.ID, adminActor(r, admin, via))
	})
}

// linkURL is the absolute one-time link for token.
func (a *Admin) linkURL(token string) string {
	return a.Issuer + pathSetPasswordLink + "?" + url.Values{"token": {token}}.Encode()
}

// --- page handlers ---

// adminView is the gate of an admin GET page other than /admin itself:
// sign-in first when needed (coming back to /admin, the page these are
// reached from), a code when the admin has an authenticator and the
// session has not passed it.
func (a *Admin) adminView(h func(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error) web.PageFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
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
		return h(w, r, si)
	}
}

// pageTarget is the {id} of a page action: a user of the admin's tenant.
func (a *Admin) pageTarget(r *http.Request, si *browser.SignedIn) (*store.User, error) {
	target, err := a.tenantUser(r.Context(), si.User.TenantID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errAdminUserNotFound
	}
	return target, err
}

func confirmed(r *http.Request) bool { return r.PostForm.Get(confirmedField) == "yes" }

// renderConfirm shows a confirmation page.
func (a *Admin) renderConfirm(w http.ResponseWriter, r *http.Request, si *browser.SignedIn, p templates.AdminConfirmPage) error {
	p.Page = templates.Page{RequestID: web.RequestID(r.Context()), SignedInAs: si.User.Email, Title: "Confirm",
		Nav: signin.Nav(si, templates.NavAdmin)}
	p.TenantName = si.Tenant.Name
	if p.CancelURL == "" {
		p.CancelURL = pathAdmin + "#users"
	}
	web.PageHeaders(w, "")
	return a.Templates.AdminConfirm(w, p)
}

// confirmTurnOff is the confirmation of turning Require TFA off.
func (a *Admin) confirmTurnOff(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	return a.renderConfirm(w, r, si, templates.AdminConfirmPage{
		Heading: "Turn off Require TFA for " + si.Tenant.Name + "?",
		Consequences: []string{
			"Users without an authenticator sign in with their password alone from now on.",
			"Users who have an authenticator keep using it.",
			"No session ends.",
		},
		Action: pathAdminRequireTFA, Fields: []templates.Param{{Name: "require_tfa", Value: "off"}},
		Button: "Turn off Require TFA", Danger: true, CancelURL: pathAdmin + "#policy",
	})
}

// userConfirms are the confirmation pages of the user actions, by path.
func userConfirm(path string, u *store.User) templates.AdminConfirmPage {
	who := u.Email
	switch path {
	case pathAdminUserReset:
		return templates.AdminConfirmPage{Heading: "Reset 2FA for " + who + "?", Consequences: []string{
			"Their authenticator and recovery key are removed.",
			"All their sessions end now, and their apps’ tokens are revoked.",
			"They set up a new authenticator at their next sign-in.",
		}, Button: "Reset 2FA", Danger: true}
	case pathAdminUserDisable:
		return templates.AdminConfirmPage{Heading: "Disable " + who + "?", Consequences: []string{
			"All their sessions end now, and their apps’ tokens are revoked.",
			"They cannot sign in until an administrator enables them again; sign-in answers as for a wrong password.",
			"An unused set-password link of theirs stops working.",
		}, Button: "Disable user", Danger: true}
	default: // pathAdminUserDelete
		return templates.AdminConfirmPage{Heading: "Delete " + who + "?", Consequences: []string{
			"All their sessions end now, and their apps’ tokens are revoked.",
			"The user, their authenticator, recovery key and locks are removed. This cannot be undone.",
			"The audit log keeps their events.",
		}, Button: "Delete user", Danger: true}
	}
}

// confirmUserAction is GET /admin/users/{id}/(reset-2fa|disable|delete):
// the confirmation page of path.
func (a *Admin) confirmUserAction(path string) func(http.ResponseWriter, *http.Request, *browser.SignedIn) error {
	return func(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
		target, err := a.pageTarget(r, si)
		if err != nil {
			return err
		}
		if target.ID == si.User.ID && path != pathAdminUserReset {
			return errAdminSelf
		}
		p := userConfirm(path, target)
		p.Action = pathFor(path, target.ID)
		return a.renderConfirm(w, r, si, p)
	}
}

// submitDisableUser is POST /admin/users/{id}/disable.
func (a *Admin) submitDisableUser(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	target, err := a.pageTarget(r, si)
	if err != nil {
		return err
	}
	if !confirmed(r) {
		return a.confirmUserAction(pathAdminUserDisable)(w, r, si)
	}
	ended, err := a.adminSetDisabled(r, si.User, target, true, viaAdminPage)
	if errors.Is(err, errSelf) {
		return errAdminSelf
	}
	if err != nil {
		return err
	}
	adminDone(w, r, "disabled", len(ended))
	return nil
}

// submitEnableUser is POST /admin/users/{id}/enable.
func (a *Admin) submitEnableUser(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	target, err := a.pageTarget(r, si)
	if err != nil {
		return err
	}
	if _, err := a.adminSetDisabled(r, si.User, target, false, viaAdminPage); errors.Is(err, errSelf) {
		return errAdminSelf
	} else if err != nil {
		return err
	}
	adminDone(w, r, "enabled", 0)
	return nil
}

// submitDeleteUser is POST /admin/users/{id}/delete.
func (a *Admin) submitDeleteUser(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	target, err := a.pageTarget(r, si)
	if err != nil {
		return err
	}
	if !confirmed(r) {
		return a.confirmUserAction(pathAdminUserDelete)(w, r, si)
	}
	ended, err := a.adminDeleteUser(r, si.User, target, viaAdminPage)
	if errors.Is(err, errSelf) {
		return errAdminSelf
	}
	if err != nil {
		return err
	}
	adminDone(w, r, "deleted", len(ended))
	return nil
}

// submitResetPassword is POST /admin/users/{id}/reset-password: the new
// one-time link is shown once.
func (a *Admin) submitResetPassword(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	target, err := a.pageTarget(r, si)
	if err != nil {
		return err
	}
	link, err := a.adminResetPassword(r, si.User, target, viaAdminPage)
	if errors.Is(err, store.ErrInvalidArgument) {
		return errAdminUserDisabled
	}
	if err != nil {
		return err
	}
	return a.renderLink(w, r, si, templates.AdminLinkPage{
		Heading: "Password reset link",
		Lead:    "Give this link to " + target.Email + ". Their current password keeps working until they choose a new one; then all their sessions end.",
		Email:   target.Email,
	}, link, http.StatusOK)
}

// submitCreateUser is POST /admin/users: email, name, admin=yes. A bad or
// taken email shows the admin page again with the form as typed.
func (a *Admin) submitCreateUser(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	f := r.PostForm
	email, name, isAdmin := f.Get("email"), f.Get("name"), f.Get("admin") == "yes"
	u, link, err := a.adminCreateUser(r, si.User, email, name, isAdmin, viaAdminPage)
	if err != nil {
		msg, status := createUserProblem(err)
		if status == 0 {
			return err
		}
		return a.renderAdminWith(w, r, si, adminRender{errMsg: msg, errFor: templates.AdminFormCreateUser, status: status,
			createEmail: web.Truncate(email, 254), createName: web.Truncate(name, 4*maxNameLength), createAdmin: isAdmin})
	}
	lead := "Give this link to " + u.Email + " to choose a password. They then sign in"
	if si.Tenant.RequireTFA {
		lead += " and set up an authenticator app, as your organisation requires"
	}
	return a.renderLink(w, r, si, templates.AdminLinkPage{Heading: "User created", Lead: lead + ".", Email: u.Email}, link, http.StatusCreated)
}

// createUserProblem is what the new user form says about err, with the
// status; 0 for an error that is not the form's.
func createUserProblem(err error) (string, int) {
	switch {
	case errors.Is(err, errBadEmail):
		return "Enter the user's email address, such as ada@example.com.", http.StatusBadRequest
	case errors.Is(err, errBadName):
		return "The name is at most " + strconv.Itoa(maxNameLength) + " characters, without control characters.", http.StatusBadRequest
	case errors.Is(err, store.ErrConflict):
		return "A user with this email already exists.", http.StatusConflict
	}
	return "", 0
}

// renderLink shows a one-time link once (never cached).
func (a *Admin) renderLink(w http.ResponseWriter, r *http.Request, si *browser.SignedIn, p templates.AdminLinkPage, link *store.IssuedLink, status int) error {
	nonce := web.ScriptNonce() // the Copy button's script
	p.Page = templates.Page{RequestID: web.RequestID(r.Context()), SignedInAs: si.User.Email, CSPNonce: nonce,
		Nav: signin.Nav(si, templates.NavAdmin)}
	p.TenantName = si.Tenant.Name
	p.Link = a.linkURL(link.Token)
	p.Expires, p.ExpiresISO = web.FormatTime(link.ExpiresAt), link.ExpiresAt.UTC().Format(time.RFC3339)
	p.BackURL = pathAdmin + "#users"
	web.PageHeaders(w, nonce)
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	return a.Templates.AdminLink(w, p)
}

// usersQuery is the users list's search and page, from the query.
type usersQuery struct {
	search string
	page   int // from 1
}

func parseUsersQuery(q url.Values) (usersQuery, error) {
	uq := usersQuery{search: strings.TrimSpace(q.Get("q")), page: 1}
	if len(uq.search) > maxNameLength*4 {
		return uq, web.BadRequest("The search is too long.")
	}
	if v := q.Get("upage"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return uq, web.BadRequest("The page of users is not a page number.")
		}
		uq.page = n
	}
	return uq, nil
}

// searchUsers is one page of the tenant's users matching uq.
func (a *Admin) searchUsers(ctx context.Context, tenantID string, uq usersQuery) ([]store.User, int, error) {
	return a.Store.SearchUsers(ctx, store.UserPage{TenantID: tenantID, Search: uq.search,
		Offset: (uq.page - 1) * adminUsersPage, Limit: adminUsersPage})
}
