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
	PasswordAttempts() store.PasswordAttempts
}

// Checker checks credentials.
type Checker struct {
	Store    Store
	Sessions *browser.Sessions // for audit rows with the request's address
	// Codes limits code and recovery-key attempts per user; Passwords
	// limits password attempts per user.
	Codes, Passwords *mfa.Guard
	Argon2           secrets.Argon2Params

	// dummyHash is checked when the email is unknown, so a wrong email
	// costs the same argon2id work as a wrong password. Made in the
	// background at start (Prepare), so it does not delay listening.
	dummyOnce sync.Once
	dummyHash string
}

// Prepare makes the stand-in hash for unknown emails.
func (c *Checker) Prepare() { c.dummyOnce.Do(c.makeDummyHash) }

func (c *Checker) makeDummyHash() {
	c.dummyHash, _ = secrets.HashPassword(secrets.GeneratePassword(), c.Argon2)
}

// HashPassword hashes a new password with the configured cost.
func (c *Checker) HashPassword(pw string) (string, error) { return secrets.HashPassword(pw, c.Argon2) }

// Password verifies email and password, and returns the user with their
// tenant (what the sign-in goes on with). An unknown email still costs one
// argon2id hash, so the answer takes the same time either way. The
// returned user is non-nil (possibly empty, for an unknown email) for
// audit.
func (c *Checker) Password(ctx context.Context, email, password string) (*store.User, *store.Tenant, bool, error) {
	user, tenant, err := c.Store.UserAndTenantByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		c.Prepare()
		_, _ = secrets.CheckPassword(c.dummyHash, password)
		return &store.User{}, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	ok, err := secrets.CheckPassword(user.PasswordHash, password)
	if err != nil {
		c.Sessions.Log.Error("stored password hash unreadable", "user_id", user.ID)
		return user, tenant, false, nil
	}
	if user.Disabled {
		return user, tenant, false, nil
	}
	return user, tenant, ok, nil
}

// ChargePassword applies the password attempt limit (per user, in the
// database, the same arithmetic as codes: five failures lock for a
// minute, doubling up to an hour) to a checked password, and audits a
// failure with the event failed. While locked even the right password is
// refused, with the same message as a wrong one, so the lock does not tell
// anyone that the account exists.
//
// The counter and the failure's audit events are written in one
// transaction, and an unknown email (u.ID "") runs the same statements
// against a user id that cannot exist: so a wrong email and a wrong
// password cost the same database work, one commit each, as they already
// cost the same hash (Password). A locked account is close to it, not
// equal: a second audit row instead of the counter write, also in one
// commit.
func (c *Checker) ChargePassword(r *http.Request, u *store.User, matched bool, failed *store.AuditEvent) (bool, error) {
	var ok bool
	err := c.Store.InTx(r.Context(), func(ctx context.Context) error {
		var events []*store.AuditEvent
		var err error
		ok, events, err = c.charge(ctx, u, matched)
		if err != nil {
			return err
		}
		if !ok {
			events = append(events, failed)
		}
		for _, e := range events {
			c.Sessions.Stamp(r, e)
			if err := c.Store.Audit(ctx, e); err != nil {
				return fmt.Errorf("audit %s: %w", e.Event, err)
			}
		}
		return nil
	})
	return ok, err
}

// charge runs the attempt counter for u inside the caller's transaction
// and returns whether the password counts as right and the lock events to
// audit.
func (c *Checker) charge(ctx context.Context, u *store.User, matched bool) (bool, []*store.AuditEvent, error) {
	if u.ID == "" {
		return false, nil, c.Store.PasswordAttempts().ChargeNobody(ctx)
	}
	err := c.Passwords.CheckRecoveryKey(ctx, u.ID, matched)
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

// Refusal is a refused code or key as the user sees it.
type Refusal struct {
	Msg    string
	Status int
}

// LockedMessage tells the user how long code entry stays locked.
func (c *Checker) LockedMessage(locked *mfa.LockedOutError) string {
	remaining := locked.Remaining(c.Codes.Clock.Now())
	if remaining < 50*time.Second {
		secs := int(remaining.Round(time.Second) / time.Second)
		if secs < 1 {
			secs = 1
		}
		return fmt.Sprintf("Too many wrong attempts. Try again in %d seconds.", secs)
	}
	mins := int((remaining + time.Minute - 1) / time.Minute)
	unit := "minutes"
	if mins == 1 {
		unit = "minute"
	}
	return fmt.Sprintf("Too many wrong attempts. Try again in %d %s.", mins, unit)
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
	secret, err := c.Store.ActiveSecret(r.Context(), u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotActive
	}
	if err != nil {
		return nil, err
	}
	_, err = c.Codes.CheckCode(r.Context(), u.ID, secret, code)
	return c.Refused(r, u, err)
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
		return &Refusal{MsgCodeMalformed, http.StatusBadRequest}, nil
	case isLocked && !locked.JustLocked:
		return &Refusal{c.LockedMessage(locked), http.StatusTooManyRequests}, nil
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
		return &Refusal{c.LockedMessage(locked), http.StatusTooManyRequests}, nil
	}
	return &Refusal{msg, http.StatusUnauthorized}, nil
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
		return nil, &Refusal{"Enter your 64-character recovery key.", http.StatusBadRequest}, nil
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
		return nil, &Refusal{c.LockedMessage(locked), http.StatusTooManyRequests}, nil
	case errors.Is(err, mfa.ErrInvalidRecoveryKey):
		c.Sessions.Audit(r, &store.AuditEvent{Event: audit.MFARecoveryFailed, TenantID: u.TenantID, ActorID: u.ID, SubjectID: u.ID})
		if errors.As(err, &locked) {
			c.auditLockout(r, u, locked)
			return nil, &Refusal{c.LockedMessage(locked), http.StatusTooManyRequests}, nil
		}
		return nil, &Refusal{MsgRecoveryWrong, http.StatusUnauthorized}, nil
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
