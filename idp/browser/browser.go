// Package browser is what Portcullis knows of the browser making a
// request: its cookie (a random binding id and the secret of its session,
// nothing else), its live session and user, and where it comes from (for
// audit rows). Every path that signs a browser in or out goes through
// Sessions, so a session always starts with a new secret and every ending
// wakes the back-channel logout worker.
package browser

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
)

const (
	cookieBrowserKey = "b" // random id binding pending requests to this browser
	cookieSessionKey = "s" // secret of the signed-in session; stored hashed
)

// Store is what sessions need of the database.
type Store interface {
	ActiveSession(ctx context.Context, secretHash string, idle time.Duration) (*store.BrowserSession, error)
	ActiveSessionWithUser(ctx context.Context, secretHash string, idle time.Duration) (*store.LiveSession, error)
	TouchSession(ctx context.Context, id string) error
	CreateBrowserSession(ctx context.Context, bs *store.BrowserSession) error
	UpdateSessionAuth(ctx context.Context, id string, u store.SessionUpdate) error
	TouchLastLogin(ctx context.Context, userID string) error
	EndSession(ctx context.Context, id, reason string) ([]store.EndedSession, error)
	Audit(ctx context.Context, e *store.AuditEvent) error
}

// Sessions reads and writes the cookie and the sessions behind it.
type Sessions struct {
	Store   Store
	Cookies *sessions.CookieStore
	// CookieName is the cookie's name: CookieName(secure).
	CookieName string
	Log        *slog.Logger
	Now        func() time.Time
	// Absolute and Idle are the deployment's session lifetimes; a tenant
	// may set its own.
	Absolute, Idle time.Duration
	// Ended is told when sessions ended (the back-channel logout worker
	// wakes); it must not block.
	Ended func()
}

// cookie is what the cookie says; it is authenticated and encrypted by
// gorilla/sessions and holds only two random values.
type cookie struct {
	ID            string
	SessionSecret string
}

func (s *Sessions) read(r *http.Request) cookie {
	sess, err := s.Cookies.Get(r, s.CookieName)
	if err != nil {
		return cookie{} // tampered, or made with old keys: start afresh
	}
	id, _ := sess.Values[cookieBrowserKey].(string)
	secret, _ := sess.Values[cookieSessionKey].(string)
	return cookie{ID: id, SessionSecret: secret}
}

func (s *Sessions) write(w http.ResponseWriter, r *http.Request, c cookie) error {
	sess, _ := s.Cookies.Get(r, s.CookieName)
	sess.Values[cookieBrowserKey] = c.ID
	if c.SessionSecret == "" {
		delete(sess.Values, cookieSessionKey)
	} else {
		sess.Values[cookieSessionKey] = c.SessionSecret
	}
	return sess.Save(r, w)
}

// CookieName is the browser cookie's name. With an https issuer it has the
// __Host- prefix, so browsers accept it only as Secure, with Path=/ and no
// Domain: a sibling subdomain cannot plant one (the cookie options already
// are those).
func CookieName(secure bool) string {
	if secure {
		return "__Host-portcullis"
	}
	return "portcullis"
}

// Binding returns the digest of this browser's binding id, setting the
// cookie if it had none. Pending requests are stored under it.
func (s *Sessions) Binding(w http.ResponseWriter, r *http.Request) (string, error) {
	c := s.read(r)
	if c.ID == "" {
		c.ID = secrets.RandomToken()
		if err := s.write(w, r, c); err != nil {
			return "", err
		}
	}
	return secrets.HashToken(c.ID), nil
}

// BoundTo returns the digest of this browser's binding id, or "" when the
// cookie has none (so no pending request can be this browser's).
func (s *Sessions) BoundTo(r *http.Request) string {
	if c := s.read(r); c.ID != "" {
		return secrets.HashToken(c.ID)
	}
	return ""
}

// SignedIn is a live browser session with its user and the user's tenant.
type SignedIn = store.LiveSession

type currentKey struct{}

// Current returns the live session of this browser, or nil. A disabled
// user's session counts as none. The answer is kept for the rest of the
// request (a page that asks twice reads once).
func (s *Sessions) Current(r *http.Request) (*SignedIn, error) {
	if si, ok := r.Context().Value(currentKey{}).(*memo); ok && si.done {
		return si.si, nil
	}
	si, err := s.current(r)
	if err == nil {
		if m, ok := r.Context().Value(currentKey{}).(*memo); ok {
			m.si, m.done = si, true
		}
	}
	return si, err
}

// memo holds a request's current session once looked up.
type memo struct {
	si   *SignedIn
	done bool
}

// Remember gives ctx a place to keep the current session for a request.
func Remember(ctx context.Context) context.Context {
	return context.WithValue(ctx, currentKey{}, &memo{})
}

// remember records si as the current session of r's request.
func remember(r *http.Request, si *SignedIn) {
	if m, ok := r.Context().Value(currentKey{}).(*memo); ok {
		m.si, m.done = si, true
	}
}

func (s *Sessions) current(r *http.Request) (*SignedIn, error) {
	ctx := r.Context()
	c := s.read(r)
	if c.SessionSecret == "" {
		return nil, nil
	}
	live, err := s.Store.ActiveSessionWithUser(ctx, secrets.HashToken(c.SessionSecret), s.Idle)
	if errors.Is(err, store.ErrNotFound) || (err == nil && live.User.Disabled) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	bs := live.Session
	// Record activity at most once a minute: keeps the idle timeout honest
	// without a write on every request.
	if s.Now().Sub(bs.LastSeenAt) > time.Minute {
		if err := s.Store.TouchSession(ctx, bs.ID); err != nil {
			s.logger(r).Warn("touch session", "err", err)
		}
	}
	return live, nil
}

