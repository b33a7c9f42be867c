package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/portcullis-idp/portcullis/mfa"
)

// Second-factor storage: one TOTP authenticator per user (pending until the
// first correct code confirms it), the user's recovery paper key, and the
// attempt counter of mfa.Guard. Every statement goes through s.conn(ctx), so
// all of it joins a transaction carried in ctx.
//
// Secrets arrive sealed (mfa.Cipher with mfa.AAD("mfa_authenticators",
// "secret", userID)) and recovery keys arrive hashed (mfa.HashRecoveryKey):
// the store never sees a plaintext secret or key.

var _ mfa.Store = (*Store)(nil)

// ErrMFAActive is returned by BeginEnrollment when the user already has a
// confirmed authenticator: reset it (ResetMFA, or a spent recovery key)
// before enrolling again.
var ErrMFAActive = errors.New("store: the user already has an active authenticator; reset 2FA before enrolling again")

// errEmptyRecoveryHash guards against storing a key that anything (even an
// empty input) would match.
var errEmptyRecoveryHash = errors.New("store: empty recovery key hash")

// mfaAuthenticatorRow is a TOTP authenticator; ConfirmedAt is nil while
// enrollment is pending.
type mfaAuthenticatorRow struct {
	UserID      string `gorm:"primaryKey"`
	Secret      string // sealed, see the top of this file
	ConfirmedAt *time.Time
	LastStep    int64
	CreatedAt   time.Time
}

func (mfaAuthenticatorRow) TableName() string { return "mfa_authenticators" }

// mfaRecoveryKeyRow is a recovery paper key, stored hashed; UsedAt is set
// once it was spent.
type mfaRecoveryKeyRow struct {
	UserID    string `gorm:"primaryKey"`
	KeyHash   []byte
	CreatedAt time.Time
	UsedAt    *time.Time
}

func (mfaRecoveryKeyRow) TableName() string { return "mfa_recovery_keys" }

// mfaAttemptsRow is mfa.Attempts; LockedUntil nil is the zero time.
type mfaAttemptsRow struct {
	UserID      string `gorm:"primaryKey"`
	Failures    int
	Lockouts    int
	LockedUntil *time.Time
	Version     int64
}

func (mfaAttemptsRow) TableName() string { return "mfa_attempts" }

// passwordAttemptsRow is the password step's counter, the same shape.
type passwordAttemptsRow struct {
	UserID      string `gorm:"primaryKey"`
	Failures    int
	Lockouts    int
	LockedUntil *time.Time
	Version     int64
}

func (passwordAttemptsRow) TableName() string { return "password_attempts" }

// --- mfa.Store ---

// AdvanceTOTPStep burns step for userID: one conditional UPDATE that raises
// last_step of the user's confirmed authenticator only when step is greater,
// so of any number of replicas presenting the same step exactly one wins.
// Every other outcome, a step not greater than the last one and also no
// confirmed authenticator (none, still pending, or reset meanwhile), is
// mfa.ErrCodeReused: the code is refused either way. A pending authenticator
// is confirmed with ConfirmEnrollment, which records its first step.
func (s *Store) AdvanceTOTPStep(ctx context.Context, userID string, step int64) error {
	res := s.conn(ctx).Exec(
		`UPDATE mfa_authenticators SET last_step = ?
		  WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?`,
		step, userID, step)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return mfa.ErrCodeReused
	}
	return nil
}

// LoadAttempts returns the user's attempt counter, or the zero value
// (Version 0) when there is none.
func (s *Store) LoadAttempts(ctx context.Context, userID string) (mfa.Attempts, error) {
	return s.loadAttempts(ctx, "mfa_attempts", userID)
}

// SaveAttempts writes next only if the stored version still equals
// prevVersion, and stores version prevVersion+1 (which is next.Version as
// the Guard passes it). prevVersion 0 inserts; a row that exists already
// means another writer won. Both cases are one statement whose row count
// decides, so a lost race is (false, nil) and never an error, not even
// inside a PostgreSQL transaction (a failed INSERT would abort it).
func (s *Store) SaveAttempts(ctx context.Context, userID string, prevVersion int64, next mfa.Attempts) (bool, error) {
	return s.saveAttempts(ctx, "mfa_attempts", userID, prevVersion, next)
}

