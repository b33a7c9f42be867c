package idp

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/templates"
)

// The account page (/account): the user's second factor, sessions and
// password. Every action is a form POST guarded like the sign-in forms; the
// ones that weaken or replace a factor need a fresh code.
const (
	pathAccount              = "/account"
	pathAdmin                = "/admin"
	pathAccountActivate      = "/account/2fa/activate"
	pathAccountDeactivate    = "/account/2fa/deactivate"
	pathAccountRecoveryKey   = "/account/2fa/recovery-key"
	pathAccountEndSession    = "/account/sessions/end"
	pathAccountEndOthers     = "/account/sessions/end-others"
	pathAccountPassword      = "/account/password"
	accountReturnParam       = "return_to"
	accountDoneParam         = "done"
	msgDeactivateRefused     = "Your organisation requires two-factor authentication, so it cannot be turned off for your account."
	msgPasswordTooShort      = "Choose a new password of at least 12 characters."
	msgCurrentPasswordWrong  = "Your current password is not correct."
	msgPasswordOrCodeWrong   = "Your current password or the code is not correct."
	msgPasswordSameAsCurrent = "The new password must differ from the current one."
)

// accountNotices are the confirmations shown after a redirect back to the
// account page (?done=...); fixed texts, so the query cannot inject any.
var accountNotices = map[string]string{
	"activated":        "Two-factor authentication is now active.",
	"deactivated":      "Two-factor authentication is turned off. Your authenticator and recovery key were removed.",
	"session_ended":    "The session was signed out.",
	"others_ended":     "You were signed out everywhere else.",
	"password_changed": "Your password was changed and your other sessions were signed out.",
}

// accountReturnPaths are the pages an account sign-in may return to.
var accountReturnPaths = map[string]bool{pathAccount: true, pathAdmin: true}

// accountFlowReturn is where a finished account flow goes back to.
func accountFlowReturn(p *store.AuthRequest) string {
	form, _ := url.ParseQuery(p.Form)
	to := form.Get(accountReturnParam)
	if !accountReturnPaths[to] {
		to = pathAccount
	}
	if done := form.Get(accountDoneParam); accountNotices[done] != "" {
		to += "?" + accountDoneParam + "=" + done
	}
	return to
}

// beginAccountFlow starts a flow of Portcullis' own pages (no relying app):
// a sign-in for /account or /admin, or enrollment from the account page.
func (s *Server) beginAccountFlow(w http.ResponseWriter, r *http.Request, form url.Values, stage, path string, si *signedIn) error {
	bid, err := s.browserID(w, r)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	p := &store.AuthRequest{
		ID: randomToken(), BrowserID: bid, Form: form.Encode(), Stage: stage,
		CreatedAt: now, ExpiresAt: now.Add(pendingTTL),
	}
	if si != nil {
		p.UserID, p.SessionID = si.User.ID, si.Session.ID
	}
	if err := s.store.CreateAuthRequest(r.Context(), p); err != nil {
		return err
	}
	http.Redirect(w, r, path+"?auth_request="+url.QueryEscape(p.ID), http.StatusSeeOther)
	return nil
}

// signedInOrLogin returns the browser's session, or sends the browser to
// sign in and come back to returnTo (si is nil then, and the response is
// written).
func (s *Server) signedInOrLogin(w http.ResponseWriter, r *http.Request, returnTo string) (*signedIn, error) {
	si, err := s.currentSession(r.Context(), r)
	if err != nil || si != nil {
		return si, err
	}
	if r.Method != http.MethodGet {
		return nil, errSignedOut
	}
	return nil, s.beginAccountFlow(w, r, url.Values{accountReturnParam: {returnTo}}, stageLogin, "/login", nil)
}

var errSignedOut = &httpError{Code: http.StatusUnauthorized, Heading: "You are signed out",
	Msg: "Your session has ended. Open your account page again to sign in."}

