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
// TOTP secrets arrive and leave as plain mfa.Secret values and are stored
// sealed with the store's cipher, bound to the user's row (sealed.go).
// Recovery keys arrive hashed (mfa.HashRecoveryKey): the store never sees a
// plaintext key.

var _ mfa.Store = (*Store)(nil)

// ErrMFAActive is returned by BeginEnrollment when the user already has a
// confirmed authenticator: reset it (ResetMFA, or a spent recovery key)
// before enrolling again.
var ErrMFAActive = errors.New("store: the user already has an active authenticator; reset 2FA before enrolling again")

// errEmptyRecoveryHash guards against storing a key that anything (even an
// empty input) would match.
var errEmptyRecoveryHash = errors.New("store: empty recovery key hash")

// mfaAuthenticatorRow is a TOTP authenticator; ConfirmedAt is nil while
// enrollment is pending. Its replay guard (the last accepted step) lives on
// the user's counter row, mfaAttemptsRow.LastStep.
type mfaAuthenticatorRow struct {
	UserID      string `gorm:"primaryKey"`
	Name        string // shown on the account page; the column's default until renamed
	Secret      string // sealed, see sealed.go
	ConfirmedAt *time.Time
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

// mfaAttemptsRow is mfa.Attempts (LockedUntil nil is the zero time) plus
// the replay guard: LastStep, the last accepted time step, only ever raised
// by a conditional UPDATE (... WHERE last_step < ?). Keeping both on one row
// lets AcceptStep accept a code with one statement.
type mfaAttemptsRow struct {
	UserID      string `gorm:"primaryKey"`
	Failures    int
	Lockouts    int
	LockedUntil *time.Time
	Version     int64
	LastStep    int64
}

func (mfaAttemptsRow) TableName() string { return "mfa_attempts" }

// attempts is the counter the row holds.
func (r mfaAttemptsRow) attempts() mfa.Attempts {
	a := mfa.Attempts{Failures: r.Failures, Lockouts: r.Lockouts, Version: r.Version}
	if r.LockedUntil != nil {
		a.LockedUntil = r.LockedUntil.UTC()
	}
	return a
}

// --- mfa.Store ---

// confirmedAuthenticator is the condition, on an mfa_attempts row, that
// its user has a confirmed authenticator: a code is never accepted for a
// pending one (ConfirmEnrollment records that step) or after a reset.
const confirmedAuthenticator = `EXISTS (SELECT 1 FROM mfa_authenticators a
	WHERE a.user_id = mfa_attempts.user_id AND a.confirmed_at IS NOT NULL)`

// AdvanceTOTPStep burns step for userID: one conditional UPDATE that raises
// last_step on the user's counter row only when step is greater, so of any
// number of replicas presenting the same step exactly one wins. Every other
// outcome, a step not greater than the last one and also no confirmed
// authenticator (none, still pending, or reset meanwhile), is
// mfa.ErrCodeReused: the code is refused either way. ConfirmEnrollment
// creates the counter row with the confirming step.
func (s *Store) AdvanceTOTPStep(ctx context.Context, userID string, step int64) error {
	res := s.conn(ctx).Exec(
		`UPDATE mfa_attempts SET last_step = ?
		  WHERE user_id = ? AND last_step < ? AND `+confirmedAuthenticator,
		step, userID, step)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return mfa.ErrCodeReused
	}
	return nil
}

// AcceptStep implements mfa.StepAcceptor: one UPDATE of the user's counter
// row that burns step and bumps its version (so a concurrent
// compare-and-swap reloads), but only if step is greater than the last
// accepted one, the counter is clean (failures, an expired lock and the
// doubling are cleared, and reported to the user, by the Guard's locked
// path) and the user has a confirmed authenticator. The row lock PostgreSQL takes for the
// UPDATE, and its re-check of the WHERE clause on the latest row version,
// serialize it with every charge of a failure, on every replica.
func (s *Store) AcceptStep(ctx context.Context, userID string, step int64) (bool, error) {
	res := s.conn(ctx).Exec(
		`UPDATE mfa_attempts
		    SET last_step = ?, version = version + 1
		  WHERE user_id = ? AND last_step < ? AND failures = 0 AND lockouts = 0 AND locked_until IS NULL
		    AND `+confirmedAuthenticator,
		step, userID, step)
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

var _ mfa.StepAcceptor = (*Store)(nil)

// LoadAttempts returns the user's attempt counter, or the zero value
// (Version 0) when there is none.
func (s *Store) LoadAttempts(ctx context.Context, userID string) (mfa.Attempts, error) {
	return s.loadAttempts(ctx, "mfa_attempts", userID)
}

// SaveAttempts writes next only if the stored version still equals
// prevVersion, and stores version prevVersion+1 (which is next.Version as
// the Guard passes it). prevVersion 0 inserts, or takes over a row still
// at version 0 (one holding only the replay-guard step); a row at a later
// version means another writer won. Both cases are one statement whose row count
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
	return r.attempts(), nil
}

