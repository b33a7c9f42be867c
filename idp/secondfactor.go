package idp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/templates"
)

// The second factor: after a good password, a user with an authenticator is
// asked for a code (or the recovery key); a user without one whose tenant or
// relying app requires two factors enrolls first. Each step is a stage of the
// pending request (store.AuthRequest), advanced by compare-and-swap, so a
// step cannot be skipped by posting to a later page.
const (
	stageTOTP         = "totp"          // password checked, waiting for the code or recovery key
	stageEnroll       = "enroll"        // enrollment step 1: scan the QR code
	stageEnrollKey    = "enroll_key"    // step 2: store the recovery key
	stageEnrollVerify = "enroll_verify" // step 3: confirm with a code
)

const (
	pathCode          = "/login/code"
	pathRecovery      = "/login/recovery"
	pathEnroll        = "/enroll"
	pathEnrollKey     = "/enroll/recovery-key"
	pathEnrollKeyFile = "/enroll/recovery-key.txt"
	pathEnrollVerify  = "/enroll/verify"
	pathResume        = pathAuthorize + "/resume"
)

// totpIssuer names the account in authenticator apps ("Portcullis: ada@…").
const totpIssuer = "Portcullis"

// amrMFA is what a password plus a TOTP code is, in RFC 8176 terms.
var amrMFA = []string{"pwd", "otp", "mfa"}

// User-facing messages of the second factor.
const (
	msgCodeMalformed  = "Enter the 6-digit code from your authenticator app."
	msgCodeWrong      = "That code is not correct. Check the code in your app and try again."
	msgCodeReused     = "This code was already used. Wait for the next one."
	msgRecoveryWrong  = "That recovery key is not correct."
	msgRecoverySpent  = "That recovery key was already used."
	msgKeyNotAcked    = "Confirm that you have stored your recovery key before you continue."
	maxRecoveryKeyLen = 200
)

// lockedMessage tells the user how long code entry stays locked.
func (s *Server) lockedMessage(locked *mfa.LockedOutError) string {
	remaining := locked.Remaining(s.guard.Clock.Now())
	if remaining < 50*time.Second {
		secs := int(remaining.Round(time.Second) / time.Second)
		if secs < 1 {
			secs = 1
		}
		return fmt.Sprintf("Too many wrong attempts. Try again in %d seconds.", secs)
	}
	mins := int((remaining + time.Minute - 1) / time.Minute)
	unit := "minutes"
	if mins == 1 {
		unit = "minute"
	}
	return fmt.Sprintf("Too many wrong attempts. Try again in %d %s.", mins, unit)
}

// mfaStep is a pending request whose password step is done.
type mfaStep struct {
	pending *store.AuthRequest
	user    *store.User
}

// loadStep finds this browser's pending request id and checks it is at one
// of stages with a signed-in-by-password user.
func (s *Server) loadStep(w http.ResponseWriter, r *http.Request, id string, stages ...string) (*mfaStep, error) {
	pending, err := s.pendingRequest(w, r, id)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(stages, pending.Stage) || pending.UserID == "" {
		return nil, errRequestExpired
	}
	user, err := s.store.UserByID(r.Context(), pending.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		return nil, errRequestExpired
	}
	if err != nil {
		return nil, err
	}
	return &mfaStep{pending: pending, user: user}, nil
}

// formOf returns the request id posted with a form (or given in the query
// of a GET).
func formOf(r *http.Request) (string, error) {
	if r.Method == http.MethodGet {
		return r.URL.Query().Get("auth_request"), nil
	}
	if err := r.ParseForm(); err != nil {
		return "", badRequest("The form could not be read.")
	}
	return r.PostForm.Get("auth_request"), nil
}

// wantsMFA reports whether the relying app asked for the MFA level, through
// acr_values or an acr member of the claims parameter (voluntary or
// essential alike: Portcullis can always satisfy it).
func wantsMFA(form url.Values) bool {
	if slices.Contains(strings.Fields(form.Get("acr_values")), ACRMFA) {
		return true
	}
	cr, _ := parseClaimsParam(form.Get("claims"))
	return cr != nil && slices.Contains(cr.ACR, ACRMFA)
}

