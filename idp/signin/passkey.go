package signin

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/credentials"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/templates"
)

// Passkeys and security keys (WebAuthn) as the second factor: the sign-in
// step at /login/passkey and the passkey branch of enrollment. Each
// ceremony's challenge lives in the pending request (its Ceremony
// column); the move that accepts an answer clears it, conditionally on the
// value read, so an answer is accepted once however many replicas see it.

const (
	msgThenApp       = "Your organisation now accepts authenticator apps only: after your passkey confirms it is you, you set one up."
	msgThenPasskey   = "A passkey or security key is required here: after a code from your app confirms it is you, you set one up."
	msgChooseFactor  = "Choose a passkey or an authenticator app."
	msgAddingPasskey = "It is added beside your other second factors; your recovery key stays as it is. Then you sign in with it."
	msgPasskeyName   = "Give the passkey a name of at most 64 characters."
	// defaultPasskeyName is the name field's first value.
	defaultPasskeyName = "Passkey"
)

// wantsPhishingResistant reports whether the app behind pending asked
// for a passkey (the phishing-resistant level).
func wantsPhishingResistant(pending *flow.Pending) bool {
	form := pending.Form()
	cr, _ := claims.ParseRequest(form.Get("claims"))
	return claims.WantsPhishingResistant(form, cr)
}

// passkeyRequired reports whether only a passkey will do for st: the app
// asked for loa:phr, or the tenant allows passkeys only.
func passkeyRequired(st *step) bool {
	return wantsPhishingResistant(st.pending) || st.tenant.RequiresPhishingResistant()
}

// secondFactorPage is where the second-factor step of st goes: the
// passkey page for a user with a passkey the tenant allows (unless they
// chose the app with ?use=code and nothing requires a passkey); else the
// code page for a user with an app; else the passkey page for a user whose
// only factor is a passkey the tenant does not allow (it then proves the
// user before an app is added, proveThenEnroll).
func (p *Pages) secondFactorPage(r *http.Request, st *step) (passkey bool, err error) {
	all, err := p.userFactors(r.Context(), st)
	if err != nil || !p.Passkeys.Available() {
		return false, err
	}
	allowed := all.Allowed(st.tenant)
	switch {
	case allowed.WebAuthn && (passkeyRequired(st) || !allowed.TOTP || r.URL.Query().Get("use") != "code"):
		return true, nil
	case all.TOTP:
		return false, nil
	}
	return all.WebAuthn, nil
}

// proveThenEnroll is the end of a second-factor step whose factor cannot
// sign in here (a code where a passkey is required, a factor the tenant
// does not allow): it proved the user, who now adds a factor of kind. The
// proof is recorded on the request; enrollment of a user who has a factor
// needs it (needsProof).
func (p *Pages) proveThenEnroll(w http.ResponseWriter, r *http.Request, st *step, kind string) error {
	return p.moveTo(w, r, st.pending, flow.StageEnroll, flow.Proved(), flow.Factor(kind), flow.Ceremony(""))
}

// needsProof reports whether st would enroll a factor for a user who has
// one without having passed it in this request. Such a request goes back
// to the second-factor page: a factor is never added on the password
// alone.
func (p *Pages) needsProof(ctx context.Context, st *step) (bool, error) {
	if st.pending.Proved {
		return false, nil
	}
	return p.adding(ctx, st)
}

// loadEnroll is loadStep for the enrollment pages: a request that would
// enroll without the proof needsProof asks for is sent back to the
// second-factor page instead (sent is true then).
func (p *Pages) loadEnroll(w http.ResponseWriter, r *http.Request, stages ...flow.Stage) (st *step, sent bool, err error) {
	if st, err = p.loadStep(r, stages...); err != nil {
		return nil, false, err
	}
	sent, err = p.proofFirst(w, r, st)
	return st, sent, err
}

// proofFirst sends st back to the second-factor page when it would
// enroll without the proof needsProof asks for; sent is true when it did.
func (p *Pages) proofFirst(w http.ResponseWriter, r *http.Request, st *step) (sent bool, err error) {
	need, err := p.needsProof(r.Context(), st)
	if err != nil || !need {
		return false, err
	}
	return true, p.moveTo(w, r, st.pending, flow.StageCode)
}

// adding reports whether st adds a factor beside the user's others (no
// new recovery key; a passkey added does not sign in by itself).
func (p *Pages) adding(ctx context.Context, st *step) (bool, error) {
	f, err := p.userFactors(ctx, st)
	return f.Any(), err
}

