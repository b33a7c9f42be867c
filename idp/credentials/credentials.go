// Package credentials checks what a user presents (a password, a TOTP
// code, a recovery key) under the attempt limits kept in the database, and
// says what the user is told when it is refused. The sign-in pages and the
// account page both check credentials through it, so a wrong code costs
// the same and reads the same wherever it is typed.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-idp/portcullis/idp/throttle"
	"github.com/portcullis-idp/portcullis/idp/web"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
)

// User-facing messages.
const (
	// MsgBadCredentials is the one answer for an unknown email, a wrong
	// password and a disabled account, so none can be told apart.
	MsgBadCredentials = "The email or password is not correct."
	MsgCodeMalformed  = "Enter the 6-digit code from your authenticator app."
	MsgCodeWrong      = "That code is not correct. Check the code in your app and try again."
	MsgCodeReused     = "This code was already used. Wait for the next one."
	MsgRecoveryWrong  = "That recovery key is not correct."
	MsgRecoverySpent  = "That recovery key was already used."
	MsgNotActive      = "Two-factor authentication is not active."
)

// Store is what checking credentials needs of the database.
type Store interface {
	UserAndTenantByEmail(ctx context.Context, email string) (*store.User, *store.Tenant, error)
	ActiveSecret(ctx context.Context, userID string) (mfa.Secret, error)
	RecoveryKeyMatches(ctx context.Context, userID string, hash []byte) (bool, error)
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	Audit(ctx context.Context, e *store.AuditEvent) error
	SignInCountersFor(ctx context.Context, account, address string) (store.SignInCounters, error)
	ChargeSignInFailure(ctx context.Context, account, address string, window time.Duration) (store.SignInCounters, error)
	LockSignIn(ctx context.Context, c store.SignInCounter, until time.Time, atLeast int) (bool, error)
	SignInSucceeded(ctx context.Context, account, address string) error
	SetPasswordHash(ctx context.Context, userID, hash string) error
}

// Checker checks credentials.
type Checker struct {
	Store    Store
	Sessions *browser.Sessions // for audit rows with the request's address
	// Codes limits code and recovery-key attempts per user (reaching them
	// needs the password, so an attacker cannot lock a stranger out).
	Codes *mfa.Guard
	// PasswordLimits are the password failure counters' rules; the zero
	// value means DefaultPasswordLimits.
	PasswordLimits PasswordLimits
	// Hashing admits password hashes (nil: no limit, for tools).
	Hashing *throttle.Gate
	// AccountKey keys the digest that stands for an unknown email in the
	// failure counters.
	AccountKey []byte
	Argon2     secrets.Argon2Params

	// dummyHash is checked when the email is unknown, so a wrong email
	// costs the same argon2id work as a wrong password. Made in the
	// background at start (Prepare), so it does not delay listening.
	dummyOnce sync.Once
	dummyHash string
}

// Refusal is a refused password, code or key as the user sees it.
type Refusal struct {
	Msg    string
	Status int
	// RetryAfter is set on a 429 or 503 refusal: how long until trying
	// again can succeed.
	RetryAfter time.Duration
}

// LockedMessage tells the user how long code entry stays locked.
func (c *Checker) LockedMessage(locked *mfa.LockedOutError) string {
	return "Too many wrong attempts. Try again in " + web.WaitText(locked.Remaining(c.Codes.Clock.Now())) + "."
}

// lockedRefusal is the 429 answer while code entry is locked.
func (c *Checker) lockedRefusal(locked *mfa.LockedOutError) *Refusal {
	return &Refusal{Msg: c.LockedMessage(locked), Status: http.StatusTooManyRequests,
		RetryAfter: locked.Remaining(c.Codes.Clock.Now())}
}

// Locked returns the message to show while u's code entry is locked, or "".
func (c *Checker) Locked(ctx context.Context, u *store.User) (string, error) {
	var locked *mfa.LockedOutError
	if err := c.Codes.Admit(ctx, u.ID); errors.As(err, &locked) {
		return c.LockedMessage(locked), nil
	} else if err != nil {
		return "", err
	}
	return "", nil
}

// ErrNotActive is Code's answer for a user without an active
// authenticator (an admin may have reset it meanwhile).
var ErrNotActive = errors.New("credentials: two-factor authentication is not active")

// Code checks a code from u's active authenticator through the guard
// (replay and attempt limit). It returns nil when the code is accepted,
// the refusal to show otherwise; err is for everything else.
func (c *Checker) Code(r *http.Request, u *store.User, code string) (*Refusal, error) {
	_, refused, err := c.CodeCounting(r, u, code)
	return refused, err
}

