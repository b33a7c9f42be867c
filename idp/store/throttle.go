package store

import (
	"context"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
)

// AnyAccount and AnyAddress stand for "every account" and "every address"
// in a SignInCounter's key.
const (
	AnyAccount = "*"
	AnyAddress = "*"
)

// SignInCounter counts password failures for one key: an (account,
// address) pair, an account from any address (Address AnyAddress) or an
// address for any account (Account AnyAccount). Account is a user id, or
// a keyed digest of an email that matches no user (idp/credentials makes
// it), so unknown emails are counted like known ones. The zero Failures
// of a counter that has no row reads as a clean one.
type SignInCounter struct {
	Account     string
	Address     string
	Failures    int        // since the last lock, within the counting window
	Lockouts    int        // locks in a row (drives the doubling)
	LockedUntil *time.Time // a past time means not locked
	SucceededAt *time.Time // pairs only: the account signed in from this address
	UpdatedAt   time.Time
}

// TableName implements gorm's tabler.
func (SignInCounter) TableName() string { return "sign_in_failures" }

// LockedAt reports whether c is locked at now.
func (c SignInCounter) LockedAt(now time.Time) bool {
	return c.LockedUntil != nil && now.Before(*c.LockedUntil)
}

// SignInCounters are the three counters one password attempt is judged by.
type SignInCounters struct {
	Pair, Account, Address SignInCounter
}

func (cs *SignInCounters) place(rows []SignInCounter) {
	for _, r := range rows {
		switch {
		case r.Address == AnyAddress:
			cs.Account = r
		case r.Account == AnyAccount:
			cs.Address = r
		default:
			cs.Pair = r
		}
	}
}

func counterKeys(account, address string) SignInCounters {
	return SignInCounters{
		Pair:    SignInCounter{Account: account, Address: address},
		Account: SignInCounter{Account: account, Address: AnyAddress},
		Address: SignInCounter{Account: AnyAccount, Address: address},
	}
}

// SignInCountersFor reads the three counters of a password attempt on
// account from address, in one statement.
func (s *Store) SignInCountersFor(ctx context.Context, account, address string) (SignInCounters, error) {
	cs := counterKeys(account, address)
	var rows []SignInCounter
	err := s.conn(ctx).Where("(account = ? AND address IN (?, ?)) OR (account = ? AND address = ?)",
		account, address, AnyAddress, AnyAccount, address).Find(&rows).Error
	cs.place(rows)
	return cs, err
}

// ChargeSignInFailure adds one failure to each of the three counters in
// one statement, and returns them. Increments are atomic, so concurrent
// failures on any number of replicas are all counted. A counter whose last
// change is older than window starts again from this failure, and one
// untouched for a day forgets its past locks.
func (s *Store) ChargeSignInFailure(ctx context.Context, account, address string, window time.Duration) (SignInCounters, error) {
	now := s.now()
	cs := counterKeys(account, address)
	var rows []SignInCounter
	err := s.conn(ctx).Raw(
		`INSERT INTO sign_in_failures (account, address, failures, lockouts, updated_at)
		 VALUES (?, ?, 1, 0, ?), (?, ?, 1, 0, ?), (?, ?, 1, 0, ?)
		 ON CONFLICT (account, address) DO UPDATE SET
		    failures = CASE WHEN sign_in_failures.updated_at < ? THEN 1 ELSE sign_in_failures.failures + 1 END,
		    lockouts = CASE WHEN sign_in_failures.updated_at < ? THEN 0 ELSE sign_in_failures.lockouts END,
		    updated_at = excluded.updated_at
		 RETURNING account, address, failures, lockouts, locked_until, succeeded_at, updated_at`,
		account, address, now, account, AnyAddress, now, AnyAccount, address, now,
		now.Add(-window), now.Add(-24*time.Hour)).Scan(&rows).Error
	cs.place(rows)
	return cs, err
}

// LockSignIn locks the counter c until until, counts the lock and clears
// its failures, unless another replica's failure locked it first (its
// failures are then below atLeast); it reports whether it did.
func (s *Store) LockSignIn(ctx context.Context, c SignInCounter, until time.Time, atLeast int) (bool, error) {
	res := s.conn(ctx).Exec(
		`UPDATE sign_in_failures SET locked_until = ?, lockouts = lockouts + 1, failures = 0, updated_at = ?
		  WHERE account = ? AND address = ? AND failures >= ?`,
		until.UTC(), s.now(), c.Account, c.Address, atLeast)
	return res.RowsAffected == 1, res.Error
}

