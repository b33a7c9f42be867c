package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
)

// handleToken is the token endpoint: authorization code, refresh token and
// client credentials grants.
func (e *Endpoints) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p := web.DuplicateParam(r); p != "" {
		e.Provider.WriteAccessError(ctx, w, nil, fosite.ErrInvalidRequest.WithHintf("The parameter '%s' was sent more than once.", p))
		return
	}
	session := store.NewSession()
	ar, err := e.Provider.NewAccessRequest(ctx, r, session)
	if err != nil {
		e.writeTokenError(w, r, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// A machine client acts for itself: no user, no ID token.
		for _, sc := range ar.GetRequestedScopes() {
			if sc == claims.ScopeOpenID || sc == claims.ScopeOfflineAccess {
				e.Provider.WriteAccessError(ctx, w, ar, fosite.ErrInvalidScope.WithHintf("The scope '%s' needs a user; it cannot be used with client credentials.", sc))
				return
			}
			ar.GrantScope(sc)
		}
		session.Subject = ar.GetClient().GetID()
		session.ClientID = ar.GetClient().GetID()
	}
	resp, err := e.Provider.NewAccessResponse(ctx, ar)
	if err != nil {
		e.writeTokenError(w, r, ar, err)
		return
	}
	e.Provider.WriteAccessResponse(ctx, w, ar, resp)
}

// writeTokenError logs why a token request failed (fosite's debug text, never
// a credential) and answers with a registered error code.
func (e *Endpoints) writeTokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	e.writeAccessError(w, r, ar, "token request", err)
}

// tokenParamProblem is what is wrong with a revocation or introspection
// request before its client is looked at: a parameter sent twice, or no
// token (required by RFC 7009 §2.1 and RFC 7662 §2.1).
func tokenParamProblem(r *http.Request) error {
	if p := web.DuplicateParam(r); p != "" {
		return fosite.ErrInvalidRequest.WithHintf("The parameter '%s' was sent more than once.", p)
	}
	if r.PostForm.Get("token") == "" {
		return fosite.ErrInvalidRequest.WithHint("The token parameter is required.")
	}
	return nil
}

// handleRevoke is RFC 7009 revocation; revoking a refresh token also
// revokes the access tokens of the same grant.
func (e *Endpoints) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := tokenParamProblem(r); err != nil {
		e.Provider.WriteRevocationResponse(ctx, w, err)
		return
	}
	err := e.Provider.NewRevocationRequest(ctx, r)
	if Unavailable(err) {
		// fosite's revocation writer answers anything but invalid_request
		// and invalid_client with 200, as if the token were revoked.
		e.writeAccessError(w, r, nil, "revocation", err)
		return
	}
	if err != nil {
		err = Normalize(err)
	}
	e.Provider.WriteRevocationResponse(ctx, w, err)
}

// handleIntrospect is RFC 7662 introspection, for authenticated clients.
func (e *Endpoints) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := tokenParamProblem(r); err != nil {
		e.Provider.WriteIntrospectionError(ctx, w, err)
		return
	}
	if fosite.AccessTokenFromRequest(r) != "" {
		// fosite would let any holder of an access token introspect with
		// it; the caller must be a client with its secret.
		e.Provider.WriteAccessError(ctx, w, nil, fosite.ErrInvalidClient.WithHint("Introspection takes client authentication with HTTP Basic (client_secret_basic), not an access token."))
		return
	}
	r = e.prefetchIntrospection(r)
	ctx = r.Context()
	ir, err := e.Provider.NewIntrospectionRequest(ctx, r, store.NewSession())
	if Unavailable(err) {
		// Neither a failed client authentication nor {"active":false}: the
		// token may well be active.
		e.writeAccessError(w, r, nil, "introspection", err)
		return
	}
	if errors.Is(err, fosite.ErrRequestUnauthorized) && !errors.Is(err, fosite.ErrInactiveToken) {
		// fosite's own code for a caller that failed to authenticate (an
		// inactive token wraps the same code and is answered
		// {"active":false} below); the client is told invalid_client, as at
		// the token and revocation endpoints (RFC 6749 §5.2).
		e.Provider.WriteAccessError(ctx, w, nil, fosite.ErrInvalidClient.WithHint("Client authentication failed."))
		return
	}
	if err != nil {
		e.Provider.WriteIntrospectionError(ctx, w, err)
		return
	}
	if ok, err := e.mayIntrospect(r, ir); err != nil || !ok {
		if err != nil {
			e.Pages.Logger(r).Error("introspection", "err", err)
		}
		// RFC 7662 §2.2: a token the caller may not learn about is
		// answered as an inactive one, so its existence is not revealed.
		ir = &fosite.IntrospectionResponse{Active: false}
	}
	e.Provider.WriteIntrospectionResponse(ctx, w, ir)
}

// mayIntrospect reports whether the authenticated caller of an
// introspection request may see the token (store.Client.MayIntrospect):
// its own tokens, or as a resource server the access tokens of the
// clients or the tenant it is registered for.
func (e *Endpoints) mayIntrospect(r *http.Request, ir fosite.IntrospectionResponder) (bool, error) {
	ctx := r.Context()
	id, _, _ := r.BasicAuth() // fosite authenticated it
	id, err := url.QueryUnescape(id)
	if err != nil {
		return false, nil
	}
	caller, err := e.Store.ClientByID(ctx, id)
	if err != nil {
		return false, err
	}
	ar := ir.GetAccessRequester()
	tokenClient, ok := ar.GetClient().(*store.Client)
	if !ok {
		return false, nil
	}
	// The token's tenant: its user's, or for a client acting for itself
	// that client's binding.
	tenant := ""
	if sess, ok := ar.GetSession().(*store.Session); ok && sess.ClientID == "" {
		tenant = sess.TenantID
	} else if tokenClient.TenantID != nil {
		tenant = *tokenClient.TenantID
	}
	return caller.MayIntrospect(tokenClient.ID, tenant, ir.GetTokenUse() == fosite.RefreshToken), nil
}

