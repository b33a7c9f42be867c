package idp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/templates"
)

// Stages of a pending authorization request (store.AuthRequest.Stage).
const (
	stageLogin     = "login"     // waiting for email + password
	stageConsent   = "consent"   // signed in, waiting for consent
	stageConsented = "consented" // consent given for this request
)

// pendingTTL bounds how long a user may take to sign in.
const pendingTTL = 30 * time.Minute

// registeredErrors are the error codes of RFC 6749, RFC 7009, RFC 7662,
// RFC 9126 and OpenID Connect Core. fosite has a few of its own (such as
// invalid_state); those go out as invalid_request.
var registeredErrors = map[string]bool{
	"invalid_request": true, "unauthorized_client": true, "access_denied": true,
	"unsupported_response_type": true, "invalid_scope": true, "server_error": true,
	"temporarily_unavailable": true, "invalid_client": true, "invalid_grant": true,
	"unsupported_grant_type": true, "interaction_required": true, "login_required": true,
	"account_selection_required": true, "consent_required": true, "invalid_request_uri": true,
	"invalid_request_object": true, "request_not_supported": true, "request_uri_not_supported": true,
	"registration_not_supported": true, "unsupported_token_type": true, "invalid_token": true,
	"insufficient_scope": true,
}

// oauthError normalises any error into a registered RFC 6749 error.
func oauthError(err error) *fosite.RFC6749Error {
	rfc := fosite.ErrorToRFC6749Error(err)
	if !registeredErrors[rfc.ErrorField] {
		c := *rfc
		c.ErrorField = fosite.ErrInvalidRequest.ErrorField
		c.CodeField = http.StatusBadRequest
		rfc = &c
	}
	return rfc
}

// authorizeFailure answers a failed authorization request: back to the
// client only when its redirect URI was validated, otherwise an HTML error
// page (never JSON to a browser, never an open redirect).
func (s *Server) authorizeFailure(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	rfc := oauthError(err)
	s.logger(r.Context()).Info("authorization refused", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField)
	if ar == nil || !ar.IsRedirectURIValid() {
		msg := rfc.GetDescription()
		if rfc.ErrorField == "invalid_client" || rfc.ErrorField == "invalid_request" && strings.Contains(rfc.HintField, "redirect_uri") {
			msg = "The application that sent you here is not registered for this address, so you cannot be sent back to it. Contact the application's owner."
		}
		s.renderError(w, r, &httpError{Code: http.StatusBadRequest, Heading: "This sign-in link is not valid", Msg: msg, Err: err})
		return
	}
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		params := url.Values{"error": {rfc.ErrorField}, "error_description": {rfc.GetDescription()}}
		if st := ar.GetState(); st != "" {
			params.Set("state", st)
		}
		s.renderFormPost(w, r, ar.GetRedirectURI().String(), params)
		return
	}
	s.oauth.WriteAuthorizeError(r.Context(), w, ar, rfc)
}

// handleAuthorize is the authorization endpoint (GET and form POST).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.authorizeFailure(w, r, nil, fosite.ErrInvalidRequest.WithHint("The request could not be parsed."))
		return
	}
	raw := r.URL.Query()
	if r.Method == http.MethodPost {
		raw = r.PostForm
	}
	// A client or redirect given twice cannot be trusted even for an error
	// redirect.
	if len(raw["client_id"]) > 1 || len(raw["redirect_uri"]) > 1 {
		s.authorizeFailure(w, r, nil, fosite.ErrInvalidRequest.WithHint("A parameter was sent more than once."))
		return
	}
	// Request objects are refused, but only after fosite has validated the
	// client and redirect URI, so the refusal can go back to the client.
	unsupported := error(nil)
	if raw.Get("request") != "" {
		unsupported = fosite.ErrRequestNotSupported.WithHint("Request objects are not supported; send the parameters directly.")
	} else if uri := raw.Get("request_uri"); uri != "" && !strings.HasPrefix(uri, parURIPrefix) {
		unsupported = fosite.ErrRequestURINotSupported.WithHint("Only request_uri values from the pushed authorization request endpoint are supported.")
	}
	if unsupported != nil {
		r.Form.Del("request")
		r.Form.Del("request_uri")
	}
	ar, err := s.oauth.NewAuthorizeRequest(ctx, r)
	if err == nil {
		err = unsupported
	}
	if err != nil {
		s.authorizeFailure(w, r, ar, err)
		return
	}
	if err := s.checkAuthorizeRequest(ar, raw); err != nil {
		s.authorizeFailure(w, r, ar, err)
		return
	}
	s.decide(w, r, ar, nil)
}