// afterPassword sends a user whose password was just accepted to the next
// step: the code page, enrollment, or (when no second factor is needed) a
// new password-level session.
func (s *Server) afterPassword(w http.ResponseWriter, r *http.Request, pending *store.AuthRequest, user *store.User) error {
	ctx := r.Context()
	has, err := s.store.HasActiveAuthenticator(ctx, user.ID)
	if err != nil {
		return err
	}
	// A password makes a new sign-in: the second factor starts a new
	// session rather than upgrading one this request was stepping up.
	next := map[string]any{"user_id": user.ID, "session_id": ""}
	if has {
		return s.advance(w, r, pending, stageTOTP, pathCode, next)
	}
	tenant, err := s.store.TenantByID(ctx, user.TenantID)
	if err != nil {
		return err
	}
	form, _ := url.ParseQuery(pending.Form)
	if tenant.RequireTFA || wantsMFA(form) {
		return s.advance(w, r, pending, stageEnroll, pathEnroll, next)
	}
	bs, err := s.startSession(w, r, user, tenant, []string{"pwd"}, ACRPassword)
	if err != nil {
		return err
	}
	if err := s.store.AdvanceAuthRequest(ctx, pending.ID, pending.Stage, map[string]any{
		"user_id": user.ID, "session_id": bs.ID, "stage": stageConsent,
	}); err != nil {
		return errRequestExpired
	}
	return s.continueFlow(w, r, pending)
}

// advance moves the pending request to stage (setting the extra columns)
// and sends the browser to path.
func (s *Server) advance(w http.ResponseWriter, r *http.Request, pending *store.AuthRequest, stage, path string, set map[string]any) error {
	fields := map[string]any{"stage": stage}
	for k, v := range set {
		fields[k] = v
	}
	if err := s.store.AdvanceAuthRequest(r.Context(), pending.ID, pending.Stage, fields); err != nil {
		return errRequestExpired
	}
	http.Redirect(w, r, path+"?auth_request="+url.QueryEscape(pending.ID), http.StatusSeeOther)
	return nil
}

// completeSecondFactor signs the browser in at the MFA level once a code
// was accepted. A request that stepped up an existing session upgrades
// that session in place; either way the cookie gets a new session secret,
// so a cookie captured before the second factor is worthless after it.
func (s *Server) completeSecondFactor(w http.ResponseWriter, r *http.Request, st *mfaStep, amr []string, acr string) error {
	ctx := r.Context()
	var sessionID string
	if st.pending.SessionID != "" {
		si, err := s.currentSession(ctx, r)
		if err != nil {
			return err
		}
		if si == nil || si.Session.ID != st.pending.SessionID || si.User.ID != st.user.ID {
			return errRequestExpired
		}
		secret := randomToken()
		if err := s.store.UpdateSessionAuth(ctx, si.Session.ID, store.SessionUpdate{
			NewSecretHash: hashToken(secret), AuthTime: s.now().UTC(), AMR: amr, ACR: acr,
		}); err != nil {
			return errRequestExpired
		}
		b := s.readBrowser(r)
		b.SessionSecret = secret
		if err := s.writeBrowser(w, r, b); err != nil {
			return err
		}
		sessionID = si.Session.ID
	} else {
		tenant, err := s.store.TenantByID(ctx, st.user.TenantID)
		if err != nil {
			return err
		}
		bs, err := s.startSession(w, r, st.user, tenant, amr, acr)
		if err != nil {
			return err
		}
		sessionID = bs.ID
	}
	if err := s.store.AdvanceAuthRequest(ctx, st.pending.ID, st.pending.Stage, map[string]any{
		"session_id": sessionID, "stage": stageConsent, "secret_data": "",
	}); err != nil {
		return errRequestExpired
	}
	s.audit(r, &store.AuditEvent{Event: audit.LoginMFA, TenantID: st.user.TenantID, ActorID: st.user.ID, SubjectID: st.user.ID})
	return s.continueFlow(w, r, st.pending)
}

