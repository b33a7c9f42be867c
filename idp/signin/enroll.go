package signin

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/credentials"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/templates"
)

// TOTPIssuer names the account in authenticator apps ("Portcullis: ada@…").
const TOTPIssuer = "Portcullis"

const msgAppName = "Give the app a name of at most 64 characters, or none."

const msgKeyNotAcked = "Confirm that you have stored your recovery key before you continue."

// showEnroll is step 1. The first visit draws a secret and a recovery
// key; later visits of the same pending request (the Back button, a
// reload) show the same ones, so a code app set up from the first QR code
// still works. Only "Start over" (?restart=1) draws new ones. A
// half-finished enrollment never becomes active: the pending
// authenticator is replaced, and the key lives only sealed in the pending
// request.
func (p *Pages) showEnroll(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st, sent, err := p.loadEnroll(w, r, flow.StageEnroll, flow.StageEnrollKey, flow.StageEnrollVerify)
	if sent || err != nil {
		return err
	}
	// With passkeys on offer, step 1 is the choice until the app was
	// chosen (and again on "Choose another second factor").
	// Without the app on offer (passkeys required, or nothing can be
	// offered) too: the choice page says what can be done.
	if passkey, totp := p.factorChoice(st); !totp || passkey && (st.pending.Factor != store.FactorTOTP || r.URL.Query().Has("choose")) {
		return p.renderEnrollChoose(w, r, st, "", http.StatusOK)
	}
	u := st.user
	e, ok, err := p.pendingEnrollment(ctx, st)
	if err != nil {
		return err
	}
	if ok && !r.URL.Query().Has("restart") {
		if err := p.backToStep1(ctx, st); err != nil {
			return err
		}
	} else {
		if e, err = mfa.NewEnrollment(nil, TOTPIssuer, u.Email); err != nil {
			return err
		}
		sealedKey, err := p.Store.SealRecoveryKey(st.pending.ID, e.RecoveryKey)
		if err != nil {
			return err
		}
		if err := p.Store.BeginEnrollment(ctx, u.ID, e.Secret); errors.Is(err, store.ErrMFAActive) {
			// Enrolled meanwhile (another tab): ask for a code instead.
			if st.pending.Kind() == flow.KindAccount {
				return p.continueFlow(w, r, st.pending)
			}
			return p.moveTo(w, r, st.pending, flow.StageCode)
		} else if err != nil {
			return err
		}
		if err := p.Flows.Advance(ctx, st.pending, flow.StageEnroll, flow.Sealed(sealedKey)); err != nil {
			return err
		}
		p.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFAEnrollmentStarted, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
	}
	png, err := mfa.QRCodePNG(e.KeyURI, 200)
	if err != nil {
		return err
	}
	afterRecovery, err := p.Store.RecoveryKeySpent(ctx, u.ID)
	if err != nil {
		return err
	}
	nonce := web.ScriptNonce() // the Copy button's script
	web.PageHeaders(w, nonce)
	header := p.header(r, st)
	header.CSPNonce = nonce
	return p.Templates.EnrollScan(w, templates.EnrollScanPage{
		Page:          header,
		AfterRecovery: afterRecovery,
		Action:        flow.PathEnroll,
		AuthRequestID: st.pending.ID,
		// Both values are built here from a base32 secret and an escaped
		// email, never from request input.
		QRCodeDataURL: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		GroupedSecret: e.Secret.Grouped(),
		OTPAuthURL:    template.URL(e.KeyURI),
		AccountName:   u.Email,
		Issuer:        TOTPIssuer,
		Later:         p.later(ctx, st),
	})
}

// backToStep1 moves a request at a later enrollment step (the Back
// button, a new choice of factor) back to step 1.
func (p *Pages) backToStep1(ctx context.Context, st *step) error {
	if st.pending.Stage() == flow.StageEnroll {
		return nil
	}
	return p.Flows.Advance(ctx, st.pending, flow.StageEnroll)
}

