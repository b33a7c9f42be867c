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

	mu sync.Mutex
	rp *relyingParty // nil until discovery succeeded
}

// relyingParty is the app's client of one discovered provider.
type relyingParty struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
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
	a.pages = &web.Pages{Templates: cfg.Templates, Log: a.log, Fallback: errInternal, LogPrefix: "demo app: "}
	return a.routes(), nil
}

// routes is the app's whole route table.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", a.pages.Handler(a.home))
	mux.Handle("GET /login", a.pages.Handler(a.login))
	mux.Handle("GET /callback", a.pages.Handler(a.callback))
	mux.Handle("GET /logout", a.pages.Handler(a.logout))
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(templates.Static())))
	mux.Handle("/", a.pages.Handler(func(http.ResponseWriter, *http.Request) error { return web.ErrNotFound }))
	return securityHeaders(mux)
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
	a.rp = &relyingParty{
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

func (a *app) home(w http.ResponseWriter, r *http.Request) error {
	return a.render(w, http.StatusOK, func(w io.Writer) error {
		return a.cfg.Templates.DemoHome(w, templates.DemoHomePage{LoginURL: "/login"})
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
	a.log.Info("demo app: signed in", "sub", idToken.Subject)
	return a.render(w, http.StatusOK, func(w io.Writer) error {
		return a.cfg.Templates.DemoClaims(w, templates.DemoClaimsPage{
			Page:       templates.Page{SignedInAs: email},
			ClaimsJSON: string(pretty),
			LogoutURL:  "/logout",
		})
	})
}

// logout forgets any sign-in in progress and goes back to the start page.
func (a *app) logout(w http.ResponseWriter, r *http.Request) error {
	a.clearFlow(w)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusFound)
	return nil
}