// checkAuthorizeRequest adds what fosite leaves to us: RFC 6749 §3.1
// duplicates, request objects refused explicitly, the openid scope, and
// PKCE for clients that require it.
func (s *Server) checkAuthorizeRequest(ar fosite.AuthorizeRequester, raw url.Values) error {
	for k, v := range raw {
		if len(v) > 1 {
			return fosite.ErrInvalidRequest.WithHintf("The parameter '%s' was sent more than once.", k)
		}
	}
	form := ar.GetRequestForm()
	if form.Get("request") != "" {
		return fosite.ErrRequestNotSupported.WithHint("Request objects are not supported; send the parameters directly.")
	}
	if !ar.GetRequestedScopes().Has(ScopeOpenID) {
		return fosite.ErrInvalidScope.WithHint("The 'openid' scope is required.")
	}
	client := ar.GetClient().(*store.Client)
	if client.RequirePKCE && form.Get("code_challenge") == "" {
		return fosite.ErrInvalidRequest.WithHint("This client must use PKCE: send code_challenge with code_challenge_method=S256.")
	}
	if m := form.Get("code_challenge_method"); form.Get("code_challenge") != "" && m != "S256" {
		return fosite.ErrInvalidRequest.WithHint("Only the S256 code_challenge_method is supported.")
	}
	prompts := strings.Fields(form.Get("prompt"))
	for _, p := range prompts {
		if p != "none" && p != "login" && p != "consent" {
			return fosite.ErrInvalidRequest.WithHintf("Unsupported prompt value '%s'.", p)
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values.")
	}
	if _, err := parseClaimsParam(form.Get("claims")); err != nil {
		return fosite.ErrInvalidRequest.WithHint("The 'claims' parameter is not valid JSON of the OpenID Connect claims request form.")
	}
	if v := form.Get("max_age"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer.")
		}
	}
	return nil
}

// resumeAuthorize continues a pending request after a sign-in step.
func (s *Server) resumeAuthorize(w http.ResponseWriter, r *http.Request) error {
	pending, err := s.pendingRequest(w, r, r.URL.Query().Get("auth_request"))
	if err != nil {
		return err
	}
	ar, err := s.replay(r.Context(), pending)
	if err != nil {
		s.authorizeFailure(w, r, ar, err)
		return nil
	}
	s.decide(w, r, ar, pending)
	return nil
}

// replay parses a stored request again; fosite validates it afresh (client
// still exists, redirect still registered), and the original request time
// is kept so prompt and max_age are judged against it.
func (s *Server) replay(ctx context.Context, pending *store.AuthRequest) (fosite.AuthorizeRequester, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.issuer+pathAuthorize+"?"+pending.Form, nil)
	if err != nil {
		return nil, err
	}
	ar, err := s.oauth.NewAuthorizeRequest(ctx, req)
	if err != nil {
		return ar, err
	}
	if far, ok := ar.(*fosite.AuthorizeRequest); ok {
		far.RequestedAt = pending.CreatedAt
	}
	return ar, nil
}

