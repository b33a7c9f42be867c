package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

// Config is what the demo app needs to sign users in.
type Config struct {
	// Issuer is the provider's issuer URL; discovery is read from
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID and ClientSecret are the app's registration at the
	// provider. An empty secret makes the app a public client.
	ClientID     string
	ClientSecret string
	// RedirectURL is the absolute URL of this app's /callback, exactly as
	// registered at the provider.
	RedirectURL string
	// PostLogoutRedirectURL is where the provider sends the browser after
	// the app's "Sign out" (registered at the provider as a
	// post_logout_redirect_uri); empty means the app's start page, the
	// RedirectURL's origin + "/".
	PostLogoutRedirectURL string
	// Templates renders the pages.
	Templates *templates.Templates
	// Logger gets the details of every failure; nil means slog.Default().
	Logger *slog.Logger
	// HTTPClient talks to the provider (discovery, keys, token exchange);
	// nil means a client with a ten-second timeout.
	HTTPClient *http.Client
}

// scopes are what the demo asks for.
var scopes = []string{oidc.ScopeOpenID, "profile", "email"}

// app is the demo relying party; see the package documentation.
type app struct {
	cfg    Config
	log    *slog.Logger
	pages  *web.Pages // the error adapter the provider uses too
	client *http.Client
	secure bool // cookies Secure: the app is served over https

	sessions sessions

	mu sync.Mutex
	rp *relyingParty // nil until discovery succeeded
}

// relyingParty is the app's client of one discovered provider.
type relyingParty struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	// endSession is the provider's end_session_endpoint; empty when it
	// has none.
	endSession string
}

// New returns the demo app's handler. It does not contact the provider:
// discovery happens on first use, so the app can start before the
// provider answers.
func New(cfg Config) (http.Handler, error) {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"Issuer", cfg.Issuer},
		{"ClientID", cfg.ClientID},
		{"RedirectURL", cfg.RedirectURL},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if cfg.Templates == nil {
		missing = append(missing, "Templates")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("demo: missing %v", missing)
	}
	redirect, err := url.Parse(cfg.RedirectURL)
	if err != nil || !redirect.IsAbs() || redirect.Host == "" {
		return nil, fmt.Errorf("demo: RedirectURL %q is not an absolute URL", cfg.RedirectURL)
	}
	if cfg.PostLogoutRedirectURL == "" {
		cfg.PostLogoutRedirectURL = (&url.URL{Scheme: redirect.Scheme, Host: redirect.Host, Path: "/"}).String()
	}
	a := &app{
		cfg:    cfg,
		log:    cfg.Logger,
		client: cfg.HTTPClient,
		secure: redirect.Scheme == "https",
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.client == nil {
		a.client = &http.Client{Timeout: 10 * time.Second}
	}
	a.pages = &web.Pages{Templates: cfg.Templates, Log: a.log, Fallback: errInternal, LogPrefix: "demo app: ",
		Back: func(*http.Request, *web.Error) web.Link { return web.Link{URL: "/", Label: "Back to the demo app"} }}
	return a.routes(), nil
}

// routes is the app's whole route table.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", a.pages.Handler(a.home))
	mux.Handle("GET /login", a.pages.Handler(a.login))
	mux.Handle("GET /callback", a.pages.Handler(a.callback))
	// Signing out is a form post, guarded like the provider's forms: a
	// page of another site cannot sign the user out.
	mux.Handle("POST /logout", http.NewCrossOriginProtection().Handler(a.pages.Handler(a.logout)))
	mux.HandleFunc("POST /backchannel-logout", a.backchannelLogout)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(templates.Static())))
	mux.Handle("/", a.pages.Handler(func(http.ResponseWriter, *http.Request) error { return web.ErrNotFound }))
	return securityHeaders(a.cfg.Issuer, mux)
}