// CodeCounting is Code that also returns, when the code is accepted, how
// many wrong codes were tried since the user's last accepted one: the
// sign-in tells the user.
func (c *Checker) CodeCounting(r *http.Request, u *store.User, code string) (int, *Refusal, error) {
	secret, err := c.Store.ActiveSecret(r.Context(), u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, ErrNotActive
	}
	if err != nil {
		return 0, nil, err
	}
	_, prior, err := c.Codes.CheckCodeCounting(r.Context(), u.ID, secret, code)
	refused, err := c.Refused(r, u, err)
	return prior, refused, err
}

// Refused turns a code check's error into the refusal shown, with its
// audit events; nil for nil, and any other error is returned.
func (c *Checker) Refused(r *http.Request, u *store.User, err error) (*Refusal, error) {
	if err == nil {
		return nil, nil
	}
	var locked *mfa.LockedOutError
	isLocked := errors.As(err, &locked)
	switch {
	case errors.Is(err, mfa.ErrMalformedCode):
		return &Refusal{Msg: MsgCodeMalformed, Status: http.StatusBadRequest}, nil
	case isLocked && !locked.JustLocked:
		return c.lockedRefusal(locked), nil
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrCodeReused):
	default:
		return nil, err
	}
	reason := "wrong"
	msg := MsgCodeWrong
	if errors.Is(err, mfa.ErrCodeReused) {
		reason, msg = "reused", MsgCodeReused
	}
	c.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFACodeFailed, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID,
		Detail: `{"reason":"` + reason + `"}`})
	if isLocked {
		c.auditLockout(r, u, locked)
		return c.lockedRefusal(locked), nil
	}
	return &Refusal{Msg: msg, Status: http.StatusUnauthorized}, nil
}

func (c *Checker) auditLockout(r *http.Request, u *store.User, locked *mfa.LockedOutError) {
	c.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFALockout, TenantID: u.TenantID, SubjectID: u.ID,
		Detail: fmt.Sprintf(`{"until":%q}`, locked.Until.UTC().Format(time.RFC3339))})
}

// maxRecoveryKeyLen bounds what is read of a typed recovery key.
const maxRecoveryKeyLen = 200

// RecoveryKey checks a typed recovery key against u's, charged against
// the same limit as codes. It returns the key's hash when it matched (to
// spend it), or the refusal to show.
func (c *Checker) RecoveryKey(r *http.Request, u *store.User, input string) ([]byte, *Refusal, error) {
	if strings.TrimSpace(input) == "" || len(input) > maxRecoveryKeyLen {
		return nil, &Refusal{Msg: "Enter your 64-character recovery key.", Status: http.StatusBadRequest}, nil
	}
	var hash []byte
	matched := false
	if key, ok := mfa.NormalizeRecoveryKey(input); ok {
		hash = mfa.HashRecoveryKey(key)
		var err error
		if matched, err = c.Store.RecoveryKeyMatches(r.Context(), u.ID, hash); err != nil {
			return nil, nil, err
		}
	}
	err := c.Codes.CheckRecoveryKey(r.Context(), u.ID, matched)
	var locked *mfa.LockedOutError
	switch {
	case err == nil:
		return hash, nil, nil
	case errors.As(err, &locked) && !locked.JustLocked:
		return nil, c.lockedRefusal(locked), nil
	case errors.Is(err, mfa.ErrInvalidRecoveryKey):
		c.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFARecoveryFailed, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
		if errors.As(err, &locked) {
			c.auditLockout(r, u, locked)
			return nil, c.lockedRefusal(locked), nil
		}
		return nil, &Refusal{Msg: MsgRecoveryWrong, Status: http.StatusUnauthorized}, nil
	default:
		return nil, nil, err
	}
}

// RecoveryKeyText is the content of the downloadable key file.
func RecoveryKeyText(email string, key mfa.RecoveryKey) string {
	return "Portcullis recovery key\n" +
		"Account: " + email + "\n\n" +
		strings.Join(key.Lines(), "\n") + "\n\n" +
		"This key signs you in once if you lose your authenticator app.\n" +
		"Spaces, dashes and upper or lower case do not matter when you type it.\n" +
		"Keep it somewhere safe, away from your phone.\n"
}

// WriteRecoveryKeyFile answers with the key as a text file download.
func WriteRecoveryKeyFile(w http.ResponseWriter, email string, key mfa.RecoveryKey) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="portcullis-recovery-key.txt"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte(RecoveryKeyText(email, key)))
}

// Clock adapts a clock for the mfa package.
func Clock(now func() time.Time) mfa.Clock {
	return mfa.ClockFunc(func() time.Time { return now().UTC() })
}

// Headers sets what the refusal's answer carries besides its page:
// Retry-After on a 429 or 503.
func (f *Refusal) Headers(w http.ResponseWriter) {
	if f.RetryAfter > 0 {
		web.SetRetryAfter(w, f.RetryAfter)
	}
}