// continueFlow goes back to what the sign-in was for: the authorization
// request, or a page of Portcullis itself (account flows have no client).
func (s *Server) continueFlow(w http.ResponseWriter, r *http.Request, pending *store.AuthRequest) error {
	if pending.ClientID == "" {
		if err := s.store.DeleteAuthRequest(r.Context(), pending.ID); err != nil {
			return errRequestExpired
		}
		http.Redirect(w, r, accountFlowReturn(pending), http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, pathResume+"?auth_request="+url.QueryEscape(pending.ID), http.StatusSeeOther)
	return nil
}

// openSecret decrypts the user's TOTP secret; the AAD binds it to the user.
func (s *Server) openSecret(sealed, userID string) (mfa.Secret, error) {
	plain, err := s.cipher.Open(sealed, mfa.AAD("mfa_authenticators", "secret", userID))
	if err != nil {
		return "", err
	}
	return mfa.Secret(plain), nil
}

// --- code page ---

func (s *Server) showCode(w http.ResponseWriter, r *http.Request) error {
	st, err := s.loadStep(w, r, r.URL.Query().Get("auth_request"), stageTOTP)
	if err != nil {
		return err
	}
	msg := ""
	var locked *mfa.LockedOutError
	if err := s.guard.Admit(r.Context(), st.user.ID); errors.As(err, &locked) {
		msg = s.lockedMessage(locked)
	} else if err != nil {
		return err
	}
	return s.renderCode(w, r, st, msg, http.StatusOK)
}

func (s *Server) renderCode(w http.ResponseWriter, r *http.Request, st *mfaStep, msg string, status int) error {
	pageHeaders(w, "")
	w.WriteHeader(status)
	return s.tpl.TOTPChallenge(w, templates.TOTPChallengePage{
		Page:          templates.Page{RequestID: RequestID(r.Context()), SignedInAs: st.user.Email},
		Action:        pathCode,
		AuthRequestID: st.pending.ID,
		Error:         msg,
		RecoveryURL:   pathRecovery + "?auth_request=" + url.QueryEscape(st.pending.ID),
	})
}

func (s *Server) submitCode(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := formOf(r)
	if err != nil {
		return err
	}
	st, err := s.loadStep(w, r, id, stageTOTP)
	if err != nil {
		return err
	}
	sealed, err := s.store.ActiveSecret(ctx, st.user.ID)
	if errors.Is(err, store.ErrNotFound) {
		// Reset by an administrator meanwhile: decide afresh.
		return s.afterPassword(w, r, st.pending, st.user)
	}
	if err != nil {
		return err
	}
	secret, err := s.openSecret(sealed, st.user.ID)
	if err != nil {
		return err
	}
	if _, err := s.guard.CheckCode(ctx, st.user.ID, secret, r.PostForm.Get("code")); err != nil {
		msg, status, err := s.codeRefusal(r, st.user, err)
		if err != nil {
			return err
		}
		return s.renderCode(w, r, st, msg, status)
	}
	return s.completeSecondFactor(w, r, st, amrMFA, ACRMFA)
}

// codeRefusal turns a refused code into the message shown, its status and
// the audit events; any other error is returned.
func (s *Server) codeRefusal(r *http.Request, u *store.User, err error) (string, int, error) {
	var locked *mfa.LockedOutError
	isLocked := errors.As(err, &locked)
	switch {
	case errors.Is(err, mfa.ErrMalformedCode):
		return msgCodeMalformed, http.StatusBadRequest, nil
	case isLocked && !locked.JustLocked:
		return s.lockedMessage(locked), http.StatusTooManyRequests, nil
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrCodeReused):
	default:
		return "", 0, err
	}
	reason := "wrong"
	msg := msgCodeWrong
	if errors.Is(err, mfa.ErrCodeReused) {
		reason, msg = "reused", msgCodeReused
	}
	s.audit(r, &store.AuditEvent{Event: audit.MFACodeFailed, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID,
		Detail: `{"reason":"` + reason + `"}`})
	if isLocked {
		s.auditLockout(r, u, locked)
		return s.lockedMessage(locked), http.StatusTooManyRequests, nil
	}
	return msg, http.StatusUnauthorized, nil
}

