package demo

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"
)

// sessionCookie names the demo app's own session (an opaque id; what it
// stands for is kept in memory, as this is a one-process demo).
const sessionCookie = "portcullis_demo_session"

// maxSessions bounds the in-memory sessions; the oldest go first.
const maxSessions = 1000

// session is a sign-in to the demo app.
type session struct {
	id         string
	subject    string // sub of the ID token
	sid        string // the provider's session id (sid), for back-channel logout
	email      string
	name       string
	idToken    string // the raw ID token, sent back as id_token_hint at sign-out
	claimsJSON string
	signedIn   time.Time
	// endedAt is set when the provider said, by back-channel logout, that
	// the session behind this sign-in ended.
	endedAt time.Time
}

// sessions is the demo app's in-memory session table.
type sessions struct {
	mu    sync.Mutex
	byID  map[string]*session
	order []string
}

func (ss *sessions) add(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.byID == nil {
		ss.byID = make(map[string]*session)
	}
	for len(ss.order) >= maxSessions {
		delete(ss.byID, ss.order[0])
		ss.order = ss.order[1:]
	}
	ss.byID[s.id] = s
	ss.order = append(ss.order, s.id)
}

// get returns a copy of the session with id, if any.
func (ss *sessions) get(id string) (session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[id]
	if !ok {
		return session{}, false
	}
	return *s, true
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

// endAt marks as ended every session with the provider's sid, or, when
// sid is empty, every one of the subject; it returns how many.
func (ss *sessions) endAt(sid, subject string, at time.Time) int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for _, s := range ss.byID {
		if (sid != "" && s.sid == sid) || (sid == "" && s.subject == subject) {
			if s.endedAt.IsZero() {
				s.endedAt = at
				n++
			}
		}
	}
	return n
}

func (a *app) setSession(w http.ResponseWriter, id string) {
	http.SetCookie(w, a.sessionCookie(id, 0))
}

func (a *app) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, a.sessionCookie("", -1))
}

// current returns the browser's demo session, if any.
func (a *app) current(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return session{}, false
	}
	return a.sessions.get(c.Value)
}

func (a *app) sessionCookie(value string, maxAge int) *http.Cookie {
	return a.cookie(sessionCookie, value, maxAge)
}

// backchannelLogoutEvent is the event a logout token carries
// (Back-Channel Logout 1.0 §2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutClaims are the claims of a logout token the demo checks.
type logoutClaims struct {
	Subject string                     `json:"sub"`
	SID     string                     `json:"sid"`
	Events  map[string]json.RawMessage `json:"events"`
	Nonce   *string                    `json:"nonce"`
}

// verifyLogoutToken checks a logout token as Back-Channel Logout 1.0
// §2.6 asks: signature, iss, aud and exp by go-oidc's ID-token verifier
// (the same keys and rules), then the events claim with the back-channel
// logout event, a sid or a sub, and no nonce.
func (rp *relyingParty) verifyLogoutToken(ctx context.Context, raw string) (*logoutClaims, error) {
	tok, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	var c logoutClaims
	if err := tok.Claims(&c); err != nil {
		return nil, err
	}
	switch {
	case c.Events == nil || c.Events[backchannelLogoutEvent] == nil:
		return nil, errors.New("no back-channel logout event")
	case c.Nonce != nil:
		return nil, errors.New("a logout token must not carry a nonce")
	case c.SID == "" && c.Subject == "":
		return nil, errors.New("neither sid nor sub")
	}
	return &c, nil
}