// ceremony is the pending request's WebAuthn ceremony for purpose, or a
// new one from begin (none yet, expired, or another purpose), stored on
// the request at its stage before the page shows it.
func (p *Pages) ceremony(ctx context.Context, pending *flow.Pending, purpose string, begin func() (*credentials.Ceremony, error)) (*credentials.Ceremony, error) {
	if c, ok := credentials.DecodeCeremony(pending.Ceremony, purpose, time.Now()); ok {
		return c, nil
	}
	c, err := begin()
	if err != nil {
		return nil, err
	}
	return c, p.Flows.Advance(ctx, pending, pending.Stage(), flow.Ceremony(c.Encode()))
}

// spendCeremony clears the pending request's ceremony, once its answer
// verified: a compare-and-swap on the request, so of two requests with
// the same answer one gets flow.ErrExpired and grants nothing.
func (p *Pages) spendCeremony(ctx context.Context, pending *flow.Pending) error {
	return p.Flows.Advance(ctx, pending, pending.Stage(), flow.Ceremony(""))
}

// --- sign-in with a passkey ---

func (p *Pages) showPasskey(w http.ResponseWriter, r *http.Request) error {
	st, err := p.loadStep(r, flow.StageCode)
	if err != nil {
		return err
	}
	return p.renderPasskey(w, r, st, "", http.StatusOK)
}

// renderPasskey draws the passkey step with the pending request's login
// ceremony, beginning a new one when there is none or it expired. A user
// without passkeys (removed meanwhile) goes to the code page.
func (p *Pages) renderPasskey(w http.ResponseWriter, r *http.Request, st *step, msg string, status int) error {
	ctx := r.Context()
	creds, err := p.Store.WebAuthnCredentials(ctx, st.user.ID)
	if err != nil {
		return err
	}
	if len(creds) == 0 || !p.Passkeys.Available() {
		http.Redirect(w, r, flow.PageURL(flow.PathCode, st.pending.ID)+"&use=code", http.StatusSeeOther)
		return nil
	}
	c, err := p.ceremony(ctx, st.pending, credentials.PurposeLogin, func() (*credentials.Ceremony, error) {
		return p.Passkeys.BeginLogin(st.user, creds)
	})
	if err != nil {
		return err
	}
	f, err := p.allowedFactors(ctx, st)
	if err != nil {
		return err
	}
	required := passkeyRequired(st)
	page := templates.PasskeyChallengePage{
		Page: p.header(r, st),
		WebAuthnForm: templates.WebAuthnForm{
			Action: flow.PathPasskey, AuthRequestID: st.pending.ID, Options: template.JS(c.Options),
			Purpose: credentials.PurposeLogin, Button: "Use passkey", Error: msg,
		},
		PasskeyRequired: required && st.tenant.AllowsWebAuthn(),
		RecoveryURL:     flow.PageURL(flow.PathRecovery, st.pending.ID),
	}
	if !st.tenant.AllowsWebAuthn() {
		page.ThenNote = msgThenApp
	}
	if f.TOTP && !required {
		page.CodeURL = flow.PageURL(flow.PathCode, st.pending.ID) + "&use=code"
	}
	page.CSPNonce = web.ScriptPage(w, status)
	return p.Templates.PasskeyChallenge(w, page)
}

// submitPasskey accepts the browser's answer to the login ceremony. The
// ceremony is consumed first (one winner), then the credential's sign
// counter is recorded (a counter that went back is refused and audited),
// then the user is signed in at the MFA level with amr hwk or swk.
func (p *Pages) submitPasskey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st, err := p.loadStep(r, flow.StageCode)
	if err != nil {
		return err
	}
	c, ok := credentials.DecodeCeremony(st.pending.Ceremony, credentials.PurposeLogin, time.Now())
	if !ok {
		// Expired, or answered already (another tab, a replay).
		return p.renderPasskey(w, r, st, credentials.MsgPasskeyFailed, http.StatusBadRequest)
	}
	creds, err := p.Store.WebAuthnCredentials(ctx, st.user.ID)
	if err != nil {
		return err
	}
	a, err := p.Passkeys.FinishLogin(st.user, creds, c, r.PostForm.Get("credential"))
	if err == nil {
		// The challenge is spent whatever happens next.
		if err = p.spendCeremony(ctx, st.pending); err != nil {
			return err
		}
		err = p.Store.UseWebAuthnCredential(ctx, st.user.ID, a.CredentialID, a.SignCount, a.BackupState)
	}
	if err != nil {
		if errors.Is(err, credentials.ErrNoPasskeys) {
			return err
		}
		p.auditRefusedPasskey(r, st, a, err)
		return p.renderPasskey(w, r, st, credentials.PasskeyMessage(err), http.StatusUnauthorized)
	}
	if !st.tenant.AllowsWebAuthn() {
		// Apps only here: the passkey proved the user, who adds an app.
		return p.proveThenEnroll(w, r, st, store.FactorTOTP)
	}
	st.passed = passedFactor{kind: store.FactorWebAuthn, credential: a.CredentialID, synced: a.BackupState}
	return p.completeSecondFactor(w, r, st)
}

