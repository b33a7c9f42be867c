package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// handleAuthorize is the authorization endpoint (GET and form POST).
func (e *Endpoints) handleAuthorize(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return refuse(nil, fosite.ErrInvalidRequest.WithHint("The request could not be parsed."))
	}
	raw := r.URL.Query()
	if r.Method == http.MethodPost {
		raw = r.PostForm
	}
	// A client or redirect given twice cannot be trusted even for an error
	// redirect.
	if len(raw["client_id"]) > 1 || len(raw["redirect_uri"]) > 1 {
		return refuse(nil, fosite.ErrInvalidRequest.WithHint("A parameter was sent more than once."))
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
	ar, err := e.Provider.NewAuthorizeRequest(r.Context(), r)
	if err == nil {
		err = unsupported
	}
	if err != nil {
		return refuse(ar, err)
	}
	cr, err := checkAuthorizeRequest(ar, raw)
	if err != nil {
		return refuse(ar, err)
	}
	return e.decide(w, r, &authorization{ar: ar, claims: cr})
}

// authorization is an authorization request being decided, with what was
// parsed of it, and the pending request it resumes (nil for a new one).
type authorization struct {
	ar      fosite.AuthorizeRequester
	claims  *claims.Request
	pending *flow.Pending
}

// codeChallengeForm is RFC 7636 §4.2's code_challenge: 43 to 128
// unreserved characters (an S256 challenge is 43).
var codeChallengeForm = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// checkAuthorizeRequest adds what fosite leaves to us: RFC 6749 §3.1
// duplicates, request objects refused explicitly, the openid scope, and
// PKCE for clients that require it. It returns the parsed claims
// parameter.
func checkAuthorizeRequest(ar fosite.AuthorizeRequester, raw url.Values) (*claims.Request, error) {
	for k, v := range raw {
		if len(v) > 1 {
			return nil, fosite.ErrInvalidRequest.WithHintf("The parameter '%s' was sent more than once.", k)
		}
	}
	form := ar.GetRequestForm()
	if form.Get("request") != "" {
		return nil, fosite.ErrRequestNotSupported.WithHint("Request objects are not supported; send the parameters directly.")
	}
	if !ar.GetRequestedScopes().Has(claims.ScopeOpenID) {
		return nil, fosite.ErrInvalidScope.WithHint("The 'openid' scope is required.")
	}
	client := ar.GetClient().(*store.Client)
	if client.RequirePKCE && form.Get("code_challenge") == "" {
		return nil, fosite.ErrInvalidRequest.WithHint("This client must use PKCE: send code_challenge with code_challenge_method=S256.")
	}
	if m := form.Get("code_challenge_method"); form.Get("code_challenge") != "" && m != "S256" {
		return nil, fosite.ErrInvalidRequest.WithHint("Only the S256 code_challenge_method is supported.")
	}
	if cc := form.Get("code_challenge"); cc != "" && !codeChallengeForm.MatchString(cc) {
		return nil, fosite.ErrInvalidRequest.WithHint("code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636 section 4.2).")
	}
	// fosite splits response_type on spaces and drops empty values, so
	// "code " passed; RFC 6749 registers exactly "code".
	if form.Get("response_type") != "code" {
		return nil, fosite.ErrUnsupportedResponseType.WithHint("Only response_type=code is supported.")
	}
	prompts := strings.Fields(form.Get("prompt"))
	for _, p := range prompts {
		if p != "none" && p != "login" && p != "consent" {
			return nil, fosite.ErrInvalidRequest.WithHintf("Unsupported prompt value '%s'.", p)
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return nil, fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values.")
	}
	cr, err := claims.ParseRequest(form.Get("claims"))
	if err != nil {
		return nil, fosite.ErrInvalidRequest.WithHint("The 'claims' parameter is not valid JSON of the OpenID Connect claims request form.")
	}
	if v := form.Get("max_age"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return nil, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer.")
		}
	}
	return cr, nil
}

// resumeAuthorize continues a pending request once the user is signed in.
func (e *Endpoints) resumeAuthorize(w http.ResponseWriter, r *http.Request) error {
	pending, err := e.Flows.Load(r.Context(), r.URL.Query().Get("auth_request"), e.Sessions.BoundTo(r),
		flow.StageSignedIn, flow.StageConsented)
	if err != nil {
		return err
	}
	az, err := e.replay(r.Context(), pending)
	if err != nil {
		return err
	}
	return e.decide(w, r, az)
}

// replay parses a stored request again; fosite validates it afresh (client
// still exists, redirect still registered), and the original request time
// is kept so prompt and max_age are judged against it.
func (e *Endpoints) replay(ctx context.Context, pending *flow.Pending) (*authorization, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.Issuer+flow.PathAuthorize+"?"+pending.AuthRequest.Form, nil)
	if err != nil {
		return nil, err
	}
	ar, err := e.Provider.NewAuthorizeRequest(ctx, req)
	if err != nil {
		return nil, refuse(ar, err)
	}
	if far, ok := ar.(*fosite.AuthorizeRequest); ok {
		far.RequestedAt = pending.CreatedAt
	}
	cr, _ := claims.ParseRequest(pending.Form().Get("claims")) // checked when the request came in
	return &authorization{ar: ar, claims: cr, pending: pending}, nil
}

