// Package oauth is the OAuth 2.0 and OpenID Connect side of Portcullis:
// fosite wired by hand (provider.go), the authorization endpoint and its
// decision (authorize.go), consent, the token, revocation, introspection,
// PAR and userinfo endpoints (token.go), and discovery and the JWKS
// (discovery.go).
//
// The authorization flow returns its failures as values (refuse); one
// adapter (refusals, errors.go) decides whether they go back to the
// client or to the error page. The sign-in itself is not here: a request
// that needs one is stored as a pending request (idp/flow) and the
// browser is sent to the sign-in pages (idp/signin), which send it back to
// /oauth2/auth/resume when the user is signed in.
package oauth

import (
	"context"
	"net/http"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/signing"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

// Store is what the protocol endpoints read and write themselves (fosite
// has its own storage interfaces, which *store.Store implements).
type Store interface {
	ClientByID(ctx context.Context, id string) (*store.Client, error)
	UserByID(ctx context.Context, id string) (*store.User, error)
	HasActiveAuthenticator(ctx context.Context, userID string) (bool, error)
	ConsentedScopes(ctx context.Context, userID, clientID string) ([]string, error)
	SaveConsent(ctx context.Context, userID, clientID string, scopes []string) error
	RecordSessionClient(ctx context.Context, sessionID, clientID string) error
	PrefetchIntrospection(ctx context.Context, clientID, accessSignature string) (context.Context, error)
	OriginRegistered(ctx context.Context, origin string) (bool, error)
}

// Endpoints serves the protocol endpoints and the consent page.
type Endpoints struct {
	Store        Store
	Provider     fosite.OAuth2Provider
	AccessTokens oauth2.AccessTokenStrategy // for the introspection prefetch
	Flows        *flow.Flows
	Sessions     *browser.Sessions
	Keys         *signing.Keys
	Templates    *templates.Templates
	Pages        *web.Pages
	Issuer       string
	Now          func() time.Time

	discovery []byte
}

// Prepare renders what is served from memory (discovery).
func (e *Endpoints) Prepare() error {
	var err error
	e.discovery, err = e.buildDiscovery()
	return err
}

// Mount adds the protocol endpoints and the consent page to the route table.
func (e *Endpoints) Mount(rt *web.Router) {
	// Discovery and keys, served from memory.
	rt.HandleFunc("GET /.well-known/openid-configuration", e.handleDiscovery)
	rt.HandleFunc("GET "+pathJWKS, e.handleJWKS)
	// Public: any origin may read them (cors.go).
	rt.HandleFunc("OPTIONS /.well-known/openid-configuration", publicPreflight)
	rt.HandleFunc("OPTIONS "+pathJWKS, publicPreflight)

	// The authorization endpoint answers browsers: its refusals go back
	// to the client or to the error page.
	rt.Page("GET "+flow.PathAuthorize, e.refusals(e.handleAuthorize))
	rt.Page("POST "+flow.PathAuthorize, e.refusals(e.handleAuthorize))
	rt.Page("GET "+flow.PathResume, e.refusals(e.resumeAuthorize))
	rt.Page("GET "+flow.PathConsent, e.showConsent)
	rt.Form("POST "+flow.PathConsent, e.refusals(e.submitConsent))

	// The back-channel endpoints answer clients with OAuth error bodies;
	// those that authenticate clients challenge with Basic on a 401.
	rt.HandleFunc("POST "+pathPAR, basicChallenge(e.handlePAR))
	// The token, revocation and userinfo endpoints answer pages of the
	// web origins their client registered (cors.go); introspection and
	// PAR answer servers only.
	rt.HandleFunc("POST "+pathToken, basicChallenge(e.clientCORS(e.handleToken)))
	rt.HandleFunc("POST "+pathRevoke, basicChallenge(e.clientCORS(e.handleRevoke)))
	rt.HandleFunc("POST "+pathIntrospect, basicChallenge(e.handleIntrospect))
	rt.HandleFunc("GET "+pathUserinfo, e.handleUserinfo)
	rt.HandleFunc("POST "+pathUserinfo, e.handleUserinfo)
	rt.HandleFunc("OPTIONS "+pathToken, e.preflight)
	rt.HandleFunc("OPTIONS "+pathRevoke, e.preflight)
	rt.HandleFunc("OPTIONS "+pathUserinfo, e.preflight)
}

// basicChallenge adds RFC 6749 §5.2's WWW-Authenticate to every 401 h
// answers: the client failed to authenticate, and HTTP Basic is how it
// should.
func basicChallenge(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(&challengeWriter{ResponseWriter: w}, r)
	}
}

type challengeWriter struct{ http.ResponseWriter }

func (c *challengeWriter) WriteHeader(status int) {
	if status == http.StatusUnauthorized && c.Header().Get("WWW-Authenticate") == "" {
		c.Header().Set("WWW-Authenticate", `Basic realm="portcullis"`)
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// WriteRequestError answers a protocol request refused before any
// handler ran (by the middleware's text check) with an OAuth error body.
func (e *Endpoints) WriteRequestError(w http.ResponseWriter, r *http.Request, hint string) {
	e.Provider.WriteAccessError(r.Context(), w, nil, fosite.ErrInvalidRequest.WithHint(hint))
}