// relyingParty returns the client of the provider, running discovery the
// first time. A failed discovery is not remembered: the next request tries
// again, as the provider may simply not have been up yet.
func (a *app) relyingParty(ctx context.Context) (*relyingParty, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rp != nil {
		return a.rp, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, a.client), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, a.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", a.cfg.Issuer, err)
	}
	endpoint := p.Endpoint()
	if a.cfg.ClientSecret != "" {
		// client_secret_basic, which every provider supports; without it
		// x/oauth2 guesses, and a wrong guess costs a failed request.
		endpoint.AuthStyle = oauth2.AuthStyleInHeader
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", a.cfg.Issuer, err)
	}
	a.rp = &relyingParty{
		endSession: meta.EndSession,
		oauth: oauth2.Config{
			ClientID:     a.cfg.ClientID,
			ClientSecret: a.cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  a.cfg.RedirectURL,
			Scopes:       scopes,
		},
		// The key set fetches JWKS with the client given to NewProvider.
		verifier: p.Verifier(&oidc.Config{ClientID: a.cfg.ClientID}),
	}
	a.log.Info("demo app: provider discovered", "issuer", a.cfg.Issuer)
	return a.rp, nil
}

// home shows who is signed in to the app, with the ID token's claims; or,
// signed out, the way in, and why the last sign-in ended when the provider
// ended it (back-channel logout) or the user signed out.
func (a *app) home(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	s, ok := a.current(r)
	if ok && s.endedAt.IsZero() {
		return a.render(w, http.StatusOK, func(w io.Writer) error {
			return a.cfg.Templates.DemoClaims(w, templates.DemoClaimsPage{
				Page:       templates.Page{SignedInAs: s.email},
				Name:       s.name,
				Email:      s.email,
				SignedInAt: s.signedIn.Format("15:04:05"),
				ClaimsJSON: s.claimsJSON,
				LogoutURL:  "/logout",
			})
		})
	}
	page := templates.DemoHomePage{LoginURL: "/login"}
	if ok {
		// Ended at the provider: say so once, then forget it.
		page.Notice = fmt.Sprintf("Your session as %s was ended at Portcullis at %s (signed out on its account page, by an admin, or expired); this app heard of it by back-channel logout.",
			s.email, s.endedAt.Format("15:04:05"))
		a.sessions.remove(s.id)
		a.clearSession(w)
	} else if r.URL.Query().Get("state") != "" && a.matchesLogoutState(r) {
		page.Notice = "You signed out of this app and of Portcullis."
		a.clearLogoutState(w)
	}
	return a.render(w, http.StatusOK, func(w io.Writer) error {
		return a.cfg.Templates.DemoHome(w, page)
	})
}

