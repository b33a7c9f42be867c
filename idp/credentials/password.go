package credentials

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/throttle"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/mfa"
)

// Limit is the rule of one password failure counter.
type Limit struct {
	// Lock says after how many failures the counter locks, and for how
	// long (doubling with each lock in a row).
	Lock mfa.LockoutPolicy
	// Window: failures further apart than this start the count again.
	Window time.Duration
}

// PasswordLimits are the rules of the three counters a password attempt
// is judged by. They are designed so that an attacker cannot turn them
// against the account's owner:
//   - Pair counts failures on one account from one address, and locks only
//     that address out of that account. The owner elsewhere is not refused.
//   - Account counts failures on the account from every address (guessing
//     spread over many addresses). It does not lock the account: it makes
//     addresses the account never signed in from wait a short, capped time.
//   - Address counts failures from one address on every account
//     (credential stuffing), and makes that address wait; an address the
//     account signed in from before is not held back by it.
//
// Every counter lives in the database, so every replica sees the same.
type PasswordLimits struct{ Pair, Account, Address Limit }

// DefaultPasswordLimits: five failures lock a pair for 1, 2, 4 … minutes
// (at most an hour); twenty on an account slow new addresses down for 30 s,
// doubling to at most 15 minutes; fifty from one address hold it back for
// 1, 2, 4 … minutes (at most an hour). A counter starts again after an
// hour without failures.
var DefaultPasswordLimits = PasswordLimits{
	Pair:    Limit{Lock: mfa.LockoutPolicy{MaxFailures: 5, BaseCooldown: time.Minute, MaxCooldown: time.Hour}, Window: time.Hour},
	Account: Limit{Lock: mfa.LockoutPolicy{MaxFailures: 20, BaseCooldown: 30 * time.Second, MaxCooldown: 15 * time.Minute}, Window: time.Hour},
	Address: Limit{Lock: mfa.LockoutPolicy{MaxFailures: 50, BaseCooldown: time.Minute, MaxCooldown: time.Hour}, Window: time.Hour},
}

// KnownAddressFor is how long an address the account signed in from
// exempts it from the account-wide and address-wide slow-downs.
const KnownAddressFor = 90 * 24 * time.Hour

// Messages of a throttled password attempt (429). None depends on whether
// the account exists: unknown emails are counted like known ones.
const (
	MsgPairLocked    = "Too many failed sign-ins to this account from your network. Try again in %s."
	MsgAddressLocked = "Too many failed sign-ins from your network. Try again in %s."
	MsgAccountSlowed = "This account has had too many failed sign-ins. Try again in %s."
)

// Lock scopes, as audit details say them.
const (
	ScopePair    = "account_address"
	ScopeAccount = "account"
	ScopeAddress = "address"
)

func (c *Checker) limits() PasswordLimits {
	if c.PasswordLimits == (PasswordLimits{}) {
		return DefaultPasswordLimits
	}
	return c.PasswordLimits
}

// Prepare makes the stand-in hash for unknown emails.
func (c *Checker) Prepare() { c.dummyOnce.Do(c.makeDummyHash) }

func (c *Checker) makeDummyHash() {
	c.dummyHash, _ = secrets.HashPassword(secrets.GeneratePassword(), c.Argon2)
}

// HashPassword hashes a new password with the configured cost, through
// the admission gate (an error matching throttle.ErrBusy when it is full).
func (c *Checker) HashPassword(ctx context.Context, pw string) (string, error) {
	leave, err := c.enter(ctx)
	if err != nil {
		return "", err
	}
	defer leave()
	return secrets.HashPassword(pw, c.Argon2)
}

func (c *Checker) enter(ctx context.Context) (func(), error) {
	if c.Hashing == nil {
		return func() {}, nil
	}
	return c.Hashing.Enter(ctx)
}

