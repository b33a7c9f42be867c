// Package logout is OpenID Connect RP-Initiated Logout 1.0 (the
// end_session_endpoint, with its confirmation page) and the back-channel
// logout worker that tells relying apps when their sessions end
// (backchannel.go).
package logout

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/signin"
	"github.com/portcullis-idp/portcullis/idp/signing"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

const (
	pathEndSession    = "/logout"
	pathLogoutConfirm = "/logout/confirm"
)

// Logout serves the end_session_endpoint and its confirmation.
type Logout struct {
	Store interface {
		ClientByID(ctx context.Context, id string) (*store.Client, error)
		EndSession(ctx context.Context, id, reason string) ([]store.EndedSession, error)
	}
	Flows     *flow.Flows
	Sessions  *browser.Sessions
	Gate      *signin.Gate
	Keys      *signing.Keys
	Templates *templates.Templates
	Issuer    string
}

// Mount adds RP-initiated logout to the route table. The relying app's
// GET or cross-site POST is the protocol, so it is not origin-checked;
// the confirmation form is.
func (l *Logout) Mount(rt *web.Router) {
	rt.Page("GET "+pathEndSession, l.handleEndSession)
	rt.Page("POST "+pathEndSession, l.handleEndSession)
	rt.Form("POST "+pathLogoutConfirm, l.confirmLogout)
}

var errLogoutRedirect = &web.Error{Code: http.StatusBadRequest, Heading: "This sign-out link is not valid",
	Msg: "The application asked to send you back to an address it has not registered, so you were not sent anywhere. You can close this window."}

var errLogoutHint = &web.Error{Code: http.StatusBadRequest, Heading: "This sign-out link is not valid",
	Msg: "The sign-out request carried a token that was not issued by this provider. You are still signed in."}

// logoutTarget is where a validated logout request returns to.
type logoutTarget struct {
	client      *store.Client // nil when the request named none
	redirectURI string        // registered post_logout_redirect_uri, or ""
	state       string
}

func (t logoutTarget) url() string {
	if t.redirectURI == "" {
		return ""
	}
	if t.state == "" {
		return t.redirectURI
	}
	u, _ := url.Parse(t.redirectURI)
	q := u.Query()
	q.Set("state", t.state)
	u.RawQuery = q.Encode()
	return u.String()
}

// handleEndSession is the end_session_endpoint (GET and POST). A valid
// id_token_hint for the browser's own session signs out at once; anything
// less asks the user first. A post_logout_redirect_uri is followed only
// when it is registered, exactly, for the client the request names.
func (l *Logout) handleEndSession(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return web.BadRequest("The sign-out request could not be read.")
	}
	if p := web.DuplicateParam(r); p != "" {
		return web.BadRequest("The parameter '" + p + "' was sent more than once.")
	}
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		params = r.PostForm
	}
	var hint *signing.HintClaims
	if raw := params.Get("id_token_hint"); raw != "" {
		var ok bool
		if hint, ok = l.Keys.VerifyHint(raw, l.Issuer); !ok {
			return errLogoutHint
		}
	}
	target, err := l.logoutTarget(r, params, hint)
	if err != nil {
		return err
	}
	si, err := l.Sessions.Current(r)
	if err != nil {
		return err
	}
	if si == nil {
		// Nothing to end here: the user is already signed out.
		return l.finishLogout(w, r, target)
	}
	if hint != nil && hint.Sub == si.User.ID && (hint.Sid == "" || hint.Sid == si.Session.ID) {
		if err := l.logOut(r, si); err != nil {
			return err
		}
		return l.finishLogout(w, r, target)
	}
	return l.askLogout(w, r, target)
}

// logoutTarget validates client_id, the hint's audience and
// post_logout_redirect_uri together.
func (l *Logout) logoutTarget(r *http.Request, params url.Values, hint *signing.HintClaims) (logoutTarget, error) {
	t := logoutTarget{state: params.Get("state")}
	clientID := params.Get("client_id")
	if hint != nil {
		if clientID == "" && len(hint.Aud) == 1 {
			clientID = hint.Aud[0]
		} else if clientID != "" && !slices.Contains(hint.Aud, clientID) {
			return t, web.BadRequest("The client_id does not match the id_token_hint.")
		}
	}
	if clientID != "" {
		c, err := l.Store.ClientByID(r.Context(), clientID)
		if errors.Is(err, store.ErrNotFound) {
			return t, web.BadRequest("The application that sent you here is not registered.")
		}
		if err != nil {
			return t, err
		}
		t.client = c
	}
	if uri := params.Get("post_logout_redirect_uri"); uri != "" {
		if t.client == nil || !t.client.HasPostLogoutRedirectURI(uri) {
			return t, errLogoutRedirect
		}
		t.redirectURI = uri
	}
	return t, nil
}

func (l *Logout) finishLogout(w http.ResponseWriter, r *http.Request, t logoutTarget) error {
	if to := t.url(); to != "" {
		if err := l.Sessions.Forget(w, r); err != nil {
			return err
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	}
	return l.Gate.SignedOut(w, r, "")
}

// askLogout keeps the validated target in a pending row bound to this
// browser and shows the confirmation.
func (l *Logout) askLogout(w http.ResponseWriter, r *http.Request, t logoutTarget) error {
	bid, err := l.Sessions.Binding(w, r)
	if err != nil {
		return err
	}
	start := flow.Start{
		Kind: flow.KindLogout, Stage: flow.StageLogout, BrowserID: bid,
		Form: url.Values{"post_logout_redirect_uri": {t.redirectURI}, "state": {t.state}},
	}
	name := ""
	if t.client != nil {
		start.ClientID, name = t.client.ID, t.client.Name
	}
	p, err := l.Flows.Start(r.Context(), start)
	if err != nil {
		return err
	}
	web.PageHeaders(w, "")
	return l.Templates.LogoutConfirm(w, templates.LogoutConfirmPage{
		Page:            templates.Page{RequestID: web.RequestID(r.Context())},
		Action:          pathLogoutConfirm,
		LogoutRequestID: p.ID,
		ClientName:      name,
	})
}

// confirmLogout handles the user's answer.
func (l *Logout) confirmLogout(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return web.BadRequest("The form could not be read.")
	}
	p, err := l.Flows.Load(ctx, r.PostForm.Get("logout_request"), l.Sessions.BoundTo(r), flow.StageLogout)
	if err != nil {
		return err
	}
	if err := l.Flows.Finish(ctx, p); err != nil {
		return err
	}
	t := logoutTarget{redirectURI: p.Form().Get("post_logout_redirect_uri"), state: p.Form().Get("state")}
	if r.PostForm.Get("decision") != "yes" {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return nil
	}
	si, err := l.Sessions.Current(r)
	if err != nil {
		return err
	}
	if si != nil {
		if err := l.logOut(r, si); err != nil {
			return err
		}
	}
	return l.finishLogout(w, r, t)
}

// logOut ends the browser's session at its user's request (the back-channel
// logouts it owes go out with it) and audits it.
func (l *Logout) logOut(r *http.Request, si *browser.SignedIn) error {
	ended, err := l.Sessions.End(r, "logout", func() ([]store.EndedSession, error) {
		return l.Store.EndSession(r.Context(), si.Session.ID, "logout")
	})
	if err != nil {
		return err
	}
	if len(ended) > 0 {
		l.Sessions.Audit(r, &store.AuditEvent{Event: audit.Logout, TenantID: si.User.TenantID, ActorID: si.User.ID, SubjectID: si.User.ID,
			Detail: `{"via":"logout endpoint","current":true}`})
	}
	return nil
}