// pendingRequest loads the pending request id for this browser.
func (s *Server) pendingRequest(w http.ResponseWriter, r *http.Request, id string) (*store.AuthRequest, error) {
	if id == "" || len(id) > 100 {
		return nil, errRequestExpired
	}
	b := s.readBrowser(r)
	if b.ID == "" {
		return nil, errRequestExpired
	}
	pending, err := s.store.AuthRequestFor(r.Context(), id, hashToken(b.ID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errRequestExpired
	}
	return pending, err
}

// decide is the one place that decides what an authorization request needs
// next: a sign-in, a consent, or the code. It runs for a fresh request and
// again after every completed step.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, pending *store.AuthRequest) {
	ctx := r.Context()
	form := ar.GetRequestForm()
	prompts := strings.Fields(form.Get("prompt"))
	promptNone := slices.Contains(prompts, "none")
	client := ar.GetClient().(*store.Client)

	si, err := s.currentSession(ctx, r)
	if err != nil {
		s.authorizeFailure(w, r, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	// Was the session created for this very request?
	fresh := si != nil && pending != nil && pending.SessionID == si.Session.ID

	needLogin := si == nil
	if si != nil && !fresh {
		if slices.Contains(prompts, "login") {
			needLogin = true
		}
		if v := form.Get("max_age"); v != "" {
			maxAge, _ := strconv.Atoi(v)
			if s.now().Sub(si.Session.AuthTime) > time.Duration(maxAge)*time.Second {
				needLogin = true
			}
		}
		if hint := form.Get("id_token_hint"); hint != "" {
			if hc, ok := s.verifyIDTokenHint(hint); !ok {
				s.authorizeFailure(w, r, ar, fosite.ErrInvalidRequest.WithHint("The id_token_hint was not issued by this provider."))
				return
			} else if hc.Sub != si.User.ID {
				needLogin = true
			}
		}
	}
	if needLogin {
		if promptNone {
			s.authorizeFailure(w, r, ar, fosite.ErrLoginRequired)
			return
		}
		s.toStep(w, r, ar, pending, stageLogin, "/login", nil)
		return
	}
	user := si.User
	if !client.AllowsTenant(user.TenantID) {
		s.authorizeFailure(w, r, ar, fosite.ErrAccessDenied.WithHint("This application is not available to your organisation."))
		return
	}
	tenant, err := s.store.TenantByID(ctx, user.TenantID)
	if err != nil {
		s.authorizeFailure(w, r, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	// Step-up: the relying app asked for the MFA level and this session
	// has only a password. The tenant's own policy is applied when a
	// session is created (afterPassword), so sessions that existed before
	// an admin required two factors run to their end unless the admin
	// cleared them.
	if wantsMFA(form) && si.Session.ACR != ACRMFA {
		if promptNone {
			s.authorizeFailure(w, r, ar, fosite.ErrInteractionRequired.WithHint("The session has not passed the second factor the application asked for."))
			return
		}
		has, err := s.store.HasActiveAuthenticator(ctx, user.ID)
		if err != nil {
			s.authorizeFailure(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
		stage, path := stageEnroll, pathEnroll
		if has {
			stage, path = stageTOTP, pathCode
		}
		s.toStep(w, r, ar, pending, stage, path, map[string]any{"user_id": user.ID, "session_id": si.Session.ID})
		return
	}

	consented := pending != nil && pending.Stage == stageConsented
	if !client.SkipConsent && !consented {
		needConsent := slices.Contains(prompts, "consent")
		if !needConsent {
			have, err := s.store.ConsentedScopes(ctx, user.ID, client.ID)
			if err != nil {
				s.authorizeFailure(w, r, ar, fosite.ErrServerError.WithWrap(err))
				return
			}
			for _, sc := range ar.GetRequestedScopes() {
				if !slices.Contains(have, sc) {
					needConsent = true
				}
			}
		}
		if needConsent {
			if promptNone {
				s.authorizeFailure(w, r, ar, fosite.ErrConsentRequired)
				return
			}
			s.toStep(w, r, ar, pending, stageConsent, "/consent", nil)
			return
		}
	}
	s.issueCode(w, r, ar, pending, si, tenant)
}

// toStep stores (or moves) the pending request, setting the columns in
// set, and sends the browser to the page of the next step.
func (s *Server) toStep(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, pending *store.AuthRequest, stage, path string, set map[string]any) {
	ctx := r.Context()
	if pending == nil {
		bid, err := s.browserID(w, r)
		if err != nil {
			s.authorizeFailure(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
		form := ar.GetRequestForm()
		clean := url.Values{}
		for k, v := range form {
			switch k {
			case "request_uri", "client_secret", "client_assertion", "client_assertion_type":
			default:
				clean[k] = v
			}
		}
		clean.Set("client_id", ar.GetClient().GetID())
		now := s.now().UTC()
		pending = &store.AuthRequest{
			ID: randomToken(), BrowserID: bid, ClientID: ar.GetClient().GetID(),
			Form: clean.Encode(), Stage: stage, CreatedAt: ar.GetRequestedAt().UTC(), ExpiresAt: now.Add(pendingTTL),
		}
		if pending.CreatedAt.IsZero() {
			pending.CreatedAt = now
		}
		pending.UserID, _ = set["user_id"].(string)
		pending.SessionID, _ = set["session_id"].(string)
		if err := s.store.CreateAuthRequest(ctx, pending); err != nil {
			s.authorizeFailure(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
	} else if pending.Stage != stage || len(set) > 0 {
		if err := s.advance(w, r, pending, stage, path, set); err != nil {
			s.renderError(w, r, err)
		}
		return
	}
	http.Redirect(w, r, path+"?auth_request="+url.QueryEscape(pending.ID), http.StatusSeeOther)
}

// issueCode finishes the request: the pending request is consumed (once),
// scopes are granted, and fosite mints the code.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, pending *store.AuthRequest, si *signedIn, tenant *store.Tenant) {
	ctx := r.Context()
	if pending != nil {
		if err := s.store.DeleteAuthRequest(ctx, pending.ID); err != nil {
			s.renderError(w, r, errRequestExpired)
			return
		}
	}
	for _, sc := range ar.GetRequestedScopes() {
		// The admin scope is granted to tenant admins only; anyone else
		// gets the rest (RFC 6749 §3.3 lets the server grant less).
		if sc == ScopeAdmin && !si.User.IsAdmin() {
			continue
		}
		ar.GrantScope(sc)
	}
	claimsReq, _ := parseClaimsParam(ar.GetRequestForm().Get("claims"))
	session := s.userSession(si, tenant, ar.GetGrantedScopes(), claimsReq, ar.GetRequestedAt())
	resp, err := s.oauth.NewAuthorizeResponse(ctx, ar, session)
	if err != nil {
		s.authorizeFailure(w, r, ar, err)
		return
	}
	if err := s.store.RecordSessionClient(ctx, si.Session.ID, ar.GetClient().GetID()); err != nil {
		s.logger(ctx).Warn("record session client", "err", err)
	}
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		s.renderFormPost(w, r, ar.GetRedirectURI().String(), resp.GetParameters())
		return
	}
	s.oauth.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// userSession builds the one session type for a user's tokens: ID token
// claims by scope and by the claims parameter, and the browser session the
// tokens hang off.
func (s *Server) userSession(si *signedIn, tenant *store.Tenant, scopes fosite.Arguments, cr *claimsRequest, requestedAt time.Time) *store.Session {
	u, bs := si.User, si.Session
	sess := store.NewSession()
	sess.Subject = u.ID
	sess.SessionID = bs.ID
	sess.TenantID = u.TenantID
	c := sess.Claims
	c.Issuer = s.issuer
	c.Subject = u.ID
	c.AuthTime = bs.AuthTime.UTC().Truncate(time.Second)
	// Both whole seconds, as the ID token carries them: fosite compares
	// them for prompt=login and prompt=none.
	c.RequestedAt = requestedAt.UTC().Truncate(time.Second)
	c.AuthenticationMethodsReferences = append([]string(nil), bs.AMR...)
	c.AuthenticationContextClassReference = bs.ACR
	c.Extra["sid"] = bs.ID
	c.Extra["tenant"] = tenant.Slug
	idClaims := scopeClaims(scopes)
	if cr != nil {
		idClaims = append(idClaims, cr.IDToken...)
		sess.UserinfoClaims = cr.Userinfo
	}
	for k, v := range userClaims(u, idClaims) {
		c.Extra[k] = v
	}
	return sess
}

// scopeClaims maps scopes to the claims they release (OIDC Core §5.4).
func scopeClaims(scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		switch sc {
		case ScopeEmail:
			out = append(out, "email", "email_verified")
		case ScopeProfile:
			out = append(out, "name", "preferred_username")
		}
	}
	return out
}

// userClaims returns the named claims Portcullis has for u. Emails are
// entered by tenant admins or operators, so they count as verified.
func userClaims(u *store.User, names []string) map[string]any {
	out := map[string]any{}
	for _, n := range names {
		switch n {
		case "email":
			out["email"] = u.Email
		case "email_verified":
			out["email_verified"] = true
		case "name":
			if u.Name != "" {
				out["name"] = u.Name
			}
		case "preferred_username":
			out["preferred_username"] = u.Email
		}
	}
	return out
}

// claimsRequest is the parsed `claims` parameter: which claims the client
// asked for by name, for the ID token and for userinfo.
type claimsRequest struct {
	IDToken  []string
	Userinfo []string
	// ACR holds the acr values asked for (voluntary or essential).
	ACR       []string
	ACRStrict bool
}

func parseClaimsParam(raw string) (*claimsRequest, error) {
	if raw == "" {
		return nil, nil
	}
	type member struct {
		Essential bool     `json:"essential"`
		Value     string   `json:"value"`
		Values    []string `json:"values"`
	}
	var doc struct {
		IDToken  map[string]*member `json:"id_token"`
		Userinfo map[string]*member `json:"userinfo"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		return nil, err
	}
	cr := &claimsRequest{}
	for name, m := range doc.IDToken {
		cr.IDToken = append(cr.IDToken, name)
		if name == "acr" && m != nil {
			if m.Value != "" {
				cr.ACR = append(cr.ACR, m.Value)
			}
			cr.ACR = append(cr.ACR, m.Values...)
			cr.ACRStrict = m.Essential
		}
	}
	for name := range doc.Userinfo {
		cr.Userinfo = append(cr.Userinfo, name)
	}
	slices.Sort(cr.IDToken)
	slices.Sort(cr.Userinfo)
	return cr, nil
}

// renderFormPost answers with an auto-submitting form (response_mode=form_post).
func (s *Server) renderFormPost(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	nonce := randomToken()[:22]
	pageHeaders(w, nonce)
	// The form goes to the client's redirect URI.
	w.Header().Set("Content-Security-Policy", w.Header().Get("Content-Security-Policy")+"; form-action "+originOf(redirectURI))
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ps []templates.Param
	for _, k := range keys {
		for _, v := range params[k] {
			ps = append(ps, templates.Param{Name: k, Value: v})
		}
	}
	_ = s.tpl.FormPost(w, templates.FormPostPage{
		Page:        templates.Page{Title: "Continue", RequestID: RequestID(r.Context()), CSPNonce: nonce},
		RedirectURI: redirectURI,
		Params:      ps,
	})
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "'none'"
	}
	if u.Host == "" {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}