// pendingEnrollment is the enrollment this pending request already shows:
// the user's pending secret and the key sealed in the request; ok is
// false when there is none (a first visit, or replaced meanwhile).
func (p *Pages) pendingEnrollment(ctx context.Context, st *step) (mfa.Enrollment, bool, error) {
	if st.pending.SecretData == "" {
		return mfa.Enrollment{}, false, nil
	}
	secret, err := p.Store.PendingAuthenticator(ctx, st.user.ID)
	if errors.Is(err, store.ErrNotFound) {
		return mfa.Enrollment{}, false, nil
	}
	if err != nil {
		return mfa.Enrollment{}, false, err
	}
	key, err := p.Store.AuthRequestRecoveryKey(&st.pending.AuthRequest)
	if err != nil {
		return mfa.Enrollment{}, false, nil // unreadable: draw anew
	}
	return mfa.Enrollment{Secret: secret, KeyURI: mfa.KeyURI(TOTPIssuer, st.user.Email, secret), RecoveryKey: key}, true, nil
}

// showEnrollKey is step 2; from step 3 (the Back button) it goes back to
// step 2 and shows the same key.
func (p *Pages) showEnrollKey(w http.ResponseWriter, r *http.Request) error {
	st, sent, err := p.loadEnroll(w, r, flow.StageEnrollKey, flow.StageEnrollVerify)
	if sent || err != nil {
		return err
	}
	if st.pending.Stage() == flow.StageEnrollVerify {
		if err := p.Flows.Advance(r.Context(), st.pending, flow.StageEnrollKey); err != nil {
			return err
		}
	}
	return p.renderEnrollKey(w, r, st, "", http.StatusOK)
}

// submitEnroll is step 1's Continue. It is also taken from a request
// already at step 2 or 3: the browser's Back button may show step 1 again
// from its back-forward cache, without asking the server (which would
// move the request back), and that page's Continue must still go on.
func (p *Pages) submitEnroll(w http.ResponseWriter, r *http.Request) error {
	st, sent, err := p.loadEnroll(w, r, flow.StageEnroll, flow.StageEnrollKey, flow.StageEnrollVerify)
	if sent || err != nil {
		return err
	}
	if st.pending.SecretData == "" {
		return web.ErrRequestExpired
	}
	return p.forwardTo(w, r, st.pending, flow.StageEnrollKey)
}

// forwardTo moves the pending request to stage, or, when a page shown
// again from the browser's cache posts for a step the request has
// already reached, sends the browser to that step's page.
func (p *Pages) forwardTo(w http.ResponseWriter, r *http.Request, pending *flow.Pending, to flow.Stage) error {
	if pending.Stage() == to {
		http.Redirect(w, r, pending.URL(), http.StatusSeeOther)
		return nil
	}
	return p.moveTo(w, r, pending, to)
}

// recoveryKey opens the key shown during this enrollment.
func (p *Pages) recoveryKey(pending *flow.Pending) (mfa.RecoveryKey, error) {
	key, err := p.Store.AuthRequestRecoveryKey(&pending.AuthRequest)
	if err != nil {
		return "", web.ErrRequestExpired
	}
	return key, nil
}

func (p *Pages) renderEnrollKey(w http.ResponseWriter, r *http.Request, st *step, msg string, status int) error {
	key, err := p.recoveryKey(st.pending)
	if err != nil {
		return err
	}
	nonce := web.ScriptPage(w, status) // the Copy button's script
	header := p.header(r, st)
	header.CSPNonce = nonce
	return p.Templates.EnrollRecoveryKey(w, templates.EnrollRecoveryKeyPage{
		Page:          header,
		Action:        flow.PathEnrollKey,
		AuthRequestID: st.pending.ID,
		GroupedKey:    key.Grouped(),
		DownloadURL:   flow.PageURL(flow.PathEnrollKeyFile, st.pending.ID),
		Error:         msg,
	})
}

// downloadEnrollKey serves the recovery key as a text file while the user
// is at steps 2 and 3.
func (p *Pages) downloadEnrollKey(w http.ResponseWriter, r *http.Request) error {
	st, sent, err := p.loadEnroll(w, r, flow.StageEnrollKey, flow.StageEnrollVerify)
	if sent || err != nil {
		return err
	}
	key, err := p.recoveryKey(st.pending)
	if err != nil {
		return err
	}
	credentials.WriteRecoveryKeyFile(w, st.user.Email, key)
	return nil
}

