// Package account is the user's own page (/account): the second factor
// (activate, deactivate, a new recovery key), the sessions, and the
// password. Every action is a form POST guarded like the sign-in forms;
// the ones that weaken or replace a factor need a fresh code.
package account

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/credentials"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/signin"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/templates"
)

const (
	pathAccount              = "/account"
	pathAccountActivate      = "/account/2fa/activate"
	pathAccountDeactivate    = "/account/2fa/deactivate"
	pathAccountRecoveryKey   = "/account/2fa/recovery-key"
	pathAccountEndSession    = signin.PathEndSession
	pathAccountEndOthers     = "/account/sessions/end-others"
	pathAccountPassword      = "/account/password"
	pathAccountVerify        = "/account/verify"
	pathAccountAddPasskey    = "/account/passkeys/add"
	pathAccountRemoveFactor  = "/account/factors/remove"
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
	"verified":         "You confirmed it is you. For the next 5 minutes you can add or remove a second factor.",
	"passkey_added":    "Your passkey was added.",
	"factor_removed":   "The second factor was removed.",
}

const (
	msgNotFresh      = "Confirm it is you first (Confirm with your second factor, above), then try again within 5 minutes."
	msgLastFactor    = "Your organisation requires two-factor authentication, so your last second factor cannot be removed. Add another one first."
	msgNoSuchFactor  = "That second factor is not on your account (removed already?)."
	msgNoPasskeysNow = "Passkeys are not available on this server: it must be reached by a domain name, not an IP address."
)

// Page serves the account page.
type Page struct {
	Store       Store
	Gate        *signin.Gate
	Sessions    *browser.Sessions
	Credentials *credentials.Checker
	// Passkeys tells whether passkeys can be added (the ceremony itself
	// runs on the sign-in pages' enrollment step).
	Passkeys  *credentials.Passkeys
	Templates *templates.Templates
}

// Store is what the account page needs of the database.
type Store interface {
	HasActiveAuthenticator(ctx context.Context, userID string) (bool, error)
	ListUserSessions(ctx context.Context, userID string, idle time.Duration) ([]store.BrowserSession, error)
	ResetMFA(ctx context.Context, userID string) error
	ReplaceRecoveryKey(ctx context.Context, userID string, hash []byte) error
	SessionByID(ctx context.Context, id string) (*store.BrowserSession, error)
	EndSession(ctx context.Context, id, reason string) ([]store.EndedSession, error)
	EndUserSessions(ctx context.Context, userID, exceptSessionID, reason string) ([]store.EndedSession, error)
	SetPasswordHash(ctx context.Context, userID, hash string) error
	Factors(ctx context.Context, userID string) ([]store.Factor, error)
	SecondFactorsOf(ctx context.Context, userID string) (store.SecondFactors, error)
	RemoveFactor(ctx context.Context, userID, kind, id string) error
}

// Mount adds the account page and its actions to the route table.
func (a *Page) Mount(rt *web.Router) {
	// Once the user has an authenticator, their account is acted on only
	// through a session that passed it.
	act := func(h func(http.ResponseWriter, *http.Request, *browser.SignedIn) error) web.PageFunc {
		return a.Gate.StrongAction(errSignedOut, errStepUp, h)
	}
	rt.Page("GET /{$}", a.showHome)
	rt.Page("GET "+pathAccount, a.showAccount)
	rt.Form("POST "+pathAccountActivate, act(a.activate2FA))
	rt.Form("POST "+pathAccountDeactivate, act(a.deactivate2FA))
	rt.Form("POST "+pathAccountRecoveryKey, act(a.newRecoveryKey))
	rt.Form("POST "+pathAccountEndSession, act(a.endAccountSession))
	rt.Form("POST "+pathAccountEndOthers, act(a.endOtherSessions))
	rt.Form("POST "+pathAccountPassword, act(a.changePassword))
	rt.Form("POST "+pathAccountVerify, act(a.verify))
	rt.Form("POST "+pathAccountAddPasskey, act(a.addPasskey))
	rt.Form("POST "+pathAccountRemoveFactor, act(a.removeFactor))
}

