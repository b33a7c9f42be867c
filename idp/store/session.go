package store

import (
	"encoding/json"
	"reflect"

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

// MarshalJSON stores empty ID token claims and headers as null, as they
// are for client-credentials tokens: decoding those two empty objects
// (four zero times among them) was half the cost of reading such a token's
// session back, on every introspection.
func (s *Session) MarshalJSON() ([]byte, error) {
	type stored Session // the default encoding, without these methods
	c := *s
	if c.Claims != nil && isEmpty(*c.Claims, len(c.Claims.Extra)) {
		c.Claims = nil
	}
	if c.Headers != nil && isEmpty(*c.Headers, len(c.Headers.Extra)) {
		c.Headers = nil
	}
	return json.Marshal((*stored)(&c))
}

// UnmarshalJSON reads what MarshalJSON wrote (and the sessions stored
// before it, with the empty objects spelt out), leaving the claims and
// headers empty but non-nil, as NewSession makes them: fosite writes into
// them without checking.
func (s *Session) UnmarshalJSON(b []byte) error {
	type stored Session
	if err := json.Unmarshal(b, (*stored)(s)); err != nil {
		return err
	}
	if s.Claims == nil {
		s.Claims = &jwt.IDTokenClaims{Extra: map[string]any{}}
	}
	if s.Headers == nil {
		s.Headers = &jwt.Headers{Extra: map[string]any{}}
	}
	return nil
}

// isEmpty reports whether v, a claims or headers struct whose Extra map
// has extra entries, holds nothing: every field zero, Extra empty.
func isEmpty[T any](v T, extra int) bool {
	if extra > 0 {
		return false
	}
	rv := reflect.ValueOf(&v).Elem()
	for i := range rv.NumField() {
		if rv.Type().Field(i).Name != "Extra" && !rv.Field(i).IsZero() {
			return false
		}
	}
	return true
}

// BrowserSessionID names the browser session tokens belong to.
func (s *Session) BrowserSessionID() string { return s.SessionID }

var _ openid.Session = (*Session)(nil)