// decide is the one place that decides what an authorization request needs
// next (flow.NextFactor): a sign-in, a second factor, a consent, or the
// code. It runs for a fresh request and again after every completed step.
func (e *Endpoints) decide(w http.ResponseWriter, r *http.Request, az *authorization) error {
	ctx := r.Context()
	ar, pending := az.ar, az.pending
	form := ar.GetRequestForm()
	prompts := strings.Fields(form.Get("prompt"))
	promptNone := slices.Contains(prompts, "none")
	client := ar.GetClient().(*store.Client)

	si, err := e.Sessions.Current(r)
	if err != nil {
		return refuse(ar, fosite.ErrServerError.WithWrap(err))
	}
	level, err := e.level(si, az)
	if err != nil {
		return err
	}
	if level != flow.LevelNone && !client.AllowsTenant(si.User.TenantID) {
		return refuse(ar, fosite.ErrAccessDenied.WithHint("This application is not available to your organisation."))
	}
	consented := pending != nil && pending.Stage() == flow.StageConsented
	next, err := flow.NextFactor(ctx, flow.Facts{
		Level: level,
		// The tenant's own policy is applied when a session is created
		// (at a fresh password), so sessions that existed before an admin
		// required two factors run to their end unless the admin cleared
		// them.
		AppWantsMFA:               claims.WantsMFA(form, az.claims),
		AppWantsPhishingResistant: claims.WantsPhishingResistant(form, az.claims),
		HasAuthenticator: func(ctx context.Context) (bool, error) {
			return e.Store.HasActiveAuthenticator(ctx, si.User.ID)
		},
		ConsentNeeded: func(ctx context.Context) (bool, error) {
			if client.SkipConsent || consented {
				return false, nil
			}
			if slices.Contains(prompts, "consent") {
				return true, nil
			}
			have, err := e.Store.ConsentedScopes(ctx, si.User.ID, client.ID)
			if err != nil {
				return false, err
			}
			for _, sc := range ar.GetRequestedScopes() {
				if !slices.Contains(have, sc) {
					return true, nil
				}
			}
			return false, nil
		},
	})
	if err != nil {
		return refuse(ar, fosite.ErrServerError.WithWrap(err))
	}
	switch next {
	case flow.StepPassword:
		if promptNone {
			return refuse(ar, fosite.ErrLoginRequired)
		}
		return e.toStep(w, r, az, next, nil)
	case flow.StepCode, flow.StepEnroll:
		// Step-up: the relying app asked for the MFA level and this
		// session has only a password.
		if promptNone {
			return refuse(ar, fosite.ErrInteractionRequired.WithHint("The session has not passed the second factor the application asked for."))
		}
		return e.toStep(w, r, az, next, si)
	case flow.StepConsent:
		if promptNone {
			return refuse(ar, fosite.ErrConsentRequired)
		}
		return e.toStep(w, r, az, next, nil)
	}
	return e.issueCode(w, r, az, si)
}

// level is how well the browser's session si serves this request:
// none when there is no session, or when the app asks for a new sign-in
// (prompt=login, max_age passed, a hint for someone else) and the session
// was not made for this very request.
func (e *Endpoints) level(si *browser.SignedIn, az *authorization) (flow.Level, error) {
	if si == nil {
		return flow.LevelNone, nil
	}
	form := az.ar.GetRequestForm()
	fresh := az.pending != nil && az.pending.SessionID == si.Session.ID
	if !fresh {
		// A hint we did not issue is refused whatever else the request
		// says, before anyone is asked to sign in.
		again := false
		if hint := form.Get("id_token_hint"); hint != "" {
			hc, ok := e.Keys.VerifyHint(hint, e.Issuer)
			if !ok {
				return 0, refuse(az.ar, fosite.ErrInvalidRequest.WithHint("The id_token_hint was not issued by this provider."))
			}
			again = hc.Sub != si.User.ID
		}
		if slices.Contains(strings.Fields(form.Get("prompt")), "login") {
			again = true
		}
		if v := form.Get("max_age"); v != "" {
			maxAge, _ := strconv.Atoi(v)
			if e.Now().Sub(si.Session.AuthTime) > time.Duration(maxAge)*time.Second {
				again = true
			}
		}
		if again {
			return flow.LevelNone, nil
		}
	}
	switch {
	case si.Session.ACR == claims.ACRMFA && claims.PhishingResistant(si.Session.AMR):
		return flow.LevelPhishingResistant, nil
	case si.Session.ACR == claims.ACRMFA:
		return flow.LevelMFA, nil
	}
	return flow.LevelPassword, nil
}

