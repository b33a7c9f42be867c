package signin

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/credentials"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/templates"
)

// Passwordless sign-in: where some tenant allows it, the password page
// also offers "Sign in with a passkey" (and the browser's passkey
// autofill on the email field, conditional mediation). A discoverable
// passkey that verified its user (PIN or biometrics) is the whole
// sign-in: amr [hwk user mfa] (swk when synced), at the MFA level, which
// is also the phishing-resistant one.

const msgPasswordlessOff = "Your organisation does not allow signing in with a passkey alone. Enter your email and password."

// passwordlessForm is the passkey form of the password page, beginning
// (and storing in the pending request) a discoverable ceremony when there
// is none; nil when no tenant allows passwordless sign-in or passkeys are
// not available here.
func (p *Pages) passwordlessForm(r *http.Request, pending *flow.Pending) (*templates.WebAuthnForm, error) {
	if !p.Passkeys.Available() {
		return nil, nil
	}
	ctx := r.Context()
	any, err := p.Store.AnyPasswordless(ctx)
	if err != nil || !any {
		return nil, err
	}
	c, err := p.ceremony(ctx, pending, credentials.PurposePasswordless, p.Passkeys.BeginPasswordless)
	if err != nil {
		return nil, err
	}
	return &templates.WebAuthnForm{Action: flow.PathPasswordless, AuthRequestID: pending.ID,
		Options: template.JS(c.Options), Purpose: credentials.PurposePasswordless, Button: "Sign in with a passkey"}, nil
}

// submitPasswordless accepts a discoverable passkey on the password page.
// The ceremony is consumed first (one winner); the user must be enabled,
// in a tenant that allows passwordless sign-in and passkeys; the sign
// counter rule applies as for a second factor.
func (p *Pages) submitPasswordless(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	pending, err := p.load(r, flow.StageLogin)
	if err != nil {
		return err
	}
	c, ok := credentials.DecodeCeremony(pending.Ceremony, credentials.PurposePasswordless, time.Now())
	if !ok {
		return p.renderLogin(w, r, pending, "", credentials.MsgPasskeyFailed, http.StatusBadRequest)
	}
	var tenant *store.Tenant
	user, a, err := p.Passkeys.FinishPasswordless(c, r.PostForm.Get("credential"), func(id string) (*store.User, []store.WebAuthnCredential, error) {
		u, t, err := p.Store.UserAndTenantByID(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		if u.Disabled {
			return nil, nil, store.ErrNotFound
		}
		tenant = t
		creds, err := p.Store.WebAuthnCredentials(ctx, u.ID)
		return u, creds, err
	})
	if err == nil && a != nil {
		// The challenge is spent whatever happens next.
		if err = p.spendCeremony(ctx, pending); err != nil {
			return err
		}
		if !tenant.Passwordless || !tenant.AllowsWebAuthn() {
			return p.renderLogin(w, r, pending, user.Email, msgPasswordlessOff, http.StatusForbidden)
		}
		err = p.Store.UseWebAuthnCredential(ctx, user.ID, a.CredentialID, a.SignCount, a.BackupState)
	}
	if err != nil {
		if errors.Is(err, credentials.ErrNoPasskeys) {
			return err
		}
		if user != nil && tenant != nil {
			p.auditRefusedPasskey(r, &step{pending: pending, user: user, tenant: tenant}, a, err)
		}
		return p.renderLogin(w, r, pending, "", credentials.PasskeyMessage(err), http.StatusUnauthorized)
	}
	bs, err := p.Sessions.Start(w, r, user, tenant, claims.AMRPasswordless(a.BackupState), claims.ACRMFA)
	if err != nil {
		return err
	}
	if err := p.Flows.Advance(ctx, pending, flow.StageSignedIn, flow.User(user.ID), flow.Session(bs.ID)); err != nil {
		return err
	}
	p.Sessions.Audit(r, &store.AuditEvent{Event: audit.LoginPasskey, TenantID: user.TenantID, ActorID: user.ID, SubjectID: user.ID,
		Detail: auditDetail(map[string]string{"credential": a.CredentialID})})
	return p.continueFlow(w, r, pending)
}