// auditRefusedPasskey records a refused assertion with its reason.
func (p *Pages) auditRefusedPasskey(r *http.Request, st *step, a *credentials.Assertion, err error) {
	reason := "invalid"
	switch {
	case errors.Is(err, credentials.ErrPasskeyCloned), errors.Is(err, store.ErrCounterWentBack):
		reason = "counter"
	case errors.Is(err, credentials.ErrPasskeyUnknown), errors.Is(err, store.ErrNotFound):
		reason = "unknown"
	}
	detail := struct {
		Reason     string `json:"reason"`
		Credential string `json:"credential,omitempty"`
	}{Reason: reason}
	if a != nil {
		detail.Credential = a.CredentialID
	}
	p.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFAPasskeyRefused, TenantID: st.user.TenantID,
		ActorID: st.user.ID, SubjectID: st.user.ID, Detail: auditDetail(detail)})
}

// --- enrollment: the choice, and creating the passkey ---

// factorChoice is what enrollment may offer st: a passkey when the
// relying party can have one and the tenant allows it, the app when the
// tenant allows it and nothing asks for a passkey.
func (p *Pages) factorChoice(st *step) (passkey, totp bool) {
	passkey = p.Passkeys.Available() && st.tenant.AllowsWebAuthn()
	totp = st.tenant.AllowsTOTP() && !passkeyRequired(st)
	return passkey, totp
}

// errNoFactorToOffer is enrollment's answer when nothing can be offered:
// passkeys are required (by the app or the tenant) but this server cannot
// have them, or the app wants a passkey in a tenant that allows apps only.
var errNoFactorToOffer = &web.Error{Code: http.StatusConflict, Heading: "No second factor can be set up",
	Msg: "What is required here is a passkey or security key, and passkeys cannot be set up: either your organisation allows only authenticator apps, or this server is reached by an IP address rather than a domain name. Ask your administrator."}

// renderEnrollChoose is step 1 when there is a choice of factor.
func (p *Pages) renderEnrollChoose(w http.ResponseWriter, r *http.Request, st *step, msg string, status int) error {
	afterRecovery, err := p.Store.RecoveryKeySpent(r.Context(), st.user.ID)
	if err != nil {
		return err
	}
	passkey, totp := p.factorChoice(st)
	if !passkey && !totp {
		return errNoFactorToOffer
	}
	page(w, status)
	return p.Templates.EnrollChoose(w, templates.EnrollChoosePage{
		Page: p.header(r, st), Action: flow.PathEnrollChoose, AuthRequestID: st.pending.ID,
		OfferPasskey: passkey, OfferTOTP: totp, PasskeyOnly: passkey && !totp,
		Chosen: st.pending.Factor, AfterRecovery: afterRecovery, Error: msg, Later: p.later(r.Context(), st),
	})
}

// inGrace reports whether st's user may put enrollment off: a sign-in
// (not a step-up, not an activation from the account page) in a tenant
// whose enrollment deadline is still ahead, for an app that did not ask
// for two factors itself.
func (p *Pages) inGrace(ctx context.Context, st *step) bool {
	if st.pending.SessionID != "" || !st.tenant.InGrace(p.Sessions.Now()) {
		return false
	}
	// A user who has a factor uses it; Later is for those without one.
	if f, err := p.userFactors(ctx, st); err != nil || f.Any() {
		return false
	}
	form := st.pending.Form()
	cr, _ := claims.ParseRequest(form.Get("claims"))
	return !claims.WantsMFA(form, cr)
}

// later is the Later button of step 1, when st is in grace.
func (p *Pages) later(ctx context.Context, st *step) templates.Later {
	if !p.inGrace(ctx, st) {
		return templates.Later{}
	}
	left := st.tenant.EnrollmentDeadline.Sub(p.Sessions.Now())
	return templates.Later{Action: flow.PathEnrollLater, AuthRequestID: st.pending.ID,
		DaysLeft: int((left + 24*time.Hour - 1) / (24 * time.Hour)), Deadline: web.FormatDate(*st.tenant.EnrollmentDeadline)}
}