func (s *Server) showAccount(w http.ResponseWriter, r *http.Request) error {
	si, err := s.signedInOrLogin(w, r, pathAccount)
	if err != nil || si == nil {
		return err
	}
	return s.renderAccount(w, r, si, accountNotices[r.URL.Query().Get(accountDoneParam)], "", "", http.StatusOK)
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, si *signedIn, notice, errMsg, errFor string, status int) error {
	ctx := r.Context()
	u := si.User
	tenant, err := s.store.TenantByID(ctx, u.TenantID)
	if err != nil {
		return err
	}
	active, err := s.store.HasActiveAuthenticator(ctx, u.ID)
	if err != nil {
		return err
	}
	sessions, err := s.store.ListUserSessions(ctx, u.ID, s.opts.SessionIdle)
	if err != nil {
		return err
	}
	page := templates.AccountPage{
		Page:                 templates.Page{RequestID: RequestID(ctx), SignedInAs: u.Email},
		Email:                u.Email,
		Name:                 u.Name,
		TenantName:           tenant.Name,
		TFAActive:            active,
		TenantRequiresTFA:    tenant.RequireTFA,
		Notice:               notice,
		Error:                errMsg,
		ErrorFor:             errFor,
		DeactivateAction:     pathAccountDeactivate,
		NewRecoveryKeyAction: pathAccountRecoveryKey,
		PasswordAction:       pathAccountPassword,
	}
	if !active {
		page.ActivateURL = pathAccountActivate
	}
	others := 0
	for _, bs := range sessions {
		current := bs.ID == si.Session.ID
		if !current {
			others++
		}
		page.Sessions = append(page.Sessions, templates.SessionRow{
			ID: bs.ID, Device: describeUserAgent(bs.UserAgent), IP: bs.IP,
			Started: formatTime(bs.CreatedAt), LastActive: formatTime(bs.LastSeenAt),
			Current: current, TFA: bs.ACR == ACRMFA, SignOutAction: pathAccountEndSession,
		})
	}
	// This device first, then the others newest first.
	slices.SortStableFunc(page.Sessions, func(a, b templates.SessionRow) int {
		switch {
		case a.Current == b.Current:
			return 0
		case a.Current:
			return -1
		default:
			return 1
		}
	})
	if others > 0 {
		page.SignOutOthersAction = pathAccountEndOthers
	}
	pageHeaders(w, "")
	w.WriteHeader(status)
	return s.tpl.Account(w, page)
}

func formatTime(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") }

// describeUserAgent names the browser and system of a User-Agent well
// enough for a person to recognise their own devices.
func describeUserAgent(ua string) string {
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "Go program"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return system
	default:
		return "Unknown device"
	}
}

// accountAction is the shape of every account-page POST: a live session is
// required, and the form must parse.
func (s *Server) accountAction(h func(w http.ResponseWriter, r *http.Request, si *signedIn) error) func(http.ResponseWriter, *http.Request) error {
	return s.sessionAction(errSignedOut, h)
}

// sessionAction parses the form and runs h with the browser's live
// session, or answers signedOut when there is none.
func (s *Server) sessionAction(signedOut *httpError, h func(w http.ResponseWriter, r *http.Request, si *signedIn) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := r.ParseForm(); err != nil {
			return badRequest("The form could not be read.")
		}
		si, err := s.currentSession(r.Context(), r)
		if err != nil {
			return err
		}
		if si == nil {
			return signedOut
		}
		return h(w, r, si)
	}
}

// activate2FA starts enrollment for the signed-in user; the session is
// upgraded to the MFA level once the confirming code is accepted.
func (s *Server) activate2FA(w http.ResponseWriter, r *http.Request, si *signedIn) error {
	active, err := s.store.HasActiveAuthenticator(r.Context(), si.User.ID)
	if err != nil {
		return err
	}
	if active {
		http.Redirect(w, r, pathAccount, http.StatusSeeOther)
		return nil
	}
	form := url.Values{accountReturnParam: {pathAccount}, accountDoneParam: {"activated"}}
	return s.beginAccountFlow(w, r, form, stageEnroll, pathEnroll, si)
}

// checkFreshCode verifies a code from the user's active authenticator
// through the guard (replay and attempt limit). It returns the message to
// show when the code is refused.
func (s *Server) checkFreshCode(r *http.Request, u *store.User, code string) (string, int, error) {
	sealed, err := s.store.ActiveSecret(r.Context(), u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "Two-factor authentication is not active.", http.StatusConflict, nil
	}
	if err != nil {
		return "", 0, err
	}
	secret, err := s.openSecret(sealed, u.ID)
	if err != nil {
		return "", 0, err
	}
	if _, err := s.guard.CheckCode(r.Context(), u.ID, secret, code); err != nil {
		return s.codeRefusal(r, u, err)
	}
	return "", 0, nil
}