var _ mfa.CounterLocker = (*Store)(nil)

// attemptTables are the tables holding an mfa.Attempts counter per user.
var attemptTables = map[string]bool{"mfa_attempts": true}

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
	return rows[0].attempts(), nil
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
		// A row at version 0 holds only a replay-guard step
		// (ConfirmEnrollment): its counter was never written, so it is
		// the "none" of the contract and is taken over.
		res = db.Exec(
			`INSERT INTO `+table+` (user_id, failures, lockouts, locked_until, version)
			 VALUES (?, ?, ?, ?, 1)
			 ON CONFLICT (user_id) DO UPDATE
			    SET failures = excluded.failures, lockouts = excluded.lockouts,
			        locked_until = excluded.locked_until, version = 1
			  WHERE `+table+`.version = 0`,
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

// --- enrollment ---

// BeginEnrollment stores secret as the user's pending authenticator,
// replacing any pending one (starting again makes a new secret; the old one
// never becomes active). It refuses with ErrMFAActive when the user has a
// confirmed authenticator: callers reset first. One statement (an upsert
// whose update applies only to a pending row), so it cannot overwrite an
// authenticator confirmed concurrently.
func (s *Store) BeginEnrollment(ctx context.Context, userID string, secret mfa.Secret) error {
	sealed, err := s.sealTOTPSecret(userID, secret)
	if err != nil {
		return err
	}
	res := s.conn(ctx).Exec(
		`INSERT INTO mfa_authenticators (user_id, secret, confirmed_at, created_at)
		 VALUES (?, ?, NULL, ?)
		 ON CONFLICT (user_id) DO UPDATE
		    SET secret = excluded.secret, created_at = excluded.created_at
		  WHERE mfa_authenticators.confirmed_at IS NULL`,
		userID, sealed, s.now())
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrMFAActive
	}
	return nil
}

// PendingAuthenticator returns the secret of the user's pending (not yet
// confirmed) authenticator, or ErrNotFound.
func (s *Store) PendingAuthenticator(ctx context.Context, userID string) (mfa.Secret, error) {
	var row mfaAuthenticatorRow
	if err := s.conn(ctx).Where("user_id = ? AND confirmed_at IS NULL", userID).Take(&row).Error; err != nil {
		return "", translate(err)
	}
	return s.openTOTPSecret(userID, row.Secret)
}

// ActiveSecret returns the secret of the user's confirmed authenticator, or
// ErrNotFound: what checking a code needs, read from one row (the sign-in
// reads it for every code).
func (s *Store) ActiveSecret(ctx context.Context, userID string) (mfa.Secret, error) {
	var row mfaAuthenticatorRow
	if err := s.conn(ctx).Select("secret").Where("user_id = ? AND confirmed_at IS NOT NULL", userID).Take(&row).Error; err != nil {
		return "", translate(err)
	}
	return s.openTOTPSecret(userID, row.Secret)
}

// ActiveAuthenticator returns the secret and last accepted step of the
// user's confirmed authenticator, or ErrNotFound.
func (s *Store) ActiveAuthenticator(ctx context.Context, userID string) (secret mfa.Secret, lastStep int64, err error) {
	var rows []struct {
		Secret   string
		LastStep int64
	}
	err = s.conn(ctx).Raw(
		`SELECT a.secret, COALESCE(t.last_step, 0) AS last_step
		   FROM mfa_authenticators a LEFT JOIN mfa_attempts t ON t.user_id = a.user_id
		  WHERE a.user_id = ? AND a.confirmed_at IS NOT NULL`, userID).Scan(&rows).Error
	if err != nil {
		return "", 0, err
	}
	if len(rows) == 0 {
		return "", 0, ErrNotFound
	}
	if secret, err = s.openTOTPSecret(userID, rows[0].Secret); err != nil {
		return "", 0, err
	}
	return secret, rows[0].LastStep, nil
}

// HasActiveAuthenticator reports whether the user has a confirmed second
// factor of any kind: the TOTP authenticator or a WebAuthn credential.
func (s *Store) HasActiveAuthenticator(ctx context.Context, userID string) (bool, error) {
	f, err := s.SecondFactorsOf(ctx, userID)
	return f.Any(), err
}

