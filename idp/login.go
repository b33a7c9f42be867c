package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/templates"
)

// msgBadCredentials is the one answer for an unknown email, a wrong
// password and a disabled account, so none can be told apart.
const msgBadCredentials = "The email or password is not correct."

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request) error {
	pending, err := s.pendingRequest(w, r, r.URL.Query().Get("auth_request"))
	if err != nil {
		return err
	}
	if pending.Stage != stageLogin {
		return errRequestExpired
	}
	form, _ := url.ParseQuery(pending.Form)
	return s.renderLogin(w, r, pending, form.Get("login_hint"), "", http.StatusOK)
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, pending *store.AuthRequest, email, msg string, status int) error {
	clientName := ""
	if c, err := s.store.ClientByID(r.Context(), pending.ClientID); err == nil {
		clientName = c.Name
	}
	pageHeaders(w, "")
	w.WriteHeader(status)
	return s.tpl.Login(w, templates.LoginPage{
		Page:          templates.Page{Title: "Sign in", RequestID: RequestID(r.Context())},
		Action:        "/login",
		AuthRequestID: pending.ID,
		Email:         truncate(email, 320),
		ClientName:    clientName,
		Error:         msg,
	})
}

func (s *Server) submitLogin(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("The form could not be read.")
	}
	pending, err := s.pendingRequest(w, r, r.PostForm.Get("auth_request"))
	if err != nil {
		return err
	}
	if pending.Stage != stageLogin {
		return errRequestExpired
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password")
	if email == "" || password == "" || len(email) > 320 || len(password) > MaxPasswordLength {
		return s.renderLogin(w, r, pending, email, "Enter your email and password.", http.StatusBadRequest)
	}
	user, ok, err := s.checkCredentials(r, email, password)
	if err != nil {
		return err
	}
	failed := &store.AuditEvent{Event: audit.LoginFailed, TenantID: user.TenantID, SubjectID: user.ID}
	if ok, err = s.passwordAttempt(r, user, ok, failed); err != nil {
		return err
	}
	if !ok {
		return s.renderLogin(w, r, pending, email, msgBadCredentials, http.StatusUnauthorized)
	}
	s.audit(r, &store.AuditEvent{Event: audit.LoginPassword, TenantID: user.TenantID, ActorID: user.ID, SubjectID: user.ID})
	return s.afterPassword(w, r, pending, user)
}

// passwordAttempt applies the password step's attempt limit (per user, in
// the database, the same arithmetic as codes: five failures lock for a
// minute, doubling up to an hour) to a checked password, and audits a
// failure with the event failed. While locked even the right password is
// refused, with the same message as a wrong one, so the lock does not tell
// anyone that the account exists.
//
// The counter and the failure's audit events are written in one
// transaction, and an unknown email (u.ID "") runs the same statements
// against a user id that cannot exist: so a wrong email and a wrong
// password cost the same database work, one commit each, as they already
// cost the same hash (checkCredentials). A locked account is close to it,
// not equal: a second audit row instead of the counter write, also in one
// commit.
func (s *Server) passwordAttempt(r *http.Request, u *store.User, matched bool, failed *store.AuditEvent) (bool, error) {
	var ok bool
	err := s.store.InTx(r.Context(), func(ctx context.Context) error {
		var events []*store.AuditEvent
		var err error
		ok, events, err = s.chargePassword(ctx, u, matched)
		if err != nil {
			return err
		}
		if !ok {
			events = append(events, failed)
		}
		for _, e := range events {
			e.IP, e.UserAgent = clientIP(r), truncate(r.UserAgent(), 300)
			if err := s.store.Audit(ctx, e); err != nil {
				return fmt.Errorf("audit %s: %w", e.Event, err)
			}
		}
		return nil
	})
	return ok, err
}

// chargePassword runs the attempt counter for u inside the caller's
// transaction and returns whether the password counts as right and the
// lock events to audit.
func (s *Server) chargePassword(ctx context.Context, u *store.User, matched bool) (bool, []*store.AuditEvent, error) {
	if u.ID == "" {
		return false, nil, s.store.PasswordAttempts().ChargeNobody(ctx)
	}
	err := s.passwordGuard.CheckRecoveryKey(ctx, u.ID, matched)
	var locked *mfa.LockedOutError
	switch {
	case err == nil:
		return matched, nil, nil
	case errors.As(err, &locked):
		e := &store.AuditEvent{Event: audit.LoginLocked, TenantID: u.TenantID, SubjectID: u.ID,
			Detail: fmt.Sprintf(`{"until":%q}`, locked.Until.UTC().Format(time.RFC3339))}
		if locked.JustLocked {
			e.Event = audit.LoginLockout
		}
		return false, []*store.AuditEvent{e}, nil
	case errors.Is(err, mfa.ErrInvalidRecoveryKey):
		return false, nil, nil
	default:
		return false, nil, err
	}
}

func (s *Server) makeDummyHash() {
	s.dummyHash, _ = HashPassword(GeneratePassword(), *s.opts.Argon2)
}

// checkCredentials verifies email and password. An unknown email still
// costs one argon2id hash, so the answer takes the same time either way.
// The returned user is non-nil (possibly empty) for audit.
func (s *Server) checkCredentials(r *http.Request, email, password string) (*store.User, bool, error) {
	user, err := s.store.UserByEmail(r.Context(), email)
	if errors.Is(err, store.ErrNotFound) {
		s.dummyOnce.Do(s.makeDummyHash)
		_, _ = CheckPassword(s.dummyHash, password)
		return &store.User{}, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	ok, err := CheckPassword(user.PasswordHash, password)
	if err != nil {
		s.logger(r.Context()).Error("stored password hash unreadable", "user_id", user.ID)
		return user, false, nil
	}
	if user.Disabled {
		return user, false, nil
	}
	return user, ok, nil
}

// hintClaims are the claims of an id_token_hint Portcullis relies on.
type hintClaims struct {
	Iss string   `json:"iss"`
	Sub string   `json:"sub"`
	Sid string   `json:"sid"`
	Aud audience `json:"aud"`
}

// audience is the aud claim: one string or an array of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// verifyIDTokenHint checks that hint is an ID token signed by one of our
// published keys (expiry ignored, as the specs allow for hints) and returns
// its claims. Unsigned ("alg": "none") or foreign tokens are rejected.
func (s *Server) verifyIDTokenHint(hint string) (*hintClaims, bool) {
	if len(hint) > 8192 {
		return nil, false
	}
	jws, err := jose.ParseSigned(hint)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, false
	}
	key, ok := s.keys.PublicKey(jws.Signatures[0].Header.KeyID)
	if !ok || jws.Signatures[0].Header.Algorithm != key.Algorithm {
		return nil, false
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, false
	}
	var c hintClaims
	if json.Unmarshal(payload, &c) != nil || c.Iss != s.issuer || c.Sub == "" {
		return nil, false
	}
	return &c, true
}

// audit writes an audit event with the request's IP and user agent; a
// failure is logged, never shown.
func (s *Server) audit(r *http.Request, e *store.AuditEvent) {
	e.IP = clientIP(r)
	e.UserAgent = truncate(r.UserAgent(), 300)
	if err := s.store.Audit(r.Context(), e); err != nil {
		s.logger(r.Context()).Error("audit write failed", "event", e.Event, "err", err)
	}
}