func (s *Sessions) logger(r *http.Request) *slog.Logger {
	if id := web.RequestID(r.Context()); id != "" {
		return s.Log.With("request_id", id)
	}
	return s.Log
}

// Start signs the browser in as u after a completed authentication,
// ending any earlier session of this browser, its tokens and back-channel
// logouts included (the session secret is always new, so a fixated or
// stolen pre-login cookie is worthless). The
// tenant, u's, gives the session its lifetimes.
func (s *Sessions) Start(w http.ResponseWriter, r *http.Request, u *store.User, tenant *store.Tenant, amr []string, acr string) (*store.BrowserSession, error) {
	ctx := r.Context()
	c := s.read(r)
	if c.SessionSecret != "" {
		// The session this cookie held ends, whoever's it was: signing in
		// again (prompt=login, max_age, another account) must not leave
		// the earlier session and its tokens alive (ASVS v5 7.2.4).
		if old, err := s.Store.ActiveSession(ctx, secrets.HashToken(c.SessionSecret), s.Idle); err == nil {
			ended, err := s.End(r, "replaced", func() ([]store.EndedSession, error) {
				return s.Store.EndSession(ctx, old.ID, "replaced")
			})
			if err != nil {
				return nil, err
			}
			if len(ended) > 0 {
				s.Audit(r, &store.AuditEvent{Event: audit.SessionReplaced, TenantID: old.TenantID, SubjectID: old.UserID})
			}
		}
	}
	absolute := s.Absolute
	if tenant.SessionAbsoluteSeconds > 0 {
		absolute = time.Duration(tenant.SessionAbsoluteSeconds) * time.Second
	}
	now := s.Now().UTC()
	secret := secrets.RandomToken()
	bs := &store.BrowserSession{
		SecretHash: secrets.HashToken(secret),
		UserID:     u.ID,
		TenantID:   u.TenantID,
		AuthTime:   now,
		AMR:        amr,
		ACR:        acr,
		ExpiresAt:  now.Add(absolute),
		// The tenant's idle limit at sign-in; 0 keeps the deployment's.
		IdleSeconds: tenant.SessionIdleSeconds,
		UserAgent:   web.UserAgent(r),
		IP:          web.ClientIP(r),
	}
	if err := s.Store.CreateBrowserSession(ctx, bs); err != nil {
		return nil, err
	}
	if c.ID == "" {
		c.ID = secrets.RandomToken()
	}
	c.SessionSecret = secret
	if err := s.write(w, r, c); err != nil {
		return nil, err
	}
	if err := s.Store.TouchLastLogin(ctx, u.ID); err != nil {
		s.logger(r).Warn("last login", "err", err)
	}
	remember(r, &SignedIn{Session: bs, User: u, Tenant: tenant})
	return bs, nil
}

// Upgrade raises the browser's session si to a stronger authentication
// (a step-up's second factor) with a new session secret, so a cookie
// captured before the step is worthless after it.
func (s *Sessions) Upgrade(w http.ResponseWriter, r *http.Request, si *SignedIn, amr []string, acr string) error {
	secret := secrets.RandomToken()
	now := s.Now().UTC()
	if err := s.Store.UpdateSessionAuth(r.Context(), si.Session.ID, store.SessionUpdate{
		NewSecretHash: secrets.HashToken(secret), AuthTime: now, AMR: amr, ACR: acr,
	}); err != nil {
		return err
	}
	c := s.read(r)
	c.SessionSecret = secret
	if err := s.write(w, r, c); err != nil {
		return err
	}
	upgraded := *si.Session
	upgraded.AuthTime, upgraded.AMR, upgraded.ACR, upgraded.SecretHash = now, amr, acr, secrets.HashToken(secret)
	remember(r, &SignedIn{Session: &upgraded, User: si.User, Tenant: si.Tenant})
	return nil
}

// End runs end (an EndSession-like store call), then tells the
// back-channel logout worker, so the relying apps hear of it at once.
func (s *Sessions) End(r *http.Request, reason string, end func() ([]store.EndedSession, error)) ([]store.EndedSession, error) {
	ended, err := end()
	if err != nil {
		return nil, err
	}
	if m, ok := r.Context().Value(currentKey{}).(*memo); ok && m.done && m.si != nil {
		for _, e := range ended {
			if e.SessionID == m.si.Session.ID {
				m.si = nil // this request's own session ended
			}
		}
	}
	if len(ended) > 0 {
		s.logger(r).Info("sessions ended", "reason", reason, "count", len(ended))
		if s.Ended != nil {
			s.Ended()
		}
	}
	return ended, nil
}

// Forget drops the session secret from the cookie (the browser binding
// stays, for pending requests).
func (s *Sessions) Forget(w http.ResponseWriter, r *http.Request) error {
	c := s.read(r)
	if c.SessionSecret == "" {
		return nil
	}
	c.SessionSecret = ""
	remember(r, nil)
	return s.write(w, r, c)
}

// Stamp sets an audit event's address and user agent from r.
func (s *Sessions) Stamp(r *http.Request, e *store.AuditEvent) {
	e.IP, e.UserAgent = web.ClientIP(r), web.UserAgent(r)
}

// Audit writes an audit event with the request's address and user agent;
// a failure is logged, never shown.
func (s *Sessions) Audit(r *http.Request, e *store.AuditEvent) {
	s.Stamp(r, e)
	if err := s.Store.Audit(r.Context(), e); err != nil {
		s.logger(r).Error("audit write failed", "event", e.Event, "err", err)
	}
}