// accountFor is the account a failure counter is kept for: the user's id,
// or for an email that matches no user a keyed digest of the email, so
// unknown emails are limited exactly like known ones (and the limits say
// nothing about which exist) without storing what strangers type.
func (c *Checker) accountFor(u *store.User, email string) string {
	if u != nil && u.ID != "" {
		return u.ID
	}
	mac := hmac.New(sha256.New, c.AccountKey)
	mac.Write([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "?" + hex.EncodeToString(mac.Sum(nil)[:16])
}

// SignIn checks an email and password typed on the sign-in page, under the
// failure counters of the request's client address, and returns the user
// with their tenant, or the refusal to show. A throttled attempt is
// answered before any hash; every other one costs one argon2id hash
// (a stand-in hash for an unknown email), so a wrong email, a wrong
// password and a disabled account take the same time and get the same
// answer.
func (c *Checker) SignIn(r *http.Request, email, password string) (*store.User, *store.Tenant, *Refusal, error) {
	ctx := r.Context()
	user, tenant, err := c.Store.UserAndTenantByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		user, tenant, err = nil, nil, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	hash := ""
	if user != nil {
		hash = user.PasswordHash
	}
	failed := &store.AuditEvent{Event: audit.LoginFailed}
	if user != nil {
		failed.TenantID, failed.SubjectID = user.TenantID, user.ID
	}
	ok, refusal, err := c.password(r, user, c.accountFor(user, email), hash, password, failed)
	if err != nil || refusal != nil {
		return nil, nil, refusal, err
	}
	if !ok || user == nil || user.Disabled {
		return nil, nil, &Refusal{Msg: MsgBadCredentials, Status: http.StatusUnauthorized}, nil
	}
	return user, tenant, nil, nil
}

// CurrentPassword checks the password of a signed-in user (the account
// page asks for it before changing it), under the same counters as the
// sign-in. It reports whether it matched, or the refusal when the
// attempt is throttled; failed is audited when it did not match.
func (c *Checker) CurrentPassword(r *http.Request, u *store.User, password string, failed *store.AuditEvent) (bool, *Refusal, error) {
	return c.password(r, u, u.ID, u.PasswordHash, password, failed)
}

// password is a password check under the counters of (account, the
// request's address): refused unthrottled, then hashed through the gate,
// then recorded (a success marks the address known; a failure is charged
// to all three counters and audited, with every lock it sets).
func (c *Checker) password(r *http.Request, u *store.User, account, hash, password string, failed *store.AuditEvent) (bool, *Refusal, error) {
	ctx := r.Context()
	address := web.ThrottleKey(web.ClientAddress(r))
	now := time.Now()
	counters, err := c.Store.SignInCountersFor(ctx, account, address)
	if err != nil {
		return false, nil, err
	}
	if refusal, scope, until := c.throttled(counters, now); refusal != nil {
		c.Sessions.Audit(r, lockEvent(&store.AuditEvent{Event: audit.LoginLocked}, u, scope, address, until))
		return false, refusal, nil
	}

	leave, err := c.enter(ctx)
	if errors.Is(err, throttle.ErrBusy) {
		return false, &Refusal{Msg: web.ErrBusy.Msg, Status: http.StatusServiceUnavailable, RetryAfter: web.ErrBusy.RetryAfter}, nil
	}
	if err != nil {
		return false, nil, err
	}
	matched := false
	if hash == "" {
		c.Prepare()
		_, _ = secrets.CheckPassword(c.dummyHash, password)
	} else if matched, err = secrets.CheckPassword(hash, password); err != nil {
		c.Sessions.Log.Error("stored password hash unreadable", "user_id", u.ID)
		matched = false
	}
	leave()

	if matched && !u.Disabled {
		if needsSuccessRecord(counters.Pair, now) {
			if err := c.Store.SignInSucceeded(ctx, account, address); err != nil {
				return false, nil, err
			}
		}
		if secrets.NeedsRehash(hash, c.Argon2) {
			c.rehash(ctx, u, password)
		}
		return true, nil, nil
	}
	return false, nil, c.chargeFailure(r, u, account, address, failed)
}

// rehash replaces an imported hash (bcrypt, PBKDF2) or one at an older
// cost by argon2id at the current cost, now that the password is known to
// be right. A failure is logged and retried at the next sign-in: the
// sign-in itself goes on.
func (c *Checker) rehash(ctx context.Context, u *store.User, password string) {
	fresh, err := c.HashPassword(ctx, password)
	if err == nil {
		err = c.Store.SetPasswordHash(ctx, u.ID, fresh)
	}
	if err != nil {
		c.Sessions.Log.Warn("password not rehashed; trying again at the next sign-in", "user_id", u.ID, "err", err)
	}
}

// needsSuccessRecord tells whether a success must be written: the pair has
// something to clear, or its "known address" mark is missing or a day old
// (refreshed at most daily, so a regular sign-in writes nothing).
func needsSuccessRecord(pair store.SignInCounter, now time.Time) bool {
	return pair.Failures > 0 || pair.Lockouts > 0 || pair.LockedUntil != nil ||
		pair.SucceededAt == nil || now.Sub(*pair.SucceededAt) > 24*time.Hour
}

// throttled returns the refusal for an attempt the counters hold back,
// with the scope of the lock and its end.
func (c *Checker) throttled(cs store.SignInCounters, now time.Time) (*Refusal, string, time.Time) {
	known := cs.Pair.SucceededAt != nil && now.Sub(*cs.Pair.SucceededAt) < KnownAddressFor
	refuse := func(msg, scope string, until time.Time) (*Refusal, string, time.Time) {
		wait := until.Sub(now)
		return &Refusal{Msg: fmt.Sprintf(msg, web.WaitText(wait)), Status: http.StatusTooManyRequests, RetryAfter: wait}, scope, until
	}
	switch {
	case cs.Pair.LockedAt(now):
		return refuse(MsgPairLocked, ScopePair, *cs.Pair.LockedUntil)
	case !known && cs.Address.LockedAt(now):
		return refuse(MsgAddressLocked, ScopeAddress, *cs.Address.LockedUntil)
	case !known && cs.Account.LockedAt(now):
		return refuse(MsgAccountSlowed, ScopeAccount, *cs.Account.LockedUntil)
	}
	return nil, "", time.Time{}
}

// chargeFailure counts a failed password on the three counters, locks
// those that reached their limit, and audits the failure and each lock,
// in one transaction.
func (c *Checker) chargeFailure(r *http.Request, u *store.User, account, address string, failed *store.AuditEvent) error {
	limits := c.limits()
	window := max(limits.Pair.Window, limits.Account.Window, limits.Address.Window)
	return c.Store.InTx(r.Context(), func(ctx context.Context) error {
		cs, err := c.Store.ChargeSignInFailure(ctx, account, address, window)
		if err != nil {
			return err
		}
		events := []*store.AuditEvent{failed}
		for _, k := range []struct {
			counter store.SignInCounter
			limit   Limit
			scope   string
		}{
			{cs.Pair, limits.Pair, ScopePair},
			{cs.Account, limits.Account, ScopeAccount},
			{cs.Address, limits.Address, ScopeAddress},
		} {
			if k.counter.Failures < k.limit.Lock.MaxFailures {
				continue
			}
			until := time.Now().Add(k.limit.Lock.Cooldown(k.counter.Lockouts))
			locked, err := c.Store.LockSignIn(ctx, k.counter, until, k.limit.Lock.MaxFailures)
			if err != nil {
				return err
			}
			if locked {
				events = append(events, lockEvent(&store.AuditEvent{Event: audit.LoginLockout}, u, k.scope, address, until))
			}
		}
		for _, e := range events {
			c.Sessions.Stamp(r, e)
			if err := c.Store.Audit(ctx, e); err != nil {
				return fmt.Errorf("audit %s: %w", e.Event, err)
			}
		}
		return nil
	})
}

// lockEvent fills in e, the audit row of a lock set or of an attempt it
// refused. An address-wide lock is about no one user.
func lockEvent(e *store.AuditEvent, u *store.User, scope, address string, until time.Time) *store.AuditEvent {
	e.Detail = fmt.Sprintf(`{"until":%q,"scope":%q,"address":%q}`, until.UTC().Format(time.RFC3339), scope, address)
	if u != nil && scope != ScopeAddress {
		e.TenantID, e.SubjectID = u.TenantID, u.ID
	}
	return e
}
