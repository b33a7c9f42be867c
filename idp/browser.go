package idp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis-idp/portcullis/idp/store"
)

const (
	cookieName       = "portcullis"
	cookieBrowserKey = "b" // random id binding pending requests to this browser
	cookieSessionKey = "s" // secret of the signed-in session; stored hashed
)

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// browser is what the cookie says about the browser; the cookie is
// authenticated and encrypted by gorilla/sessions and holds only two
// random values.
type browser struct {
	ID            string
	SessionSecret string
}

func (s *Server) readBrowser(r *http.Request) browser {
	sess, err := s.cookies.Get(r, cookieName)
	if err != nil {
		return browser{} // tampered, or made with old keys: start afresh
	}
	id, _ := sess.Values[cookieBrowserKey].(string)
	secret, _ := sess.Values[cookieSessionKey].(string)
	return browser{ID: id, SessionSecret: secret}
}

func (s *Server) writeBrowser(w http.ResponseWriter, r *http.Request, b browser) error {
	sess, _ := s.cookies.Get(r, cookieName)
	sess.Values[cookieBrowserKey] = b.ID
	if b.SessionSecret == "" {
		delete(sess.Values, cookieSessionKey)
	} else {
		sess.Values[cookieSessionKey] = b.SessionSecret
	}
	return sess.Save(r, w)
}

// browserID returns this browser's binding id, setting the cookie if it had
// none. Pending authorization requests are stored under its hash.
func (s *Server) browserID(w http.ResponseWriter, r *http.Request) (string, error) {
	b := s.readBrowser(r)
	if b.ID == "" {
		b.ID = randomToken()
		if err := s.writeBrowser(w, r, b); err != nil {
			return "", err
		}
	}
	return hashToken(b.ID), nil
}

// signedIn is a live browser session with its user.
type signedIn struct {
	Session *store.BrowserSession
	User    *store.User
}

// currentSession returns the live session of this browser, or nil. A
// disabled user's session counts as none.
func (s *Server) currentSession(ctx context.Context, r *http.Request) (*signedIn, error) {
	b := s.readBrowser(r)
	if b.SessionSecret == "" {
		return nil, nil
	}
	bs, err := s.store.ActiveSession(ctx, hashToken(b.SessionSecret), s.opts.SessionIdle)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, bs.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// Record activity at most once a minute: keeps the idle timeout honest
	// without a write on every request.
	if s.now().Sub(bs.LastSeenAt) > time.Minute {
		if err := s.store.TouchSession(ctx, bs.ID); err != nil {
			s.logger(ctx).Warn("touch session", "err", err)
		}
	}
	return &signedIn{Session: bs, User: u}, nil
}

// startSession signs the browser in as u after a completed authentication,
// replacing any earlier session of this browser (the session secret is
// always new, so a fixated or stolen pre-login cookie is worthless). The
// tenant, u's, gives the session its lifetimes.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *store.User, tenant *store.Tenant, amr []string, acr string) (*store.BrowserSession, error) {
	ctx := r.Context()
	b := s.readBrowser(r)
	if b.SessionSecret != "" {
		if old, err := s.store.ActiveSession(ctx, hashToken(b.SessionSecret), s.opts.SessionIdle); err == nil && old.UserID != u.ID {
			if _, err := s.endSessions(r, "replaced", func() ([]store.EndedSession, error) {
				return s.store.EndSession(ctx, old.ID, "replaced")
			}); err != nil {
				return nil, err
			}
		}
	}
	absolute := s.opts.SessionAbsolute
	if tenant.SessionAbsoluteSeconds > 0 {
		absolute = time.Duration(tenant.SessionAbsoluteSeconds) * time.Second
	}
	now := s.now().UTC()
	secret := randomToken()
	bs := &store.BrowserSession{
		SecretHash: hashToken(secret),
		UserID:     u.ID,
		TenantID:   u.TenantID,
		AuthTime:   now,
		AMR:        amr,
		ACR:        acr,
		ExpiresAt:  now.Add(absolute),
		// The tenant's idle limit at sign-in; 0 keeps the deployment's.
		IdleSeconds: tenant.SessionIdleSeconds,
		UserAgent:   truncate(r.UserAgent(), 300),
		IP:          clientIP(r),
	}
	if err := s.store.CreateBrowserSession(ctx, bs); err != nil {
		return nil, err
	}
	if b.ID == "" {
		b.ID = randomToken()
	}
	b.SessionSecret = secret
	if err := s.writeBrowser(w, r, b); err != nil {
		return nil, err
	}
	if err := s.store.TouchLastLogin(ctx, u.ID); err != nil {
		s.logger(ctx).Warn("last login", "err", err)
	}
	return bs, nil
}

// truncate returns v as valid UTF-8 of at most n bytes, cut at a
// character boundary: it is what Portcullis stores of free text it does
// not control (user agents, error details), and PostgreSQL refuses text
// that is not UTF-8.
func truncate(v string, n int) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	if len(v) <= n {
		return v
	}
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n]
}
