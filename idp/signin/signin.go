// Package signin is the sign-in's pages: the password (/login), the code
// and the recovery key (/login/code, /login/recovery) and the three steps
// of enrollment (/enroll, /enroll/recovery-key, /enroll/verify). Each page
// loads the pending request at the stages it serves and moves it on
// through idp/flow; when the user is signed in, flow.Continue sends the
// browser back to what the sign-in was for (the authorization endpoint, or
// an account page).
package signin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/credentials"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/templates"
)

// Store is what the sign-in pages need of the database.
type Store interface {
	ClientByID(ctx context.Context, id string) (*store.Client, error)
	RecoveryKeySpent(ctx context.Context, userID string) (bool, error)
	UserAndTenantByID(ctx context.Context, id string) (*store.User, *store.Tenant, error)
	HasActiveAuthenticator(ctx context.Context, userID string) (bool, error)
	UseRecoveryKey(ctx context.Context, userID string, hash []byte) (bool, error)
	BeginEnrollment(ctx context.Context, userID string, secret mfa.Secret) error
	PendingAuthenticator(ctx context.Context, userID string) (mfa.Secret, error)
	ConfirmEnrollment(ctx context.Context, userID string, secret mfa.Secret, step int64, recoveryHash []byte) error
	EndUserSessionsBelow(ctx context.Context, userID, keepID, acr, reason string) ([]store.EndedSession, error)
	SealRecoveryKey(requestID string, key mfa.RecoveryKey) (string, error)
	AuthRequestRecoveryKey(ar *store.AuthRequest) (mfa.RecoveryKey, error)
	SecondFactorsOf(ctx context.Context, userID string) (store.SecondFactors, error)
	WebAuthnCredentials(ctx context.Context, userID string) ([]store.WebAuthnCredential, error)
	AddWebAuthnCredential(ctx context.Context, c *store.WebAuthnCredential, recoveryHash []byte) error
	UseWebAuthnCredential(ctx context.Context, userID, id string, signCount uint32, backupState bool) error
	Audit(ctx context.Context, e *store.AuditEvent) error
	AnyPasswordless(ctx context.Context) (bool, error)
	NameTOTP(ctx context.Context, userID, name string) error
}

// Pages serves the sign-in pages.
type Pages struct {
	Store       Store
	Flows       *flow.Flows
	Sessions    *browser.Sessions
	Credentials *credentials.Checker
	// Passkeys runs the WebAuthn ceremonies; without a relying party
	// (an issuer on an IP address) passkeys are not offered.
	Passkeys  *credentials.Passkeys
	Templates *templates.Templates
}

// Mount adds the sign-in pages to the route table.
func (p *Pages) Mount(rt *web.Router) {
	rt.Page("GET "+flow.PathLogin, p.showLogin)
	rt.Form("POST "+flow.PathLogin, p.submitLogin)
	rt.Page("GET "+flow.PathCode, p.showCode)
	rt.Form("POST "+flow.PathCode, p.submitCode)
	rt.Page("GET "+flow.PathRecovery, p.show(p.renderRecovery, flow.StageCode))
	rt.Form("POST "+flow.PathRecovery, p.submitRecovery)
	rt.Page("GET "+flow.PathEnroll, p.showEnroll)
	rt.Form("POST "+flow.PathEnroll, p.submitEnroll)
	rt.Page("GET "+flow.PathEnrollKey, p.showEnrollKey)
	rt.Form("POST "+flow.PathEnrollKey, p.submitEnrollKey)
	rt.Page("GET "+flow.PathEnrollKeyFile, p.downloadEnrollKey)
	rt.Page("GET "+flow.PathEnrollVerify, p.showEnrollVerify)
	rt.Form("POST "+flow.PathEnrollVerify, p.submitEnrollVerify)
	rt.Page("GET "+flow.PathPasskey, p.showPasskey)
	rt.Form("POST "+flow.PathPasskey, p.submitPasskey)
	rt.Form("POST "+flow.PathEnrollChoose, p.submitEnrollChoose)
	rt.Form("POST "+flow.PathEnrollLater, p.submitEnrollLater)
	rt.Form("POST "+flow.PathPasswordless, p.submitPasswordless)
}