// submitEnrollLater signs in with the password alone, before the tenant's
// enrollment deadline; the next sign-in asks again.
func (p *Pages) submitEnrollLater(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st, err := p.loadStep(r, flow.StageEnroll, flow.StageEnrollKey, flow.StageEnrollVerify)
	if err != nil {
		return err
	}
	if !p.inGrace(ctx, st) {
		return errNoLater
	}
	if err := p.backToStep1(ctx, st); err != nil {
		return err
	}
	bs, err := p.Sessions.Start(w, r, st.user, st.tenant, claims.AMRPassword, claims.ACRPassword)
	if err != nil {
		return err
	}
	if err := p.Flows.Advance(ctx, st.pending, flow.StageSignedIn, flow.Session(bs.ID), flow.Sealed(""), flow.Factor(""), flow.Ceremony("")); err != nil {
		return err
	}
	p.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFAEnrollmentPostponed, TenantID: st.user.TenantID, ActorID: st.user.ID, SubjectID: st.user.ID,
		Detail: auditDetail(map[string]string{"deadline": st.tenant.EnrollmentDeadline.UTC().Format(time.RFC3339)})})
	return p.continueFlow(w, r, st.pending)
}

// errNotFreshAnyMore refuses a passkey added from the account page once
// the session that started it has ended or is no longer fresh.
var errNotFreshAnyMore = &web.Error{Code: http.StatusForbidden, Heading: "Confirm it is you first",
	Msg:  "Adding a passkey needs a second factor passed in the last few minutes, on the session that started it. Open your account page, confirm it is you, and add the passkey again.",
	Back: web.Link{URL: "/account", Label: "Go to your account"}}

// errNoLater answers Later after the deadline (or where it never applied).
var errNoLater = &web.Error{Code: http.StatusForbidden, Heading: "Set up your second factor now",
	Msg: "Your organisation's deadline for setting up a second factor has passed, so it cannot be put off any more. Go back and set it up."}

// submitEnrollChoose records the chosen factor: the app goes on to its QR
// code (step 1 proper), a passkey to the recovery key (its step 2) with
// a key drawn now, or the one already shown to this request.
func (p *Pages) submitEnrollChoose(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st, sent, err := p.loadEnroll(w, r, flow.StageEnroll, flow.StageEnrollKey, flow.StageEnrollVerify)
	if sent || err != nil {
		return err
	}
	passkey, totp := p.factorChoice(st)
	choice := r.PostForm.Get("factor")
	if !(choice == store.FactorWebAuthn && passkey || choice == store.FactorTOTP && totp) {
		return p.renderEnrollChoose(w, r, st, msgChooseFactor, http.StatusBadRequest)
	}
	if choice == store.FactorTOTP {
		if err := p.Flows.Advance(ctx, st.pending, flow.StageEnroll, flow.Factor(choice), flow.Ceremony("")); err != nil {
			return err
		}
		http.Redirect(w, r, flow.PageURL(flow.PathEnroll, st.pending.ID), http.StatusSeeOther)
		return nil
	}
	adding, err := p.adding(ctx, st)
	if err != nil {
		return err
	}
	if adding {
		// Beside the user's other factors: the recovery key stays.
		if err := p.backToStep1(ctx, st); err != nil {
			return err
		}
		return p.moveTo(w, r, st.pending, flow.StageEnrollVerify, flow.Factor(choice), flow.Ceremony(""))
	}
	sealed := st.pending.SecretData
	if _, err := p.Store.AuthRequestRecoveryKey(&st.pending.AuthRequest); sealed == "" || err != nil {
		key, err := mfa.NewRecoveryKey(nil)
		if err != nil {
			return err
		}
		if sealed, err = p.Store.SealRecoveryKey(st.pending.ID, key); err != nil {
			return err
		}
		p.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFAEnrollmentStarted, TenantID: st.user.TenantID, ActorID: st.user.ID, SubjectID: st.user.ID})
	}
	if err := p.backToStep1(ctx, st); err != nil {
		return err
	}
	return p.moveTo(w, r, st.pending, flow.StageEnrollKey, flow.Factor(choice), flow.Sealed(sealed), flow.Ceremony(""))
}

