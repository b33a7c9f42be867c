package signin

import (
	"net/http"
	"strings"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

func (p *Pages) showLogin(w http.ResponseWriter, r *http.Request) error {
	pending, err := p.load(r, flow.StageLogin)
	if err != nil {
		return err
	}
	return p.renderLogin(w, r, pending, pending.Form().Get("login_hint"), "", http.StatusOK)
}

func (p *Pages) renderLogin(w http.ResponseWriter, r *http.Request, pending *flow.Pending, email, msg string, status int) error {
	clientName := p.clientName(r.Context(), pending)
	passkey, err := p.passwordlessForm(r, pending)
	if err != nil {
		return err
	}
	pg := templates.LoginPage{
		Page:          templates.Page{Title: "Sign in", RequestID: web.RequestID(r.Context())},
		Action:        flow.PathLogin,
		AuthRequestID: pending.ID,
		Email:         web.Truncate(email, 320),
		ClientName:    clientName,
		Error:         msg,
		Passkey:       passkey,
	}
	if passkey != nil {
		pg.CSPNonce = web.ScriptPage(w, status)
	} else {
		page(w, status)
	}
	return p.Templates.Login(w, pg)
}

func (p *Pages) submitLogin(w http.ResponseWriter, r *http.Request) error {
	pending, err := p.load(r, flow.StageLogin)
	if err != nil {
		return err
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password")
	if email == "" || password == "" || len(email) > 320 || len(password) > secrets.MaxPasswordLength {
		return p.renderLogin(w, r, pending, email, "Enter your email and password.", http.StatusBadRequest)
	}
	user, tenant, refused, err := p.Credentials.SignIn(r, email, password)
	if err != nil {
		return err
	}
	if refused != nil {
		refused.Headers(w)
		return p.renderLogin(w, r, pending, email, refused.Msg, refused.Status)
	}
	p.Sessions.Audit(r, &store.AuditEvent{Event: audit.LoginPassword, TenantID: user.TenantID, ActorID: user.ID, SubjectID: user.ID})
	return p.afterPassword(w, r, &step{pending: pending, user: user, tenant: tenant})
}