// showHome is the start page: links to the account page (and the admin
// page for admins) when signed in, what this server is when not.
func (a *Page) showHome(w http.ResponseWriter, r *http.Request) error {
	si, err := a.Sessions.Current(r)
	if err != nil {
		return err
	}
	page := templates.HomePage{Page: templates.Page{RequestID: web.RequestID(r.Context())}}
	if si != nil {
		page.SignedInAs, page.Email, page.Admin = si.User.Email, si.User.Email, si.User.IsAdmin()
	}
	web.PageHeaders(w, "")
	return a.Templates.Home(w, page)
}

var errSignedOut = &web.Error{Code: http.StatusUnauthorized, Heading: "You are signed out",
	Msg: "Your session has ended. Open your account page again to sign in.", Back: web.Link{URL: pathAccount, Label: "Sign in again"}}

var errStepUp = &web.Error{Code: http.StatusForbidden, Heading: "Confirm with a code first",
	Msg: "Your session has not passed your second factor. Open your account page again and enter a code from your app.", Back: web.Link{URL: pathAccount, Label: "Enter a code"}}

func (a *Page) showAccount(w http.ResponseWriter, r *http.Request) error {
	si, err := a.Gate.SignedInStrong(w, r, pathAccount, errSignedOut, errStepUp)
	if err != nil || si == nil {
		return err
	}
	return a.renderAccount(w, r, si, accountNotices[r.URL.Query().Get(flow.DoneParam)], "", "", http.StatusOK)
}

func (a *Page) renderAccount(w http.ResponseWriter, r *http.Request, si *browser.SignedIn, notice, errMsg, errFor string, status int) error {
	ctx := r.Context()
	u := si.User
	tenant := si.Tenant
	factors, err := a.Store.Factors(ctx, u.ID)
	if err != nil {
		return err
	}
	active := len(factors) > 0
	sessions, err := a.Store.ListUserSessions(ctx, u.ID, a.Sessions.Idle)
	if err != nil {
		return err
	}
	page := templates.AccountPage{
		Page:                 templates.Page{RequestID: web.RequestID(ctx), SignedInAs: u.Email, Nav: signin.Nav(si, templates.NavAccount)},
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
		PasswordMinLength:    secrets.MinPasswordLength,
	}
	if !active {
		page.ActivateURL = pathAccountActivate
	}
	for _, f := range factors {
		row := templates.FactorRow{Name: f.Name, Added: web.FormatTime(f.CreatedAt), LastUsed: "Never", Value: f.ID}
		if f.LastUsedAt != nil {
			row.LastUsed = web.FormatTime(*f.LastUsedAt)
		}
		switch {
		case f.Kind == store.FactorTOTP:
			row.Kind, row.Value, page.HasTOTP = "Authenticator app", store.FactorTOTP, tenant.AllowsTOTP()
		case f.Synced:
			row.Kind = "Passkey (synced)"
		default:
			row.Kind = "Passkey or security key"
		}
		page.Factors = append(page.Factors, row)
	}
	page.Fresh = a.fresh(si)
	page.LastFactorLocked = tenant.RequireTFA && len(factors) <= 1
	page.VerifyAction, page.RemoveFactorAction = pathAccountVerify, pathAccountRemoveFactor
	if a.Passkeys.Available() && active {
		page.AddPasskeyAction = pathAccountAddPasskey
	}
	others := 0
	for _, bs := range sessions {
		current := bs.ID == si.Session.ID
		if !current {
			others++
		}
		page.Sessions = append(page.Sessions, templates.SessionRow{
			ID: bs.ID, Device: describeUserAgent(bs.UserAgent), IP: bs.IP,
			Started: web.FormatTime(bs.CreatedAt), LastActive: web.FormatTime(bs.LastSeenAt),
			Current: current, TFA: bs.ACR == claims.ACRMFA, SignOutAction: pathAccountEndSession,
		})
	}
	// This device first, then the others newest first.
	slices.SortStableFunc(page.Sessions, func(x, y templates.SessionRow) int {
		switch {
		case x.Current == y.Current:
			return 0
		case x.Current:
			return -1
		default:
			return 1
		}
	})
	if others > 0 {
		page.SignOutOthersAction = pathAccountEndOthers
	}
	web.PageHeaders(w, "")
	w.WriteHeader(status)
	return a.Templates.Account(w, page)
}