// LockAttempts implements mfa.CounterLocker: inside a transaction, it
// returns the user's code-entry counter and holds its row until the
// transaction ends. One statement: an upsert whose no-op update takes the
// row lock (creating the row first when the user has none) and returns it.
func (s *Store) LockAttempts(ctx context.Context, userID string) (mfa.Attempts, error) {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); !ok {
		return mfa.Attempts{}, errors.New("store: LockAttempts needs a transaction")
	}
	var r mfaAttemptsRow
	err := s.conn(ctx).Raw(
		`INSERT INTO mfa_attempts (user_id, failures, lockouts, locked_until, version)
		 VALUES (?, 0, 0, NULL, 1)
		 ON CONFLICT (user_id) DO UPDATE SET version = mfa_attempts.version
		 RETURNING user_id, failures, lockouts, locked_until, version`, userID).Scan(&r).Error
	if err != nil {
		return mfa.Attempts{}, err
	}
	a := mfa.Attempts{Failures: r.Failures, Lockouts: r.Lockouts, Version: r.Version}
	if r.LockedUntil != nil {
		a.LockedUntil = r.LockedUntil.UTC()
	}
	return a, nil
}

var _ mfa.CounterLocker = (*Store)(nil)

// attemptTables are the tables holding an mfa.Attempts counter per user.
var attemptTables = map[string]bool{"mfa_attempts": true, "password_attempts": true}

func (s *Store) loadAttempts(ctx context.Context, table, userID string) (mfa.Attempts, error) {
	if !attemptTables[table] {
		return mfa.Attempts{}, errors.New("store: unknown attempts table " + table)
	}
	var rows []mfaAttemptsRow
	if err := s.conn(ctx).Table(table).Where("user_id = ?", userID).Limit(1).Find(&rows).Error; err != nil {
		return mfa.Attempts{}, err
	}
	if len(rows) == 0 {
		return mfa.Attempts{}, nil
	}
	r := rows[0]
	a := mfa.Attempts{Failures: r.Failures, Lockouts: r.Lockouts, Version: r.Version}
	if r.LockedUntil != nil {
		a.LockedUntil = r.LockedUntil.UTC()
	}
	return a, nil
}

func (s *Store) saveAttempts(ctx context.Context, table, userID string, prevVersion int64, next mfa.Attempts) (bool, error) {
	if !attemptTables[table] {
		return false, errors.New("store: unknown attempts table " + table)
	}
	var lockedUntil *time.Time
	if !next.LockedUntil.IsZero() {
		u := next.LockedUntil.UTC() // raw SQL skips the store's UTC callback
		lockedUntil = &u
	}
	db := s.conn(ctx)
	var res *gorm.DB
	if prevVersion == 0 {
		res = db.Exec(
			`INSERT INTO `+table+` (user_id, failures, lockouts, locked_until, version)
			 VALUES (?, ?, ?, ?, 1)
			 ON CONFLICT (user_id) DO NOTHING`,
			userID, next.Failures, next.Lockouts, lockedUntil)
	} else {
		res = db.Exec(
			`UPDATE `+table+` SET failures = ?, lockouts = ?, locked_until = ?, version = ?
			  WHERE user_id = ? AND version = ?`,
			next.Failures, next.Lockouts, lockedUntil, prevVersion+1, userID, prevVersion)
	}
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

// PasswordAttempts is the password step's attempt counter, in the shape
// mfa.Guard needs (its CheckRecoveryKey accounting fits a password check:
// refuse while locked, charge a failure, reset on success).
type PasswordAttempts struct{ s *Store }

var _ mfa.Store = PasswordAttempts{}

// PasswordAttempts returns the password step's counter store.
func (s *Store) PasswordAttempts() PasswordAttempts { return PasswordAttempts{s} }

// LoadAttempts implements mfa.Store.
func (p PasswordAttempts) LoadAttempts(ctx context.Context, userID string) (mfa.Attempts, error) {
	return p.s.loadAttempts(ctx, "password_attempts", userID)
}

// SaveAttempts implements mfa.Store.
func (p PasswordAttempts) SaveAttempts(ctx context.Context, userID string, prevVersion int64, next mfa.Attempts) (bool, error) {
	return p.s.saveAttempts(ctx, "password_attempts", userID, prevVersion, next)
}

// AdvanceTOTPStep is never called for passwords; it refuses.
func (PasswordAttempts) AdvanceTOTPStep(context.Context, string, int64) error {
	return errors.New("store: passwords have no time steps")
}

// --- enrollment ---

// BeginEnrollment stores sealedSecret as the user's pending authenticator,
// replacing any pending one (starting again makes a new secret; the old one
// never becomes active). It refuses with ErrMFAActive when the user has a
// confirmed authenticator: callers reset first. One statement (an upsert
// whose update applies only to a pending row), so it cannot overwrite an
// authenticator confirmed concurrently.
func (s *Store) BeginEnrollment(ctx context.Context, userID, sealedSecret string) error {
	res := s.conn(ctx).Exec(
		`INSERT INTO mfa_authenticators (user_id, secret, confirmed_at, last_step, created_at)
		 VALUES (?, ?, NULL, 0, ?)
		 ON CONFLICT (user_id) DO UPDATE
		    SET secret = excluded.secret, last_step = 0, created_at = excluded.created_at
		  WHERE mfa_authenticators.confirmed_at IS NULL`,
		userID, sealedSecret, s.now())
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrMFAActive
	}
	return nil
}