func (s *Server) auditLockout(r *http.Request, u *store.User, locked *mfa.LockedOutError) {
	s.audit(r, &store.AuditEvent{Event: audit.MFALockout, TenantID: u.TenantID, SubjectID: u.ID,
		Detail: fmt.Sprintf(`{"until":%q}`, locked.Until.UTC().Format(time.RFC3339))})
}

// --- recovery key ---

func (s *Server) showRecovery(w http.ResponseWriter, r *http.Request) error {
	st, err := s.loadStep(w, r, r.URL.Query().Get("auth_request"), stageTOTP)
	if err != nil {
		return err
	}
	return s.renderRecovery(w, r, st, "", http.StatusOK)
}

func (s *Server) renderRecovery(w http.ResponseWriter, r *http.Request, st *mfaStep, msg string, status int) error {
	pageHeaders(w, "")
	w.WriteHeader(status)
	return s.tpl.RecoveryKeyChallenge(w, templates.RecoveryPage{
		Page:          templates.Page{RequestID: RequestID(r.Context()), SignedInAs: st.user.Email},
		Action:        pathRecovery,
		AuthRequestID: st.pending.ID,
		Error:         msg,
		BackURL:       pathCode + "?auth_request=" + url.QueryEscape(st.pending.ID),
	})
}