// freshCode checks the code posted with an account action of si. Where
// codes do not count (a tenant of passkeys only), or the user has no app
// (passkeys only), there is no code to type: the session must have passed
// its second factor a moment ago instead (fresh).
func (a *Page) freshCode(r *http.Request, si *browser.SignedIn) (*credentials.Refusal, error) {
	if !si.Tenant.AllowsTOTP() {
		return a.freshRefusal(si), nil
	}
	refused, err := a.Credentials.Code(r, si.User, r.PostForm.Get("code"))
	if !errors.Is(err, credentials.ErrNotActive) {
		return refused, err
	}
	f, err := a.Store.SecondFactorsOf(r.Context(), si.User.ID)
	if err != nil {
		return nil, err
	}
	if !f.WebAuthn {
		return &credentials.Refusal{Msg: credentials.MsgNotActive, Status: http.StatusConflict}, nil
	}
	return a.freshRefusal(si), nil
}

// freshRefusal is nil when si is fresh, else the refusal that says to
// confirm first.
func (a *Page) freshRefusal(si *browser.SignedIn) *credentials.Refusal {
	if a.fresh(si) {
		return nil
	}
	return &credentials.Refusal{Msg: msgNotFresh, Status: http.StatusForbidden}
}

// fresh reports whether si passed its second factor a moment ago
// (signin.Fresh) with a factor the tenant counts: in a tenant of passkeys
// only, a passkey.
func (a *Page) fresh(si *browser.SignedIn) bool {
	return signin.Fresh(si, a.Sessions.Now()) && (si.Tenant.AllowsTOTP() || claims.PhishingResistant(si.Session.AMR))
}

// verify sends the browser to pass its second factor again (a step-up of
// this session); it comes back to the account page, fresh.
func (a *Page) verify(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	return a.Gate.Start(w, r, flow.StageCode, flow.AccountForm(pathAccount, "verified"), si)
}

// addPasskey starts the passkey ceremony for a user who has a second
// factor already (a first one is enrollment: Activate 2FA), from a fresh
// session. It runs on the enrollment's confirming step, without a new
// recovery key.
func (a *Page) addPasskey(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	if !a.Passkeys.Available() {
		return a.renderAccount(w, r, si, "", msgNoPasskeysNow, "", http.StatusConflict)
	}
	active, err := a.Store.HasActiveAuthenticator(r.Context(), si.User.ID)
	if err != nil {
		return err
	}
	if !active {
		return a.Gate.Start(w, r, flow.StageEnroll, flow.AccountForm(pathAccount, "activated"), si)
	}
	if !a.fresh(si) {
		return a.renderAccount(w, r, si, "", msgNotFresh, "", http.StatusForbidden)
	}
	return a.Gate.StartAdding(w, r, store.FactorWebAuthn, flow.AccountForm(pathAccount, "passkey_added"), si)
}

// removeFactor removes one passkey or the app from a fresh session. The
// last one is refused while the tenant requires two factors; without that
// requirement, removing the last one turns two-factor authentication off
// (the recovery key goes with it).
func (a *Page) removeFactor(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	ctx := r.Context()
	u := si.User
	if !a.fresh(si) {
		return a.renderAccount(w, r, si, "", msgNotFresh, "", http.StatusForbidden)
	}
	factors, err := a.Store.Factors(ctx, u.ID)
	if err != nil {
		return err
	}
	which := r.PostForm.Get("factor")
	var victim *store.Factor
	for i, f := range factors {
		if (f.Kind == store.FactorTOTP && which == store.FactorTOTP) || (f.Kind == store.FactorWebAuthn && f.ID == which && which != "") {
			victim = &factors[i]
		}
	}
	if victim == nil {
		return a.renderAccount(w, r, si, "", msgNoSuchFactor, "", http.StatusNotFound)
	}
	err = a.Store.RemoveFactor(ctx, u.ID, victim.Kind, victim.ID)
	if errors.Is(err, store.ErrLastFactor) {
		if si.Tenant.RequireTFA {
			return a.renderAccount(w, r, si, "", msgLastFactor, "", http.StatusForbidden)
		}
		if err := a.Store.ResetMFA(ctx, u.ID); err != nil {
			return err
		}
		a.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFADeactivated, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
		http.Redirect(w, r, pathAccount+"?"+flow.DoneParam+"=deactivated", http.StatusSeeOther)
		return nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return a.renderAccount(w, r, si, "", msgNoSuchFactor, "", http.StatusNotFound)
	}
	if err != nil {
		return err
	}
	detail, _ := json.Marshal(map[string]string{"factor": victim.Kind, "credential": victim.ID, "name": victim.Name})
	a.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFAFactorRemoved, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID, Detail: string(detail)})
	http.Redirect(w, r, pathAccount+"?"+flow.DoneParam+"=factor_removed", http.StatusSeeOther)
	return nil
}

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