// renderer draws a step's page with a message (or none) and a status.
type renderer func(w http.ResponseWriter, r *http.Request, st *step, msg string, status int) error

// show is the GET of a step's page: the step loaded at stage, drawn with
// no message.
func (p *Pages) show(render renderer, stage flow.Stage) web.PageFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		st, err := p.loadStep(r, stage)
		if err != nil {
			return err
		}
		return render(w, r, st, "", http.StatusOK)
	}
}

// requestID returns the pending request id posted with a form (or given
// in the query of a GET).
func requestID(r *http.Request) (string, error) {
	if r.Method == http.MethodGet {
		return r.URL.Query().Get("auth_request"), nil
	}
	if err := r.ParseForm(); err != nil {
		return "", web.BadRequest("The form could not be read.")
	}
	return r.PostForm.Get("auth_request"), nil
}

// load finds this browser's pending request at one of stages.
func (p *Pages) load(r *http.Request, stages ...flow.Stage) (*flow.Pending, error) {
	id, err := requestID(r)
	if err != nil {
		return nil, err
	}
	pending, err := p.Flows.Load(r.Context(), id, p.Sessions.BoundTo(r), stages...)
	return pending, err
}

// step is a pending request whose password step is done, with its user
// and the user's tenant, read once and carried through the request.
type step struct {
	pending *flow.Pending
	user    *store.User
	tenant  *store.Tenant
	// priorFailures are the wrong codes tried since the user's last
	// accepted one (set by the code step; the user is told).
	priorFailures int
	// passed is the second factor that completed this step (set by the
	// step that accepted it): its amr and what the audit row says.
	passed passedFactor
	// factors are the user's second factors, allowed or not, read once
	// (userFactors).
	factors *store.SecondFactors
}

// userFactors are st's user's second factors of every kind, read at most
// once per request.
func (p *Pages) userFactors(ctx context.Context, st *step) (store.SecondFactors, error) {
	if st.factors == nil {
		f, err := p.Store.SecondFactorsOf(ctx, st.user.ID)
		if err != nil {
			return f, err
		}
		st.factors = &f
	}
	return *st.factors, nil
}

// allowedFactors are those of st's user's factors the tenant allows.
func (p *Pages) allowedFactors(ctx context.Context, st *step) (store.SecondFactors, error) {
	f, err := p.userFactors(ctx, st)
	return f.Allowed(st.tenant), err
}

// passedFactor is an accepted second factor.
type passedFactor struct {
	kind       string // store.FactorTOTP or store.FactorWebAuthn
	credential string // the passkey's id
	synced     bool   // a synced passkey ("swk")
}

// amr is the session's amr after f.
func (f passedFactor) amr() []string {
	if f.kind == store.FactorWebAuthn {
		return claims.AMRWebAuthn(f.synced)
	}
	return claims.AMRMFA
}

// detail is the audit detail naming f, with the sessions an enrollment
// ended (nil: not such an event) and the name given to an added factor;
// the keys in the order the audit catalogue lists them.
func (f passedFactor) detail(sessionsEnded *int, name string) string {
	kind := f.kind
	if kind == "" {
		kind = store.FactorTOTP
	}
	return auditDetail(struct {
		SessionsEnded *int   `json:"sessions_ended,omitempty"`
		Factor        string `json:"factor"`
		Credential    string `json:"credential,omitempty"`
		Name          string `json:"name,omitempty"`
	}{sessionsEnded, kind, f.credential, name})
}