func (s *Server) deactivate2FA(w http.ResponseWriter, r *http.Request, si *signedIn) error {
	ctx := r.Context()
	u := si.User
	tenant, err := s.store.TenantByID(ctx, u.TenantID)
	if err != nil {
		return err
	}
	if tenant.RequireTFA {
		return s.renderAccount(w, r, si, "", msgDeactivateRefused, templates.FormDeactivate, http.StatusForbidden)
	}
	if msg, status, err := s.checkFreshCode(r, u, r.PostForm.Get("code")); err != nil || msg != "" {
		if err != nil {
			return err
		}
		return s.renderAccount(w, r, si, "", msg, templates.FormDeactivate, status)
	}
	if err := s.store.ResetMFA(ctx, u.ID); err != nil {
		return err
	}
	s.audit(r, &store.AuditEvent{Event: audit.MFADeactivated, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
	http.Redirect(w, r, pathAccount+"?"+accountDoneParam+"=deactivated", http.StatusSeeOther)
	return nil
}

// newRecoveryKey replaces the recovery key after a fresh code and shows
// the new one once; its download is a data: URL, so the key is never
// stored anywhere but as its hash.
func (s *Server) newRecoveryKey(w http.ResponseWriter, r *http.Request, si *signedIn) error {
	ctx := r.Context()
	u := si.User
	if msg, status, err := s.checkFreshCode(r, u, r.PostForm.Get("code")); err != nil || msg != "" {
		if err != nil {
			return err
		}
		return s.renderAccount(w, r, si, "", msg, templates.FormNewRecoveryKey, status)
	}
	key, err := mfa.NewRecoveryKey(nil)
	if err != nil {
		return err
	}
	if err := s.store.ReplaceRecoveryKey(ctx, u.ID, mfa.HashRecoveryKey(key)); err != nil {
		return err
	}
	s.audit(r, &store.AuditEvent{Event: audit.MFARecoveryRegenerated, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
	file := base64.StdEncoding.EncodeToString([]byte(recoveryKeyText(u.Email, key)))
	pageHeaders(w, "")
	return s.tpl.RecoveryKeyIssued(w, templates.RecoveryKeyIssuedPage{
		Page:       templates.Page{RequestID: RequestID(ctx), SignedInAs: u.Email},
		GroupedKey: key.Grouped(),
		// Built from base64 of our own text.
		DownloadURL: template.URL("data:text/plain;charset=utf-8;base64," + file),
		ContinueURL: pathAccount,
	})
}

func (s *Server) endAccountSession(w http.ResponseWriter, r *http.Request, si *signedIn) error {
	ctx := r.Context()
	id := r.PostForm.Get("session")
	if id == "" || len(id) > 100 {
		return badRequest("No session was chosen.")
	}
	bs, err := s.store.SessionByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && bs.UserID != si.User.ID) {
		// Someone else's session id answers as an unknown one.
		return &httpError{Code: http.StatusNotFound, Heading: "Session not found", Msg: "That session does not exist or has already ended."}
	}
	if err != nil {
		return err
	}
	if _, err := s.endSessions(r, "user_signout", func() ([]store.EndedSession, error) {
		return s.store.EndSession(ctx, id, "user_signout")
	}); err != nil {
		return err
	}
	if id == si.Session.ID {
		return s.signedOut(w, r, "")
	}
	http.Redirect(w, r, pathAccount+"?"+accountDoneParam+"=session_ended", http.StatusSeeOther)
	return nil
}

func (s *Server) endOtherSessions(w http.ResponseWriter, r *http.Request, si *signedIn) error {
	ctx := r.Context()
	if _, err := s.endSessions(r, "user_signout_others", func() ([]store.EndedSession, error) {
		return s.store.EndUserSessions(ctx, si.User.ID, si.Session.ID, "user_signout_others")
	}); err != nil {
		return err
	}
	http.Redirect(w, r, pathAccount+"?"+accountDoneParam+"=others_ended", http.StatusSeeOther)
	return nil
}

// changePassword needs the current password and, with 2FA active, a fresh
// code; it ends the user's other sessions.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, si *signedIn) error {
	ctx := r.Context()
	u := si.User
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	fail := func(msg string, status int) error {
		return s.renderAccount(w, r, si, "", msg, templates.FormPassword, status)
	}
	if len(current) > MaxPasswordLength || len(next) > MaxPasswordLength {
		return fail("Passwords are at most 1024 characters.", http.StatusBadRequest)
	}
	if utf8.RuneCountInString(next) < MinPasswordLength {
		return fail(msgPasswordTooShort, http.StatusBadRequest)
	}
	// An unreadable stored hash counts as a wrong password; a failure to
	// record the attempt is an error, not a wrong password.
	ok, _ := CheckPassword(u.PasswordHash, current)
	failed := &store.AuditEvent{Event: audit.PasswordChangeFailed, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID}
	ok, err := s.passwordAttempt(r, u, ok, failed)
	if err != nil {
		return err
	}
	active, err := s.store.HasActiveAuthenticator(ctx, u.ID)
	if err != nil {
		return err
	}
	if active {
		// The code is checked (and charged) whatever the password was, and
		// a wrong one of the two gets one answer: someone holding only the
		// session must not learn whether a guessed password was right.
		// Only answers about the code alone (not six digits, entry locked)
		// are given as they are; they say nothing of the password.
		msg, status, err := s.checkFreshCode(r, u, r.PostForm.Get("code"))
		if err != nil {
			return err
		}
		if status == http.StatusBadRequest || status == http.StatusTooManyRequests {
			return fail(msg, status)
		}
		if !ok || msg != "" {
			return fail(msgPasswordOrCodeWrong, http.StatusUnauthorized)
		}
	} else if !ok {
		return fail(msgCurrentPasswordWrong, http.StatusUnauthorized)
	}
	if current == next {
		return fail(msgPasswordSameAsCurrent, http.StatusBadRequest)
	}
	hash, err := s.HashPassword(next)
	if err != nil {
		return err
	}
	if err := s.store.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return err
	}
	if _, err := s.endSessions(r, "password_changed", func() ([]store.EndedSession, error) {
		return s.store.EndUserSessions(ctx, u.ID, si.Session.ID, "password_changed")
	}); err != nil {
		return err
	}
	s.audit(r, &store.AuditEvent{Event: audit.PasswordChanged, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
	http.Redirect(w, r, pathAccount+"?"+accountDoneParam+"=password_changed", http.StatusSeeOther)
	return nil
}