// activate2FA starts enrollment for the signed-in user; the session is
// upgraded to the MFA level once the confirming code is accepted.
func (a *Page) activate2FA(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	active, err := a.Store.HasActiveAuthenticator(r.Context(), si.User.ID)
	if err != nil {
		return err
	}
	if active {
		http.Redirect(w, r, pathAccount, http.StatusSeeOther)
		return nil
	}
	return a.Gate.Start(w, r, flow.StageEnroll, flow.AccountForm(pathAccount, "activated"), si)
}

func (a *Page) deactivate2FA(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	ctx := r.Context()
	u := si.User
	if si.Tenant.RequireTFA {
		return a.renderAccount(w, r, si, "", msgDeactivateRefused, templates.FormDeactivate, http.StatusForbidden)
	}
	if refused, err := a.freshCode(r, si); err != nil || refused != nil {
		if err != nil {
			return err
		}
		refused.Headers(w)
		return a.renderAccount(w, r, si, "", refused.Msg, templates.FormDeactivate, refused.Status)
	}
	if err := a.Store.ResetMFA(ctx, u.ID); err != nil {
		return err
	}
	a.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFADeactivated, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
	http.Redirect(w, r, pathAccount+"?"+flow.DoneParam+"=deactivated", http.StatusSeeOther)
	return nil
}

// newRecoveryKey replaces the recovery key after a fresh code and shows
// the new one once; its download is a data: URL, so the key is never
// stored anywhere but as its hash.
func (a *Page) newRecoveryKey(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	ctx := r.Context()
	u := si.User
	if refused, err := a.freshCode(r, si); err != nil || refused != nil {
		if err != nil {
			return err
		}
		refused.Headers(w)
		return a.renderAccount(w, r, si, "", refused.Msg, templates.FormNewRecoveryKey, refused.Status)
	}
	key, err := mfa.NewRecoveryKey(nil)
	if err != nil {
		return err
	}
	if err := a.Store.ReplaceRecoveryKey(ctx, u.ID, mfa.HashRecoveryKey(key)); err != nil {
		return err
	}
	a.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFARecoveryRegenerated, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
	file := base64.StdEncoding.EncodeToString([]byte(credentials.RecoveryKeyText(u.Email, key)))
	nonce := web.ScriptNonce() // the Copy button's script
	web.PageHeaders(w, nonce)
	return a.Templates.RecoveryKeyIssued(w, templates.RecoveryKeyIssuedPage{
		Page:       templates.Page{RequestID: web.RequestID(ctx), SignedInAs: u.Email, CSPNonce: nonce},
		GroupedKey: key.Grouped(),
		// Built from base64 of our own text.
		DownloadURL: template.URL("data:text/plain;charset=utf-8;base64," + file),
		ContinueURL: pathAccount,
	})
}

func (a *Page) endAccountSession(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	ctx := r.Context()
	id := r.PostForm.Get("session")
	if id == "" || len(id) > 100 {
		return web.BadRequest("No session was chosen.")
	}
	bs, err := a.Store.SessionByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && bs.UserID != si.User.ID) {
		// Someone else's session id answers as an unknown one.
		return &web.Error{Code: http.StatusNotFound, Heading: "Session not found", Msg: "That session does not exist or has already ended."}
	}
	if err != nil {
		return err
	}
	ended, err := a.Sessions.End(r, "user_signout", func() ([]store.EndedSession, error) {
		return a.Store.EndSession(ctx, id, "user_signout")
	})
	if err != nil {
		return err
	}
	if len(ended) > 0 {
		a.Sessions.Audit(r, &store.AuditEvent{Event: audit.Logout, TenantID: si.User.TenantID, ActorID: si.User.ID, SubjectID: si.User.ID,
			Detail: fmt.Sprintf(`{"via":"account page","current":%t}`, id == si.Session.ID)})
	}
	if id == si.Session.ID {
		return a.Gate.SignedOut(w, r, "")
	}
	http.Redirect(w, r, pathAccount+"?"+flow.DoneParam+"=session_ended", http.StatusSeeOther)
	return nil
}