// renderEnrollPasskey is the passkey's confirming step: during enrollment
// (step 3, after the recovery key) or when adding one from the account
// page (no recovery key: the user has one).
func (p *Pages) renderEnrollPasskey(w http.ResponseWriter, r *http.Request, st *step, msg, name string, status int) error {
	ctx := r.Context()
	adding, err := p.adding(ctx, st)
	if err != nil {
		return err
	}
	creds, err := p.Store.WebAuthnCredentials(ctx, st.user.ID)
	if err != nil {
		return err
	}
	c, err := p.ceremony(ctx, st.pending, credentials.PurposeRegister, func() (*credentials.Ceremony, error) {
		return p.Passkeys.BeginRegistration(st.user, creds)
	})
	if err != nil {
		return err
	}
	if name == "" {
		name = defaultPasskeyName
	}
	pg := templates.EnrollPasskeyPage{
		Page: p.header(r, st),
		WebAuthnForm: templates.WebAuthnForm{
			Action: flow.PathEnrollVerify, AuthRequestID: st.pending.ID, Options: template.JS(c.Options),
			Purpose: credentials.PurposeRegister, Button: "Create passkey", NameField: true, Name: name, Error: msg,
		},
	}
	switch {
	case adding && st.pending.Kind() == flow.KindAccount:
		pg.CancelURL = "/account"
	case adding:
		pg.Intro = msgAddingPasskey
	default:
		pg.Step = 3
		pg.ChooseURL = flow.PageURL(flow.PathEnroll, st.pending.ID) + "&choose=1"
	}
	pg.CSPNonce = web.ScriptPage(w, status)
	return p.Templates.EnrollPasskey(w, pg)
}

// passkeyName is the posted name, trimmed; ok is false when it is empty
// or too long.
func passkeyName(r *http.Request) (string, bool) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	return name, name != "" && utf8.RuneCountInString(name) <= 64 && utf8.ValidString(name)
}

// submitEnrollPasskey checks the new credential against the registration
// ceremony, consumes the ceremony, and stores the credential.
//
// A first factor is stored with the recovery key shown at step 2; the
// user's password-only sessions end, and this browser is signed in with
// the passkey (as the first code signs in an app: the same trust). A
// passkey added beside other factors keeps the recovery key and signs
// nothing in: a registration is no assertion. From the account page
// (whose session must still be this request's and fresh) the browser goes
// back there; in a sign-in it goes on to use the new passkey.
func (p *Pages) submitEnrollPasskey(w http.ResponseWriter, r *http.Request, st *step) error {
	ctx := r.Context()
	u := st.user
	adding, err := p.adding(ctx, st)
	if err != nil {
		return err
	}
	if adding && st.pending.Kind() == flow.KindAccount {
		si, err := p.Sessions.Current(r)
		if err != nil {
			return err
		}
		if si == nil || si.Session.ID != st.pending.SessionID || !Fresh(si, p.Sessions.Now()) {
			return errNotFreshAnyMore
		}
	}
	name, ok := passkeyName(r)
	if !ok {
		return p.renderEnrollPasskey(w, r, st, msgPasskeyName, "", http.StatusBadRequest)
	}
	c, ok := credentials.DecodeCeremony(st.pending.Ceremony, credentials.PurposeRegister, time.Now())
	if !ok {
		return p.renderEnrollPasskey(w, r, st, credentials.MsgPasskeyFailed, name, http.StatusBadRequest)
	}
	creds, err := p.Store.WebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return err
	}
	cred, err := p.Passkeys.FinishRegistration(u, creds, c, r.PostForm.Get("credential"), name)
	if err != nil {
		return p.renderEnrollPasskey(w, r, st, credentials.PasskeyMessage(err), name, http.StatusBadRequest)
	}
	if err := p.spendCeremony(ctx, st.pending); err != nil {
		return err
	}
	var recoveryHash []byte
	if !adding {
		key, err := p.recoveryKey(st.pending)
		if err != nil {
			return err
		}
		recoveryHash = mfa.HashRecoveryKey(key)
	}
	if err := p.Store.AddWebAuthnCredential(ctx, cred, recoveryHash); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return p.renderEnrollPasskey(w, r, st, credentials.MsgPasskeyTaken, name, http.StatusConflict)
		}
		return err
	}
	st.passed = passedFactor{kind: store.FactorWebAuthn, credential: cred.ID, synced: cred.BackupState}
	if adding {
		p.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFAFactorAdded, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID,
			Detail: st.passed.detail(nil, name)})
		if st.pending.Kind() == flow.KindAccount {
			return p.continueFlow(w, r, st.pending)
		}
		return p.moveTo(w, r, st.pending, flow.StageCode)
	}
	ended, err := p.endWeakerSessions(r, u.ID, st.pending.SessionID, store.EndReasonMFAGained)
	p.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFAEnrollmentCompleted, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID,
		Detail: st.passed.detail(&ended, "")})
	if err != nil {
		return err
	}
	return p.completeSecondFactor(w, r, st)
}
