package idp

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/templates"
)

// OpenID Connect RP-Initiated Logout 1.0 (end_session_endpoint), and the
// one path every session ending in a request takes (endSessions).

const (
	pathLogoutConfirm = "/logout/confirm"
	stageLogout       = "logout" // a pending logout waiting for the user's confirmation
)

var errLogoutRedirect = &httpError{Code: http.StatusBadRequest, Heading: "This sign-out link is not valid",
	Msg: "The application asked to send you back to an address it has not registered, so you were not sent anywhere. You can close this window."}

var errLogoutHint = &httpError{Code: http.StatusBadRequest, Heading: "This sign-out link is not valid",
	Msg: "The sign-out request carried a token that was not issued by this provider. You are still signed in."}

// endSessions runs end (an EndSession-like store call), then wakes the
// back-channel logout worker so the relying apps hear of it at once.
func (s *Server) endSessions(r *http.Request, reason string, end func() ([]store.EndedSession, error)) ([]store.EndedSession, error) {
	ended, err := end()
	if err != nil {
		return nil, err
	}
	if len(ended) > 0 {
		s.logger(r.Context()).Info("sessions ended", "reason", reason, "count", len(ended))
		s.wakeLogouts()
	}
	return ended, nil
}

// wakeLogouts tells the back-channel logout worker there is work, without
// ever blocking the request.
func (s *Server) wakeLogouts() {
	select {
	case s.logoutWake <- struct{}{}:
	default:
	}
}

// forgetSession drops the session secret from the cookie (the browser
// binding stays, for pending requests).
func (s *Server) forgetSession(w http.ResponseWriter, r *http.Request) error {
	b := s.readBrowser(r)
	if b.SessionSecret == "" {
		return nil
	}
	b.SessionSecret = ""
	return s.writeBrowser(w, r, b)
}

// signedOut forgets the session in the cookie and shows the signed-out page.
func (s *Server) signedOut(w http.ResponseWriter, r *http.Request, returnURL string) error {
	if err := s.forgetSession(w, r); err != nil {
		return err
	}
	pageHeaders(w, "")
	return s.tpl.SignedOut(w, templates.SignedOutPage{
		Page:      templates.Page{RequestID: RequestID(r.Context())},
		ReturnURL: returnURL,
	})
}

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
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return badRequest("The sign-out request could not be read.")
	}
	if p := duplicateParam(r); p != "" {
		return badRequest("The parameter '" + p + "' was sent more than once.")
	}
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		params = r.PostForm
	}
	var hint *hintClaims
	if raw := params.Get("id_token_hint"); raw != "" {
		var ok bool
		if hint, ok = s.verifyIDTokenHint(raw); !ok {
			return errLogoutHint
		}
	}
	target, err := s.logoutTarget(r, params, hint)
	if err != nil {
		return err
	}
	si, err := s.currentSession(ctx, r)
	if err != nil {
		return err
	}
	if si == nil {
		// Nothing to end here: the user is already signed out.
		return s.finishLogout(w, r, target)
	}
	if hint != nil && hint.Sub == si.User.ID && (hint.Sid == "" || hint.Sid == si.Session.ID) {
		if err := s.logOut(r, si); err != nil {
			return err
		}
		return s.finishLogout(w, r, target)
	}
	return s.askLogout(w, r, target)
}

// logoutTarget validates client_id, the hint's audience and
// post_logout_redirect_uri together.
func (s *Server) logoutTarget(r *http.Request, params url.Values, hint *hintClaims) (logoutTarget, error) {
	t := logoutTarget{state: params.Get("state")}
	clientID := params.Get("client_id")
	if hint != nil {
		if clientID == "" && len(hint.Aud) == 1 {
			clientID = hint.Aud[0]
		} else if clientID != "" && !slices.Contains(hint.Aud, clientID) {
			return t, badRequest("The client_id does not match the id_token_hint.")
		}
	}
	if clientID != "" {
		c, err := s.store.ClientByID(r.Context(), clientID)
		if errors.Is(err, store.ErrNotFound) {
			return t, badRequest("The application that sent you here is not registered.")
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

func (s *Server) finishLogout(w http.ResponseWriter, r *http.Request, t logoutTarget) error {
	if to := t.url(); to != "" {
		if err := s.forgetSession(w, r); err != nil {
			return err
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	}
	return s.signedOut(w, r, "")
}

// askLogout keeps the validated target in a pending row bound to this
// browser and shows the confirmation.
func (s *Server) askLogout(w http.ResponseWriter, r *http.Request, t logoutTarget) error {
	bid, err := s.browserID(w, r)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	p := &store.AuthRequest{
		ID: randomToken(), BrowserID: bid, Stage: stageLogout,
		Form:      url.Values{"post_logout_redirect_uri": {t.redirectURI}, "state": {t.state}}.Encode(),
		CreatedAt: now, ExpiresAt: now.Add(pendingTTL),
	}
	name := ""
	if t.client != nil {
		p.ClientID, name = t.client.ID, t.client.Name
	}
	if err := s.store.CreateAuthRequest(r.Context(), p); err != nil {
		return err
	}
	pageHeaders(w, "")
	return s.tpl.LogoutConfirm(w, templates.LogoutConfirmPage{
		Page:            templates.Page{RequestID: RequestID(r.Context())},
		Action:          pathLogoutConfirm,
		LogoutRequestID: p.ID,
		ClientName:      name,
	})
}

// confirmLogout handles the user's answer.
func (s *Server) confirmLogout(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return badRequest("The form could not be read.")
	}
	p, err := s.pendingRequest(w, r, r.PostForm.Get("logout_request"))
	if err != nil {
		return err
	}
	if p.Stage != stageLogout {
		return errRequestExpired
	}
	if err := s.store.DeleteAuthRequest(ctx, p.ID); err != nil {
		return errRequestExpired
	}
	form, _ := url.ParseQuery(p.Form)
	t := logoutTarget{redirectURI: form.Get("post_logout_redirect_uri"), state: form.Get("state")}
	if r.PostForm.Get("decision") != "yes" {
		http.Redirect(w, r, pathAccount, http.StatusSeeOther)
		return nil
	}
	si, err := s.currentSession(ctx, r)
	if err != nil {
		return err
	}
	if si != nil {
		if err := s.logOut(r, si); err != nil {
			return err
		}
	}
	return s.finishLogout(w, r, t)
}

// logOut ends the browser's session at its user's request (the back-channel
// logouts it owes go out with it) and audits it.
func (s *Server) logOut(r *http.Request, si *signedIn) error {
	if _, err := s.endSessions(r, "logout", func() ([]store.EndedSession, error) {
		return s.store.EndSession(r.Context(), si.Session.ID, "logout")
	}); err != nil {
		return err
	}
	s.audit(r, &store.AuditEvent{Event: audit.Logout, TenantID: si.User.TenantID, ActorID: si.User.ID, SubjectID: si.User.ID})
	return nil
}