// prefetchIntrospection reads the authenticating client and the access
// token in one database round trip before fosite asks for them one at a
// time. Anything unusual (no Basic auth, a refresh token hint, an error)
// leaves the request as it was and fosite's lookups run as usual.
func (e *Endpoints) prefetchIntrospection(r *http.Request) *http.Request {
	id, _, ok := r.BasicAuth()
	if !ok || r.ParseForm() != nil {
		return r
	}
	token := r.PostForm.Get("token")
	if token == "" || r.PostForm.Get("token_type_hint") == "refresh_token" {
		return r
	}
	if unescaped, err := url.QueryUnescape(id); err == nil {
		id = unescaped
	}
	ctx, err := e.Store.PrefetchIntrospection(r.Context(), id, e.AccessTokens.AccessTokenSignature(r.Context(), token))
	if err != nil {
		e.Pages.Logger(r).Warn("introspection prefetch", "err", err)
		return r
	}
	return r.WithContext(ctx)
}

// handlePAR is RFC 9126: the client pushes its request and gets a
// one-time request_uri for the authorization endpoint.
func (e *Endpoints) handlePAR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := e.Provider.NewPushedAuthorizeRequest(ctx, r)
	if err == nil {
		_, err = checkAuthorizeRequest(ar, r.PostForm)
	}
	if err != nil {
		e.Provider.WritePushedAuthorizeError(ctx, w, ar, e.normalizeLogged(w, r, "pushed authorization request", err))
		return
	}
	resp, err := e.Provider.NewPushedAuthorizeResponse(ctx, ar, store.NewSession())
	if err != nil {
		e.Provider.WritePushedAuthorizeError(ctx, w, ar, e.normalizeLogged(w, r, "pushed authorization request", err))
		return
	}
	e.Provider.WritePushedAuthorizeResponse(ctx, w, ar, resp)
}

// handleUserinfo returns the claims of the token's user, by granted scope
// and by the claims request parameter. The token comes in the
// Authorization header or, for POST, the form body; never the query.
//
// CORS: a page may read the answer when the token's client registered its
// origin; an answer given before the token is known (no token, not
// valid), which tells nothing, to a page of any registered origin.
func (e *Endpoints) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); origin != "" {
		if ok, _ := e.Store.OriginRegistered(ctx, origin); ok {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
	}
	token := web.BearerToken(r)
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			web.BearerError(w, http.StatusBadRequest, "invalid_request", "The request body could not be read.")
			return
		}
		if v := r.PostForm["access_token"]; len(v) > 0 {
			if token != "" || len(v) > 1 {
				web.BearerError(w, http.StatusBadRequest, "invalid_request", "Send the access token exactly once.")
				return
			}
			token = v[0]
		}
	}
	if token == "" {
		web.BearerError(w, http.StatusUnauthorized, "", "An access token is required.")
		return
	}
	use, ar, err := e.Provider.IntrospectToken(ctx, token, fosite.AccessToken, store.NewSession())
	if Unavailable(err) {
		e.userinfoUnavailable(w, r, err)
		return
	}
	if err != nil || use != fosite.AccessToken {
		web.BearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is not valid.")
		return
	}
	w.Header().Del("Access-Control-Allow-Origin")
	w.Header().Del("Access-Control-Expose-Headers")
	client, _ := ar.GetClient().(*store.Client)
	allowOrigin(w, r, client)
	sess, ok := ar.GetSession().(*store.Session)
	if !ok || sess.ClientID != "" || sess.Subject == "" {
		web.BearerError(w, http.StatusUnauthorized, "invalid_token", "The access token does not belong to a user.")
		return
	}
	if !ar.GetGrantedScopes().Has(claims.ScopeOpenID) {
		web.BearerError(w, http.StatusForbidden, "insufficient_scope", "The access token lacks the openid scope.")
		return
	}
	user, err := e.Store.UserByID(ctx, sess.Subject)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		e.userinfoUnavailable(w, r, err)
		return
	}
	if err != nil || user.Disabled {
		web.BearerError(w, http.StatusUnauthorized, "invalid_token", "The access token's user no longer exists.")
		return
	}
	granted := ar.GetGrantedScopes()
	// Checked again here for tokens issued before claims were limited to
	// granted scopes.
	released := claims.OfUser(user, append(claims.ForScopes(granted), claims.Covered(sess.UserinfoClaims, granted)...))
	released["sub"] = user.ID
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(released)
}

// userinfoUnavailable answers a userinfo request the database could not
// serve: 503 with Retry-After, not a verdict on the token.
func (e *Endpoints) userinfoUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	e.Pages.Logger(r).Error("userinfo failed: storage unavailable", "err", err)
	h := w.Header()
	h.Set("Retry-After", retryAfter)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"error": "server_error", "error_description": "The service is temporarily unavailable. Try again in a moment.",
	})
}