// toStep stores (or moves) the pending request to the stage of step next
// and sends the browser to its page. stepUp is the session a second factor
// will upgrade, or nil.
func (e *Endpoints) toStep(w http.ResponseWriter, r *http.Request, az *authorization, next flow.Step, stepUp *browser.SignedIn) error {
	ctx := r.Context()
	ar, pending := az.ar, az.pending
	if pending == nil {
		bid, err := e.Sessions.Binding(w, r)
		if err != nil {
			return refuse(ar, fosite.ErrServerError.WithWrap(err))
		}
		clean := url.Values{}
		for k, v := range ar.GetRequestForm() {
			switch k {
			case "request_uri", "client_secret", "client_assertion", "client_assertion_type":
			default:
				clean[k] = v
			}
		}
		clean.Set("client_id", ar.GetClient().GetID())
		start := flow.Start{
			Kind: flow.KindAuthorize, Stage: next.Stage(), BrowserID: bid, ClientID: ar.GetClient().GetID(),
			Form: clean, RequestedAt: ar.GetRequestedAt(),
		}
		if stepUp != nil {
			start.UserID, start.SessionID = stepUp.User.ID, stepUp.Session.ID
		}
		if pending, err = e.Flows.Start(ctx, start); err != nil {
			if _, tooMany := errors.AsType[*flow.TooManyError](err); tooMany {
				return err // the 429 page: the browser, not the app, is told to slow down
			}
			return refuse(ar, fosite.ErrServerError.WithWrap(err))
		}
	} else if stepUp != nil {
		if err := e.Flows.Advance(ctx, pending, next.Stage(), flow.User(stepUp.User.ID), flow.Session(stepUp.Session.ID)); err != nil {
			return err
		}
	} else if pending.Stage() != next.Stage() {
		if err := e.Flows.Advance(ctx, pending, next.Stage()); err != nil {
			return err
		}
	}
	http.Redirect(w, r, flow.PageURL(next.Path(), pending.ID), http.StatusSeeOther)
	return nil
}

// issueCode finishes the request: the pending request is consumed (once),
// scopes are granted, and fosite mints the code.
func (e *Endpoints) issueCode(w http.ResponseWriter, r *http.Request, az *authorization, si *browser.SignedIn) error {
	ctx := r.Context()
	ar := az.ar
	if az.pending != nil {
		if err := e.Flows.Finish(ctx, az.pending); err != nil {
			return err
		}
	}
	for _, sc := range ar.GetRequestedScopes() {
		// The admin scope is granted to tenant admins only; anyone else
		// gets the rest (RFC 6749 §3.3 lets the server grant less).
		if sc == claims.ScopeAdmin && !si.User.IsAdmin() {
			continue
		}
		ar.GrantScope(sc)
	}
	session := e.userSession(si, ar.GetGrantedScopes(), az.claims, ar.GetRequestedAt())
	session.Claims.AuthenticationContextClassReference = claims.ACRFor(si.Session.ACR, si.Session.AMR,
		claims.WantsPhishingResistant(ar.GetRequestForm(), az.claims))
	resp, err := e.Provider.NewAuthorizeResponse(ctx, ar, session)
	if err != nil {
		return refuse(ar, err)
	}
	// RFC 9207: the client can tell which provider answered (mix-up
	// defence).
	resp.AddParameter("iss", e.Issuer)
	if err := e.Store.RecordSessionClient(ctx, si.Session.ID, ar.GetClient().GetID()); err != nil {
		e.Pages.Logger(r).Warn("record session client", "err", err)
	}
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		e.renderFormPost(w, r, ar.GetRedirectURI().String(), resp.GetParameters())
		return nil
	}
	e.Provider.WriteAuthorizeResponse(ctx, w, ar, resp)
	return nil
}

// userSession builds the one session type for a user's tokens: ID token
// claims by scope and by the claims parameter, and the browser session the
// tokens hang off.
func (e *Endpoints) userSession(si *browser.SignedIn, scopes fosite.Arguments, cr *claims.Request, requestedAt time.Time) *store.Session {
	u, bs := si.User, si.Session
	sess := store.NewSession()
	sess.Subject = u.ID
	sess.SessionID = bs.ID
	sess.TenantID = u.TenantID
	c := sess.Claims
	c.Issuer = e.Issuer
	c.Subject = u.ID
	c.AuthTime = bs.AuthTime.UTC().Truncate(time.Second)
	// Both whole seconds, as the ID token carries them: fosite compares
	// them for prompt=login and prompt=none.
	c.RequestedAt = requestedAt.UTC().Truncate(time.Second)
	c.AuthenticationMethodsReferences = append([]string(nil), bs.AMR...)
	c.AuthenticationContextClassReference = bs.ACR
	c.Extra["sid"] = bs.ID
	c.Extra["tenant"] = si.Tenant.Slug
	// The claims parameter releases nothing a granted scope does not
	// cover (the consent page lists scopes); its acr member is honoured
	// through the session's level, not here.
	idClaims := claims.ForScopes(scopes)
	if cr != nil {
		idClaims = append(idClaims, claims.Covered(cr.IDToken, scopes)...)
		sess.UserinfoClaims = claims.Covered(cr.Userinfo, scopes)
	}
	for k, v := range claims.OfUser(u, idClaims) {
		c.Extra[k] = v
	}
	return sess
}