// ConfirmEnrollment activates the user's pending authenticator after the
// caller verified a code against its secret (mfa.MatchStep): in one
// transaction it sets confirmed_at, records step as the last accepted one
// on the user's counter row, creating it at version 0, which the counter
// contract reads as "no counter yet" (so the confirming code cannot be
// replayed at the next sign-in; a step already recorded that is later stays:
// the guard only moves forward), and
// replaces the user's recovery key with recoveryHash. secret is the pending
// secret the code was checked against: if the user started over in another
// tab meanwhile, the newer secret is not confirmed by a code for the older
// one. It returns ErrNotFound, and changes nothing, when no such pending
// authenticator exists (never started, started over, already confirmed, or
// confirmed concurrently).
//
// It does not burn the step through AdvanceTOTPStep: that only applies to a
// confirmed authenticator, so mfa.Guard.CheckCode cannot confirm one.
func (s *Store) ConfirmEnrollment(ctx context.Context, userID string, secret mfa.Secret, step int64, recoveryHash []byte) error {
	if len(recoveryHash) == 0 {
		return errEmptyRecoveryHash
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.conn(ctx)
		// Sealing draws a new nonce, so the pending row is read and its
		// secret compared in Go; the UPDATE is then conditional on the
		// sealed value read, so a restart in between still loses.
		var rows []mfaAuthenticatorRow
		if err := db.Where("user_id = ? AND confirmed_at IS NULL", userID).Limit(1).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return ErrNotFound
		}
		pending, err := s.openTOTPSecret(userID, rows[0].Secret)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(pending), []byte(secret)) != 1 {
			return ErrNotFound
		}
		res := db.Exec(
			`UPDATE mfa_authenticators SET confirmed_at = ?
			  WHERE user_id = ? AND confirmed_at IS NULL AND secret = ?`,
			s.now(), userID, rows[0].Secret)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrNotFound
		}
		if err := db.Exec(
			`INSERT INTO mfa_attempts (user_id, failures, lockouts, locked_until, version, last_step)
			 VALUES (?, 0, 0, NULL, 0, ?)
			 ON CONFLICT (user_id) DO UPDATE
			    SET last_step = CASE WHEN excluded.last_step > mfa_attempts.last_step
			                         THEN excluded.last_step ELSE mfa_attempts.last_step END`,
			userID, step).Error; err != nil {
			return err
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

// RecoveryKeySpent reports whether the user's recovery key was used and
// not yet replaced (the user is setting up a new authenticator after it).
func (s *Store) RecoveryKeySpent(ctx context.Context, userID string) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&mfaRecoveryKeyRow{}).Where("user_id = ? AND used_at IS NOT NULL", userID).Count(&n).Error
	return n > 0, err
}

// UseRecoveryKey spends the user's recovery key if hash matches it and it
// is unused, and then, in the same transaction, deletes the user's second
// factors (the TOTP authenticator and every passkey: whoever lost one may
// have lost the others) so the user enrolls again. It reports false (and changes
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
		for _, model := range []any{&mfaAuthenticatorRow{}, &WebAuthnCredential{}} {
			if err := db.Where("user_id = ?", userID).Delete(model).Error; err != nil {
				return err
			}
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

// ResetMFA removes all of the user's second factors (the TOTP
// authenticator, pending or confirmed, and every WebAuthn credential),
// the recovery key and the attempt counter, in one transaction. The user enrolls again at the
// next sign-in; a user with nothing to remove is not an error.
func (s *Store) ResetMFA(ctx context.Context, userID string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.conn(ctx)
		for _, model := range []any{&mfaAuthenticatorRow{}, &WebAuthnCredential{}, &mfaRecoveryKeyRow{}, &mfaAttemptsRow{}} {
			if err := db.Where("user_id = ?", userID).Delete(model).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// MFAState is what the admin user list shows about one user's second factor.
type MFAState struct {
	Active      bool       // a confirmed second factor exists (of any kind)
	TOTP        bool       // the confirmed TOTP authenticator
	Passkeys    int        // WebAuthn credentials
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
			st.Active, st.TOTP = true, true
			status[id] = st
		}
	}
	var keys []struct {
		UserID string
		N      int
	}
	if err := db.Model(&WebAuthnCredential{}).Select("user_id, COUNT(*) AS n").Where("user_id IN (?)", ofTenant).
		Group("user_id").Scan(&keys).Error; err != nil {
		return nil, err
	}
	for _, k := range keys {
		if st, ok := status[k.UserID]; ok {
			st.Active, st.Passkeys = true, k.N
			status[k.UserID] = st
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