// PendingAuthenticator returns the sealed secret of the user's pending
// (not yet confirmed) authenticator, or ErrNotFound.
func (s *Store) PendingAuthenticator(ctx context.Context, userID string) (sealed string, err error) {
	var row mfaAuthenticatorRow
	err = s.conn(ctx).Where("user_id = ? AND confirmed_at IS NULL", userID).Take(&row).Error
	return row.Secret, translate(err)
}

// ActiveAuthenticator returns the sealed secret and last accepted step of
// the user's confirmed authenticator, or ErrNotFound.
func (s *Store) ActiveAuthenticator(ctx context.Context, userID string) (sealed string, lastStep int64, err error) {
	var row mfaAuthenticatorRow
	err = s.conn(ctx).Where("user_id = ? AND confirmed_at IS NOT NULL", userID).Take(&row).Error
	return row.Secret, row.LastStep, translate(err)
}

// HasActiveAuthenticator reports whether the user has a confirmed
// authenticator.
func (s *Store) HasActiveAuthenticator(ctx context.Context, userID string) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&mfaAuthenticatorRow{}).
		Where("user_id = ? AND confirmed_at IS NOT NULL", userID).Count(&n).Error
	return n > 0, err
}

// ConfirmEnrollment activates the user's pending authenticator after the
// caller verified a code against its secret (mfa.MatchStep): in one
// transaction it sets confirmed_at, records step as the last accepted one
// (so the confirming code cannot be replayed at the next sign-in), and
// replaces the user's recovery key with recoveryHash. sealedSecret is the
// pending secret the code was checked against: if the user started over in
// another tab meanwhile, the newer secret is not confirmed by a code for the
// older one. It returns ErrNotFound, and changes nothing, when no such
// pending authenticator exists (never started, started over, already
// confirmed, or confirmed concurrently).
//
// It does not burn the step through AdvanceTOTPStep: that only applies to a
// confirmed authenticator, so mfa.Guard.CheckCode cannot confirm one.
func (s *Store) ConfirmEnrollment(ctx context.Context, userID, sealedSecret string, step int64, recoveryHash []byte) error {
	if len(recoveryHash) == 0 {
		return errEmptyRecoveryHash
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Exec(
			`UPDATE mfa_authenticators SET confirmed_at = ?, last_step = ?
			  WHERE user_id = ? AND confirmed_at IS NULL AND secret = ?`,
			s.now(), step, userID, sealedSecret)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrNotFound
		}
		return s.ReplaceRecoveryKey(ctx, userID, recoveryHash)
	})
}

// --- recovery key ---

// ReplaceRecoveryKey stores hash as the user's recovery key: a new, unused
// key; the previous one, spent or not, stops working.
func (s *Store) ReplaceRecoveryKey(ctx context.Context, userID string, hash []byte) error {
	if len(hash) == 0 {
		return errEmptyRecoveryHash
	}
	return translate(s.conn(ctx).Exec(
		`INSERT INTO mfa_recovery_keys (user_id, key_hash, created_at, used_at)
		 VALUES (?, ?, ?, NULL)
		 ON CONFLICT (user_id) DO UPDATE
		    SET key_hash = excluded.key_hash, created_at = excluded.created_at, used_at = NULL`,
		userID, hash, s.now()).Error)
}

