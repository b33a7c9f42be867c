package idp

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// duplicateParam reports the first form parameter sent more than once
// (RFC 6749 §3.1: "Request and response parameters MUST NOT be included
// more than once").
func duplicateParam(r *http.Request) string {
	if err := r.ParseForm(); err != nil {
		return "(unparseable body)"
	}
	for _, vals := range []map[string][]string{r.URL.Query(), r.PostForm} {
		for k, v := range vals {
			if len(v) > 1 {
				return k
			}
		}
	}
	return ""
}

// handleToken is the token endpoint: authorization code, refresh token and
// client credentials grants.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p := duplicateParam(r); p != "" {
		s.oauth.WriteAccessError(ctx, w, nil, fosite.ErrInvalidRequest.WithHintf("The parameter '%s' was sent more than once.", p))
		return
	}
	session := store.NewSession()
	ar, err := s.oauth.NewAccessRequest(ctx, r, session)
	if err != nil {
		s.writeTokenError(w, r, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// A machine client acts for itself: no user, no ID token.
		for _, sc := range ar.GetRequestedScopes() {
			if sc == ScopeOpenID || sc == ScopeOfflineAccess {
				s.oauth.WriteAccessError(ctx, w, ar, fosite.ErrInvalidScope.WithHintf("The scope '%s' needs a user; it cannot be used with client credentials.", sc))
				return
			}
			ar.GrantScope(sc)
		}
		session.Subject = ar.GetClient().GetID()
		session.ClientID = ar.GetClient().GetID()
	}
	resp, err := s.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		s.writeTokenError(w, r, ar, err)
		return
	}
	s.oauth.WriteAccessResponse(ctx, w, ar, resp)
}

// writeTokenError logs why a token request failed (fosite's debug text, never
// a credential) and answers with a registered error code.
func (s *Server) writeTokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	rfc := oauthError(err)
	s.logger(r.Context()).Info("token request refused", "error", rfc.ErrorField, "debug", rfc.DebugField)
	s.oauth.WriteAccessError(r.Context(), w, ar, rfc)
}

// handleRevoke is RFC 7009 revocation; revoking a refresh token also
// revokes the access tokens of the same grant.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p := duplicateParam(r); p != "" {
		s.oauth.WriteRevocationResponse(ctx, w, fosite.ErrInvalidRequest.WithHintf("The parameter '%s' was sent more than once.", p))
		return
	}
	err := s.oauth.NewRevocationRequest(ctx, r)
	if err != nil {
		err = oauthError(err)
	}
	s.oauth.WriteRevocationResponse(ctx, w, err)
}

// handleIntrospect is RFC 7662 introspection, for authenticated clients.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p := duplicateParam(r); p != "" {
		s.oauth.WriteIntrospectionError(ctx, w, fosite.ErrInvalidRequest.WithHintf("The parameter '%s' was sent more than once.", p))
		return
	}
	r = s.prefetchIntrospection(r)
	ctx = r.Context()
	ir, err := s.oauth.NewIntrospectionRequest(ctx, r, store.NewSession())
	if err != nil {
		s.oauth.WriteIntrospectionError(ctx, w, err)
		return
	}
	s.oauth.WriteIntrospectionResponse(ctx, w, ir)
}

// prefetchIntrospection reads the authenticating client and the access
// token in one database round trip before fosite asks for them one at a
// time. Anything unusual (no Basic auth, a refresh token hint, an error)
// leaves the request as it was and fosite's lookups run as usual.
func (s *Server) prefetchIntrospection(r *http.Request) *http.Request {
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
	ctx, err := s.store.PrefetchIntrospection(r.Context(), id, s.accessTokens.AccessTokenSignature(r.Context(), token))
	if err != nil {
		s.logger(r.Context()).Warn("introspection prefetch", "err", err)
		return r
	}
	return r.WithContext(ctx)
}

// handlePAR is RFC 9126: the client pushes its request and gets a
// one-time request_uri for the authorization endpoint.
func (s *Server) handlePAR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := s.oauth.NewPushedAuthorizeRequest(ctx, r)
	if err == nil {
		err = s.checkAuthorizeRequest(ar, r.PostForm)
	}
	if err != nil {
		s.oauth.WritePushedAuthorizeError(ctx, w, ar, oauthError(err))
		return
	}
	resp, err := s.oauth.NewPushedAuthorizeResponse(ctx, ar, store.NewSession())
	if err != nil {
		s.oauth.WritePushedAuthorizeError(ctx, w, ar, oauthError(err))
		return
	}
	s.oauth.WritePushedAuthorizeResponse(ctx, w, ar, resp)
}

// bearerError answers a userinfo request with RFC 6750's error format.
// quotedStringEscaper escapes the two characters a quoted-string header
// parameter cannot hold as they are.
var quotedStringEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func bearerError(w http.ResponseWriter, status int, code, desc string) {
	v := `Bearer realm="portcullis"`
	if code != "" {
		// A quoted-string (RFC 9110 §5.6.4): the description may name a
		// parameter the client chose.
		v += `, error="` + code + `", error_description="` + quotedStringEscaper.Replace(desc) + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]string{"error": code, "error_description": desc}
	if code == "" {
		body["error"] = "invalid_request"
	}
	_ = json.NewEncoder(w).Encode(body)
}

// handleUserinfo returns the claims of the token's user, by granted scope
// and by the claims request parameter. The token comes in the
// Authorization header or, for POST, the form body; never the query.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var token string
	header := r.Header.Get("Authorization")
	if scheme, value, ok := strings.Cut(header, " "); ok && strings.EqualFold(scheme, "bearer") {
		token = strings.TrimSpace(value)
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			bearerError(w, http.StatusBadRequest, "invalid_request", "The request body could not be read.")
			return
		}
		if v := r.PostForm["access_token"]; len(v) > 0 {
			if token != "" || len(v) > 1 {
				bearerError(w, http.StatusBadRequest, "invalid_request", "Send the access token exactly once.")
				return
			}
			token = v[0]
		}
	}
	if token == "" {
		bearerError(w, http.StatusUnauthorized, "", "An access token is required.")
		return
	}
	use, ar, err := s.oauth.IntrospectToken(ctx, token, fosite.AccessToken, store.NewSession())
	if err != nil || use != fosite.AccessToken {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is not valid.")
		return
	}
	sess, ok := ar.GetSession().(*store.Session)
	if !ok || sess.ClientID != "" || sess.Subject == "" {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token does not belong to a user.")
		return
	}
	if !ar.GetGrantedScopes().Has(ScopeOpenID) {
		bearerError(w, http.StatusForbidden, "insufficient_scope", "The access token lacks the openid scope.")
		return
	}
	user, err := s.store.UserByID(ctx, sess.Subject)
	if err != nil || user.Disabled {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token's user no longer exists.")
		return
	}
	claims := userClaims(user, append(scopeClaims(ar.GetGrantedScopes()), sess.UserinfoClaims...))
	claims["sub"] = user.ID
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(claims)
}

func (s *Server) handleAlive(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// handleReady reports whether this replica can serve: the database answers
// and its schema is the one this binary expects.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.store.Ready(r.Context()); err != nil {
		s.logger(r.Context()).Warn("not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable"}` + "\n"))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}
