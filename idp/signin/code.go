package signin

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/credentials"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/templates"
)

// --- the code page ---

func (p *Pages) showCode(w http.ResponseWriter, r *http.Request) error {
	st, err := p.loadStep(r, flow.StageCode)
	if err != nil {
		return err
	}
	if passkey, err := p.secondFactorPage(r, st); err != nil {
		return err
	} else if passkey {
		http.Redirect(w, r, flow.PageURL(flow.PathPasskey, st.pending.ID), http.StatusSeeOther)
		return nil
	}
	msg, err := p.Credentials.Locked(r.Context(), st.user)
	if err != nil {
		return err
	}
	return p.renderCode(w, r, st, msg, http.StatusOK)
}

func (p *Pages) renderCode(w http.ResponseWriter, r *http.Request, st *step, msg string, status int) error {
	f, err := p.allowedFactors(r.Context(), st)
	if err != nil {
		return err
	}
	pg := templates.TOTPChallengePage{
		Page:          p.header(r, st),
		Action:        flow.PathCode,
		AuthRequestID: st.pending.ID,
		Error:         msg,
		RecoveryURL:   flow.PageURL(flow.PathRecovery, st.pending.ID),
	}
	if f.WebAuthn && p.Passkeys.Available() {
		pg.PasskeyURL = flow.PageURL(flow.PathPasskey, st.pending.ID)
	}
	if passkeyRequired(st) || !st.tenant.AllowsTOTP() {
		pg.ThenNote = msgThenPasskey
	}
	page(w, status)
	return p.Templates.TOTPChallenge(w, pg)
}

func (p *Pages) submitCode(w http.ResponseWriter, r *http.Request) error {
	st, err := p.loadStep(r, flow.StageCode)
	if err != nil {
		return err
	}
	codeOnlyProves := passkeyRequired(st) || !st.tenant.AllowsTOTP()
	if codeOnlyProves {
		// A code cannot sign in here. A user who has a passkey uses it;
		// for one who has none, the code proves them before one is added,
		// when one can be (else nothing the code does would help).
		if f, err := p.allowedFactors(r.Context(), st); err != nil {
			return err
		} else if f.WebAuthn && p.Passkeys.Available() {
			http.Redirect(w, r, flow.PageURL(flow.PathPasskey, st.pending.ID), http.StatusSeeOther)
			return nil
		}
		if passkey, _ := p.factorChoice(st); !passkey {
			return errNoFactorToOffer
		}
	}

	priorFailures, refused, err := p.Credentials.CodeCounting(r, st.user, r.PostForm.Get("code"))
	if errors.Is(err, credentials.ErrNotActive) {
		// Reset by an administrator meanwhile: decide afresh.
		return p.afterPassword(w, r, st)
	}
	if err != nil {
		return err
	}
	if refused != nil {
		refused.Headers(w)
		return p.renderCode(w, r, st, refused.Msg, refused.Status)
	}
	st.priorFailures = priorFailures
	if codeOnlyProves {
		// A code cannot sign in here: it proved the user, who adds a
		// passkey.
		return p.proveThenEnroll(w, r, st, store.FactorWebAuthn)
	}
	return p.completeSecondFactor(w, r, st)
}

// --- the recovery key ---

func (p *Pages) renderRecovery(w http.ResponseWriter, r *http.Request, st *step, msg string, status int) error {
	page(w, status)
	return p.Templates.RecoveryKeyChallenge(w, templates.RecoveryPage{
		Page:          p.header(r, st),
		Action:        flow.PathRecovery,
		AuthRequestID: st.pending.ID,
		Error:         msg,
		BackURL:       flow.PageURL(flow.PathCode, st.pending.ID),
	})
}

// submitRecovery accepts the paper key: it is compared, the attempt is
// charged against the same limit as codes, and only then is it spent. The
// old authenticator goes with it; the user enrolls again when the tenant
// or the relying app requires two factors, and otherwise is signed in at
// the password level (there is no authenticator left to vouch for).
func (p *Pages) submitRecovery(w http.ResponseWriter, r *http.Request) error {
	st, err := p.loadStep(r, flow.StageCode)
	if err != nil {
		return err
	}
	u := st.user
	hash, refused, err := p.Credentials.RecoveryKey(r, u, r.PostForm.Get("recovery_key"))
	if err != nil {
		return err
	}
	if refused != nil {
		refused.Headers(w)
		return p.renderRecovery(w, r, st, refused.Msg, refused.Status)
	}
	spent, err := p.Store.UseRecoveryKey(r.Context(), u.ID, hash)
	if err != nil {
		return err
	}
	if !spent {
		return p.renderRecovery(w, r, st, credentials.MsgRecoverySpent, http.StatusUnauthorized)
	}
	// Whoever holds a password-only session of this user may be who took
	// the device: those sessions end (this sign-in makes a new one).
	ended, err := p.endWeakerSessions(r, u.ID, "", store.EndReasonRecoveryUsed)
	p.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFARecoveryUsed, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID,
		Detail: fmt.Sprintf(`{"sessions_ended":%d}`, ended)})
	if err != nil {
		return err
	}
	return p.afterPassword(w, r, st)
}