// login starts a sign-in: fresh state, nonce and PKCE verifier, kept in
// the flow cookie, and a redirect to the provider.
func (a *app) login(w http.ResponseWriter, r *http.Request) error {
	rp, err := a.relyingParty(r.Context())
	if err != nil {
		return providerUnavailable(a.cfg.Issuer, err)
	}
	f := newFlow()
	a.setFlow(w, f)
	target := rp.oauth.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// callback finishes a sign-in: it checks the state against the flow
// cookie, exchanges the code with the PKCE verifier, verifies the ID token
// (signature, issuer, audience, expiry and nonce) and shows its claims.
func (a *app) callback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, ok := a.readFlow(r)
	a.clearFlow(w) // one use, whatever happens next
	if !ok {
		return errFlowExpired
	}
	if !f.matchesState(q.Get("state")) {
		return errStateMismatch
	}
	if code := q.Get("error"); code != "" {
		return providerRefused(code, q.Get("error_description"))
	}
	code := q.Get("code")
	if code == "" {
		return &httpError{Code: http.StatusBadRequest, Heading: "Sign-in failed",
			Msg: "The identity provider sent no authorization code. Start again from the demo app."}
	}

	ctx := r.Context()
	rp, err := a.relyingParty(ctx)
	if err != nil {
		return providerUnavailable(a.cfg.Issuer, err)
	}
	tok, err := rp.oauth.Exchange(oidc.ClientContext(ctx, a.client), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.ErrorCode != "" {
			return &httpError{Code: http.StatusBadGateway, Heading: "Sign-in failed",
				Msg: fmt.Sprintf("The identity provider refused to exchange the code (%s). Start again from the demo app.", re.ErrorCode),
				Err: err}
		}
		return &httpError{Code: http.StatusBadGateway, Heading: "Sign-in failed",
			Msg: "The demo app could not exchange the code at the identity provider. Start again from the demo app.", Err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return &httpError{Code: http.StatusBadGateway, Heading: "Sign-in failed",
			Msg: "The identity provider returned no ID token.", Err: errors.New("token response without id_token")}
	}
	idToken, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		return errTokenInvalid(err)
	}
	if !f.matchesNonce(idToken.Nonce) {
		return errTokenInvalid(errors.New("nonce does not match the one sent"))
	}
	if idToken.AccessTokenHash != "" {
		if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil {
			return errTokenInvalid(err)
		}
	}

	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		return errTokenInvalid(err)
	}
	pretty, err := json.MarshalIndent(claims, "", "  ")
	if err != nil {
		return err
	}
	email, _ := claims["email"].(string)
	name, _ := claims["name"].(string)
	sid, _ := claims["sid"].(string)
	s := &session{id: randomToken(), subject: idToken.Subject, sid: sid, email: email, name: name,
		idToken: raw, claimsJSON: string(pretty), signedIn: time.Now()}
	a.sessions.add(s)
	a.setSession(w, s.id)
	a.log.Info("demo app: signed in", "sub", idToken.Subject)
	// A clean address: no code or state left in the address bar (or in
	// the history, or a Referer).
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// logout signs out of the app and, when the provider has an
// end_session_endpoint, of the provider too (RP-initiated logout with
// id_token_hint, post_logout_redirect_uri and state), so the next sign-in
// asks for the password and the code again.
func (a *app) logout(w http.ResponseWriter, r *http.Request) error {
	a.clearFlow(w)
	w.Header().Set("Cache-Control", "no-store")
	s, ok := a.current(r)
	a.clearSession(w)
	if !ok {
		http.Redirect(w, r, "/", http.StatusFound)
		return nil
	}
	a.sessions.remove(s.id)
	rp, err := a.relyingParty(r.Context())
	if err != nil || rp.endSession == "" || !s.endedAt.IsZero() {
		// The provider's session is gone already, or cannot be reached.
		http.Redirect(w, r, "/", http.StatusFound)
		return nil
	}
	state := randomToken()
	http.SetCookie(w, a.logoutStateCookie(state, int(flowLifetime.Seconds())))
	target, err := url.Parse(rp.endSession)
	if err != nil {
		return err
	}
	q := target.Query()
	q.Set("id_token_hint", s.idToken)
	q.Set("post_logout_redirect_uri", a.cfg.PostLogoutRedirectURL)
	q.Set("state", state)
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
	return nil
}

// logoutStateCookieName carries the state of an RP-initiated logout, so
// the start page can tell that the provider sent the browser back.
const logoutStateCookieName = "portcullis_demo_logout"

func (a *app) logoutStateCookie(value string, maxAge int) *http.Cookie {
	return a.cookie(logoutStateCookieName, value, maxAge)
}

func (a *app) matchesLogoutState(r *http.Request) bool {
	c, err := r.Cookie(logoutStateCookieName)
	return err == nil && c.Value != "" && c.Value == r.URL.Query().Get("state")
}

func (a *app) clearLogoutState(w http.ResponseWriter) {
	http.SetCookie(w, a.logoutStateCookie("", -1))
}

// backchannelLogout receives the provider's logout tokens (Back-Channel
// Logout 1.0): a valid one marks the app's sessions of that provider
// session ended, and the start page says so at the next visit.
func (a *app) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	fail := func(status int, err error) {
		a.log.Warn("demo app: back-channel logout refused", "err", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":"invalid_request"}`)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	raw := r.PostFormValue("logout_token")
	if raw == "" {
		fail(http.StatusBadRequest, errors.New("no logout_token"))
		return
	}
	rp, err := a.relyingParty(r.Context())
	if err != nil {
		fail(http.StatusServiceUnavailable, err)
		return
	}
	c, err := rp.verifyLogoutToken(oidc.ClientContext(r.Context(), a.client), raw)
	if err != nil {
		fail(http.StatusBadRequest, err)
		return
	}
	n := a.sessions.endAt(c.SID, c.Subject, time.Now())
	a.log.Info("demo app: back-channel logout", "sub", c.Subject, "sid", c.SID, "sessions", n)
	w.WriteHeader(http.StatusOK)
}