// submitEnrollKey is step 2's Continue; like step 1's, it is also taken
// from a request already at step 3 (Back from step 3, from the cache).
func (p *Pages) submitEnrollKey(w http.ResponseWriter, r *http.Request) error {
	st, sent, err := p.loadEnroll(w, r, flow.StageEnrollKey, flow.StageEnrollVerify)
	if sent || err != nil {
		return err
	}
	// The checkbox is `required` in the page; a request without it (no
	// JavaScript validation, a crafted post) is refused here too.
	if r.PostForm.Get("stored") != "yes" {
		return p.renderEnrollKey(w, r, st, msgKeyNotAcked, http.StatusBadRequest)
	}
	return p.forwardTo(w, r, st.pending, flow.StageEnrollVerify)
}

// showEnrollVerify is step 3: the code, or the passkey's ceremony.
func (p *Pages) showEnrollVerify(w http.ResponseWriter, r *http.Request) error {
	st, sent, err := p.loadEnroll(w, r, flow.StageEnrollVerify)
	if sent || err != nil {
		return err
	}
	return p.renderEnrollVerify(w, r, st, "", http.StatusOK)
}

func (p *Pages) renderEnrollVerify(w http.ResponseWriter, r *http.Request, st *step, msg string, status int) error {
	if st.pending.Factor == store.FactorWebAuthn {
		return p.renderEnrollPasskey(w, r, st, msg, "", status)
	}
	page(w, status)
	return p.Templates.EnrollVerify(w, templates.EnrollVerifyPage{
		Page:          p.header(r, st),
		Action:        flow.PathEnrollVerify,
		AuthRequestID: st.pending.ID,
		Name:          web.Truncate(strings.TrimSpace(r.PostFormValue("name")), 64),
		Error:         msg,
		RestartURL:    flow.PageURL(flow.PathEnroll, st.pending.ID) + "&restart=1",
	})
}

// submitEnrollVerify activates the authenticator with the first code,
// checked against the pending secret by the guard (charged like any code;
// the replay guard applies to active authenticators only). Its step
// becomes the last one used, so it cannot sign in again.
func (p *Pages) submitEnrollVerify(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st, sent, err := p.loadEnroll(w, r, flow.StageEnrollVerify)
	if sent || err != nil {
		return err
	}
	if st.pending.Factor == store.FactorWebAuthn {
		return p.submitEnrollPasskey(w, r, st)
	}
	u := st.user
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) {
		return p.renderEnrollVerify(w, r, st, msgAppName, http.StatusBadRequest)
	}
	secret, err := p.Store.PendingAuthenticator(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return p.moveTo(w, r, st.pending, flow.StageEnroll)
	}
	if err != nil {
		return err
	}
	step, err := p.Credentials.Codes.CheckPendingCode(ctx, u.ID, secret, r.PostForm.Get("code"))
	if refused, err := p.Credentials.Refused(r, u, err); err != nil {
		return err
	} else if refused != nil {
		refused.Headers(w)
		return p.renderEnrollVerify(w, r, st, refused.Msg, refused.Status)
	}
	key, err := p.recoveryKey(st.pending)
	if err != nil {
		return err
	}
	if err := p.Store.ConfirmEnrollment(ctx, u.ID, secret, step, mfa.HashRecoveryKey(key)); errors.Is(err, store.ErrNotFound) {
		// Started over in another tab: this code belonged to the old secret.
		return p.moveTo(w, r, st.pending, flow.StageEnroll)
	} else if err != nil {
		return err
	}
	if name != "" {
		if err := p.Store.NameTOTP(ctx, u.ID, name); err != nil {
			return err
		}
	}
	// The user has a second factor now: their password-only sessions end
	// (all but the one this enrollment upgrades; a new one is at the MFA
	// level).
	ended, err := p.endWeakerSessions(r, u.ID, st.pending.SessionID, store.EndReasonMFAGained)
	st.passed = passedFactor{kind: store.FactorTOTP}
	p.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFAEnrollmentCompleted, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID,
		Detail: st.passed.detail(&ended, "")})
	if err != nil {
		return err
	}
	return p.completeSecondFactor(w, r, st)
}