// SignInSucceeded records that account signed in from address: the pair
// counter is cleared and marked as a known address of the account.
func (s *Store) SignInSucceeded(ctx context.Context, account, address string) error {
	now := s.now()
	return s.conn(ctx).Exec(
		`INSERT INTO sign_in_failures (account, address, failures, lockouts, succeeded_at, updated_at)
		 VALUES (?, ?, 0, 0, ?, ?)
		 ON CONFLICT (account, address) DO UPDATE SET
		    failures = 0, lockouts = 0, locked_until = NULL,
		    succeeded_at = excluded.succeeded_at, updated_at = excluded.updated_at`,
		account, address, now, now).Error
}

// SignInLocks lists the account's counters that are locked now (per
// address, and account-wide with Address AnyAddress), soonest end first.
func (s *Store) SignInLocks(ctx context.Context, account string) ([]SignInCounter, error) {
	var rows []SignInCounter
	err := s.conn(ctx).Where("account = ? AND locked_until > ?", account, s.now()).
		Order("locked_until, address").Find(&rows).Error
	return rows, err
}

// Unlock clears the user's password counters (failures, locks and the
// doubling, on every address and account-wide; the addresses they signed
// in from stay known) and their code-entry counter (the replay guard
// stays), with the audit event "user.unlocked" (detail {"password_locks":
// N, "code_lock": bool, "via": ...}), in one transaction. It returns the
// locks it cleared. An unknown user is ErrNotFound.
func (s *Store) Unlock(ctx context.Context, userID string, actor Actor) (*UserLocks, error) {
	var cleared *UserLocks
	err := s.InTx(ctx, func(ctx context.Context) error {
		u, err := s.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if cleared, err = s.UserLocks(ctx, userID); err != nil {
			return err
		}
		if err := s.conn(ctx).Exec(
			`UPDATE sign_in_failures SET failures = 0, lockouts = 0, locked_until = NULL, updated_at = ?
			  WHERE account = ?`, s.now(), userID).Error; err != nil {
			return err
		}
		if err := s.conn(ctx).Exec(
			`UPDATE mfa_attempts SET failures = 0, lockouts = 0, locked_until = NULL, version = version + 1
			  WHERE user_id = ? AND (failures > 0 OR lockouts > 0 OR locked_until IS NOT NULL)`, userID).Error; err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.UserUnlocked, TenantID: u.TenantID, SubjectID: u.ID}, struct {
			PasswordLocks int    `json:"password_locks"`
			CodeLock      bool   `json:"code_lock"`
			Via           string `json:"via,omitempty"`
		}{len(cleared.Password), cleared.CodesUntil != nil, actor.Via})
	})
	if err != nil {
		return nil, err
	}
	return cleared, nil
}

// UserLocks are the locks on one user now: password entry from some
// addresses (Address AnyAddress: every address the user never signed in
// from), and code entry.
type UserLocks struct {
	Password   []SignInCounter
	CodesUntil *time.Time
}

// Locked reports whether any lock holds.
func (l *UserLocks) Locked() bool { return l != nil && (len(l.Password) > 0 || l.CodesUntil != nil) }

// UserLocks returns the locks on the user now.
func (s *Store) UserLocks(ctx context.Context, userID string) (*UserLocks, error) {
	locks := &UserLocks{}
	var err error
	if locks.Password, err = s.SignInLocks(ctx, userID); err != nil {
		return nil, err
	}
	var rows []mfaAttemptsRow
	if err := s.conn(ctx).Where("user_id = ? AND locked_until > ?", userID, s.now()).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 1 && rows[0].LockedUntil != nil {
		until := rows[0].LockedUntil.UTC()
		locks.CodesUntil = &until
	}
	return locks, nil
}

// TenantPasswordLocks returns the password locks holding now on the
// tenant's users, by user id.
func (s *Store) TenantPasswordLocks(ctx context.Context, tenantID string) (map[string][]SignInCounter, error) {
	var rows []SignInCounter
	err := s.conn(ctx).Where("locked_until > ? AND account IN (SELECT id FROM users WHERE tenant_id = ?)", s.now(), tenantID).
		Order("locked_until, address").Find(&rows).Error
	out := make(map[string][]SignInCounter)
	for _, r := range rows {
		out[r.Account] = append(out[r.Account], r)
	}
	return out, err
}

// knownAddressRetention is how long an address the account signed in from
// stays known; signInCounterRetention how long an idle, unlocked counter is
// kept.
const (
	knownAddressRetention  = 90 * 24 * time.Hour
	signInCounterRetention = 24 * time.Hour
)

// deleteIdleSignInCounters deletes counters that count nothing any more.
func (s *Store) deleteIdleSignInCounters(ctx context.Context, now time.Time) (int64, error) {
	res := s.conn(ctx).Where(
		"updated_at < ? AND (locked_until IS NULL OR locked_until < ?) AND (succeeded_at IS NULL OR succeeded_at < ?)",
		now.Add(-signInCounterRetention), now, now.Add(-knownAddressRetention)).Delete(&SignInCounter{})
	return res.RowsAffected, res.Error
}