// submitRecovery accepts the paper key: it is compared, the attempt is
// charged against the same limit as codes, and only then is it spent. The
// old authenticator goes with it; the user enrolls again when the tenant
// or the relying app requires two factors, and otherwise is signed in at
// the password level (there is no authenticator left to vouch for).
func (s *Server) submitRecovery(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := formOf(r)
	if err != nil {
		return err
	}
	st, err := s.loadStep(w, r, id, stageTOTP)
	if err != nil {
		return err
	}
	u := st.user
	input := r.PostForm.Get("recovery_key")
	if strings.TrimSpace(input) == "" || len(input) > maxRecoveryKeyLen {
		return s.renderRecovery(w, r, st, "Enter your 64-character recovery key.", http.StatusBadRequest)
	}
	var hash []byte
	matched := false
	if key, ok := mfa.NormalizeRecoveryKey(input); ok {
		hash = mfa.HashRecoveryKey(key)
		if matched, err = s.store.RecoveryKeyMatches(ctx, u.ID, hash); err != nil {
			return err
		}
	}
	if err := s.guard.CheckRecoveryKey(ctx, u.ID, matched); err != nil {
		var locked *mfa.LockedOutError
		switch {
		case errors.As(err, &locked) && !locked.JustLocked:
			return s.renderRecovery(w, r, st, s.lockedMessage(locked), http.StatusTooManyRequests)
		case errors.Is(err, mfa.ErrInvalidRecoveryKey):
			s.audit(r, &store.AuditEvent{Event: audit.MFARecoveryFailed, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
			if errors.As(err, &locked) {
				s.auditLockout(r, u, locked)
				return s.renderRecovery(w, r, st, s.lockedMessage(locked), http.StatusTooManyRequests)
			}
			return s.renderRecovery(w, r, st, msgRecoveryWrong, http.StatusUnauthorized)
		default:
			return err
		}
	}
	spent, err := s.store.UseRecoveryKey(ctx, u.ID, hash)
	if err != nil {
		return err
	}
	if !spent {
		return s.renderRecovery(w, r, st, msgRecoverySpent, http.StatusUnauthorized)
	}
	s.audit(r, &store.AuditEvent{Event: audit.MFARecoveryUsed, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
	return s.afterPassword(w, r, st.pending, u)
}

// --- enrollment ---

// showEnroll is step 1. Every visit draws a new secret and recovery key:
// "start over" is a visit, and a half-finished enrollment never becomes
// active (the pending authenticator is replaced, the key lives only
// sealed in the pending request).
func (s *Server) showEnroll(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st, err := s.loadStep(w, r, r.URL.Query().Get("auth_request"), stageEnroll, stageEnrollKey, stageEnrollVerify)
	if err != nil {
		return err
	}
	u := st.user
	e, err := mfa.NewEnrollment(nil, totpIssuer, u.Email)
	if err != nil {
		return err
	}
	sealedSecret, err := s.cipher.Seal([]byte(e.Secret), mfa.AAD("mfa_authenticators", "secret", u.ID))
	if err != nil {
		return err
	}
	sealedKey, err := s.cipher.Seal([]byte(e.RecoveryKey), mfa.AAD("auth_requests", "secret_data", st.pending.ID))
	if err != nil {
		return err
	}
	if err := s.store.BeginEnrollment(ctx, u.ID, sealedSecret); errors.Is(err, store.ErrMFAActive) {
		// Enrolled meanwhile (another tab): ask for a code instead.
		if st.pending.ClientID == "" {
			return s.continueFlow(w, r, st.pending)
		}
		return s.advance(w, r, st.pending, stageTOTP, pathCode, nil)
	} else if err != nil {
		return err
	}
	if err := s.store.AdvanceAuthRequest(ctx, st.pending.ID, st.pending.Stage, map[string]any{
		"stage": stageEnroll, "secret_data": sealedKey,
	}); err != nil {
		return errRequestExpired
	}
	s.audit(r, &store.AuditEvent{Event: audit.MFAEnrollmentStarted, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
	png, err := mfa.QRCodePNG(e.KeyURI, 200)
	if err != nil {
		return err
	}
	pageHeaders(w, "")
	return s.tpl.EnrollScan(w, templates.EnrollScanPage{
		Page:          templates.Page{RequestID: RequestID(ctx), SignedInAs: u.Email},
		Action:        pathEnroll,
		AuthRequestID: st.pending.ID,
		// Both values are built here from a base32 secret and an escaped
		// email, never from request input.
		QRCodeDataURL: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		GroupedSecret: e.Secret.Grouped(),
		OTPAuthURL:    template.URL(e.KeyURI),
		AccountName:   u.Email,
		Issuer:        totpIssuer,
	})
}

func (s *Server) submitEnroll(w http.ResponseWriter, r *http.Request) error {
	id, err := formOf(r)
	if err != nil {
		return err
	}
	st, err := s.loadStep(w, r, id, stageEnroll)
	if err != nil {
		return err
	}
	if st.pending.SecretData == "" {
		return errRequestExpired
	}
	return s.advance(w, r, st.pending, stageEnrollKey, pathEnrollKey, nil)
}

// recoveryKey opens the key shown during this enrollment.
func (s *Server) recoveryKey(p *store.AuthRequest) (mfa.RecoveryKey, error) {
	plain, err := s.cipher.Open(p.SecretData, mfa.AAD("auth_requests", "secret_data", p.ID))
	if err != nil {
		return "", errRequestExpired
	}
	return mfa.RecoveryKey(plain), nil
}

func (s *Server) showEnrollKey(w http.ResponseWriter, r *http.Request) error {
	st, err := s.loadStep(w, r, r.URL.Query().Get("auth_request"), stageEnrollKey)
	if err != nil {
		return err
	}
	return s.renderEnrollKey(w, r, st, "", http.StatusOK)
}

func (s *Server) renderEnrollKey(w http.ResponseWriter, r *http.Request, st *mfaStep, msg string, status int) error {
	key, err := s.recoveryKey(st.pending)
	if err != nil {
		return err
	}
	pageHeaders(w, "")
	w.WriteHeader(status)
	return s.tpl.EnrollRecoveryKey(w, templates.EnrollRecoveryKeyPage{
		Page:          templates.Page{RequestID: RequestID(r.Context()), SignedInAs: st.user.Email},
		Action:        pathEnrollKey,
		AuthRequestID: st.pending.ID,
		GroupedKey:    key.Grouped(),
		DownloadURL:   pathEnrollKeyFile + "?auth_request=" + url.QueryEscape(st.pending.ID),
		Error:         msg,
	})
}

// downloadEnrollKey serves the recovery key as a text file while the user
// is at steps 2 and 3.
func (s *Server) downloadEnrollKey(w http.ResponseWriter, r *http.Request) error {
	st, err := s.loadStep(w, r, r.URL.Query().Get("auth_request"), stageEnrollKey, stageEnrollVerify)
	if err != nil {
		return err
	}
	key, err := s.recoveryKey(st.pending)
	if err != nil {
		return err
	}
	writeRecoveryKeyFile(w, st.user.Email, key)
	return nil
}

// recoveryKeyText is the content of the downloadable key file.
func recoveryKeyText(email string, key mfa.RecoveryKey) string {
	return "Portcullis recovery key\n" +
		"Account: " + email + "\n\n" +
		strings.Join(key.Lines(), "\n") + "\n\n" +
		"This key signs you in once if you lose your authenticator app.\n" +
		"Spaces, dashes and upper or lower case do not matter when you type it.\n" +
		"Keep it somewhere safe, away from your phone.\n"
}

func writeRecoveryKeyFile(w http.ResponseWriter, email string, key mfa.RecoveryKey) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="portcullis-recovery-key.txt"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte(recoveryKeyText(email, key)))
}

func (s *Server) submitEnrollKey(w http.ResponseWriter, r *http.Request) error {
	id, err := formOf(r)
	if err != nil {
		return err
	}
	st, err := s.loadStep(w, r, id, stageEnrollKey)
	if err != nil {
		return err
	}
	// The checkbox is `required` in the page; a request without it (no
	// JavaScript validation, a crafted post) is refused here too.
	if r.PostForm.Get("stored") != "yes" {
		return s.renderEnrollKey(w, r, st, msgKeyNotAcked, http.StatusBadRequest)
	}
	return s.advance(w, r, st.pending, stageEnrollVerify, pathEnrollVerify, nil)
}

func (s *Server) showEnrollVerify(w http.ResponseWriter, r *http.Request) error {
	st, err := s.loadStep(w, r, r.URL.Query().Get("auth_request"), stageEnrollVerify)
	if err != nil {
		return err
	}
	return s.renderEnrollVerify(w, r, st, "", http.StatusOK)
}

func (s *Server) renderEnrollVerify(w http.ResponseWriter, r *http.Request, st *mfaStep, msg string, status int) error {
	pageHeaders(w, "")
	w.WriteHeader(status)
	return s.tpl.EnrollVerify(w, templates.EnrollVerifyPage{
		Page:          templates.Page{RequestID: RequestID(r.Context()), SignedInAs: st.user.Email},
		Action:        pathEnrollVerify,
		AuthRequestID: st.pending.ID,
		Error:         msg,
		RestartURL:    pathEnroll + "?auth_request=" + url.QueryEscape(st.pending.ID),
	})
}

// submitEnrollVerify activates the authenticator with the first code,
// checked against the pending secret by the guard (charged like any code;
// the replay guard applies to active authenticators only). Its step
// becomes the last one used, so it cannot sign in again.
func (s *Server) submitEnrollVerify(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := formOf(r)
	if err != nil {
		return err
	}
	st, err := s.loadStep(w, r, id, stageEnrollVerify)
	if err != nil {
		return err
	}
	u := st.user
	sealed, err := s.store.PendingAuthenticator(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return s.advance(w, r, st.pending, stageEnroll, pathEnroll, nil)
	}
	if err != nil {
		return err
	}
	secret, err := s.openSecret(sealed, u.ID)
	if err != nil {
		return err
	}
	step, err := s.guard.CheckPendingCode(ctx, u.ID, secret, r.PostForm.Get("code"))
	if err != nil {
		msg, status, err := s.codeRefusal(r, u, err)
		if err != nil {
			return err
		}
		return s.renderEnrollVerify(w, r, st, msg, status)
	}
	key, err := s.recoveryKey(st.pending)
	if err != nil {
		return err
	}
	if err := s.store.ConfirmEnrollment(ctx, u.ID, sealed, step, mfa.HashRecoveryKey(key)); errors.Is(err, store.ErrNotFound) {
		// Started over in another tab: this code belonged to the old secret.
		return s.advance(w, r, st.pending, stageEnroll, pathEnroll, nil)
	} else if err != nil {
		return err
	}
	s.audit(r, &store.AuditEvent{Event: audit.MFAEnrollmentCompleted, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
	return s.completeSecondFactor(w, r, st, amrMFA, ACRMFA)
}

// guardClock adapts a clock for the mfa package.
func guardClock(now func() time.Time) mfa.Clock {
	return mfa.ClockFunc(func() time.Time { return now().UTC() })
}