// auditDetail is v as an audit row's JSON detail.
func auditDetail(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// loadStep loads the pending request at one of stages, with the user who
// gave the password.
func (p *Pages) loadStep(r *http.Request, stages ...flow.Stage) (*step, error) {
	pending, err := p.load(r, stages...)
	if err != nil {
		return nil, err
	}
	if pending.UserID == "" {
		return nil, web.ErrRequestExpired
	}
	user, tenant, err := p.Store.UserAndTenantByID(r.Context(), pending.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		return nil, web.ErrRequestExpired
	}
	if err != nil {
		return nil, err
	}
	return &step{pending: pending, user: user, tenant: tenant}, nil
}

// moveTo advances the pending request and sends the browser to the page of
// its new stage.
func (p *Pages) moveTo(w http.ResponseWriter, r *http.Request, pending *flow.Pending, to flow.Stage, learnt ...flow.Learnt) error {
	if err := p.Flows.Advance(r.Context(), pending, to, learnt...); err != nil {
		return err
	}
	http.Redirect(w, r, pending.URL(), http.StatusSeeOther)
	return nil
}

// continueFlow goes back to what the sign-in was for.
func (p *Pages) continueFlow(w http.ResponseWriter, r *http.Request, pending *flow.Pending) error {
	to, err := p.Flows.Continue(r.Context(), pending)
	if err != nil {
		return err
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// afterPassword sends a user whose password (or recovery key) was just
// accepted to the next step that flow.NextFactor names: the code page,
// enrollment, or (when no second factor is needed) a new password-level
// session.
func (p *Pages) afterPassword(w http.ResponseWriter, r *http.Request, st *step) error {
	ctx := r.Context()
	pending, user, tenant := st.pending, st.user, st.tenant
	form := pending.Form()
	cr, _ := claims.ParseRequest(form.Get("claims"))
	// A tenant that allows only passkeys asks for one at every sign-in,
	// as an app asking for loa:phr does.
	next, err := flow.NextFactor(ctx, flow.Facts{
		Level:                     flow.LevelPassword,
		FreshPassword:             true,
		TenantRequiresTFA:         tenant.RequireTFA,
		AppWantsMFA:               claims.WantsMFA(form, cr),
		AppWantsPhishingResistant: claims.WantsPhishingResistant(form, cr) || tenant.RequiresPhishingResistant(),
		HasAuthenticator: func(ctx context.Context) (bool, error) {
			f, err := p.userFactors(ctx, st)
			return f.Any(), err
		},
	})
	if err != nil {
		return err
	}
	// A password makes a new sign-in: the second factor starts a new
	// session rather than upgrading one this request was stepping up.
	if next == flow.StepCode {
		// Straight to the page the second factor is given on (the
		// factors were read deciding), not via the code page's redirect.
		if err := p.Flows.Advance(ctx, pending, flow.StageCode, flow.User(user.ID), flow.Session("")); err != nil {
			return err
		}
		to := flow.PathCode
		if passkey, err := p.secondFactorPage(r, st); err != nil {
			return err
		} else if passkey {
			to = flow.PathPasskey
		}
		http.Redirect(w, r, flow.PageURL(to, pending.ID), http.StatusSeeOther)
		return nil
	}
	if next != flow.StepDone {
		return p.moveTo(w, r, pending, next.Stage(), flow.User(user.ID), flow.Session(""))
	}
	bs, err := p.Sessions.Start(w, r, user, tenant, claims.AMRPassword, claims.ACRPassword)
	if err != nil {
		return err
	}
	if err := p.Flows.Advance(ctx, pending, flow.StageSignedIn, flow.User(user.ID), flow.Session(bs.ID)); err != nil {
		return err
	}
	return p.continueFlow(w, r, pending)
}

// completeSecondFactor signs the browser in at the MFA level once a code
// was accepted. A request that stepped up an existing session upgrades
// that session in place; either way the cookie gets a new session secret,
// so a cookie captured before the second factor is worthless after it.
func (p *Pages) completeSecondFactor(w http.ResponseWriter, r *http.Request, st *step) error {
	ctx := r.Context()
	var sessionID string
	if st.pending.SessionID != "" {
		si, err := p.Sessions.Current(r)
		if err != nil {
			return err
		}
		if si == nil || si.Session.ID != st.pending.SessionID || si.User.ID != st.user.ID {
			return web.ErrRequestExpired
		}
		if err := p.Sessions.Upgrade(w, r, si, st.passed.amr(), claims.ACRMFA); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return web.ErrRequestExpired
			}
			return err
		}
		sessionID = si.Session.ID
	} else {
		bs, err := p.Sessions.Start(w, r, st.user, st.tenant, st.passed.amr(), claims.ACRMFA)
		if err != nil {
			return err
		}
		sessionID = bs.ID
	}
	if err := p.Flows.Advance(ctx, st.pending, flow.StageSignedIn, flow.Session(sessionID), flow.Sealed(""),
		flow.Factor(""), flow.Ceremony("")); err != nil {
		return err
	}
	p.Sessions.Audit(r, &store.AuditEvent{Event: audit.LoginMFA, TenantID: st.user.TenantID, ActorID: st.user.ID, SubjectID: st.user.ID,
		Detail: st.passed.detail(nil, "")})
	if st.priorFailures == 0 {
		return p.continueFlow(w, r, st.pending)
	}
	// Wrong codes after a right password mean someone may hold it: the
	// user hears of it before going on.
	to, err := p.Flows.Continue(ctx, st.pending)
	if err != nil {
		return err
	}
	page(w, http.StatusOK)
	return p.Templates.FailedCodes(w, templates.FailedCodesPage{
		Page:  templates.Page{RequestID: web.RequestID(ctx), SignedInAs: st.user.Email},
		Count: st.priorFailures, ContinueURL: to,
	})
}

// endWeakerSessions ends the user's sessions below the MFA level except
// keepID (the session a step-up is about to upgrade, or none): after the
// user gained a second factor or spent the recovery key, a session that
// passed only the password must not go on acting for them.
// It returns how many ended, for the audit event of the cause.
func (p *Pages) endWeakerSessions(r *http.Request, userID, keepID, reason string) (int, error) {
	ended, err := p.Sessions.End(r, reason, func() ([]store.EndedSession, error) {
		return p.Store.EndUserSessionsBelow(r.Context(), userID, keepID, claims.ACRMFA, reason)
	})
	return len(ended), err
}

// header is the page header of a step between the password and the
// second factor: "Signing in to APP as EMAIL · Not you? Start over". A
// step-up of a session already signed in says "Signed in as" instead, and
// has nothing to start over.
func (p *Pages) header(r *http.Request, st *step) templates.Page {
	page := templates.Page{RequestID: web.RequestID(r.Context())}
	if st.pending.SessionID != "" {
		page.SignedInAs = st.user.Email
		return page
	}
	page.SigningInAs = st.user.Email
	page.ForApp = p.clientName(r.Context(), st.pending)
	page.StartOverURL = startOverURL(st.pending)
	return page
}

// clientName is the name of the app a pending request signs in to, or "".
func (p *Pages) clientName(ctx context.Context, pending *flow.Pending) string {
	if pending.ClientID == "" {
		return ""
	}
	c, err := p.Store.ClientByID(ctx, pending.ClientID)
	if err != nil {
		return ""
	}
	return c.Name
}

// startOverURL begins the same sign-in afresh, at the password page: the
// app's authorization request again (its parameters as stored, without
// secrets), or the account page.
func startOverURL(pending *flow.Pending) string {
	if pending.Kind() == flow.KindAuthorize {
		return flow.PathAuthorize + "?" + pending.Form().Encode()
	}
	return "/account"
}

// page writes a sign-in page with status.
func page(w http.ResponseWriter, status int) {
	web.PageHeaders(w, "")
	w.WriteHeader(status)
}
