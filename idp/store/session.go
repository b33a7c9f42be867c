package store

import (
	"github.com/mohae/deepcopy"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is the one fosite session type of Portcullis, used at every fosite
// entry point (authorize, token, introspection, userinfo). It is persisted as
// JSON and cloned with deepcopy, so every field is exported and tagged.
type Session struct {
	openid.DefaultSession `json:"oidc"`
	// SessionID is the public id of the browser session the tokens were
	// issued through (the `sid` claim); ending that session revokes them.
	SessionID string `json:"sid,omitempty"`
	TenantID  string `json:"tenant,omitempty"`
	// ClientID is set for client-credentials tokens (no end user).
	ClientID string `json:"client_id,omitempty"`
	// UserinfoClaims are claims the client asked for by name through the
	// `claims` request parameter, served at userinfo whatever the scopes.
	UserinfoClaims []string `json:"userinfo_claims,omitempty"`
}

// NewSession returns an empty session ready for fosite to fill.
func NewSession() *Session {
	return &Session{DefaultSession: openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{Extra: map[string]any{}},
		Headers: &jwt.Headers{Extra: map[string]any{}},
	}}
}

// Clone implements fosite.Session.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	return deepcopy.Copy(s).(*Session)
}

// BrowserSessionID names the browser session tokens belong to.
func (s *Session) BrowserSessionID() string { return s.SessionID }

var _ openid.Session = (*Session)(nil)