func (a *Page) endOtherSessions(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	ctx := r.Context()
	ended, err := a.Sessions.End(r, "user_signout_others", func() ([]store.EndedSession, error) {
		return a.Store.EndUserSessions(ctx, si.User.ID, si.Session.ID, "user_signout_others")
	})
	if err != nil {
		return err
	}
	a.Sessions.Audit(r, &store.AuditEvent{Event: audit.LogoutOthers, TenantID: si.User.TenantID, ActorID: si.User.ID, SubjectID: si.User.ID,
		Detail: fmt.Sprintf(`{"sessions_ended":%d}`, len(ended))})
	http.Redirect(w, r, pathAccount+"?"+flow.DoneParam+"=others_ended", http.StatusSeeOther)
	return nil
}

// changePassword needs the current password and, with 2FA active, a fresh
// code; it ends the user's other sessions.
func (a *Page) changePassword(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	ctx := r.Context()
	u := si.User
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	fail := func(msg string, status int) error {
		return a.renderAccount(w, r, si, "", msg, templates.FormPassword, status)
	}
	if len(current) > secrets.MaxPasswordLength || len(next) > secrets.MaxPasswordLength {
		return fail("Passwords are at most 1024 characters.", http.StatusBadRequest)
	}
	if utf8.RuneCountInString(next) < secrets.MinPasswordLength {
		return fail(msgPasswordTooShort, http.StatusBadRequest)
	}
	// An unreadable stored hash counts as a wrong password; a failure to
	// record the attempt is an error, not a wrong password.
	failed := &store.AuditEvent{Event: audit.PasswordChangeFailed, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID}
	ok, throttled, err := a.Credentials.CurrentPassword(r, u, current, failed)
	if err != nil {
		return err
	}
	if throttled != nil {
		throttled.Headers(w)
		return fail(throttled.Msg, throttled.Status)
	}
	active, err := a.Store.HasActiveAuthenticator(ctx, u.ID)
	if err != nil {
		return err
	}
	if active {
		// The code is checked (and charged) whatever the password was, and
		// a wrong one of the two gets one answer: someone holding only the
		// session must not learn whether a guessed password was right.
		// Only answers about the code alone (not six digits, entry locked)
		// are given as they are; they say nothing of the password.
		refused, err := a.freshCode(r, si)
		if err != nil {
			return err
		}
		if refused != nil && (refused.Status == http.StatusBadRequest || refused.Status == http.StatusTooManyRequests || refused.Status == http.StatusForbidden) {
			refused.Headers(w)
			return fail(refused.Msg, refused.Status)
		}
		if !ok || refused != nil {
			return fail(msgPasswordOrCodeWrong, http.StatusUnauthorized)
		}
	} else if !ok {
		return fail(msgCurrentPasswordWrong, http.StatusUnauthorized)
	}
	if current == next {
		return fail(msgPasswordSameAsCurrent, http.StatusBadRequest)
	}
	hash, err := a.Credentials.HashPassword(ctx, next)
	if err != nil {
		return err
	}
	if err := a.Store.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return err
	}
	ended, err := a.Sessions.End(r, "password_changed", func() ([]store.EndedSession, error) {
		return a.Store.EndUserSessions(ctx, u.ID, si.Session.ID, "password_changed")
	})
	if err != nil {
		return err
	}
	a.Sessions.Audit(r, &store.AuditEvent{Event: audit.PasswordChanged, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID,
		Detail: fmt.Sprintf(`{"sessions_ended":%d}`, len(ended))})
	http.Redirect(w, r, pathAccount+"?"+flow.DoneParam+"=password_changed", http.StatusSeeOther)
	return nil
}