// RecoveryKeyMatches reports, without spending it, whether hash is the
// user's unused recovery key (compared in constant time). Callers charge
// the attempt (mfa.Guard.CheckRecoveryKey) before spending the key with
// UseRecoveryKey.
func (s *Store) RecoveryKeyMatches(ctx context.Context, userID string, hash []byte) (bool, error) {
	var rows []mfaRecoveryKeyRow
	if err := s.conn(ctx).Where("user_id = ? AND used_at IS NULL", userID).Limit(1).Find(&rows).Error; err != nil {
		return false, err
	}
	return len(rows) == 1 && len(hash) > 0 && subtle.ConstantTimeCompare(rows[0].KeyHash, hash) == 1, nil
}

// UseRecoveryKey spends the user's recovery key if hash matches it and it
// is unused, and then, in the same transaction, deletes the user's
// authenticator so the user enrolls again. It reports false (and changes
// nothing) when there is no key, the key does not match or was spent.
//
// The hash is compared in constant time in Go; the UPDATE that spends the
// key is conditional on used_at IS NULL and on the compared hash, so of two
// concurrent uses (or a use racing a ReplaceRecoveryKey) at most one
// succeeds. The caller runs mfa.Guard.CheckRecoveryKey first, so guessing
// stays charged against the attempt limit.
func (s *Store) UseRecoveryKey(ctx context.Context, userID string, hash []byte) (bool, error) {
	if len(hash) == 0 {
		return false, nil
	}
	var spent bool
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.conn(ctx)
		var rows []mfaRecoveryKeyRow
		if err := db.Where("user_id = ? AND used_at IS NULL", userID).Limit(1).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 || subtle.ConstantTimeCompare(rows[0].KeyHash, hash) != 1 {
			return nil
		}
		res := db.Exec(
			`UPDATE mfa_recovery_keys SET used_at = ?
			  WHERE user_id = ? AND used_at IS NULL AND key_hash = ?`,
			s.now(), userID, rows[0].KeyHash)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return nil // spent or replaced by a concurrent request
		}
		if err := db.Where("user_id = ?", userID).Delete(&mfaAuthenticatorRow{}).Error; err != nil {
			return err
		}
		spent = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return spent, nil
}

// --- administration ---

// ResetMFA removes the user's authenticator (pending or confirmed), recovery
// key and attempt counter, in one transaction. The user enrolls again at the
// next sign-in; a user with nothing to remove is not an error.
func (s *Store) ResetMFA(ctx context.Context, userID string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.conn(ctx)
		for _, model := range []any{&mfaAuthenticatorRow{}, &mfaRecoveryKeyRow{}, &mfaAttemptsRow{}} {
			if err := db.Where("user_id = ?", userID).Delete(model).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// MFAState is what the admin user list shows about one user's second factor.
type MFAState struct {
	Active      bool       // a confirmed authenticator exists
	LockedUntil *time.Time // code entry is locked until then; nil when not locked now
}

// MFAStatus returns the MFAState of every user of the tenant, keyed by user
// id, with one query per table (users, authenticators, attempts) however
// many users the tenant has.
func (s *Store) MFAStatus(ctx context.Context, tenantID string) (map[string]MFAState, error) {
	db := s.conn(ctx)
	var userIDs []string
	if err := db.Model(&User{}).Where("tenant_id = ?", tenantID).Pluck("id", &userIDs).Error; err != nil {
		return nil, err
	}
	status := make(map[string]MFAState, len(userIDs))
	for _, id := range userIDs {
		status[id] = MFAState{}
	}
	ofTenant := db.Model(&User{}).Select("id").Where("tenant_id = ?", tenantID)

	var active []string
	if err := db.Model(&mfaAuthenticatorRow{}).
		Where("confirmed_at IS NOT NULL AND user_id IN (?)", ofTenant).
		Pluck("user_id", &active).Error; err != nil {
		return nil, err
	}
	for _, id := range active {
		if st, ok := status[id]; ok {
			st.Active = true
			status[id] = st
		}
	}

	// Expired locks are filtered here rather than in SQL: SQLite compares
	// times as text.
	var locks []mfaAttemptsRow
	if err := db.Select("user_id", "locked_until").
		Where("locked_until IS NOT NULL AND user_id IN (?)", ofTenant).
		Find(&locks).Error; err != nil {
		return nil, err
	}
	now := s.now()
	for _, l := range locks {
		st, ok := status[l.UserID]
		if !ok || l.LockedUntil == nil || !l.LockedUntil.After(now) {
			continue
		}
		until := l.LockedUntil.UTC()
		st.LockedUntil = &until
		status[l.UserID] = st
	}
	return status, nil
}
