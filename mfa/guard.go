package mfa

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors returned by Guard. Wrap-aware callers use errors.Is / errors.As.
var (
	// ErrInvalidCode: the code does not match the authenticator.
	ErrInvalidCode = errors.New("mfa: invalid code")
	// ErrMalformedCode: the input is not six digits. It matches
	// ErrInvalidCode with errors.Is, and is never charged as a failure.
	ErrMalformedCode = fmt.Errorf("%w: a code is six digits", ErrInvalidCode)
	// ErrCodeReused: the code's time step was already used for this user
	// (tell the user: "This code was already used. Wait for the next one.").
	ErrCodeReused = errors.New("mfa: code already used, wait for the next one")
	// ErrInvalidRecoveryKey: the recovery key does not match.
	ErrInvalidRecoveryKey = errors.New("mfa: invalid recovery key")
	// ErrContention: the attempt counter row kept changing under us.
	ErrContention = errors.New("mfa: attempt counter busy, try again")
)

// Store is what the Guard needs from the database. Both operations must be
// atomic across every replica sharing the database; mfatest.RunStoreTests
// checks an implementation against this contract.
type Store interface {
	// AdvanceTOTPStep atomically records step as the last accepted one for
	// userID, but only if step is greater than the stored one (conditional
	// UPDATE ... WHERE last_step < ?, or INSERT for a first step). It
	// returns ErrCodeReused (possibly wrapped) if it is not greater.
	AdvanceTOTPStep(ctx context.Context, userID string, step int64) error

	// LoadAttempts returns the user's attempt counter, or the zero value
	// (Version 0) when there is none.
	LoadAttempts(ctx context.Context, userID string) (Attempts, error)

	// SaveAttempts writes next only if the stored version still equals
	// prevVersion (prevVersion 0: insert, failing if a row exists). The
	// stored version becomes prevVersion+1; the Guard always passes
	// next.Version == prevVersion+1, so storing next.Version is correct.
	// It returns (false, nil) when another writer won; the Guard then
	// reloads and retries.
	SaveAttempts(ctx context.Context, userID string, prevVersion int64, next Attempts) (bool, error)
}

// maxCASRetries bounds the reload-and-retry loop on the attempt counter.
// Every lost round means another writer succeeded, so this is only reached
// under a flood of concurrent attempts for one user.
const maxCASRetries = 64

// Guard checks codes and recovery keys against the replay guard and the
// attempt limit. It is the single entry point of the HTTP layer; a nil
// Clock means SystemClock and an invalid (or zero) Policy means
// DefaultLockoutPolicy. A Guard holds no state of its own: everything is in
// Store, so any number of replicas may share one database.
type Guard struct {
	Store  Store
	Clock  Clock
	Policy LockoutPolicy
}

func (g *Guard) now() time.Time {
	if g.Clock == nil {
		return SystemClock{}.Now()
	}
	return g.Clock.Now()
}

// CheckCode verifies a TOTP code for userID and returns the matched step.
//
// The order matters and is what makes the limit hold with many replicas and
// concurrent requests:
//
//  1. While code entry is locked it returns *LockedOutError without looking
//     at the code.
//  2. Input that is not six digits returns ErrMalformedCode, uncharged: it
//     cannot match, so it tells an attacker nothing.
//  3. The attempt is charged as a failure before the code is evaluated
//     (compare-and-swap on the counter). So no more than MaxFailures
//     attempts per lockout cycle are ever evaluated, however many arrive
//     at once; the one that reaches MaxFailures sets the lock.
//  4. A wrong code returns ErrInvalidCode.
//  5. A right code burns its step (Store.AdvanceTOTPStep). A step already
//     used returns ErrCodeReused and stays counted as a failure: a replayed
//     code is what an attacker who saw the user type it would send.
//  6. On success the counter is reset (failures, lockouts and lock).
//
// When the charged attempt of step 3 triggered a lockout and the code then
// failed (4 or 5), the error is *LockedOutError with JustLocked set and
// Cause ErrInvalidCode or ErrCodeReused; write an audit event for it.
//
// A Store that implements StepAcceptor gets a shortcut in front of these
// steps: the code is matched in memory and, if right, accepted by one
// atomic write that a lock refuses (acceptFast). Only what that write
// refuses takes the steps above, so every outcome but acceptance is still
// decided, and answered, by them.
func (g *Guard) CheckCode(ctx context.Context, userID string, s Secret, code string) (step int64, err error) {
	step, _, err = g.CheckCodeCounting(ctx, userID, s, code)
	return step, err
}

// CheckCodeCounting is CheckCode that also returns, for an accepted code,
// how many wrong codes (at least) were tried since the last accepted one,
// so the user can be told. A clean counter, the common case, is accepted
// by the fast path and reports 0.
func (g *Guard) CheckCodeCounting(ctx context.Context, userID string, s Secret, code string) (step int64, prior int, err error) {
	if err := s.Validate(); err != nil {
		return 0, 0, err
	}
	if acceptor, ok := g.Store.(StepAcceptor); ok {
		step, accepted, err := g.acceptFast(ctx, acceptor, userID, s, code)
		if err != nil || accepted {
			return step, 0, err
		}
	}
	tx, ok := g.Store.(Transactor)
	if !ok {
		step, err := g.verify(ctx, userID, s, code, true, &prior)
		return step, prior, err
	}
	// One transaction, one commit: the charge, the burned step and the
	// reset become durable together. A refused code is an outcome, not a
	// failure, so its charge is committed too.
	check := func(ctx context.Context, userID string, s Secret, code string) (int64, error) {
		return g.verify(ctx, userID, s, code, true, &prior)
	}
	if locker, ok := g.Store.(CounterLocker); ok {
		check = func(ctx context.Context, userID string, s Secret, code string) (int64, error) {
			return g.checkCodeLocked(ctx, locker, userID, s, code, &prior)
		}
	}
	var outcome error
	err = tx.InTx(ctx, func(ctx context.Context) error {
		step, outcome = check(ctx, userID, s, code)
		if outcome != nil && !isOutcome(outcome) {
			return outcome
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if outcome != nil {
		prior = 0
	}
	return step, prior, outcome
}

// Transactor is implemented by a Store whose operations can share one
// database transaction carried in the context (idp/store does). CheckCode
// then commits once per check instead of up to three times.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// StepAcceptor is implemented by a Store that can accept a matching code in
// one atomic statement (idp/store does): the common sign-in, a right code
// from a user with a clean counter, then costs one write and one round trip.
type StepAcceptor interface {
	// AcceptStep burns step in one atomic operation, but only if step is
	// greater than the last accepted one, the counter is clean (no
	// failures, no lockouts, no lock, not even an expired one: those go
	// through the locked path, which resets them and reports them), and
	// the user has a confirmed authenticator. It reports whether it did;
	// when it did not, nothing changed. A step of 0 is never accepted.
	AcceptStep(ctx context.Context, userID string, step int64) (bool, error)
}

// acceptFast is CheckCode's first attempt with a StepAcceptor. A code that
// matches is offered to AcceptStep, which refuses it while the counter has
// a lock, so no code gets past a lockout. Anything else, a wrong code
// included, makes the same call with step 0, which cannot succeed: so a
// locked account answers a right and a wrong code after the same database
// work, and timing tells an attacker nothing during a lockout. When the
// code is not accepted, CheckCode goes on to the locked path, which finds
// out why (locked, reused, wrong) and charges the attempt.
func (g *Guard) acceptFast(ctx context.Context, acceptor StepAcceptor, userID string, s Secret, code string) (int64, bool, error) {
	var offered int64
	step, matched := int64(0), false
	if normalized, wellFormed := NormalizeCode(code); wellFormed {
		step, matched = MatchStep(s, normalized, g.now())
	}
	if matched {
		offered = step
	}
	accepted, err := acceptor.AcceptStep(ctx, userID, offered)
	if err != nil {
		return 0, false, fmt.Errorf("mfa: accepting code: %w", err)
	}
	if !accepted || !matched {
		return 0, false, nil
	}
	return step, true, nil
}

// CounterLocker is implemented by a Transactor that can lock a user's
// attempt counter for the rest of the transaction (creating it when
// missing), as SELECT ... FOR UPDATE does. Checks of one user then run one
// after another on every replica, so CheckCode may evaluate the code before
// charging it without letting concurrent guesses past the limit, and it
// writes only what changes: on the common path, the burned step alone.
type CounterLocker interface {
	LockAttempts(ctx context.Context, userID string) (Attempts, error)
}

// checkCodeLocked is checkCode for a CounterLocker, inside its transaction.
// prior is set to the failures the counter held before this attempt.
func (g *Guard) checkCodeLocked(ctx context.Context, locker CounterLocker, userID string, s Secret, code string, prior *int) (int64, error) {
	now := g.now()
	p := g.Policy.orDefault()
	cur, err := locker.LockAttempts(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("mfa: locking attempts: %w", err)
	}
	if cur.LockedAt(now) {
		return 0, &LockedOutError{Until: cur.LockedUntil}
	}
	code, wellFormed := NormalizeCode(code)
	if !wellFormed {
		return 0, ErrMalformedCode
	}
	// save writes next over the locked row; losing it would mean the lock
	// did not hold.
	save := func(next Attempts) error {
		next.Version = cur.Version + 1
		ok, err := g.Store.SaveAttempts(ctx, userID, cur.Version, next)
		if err != nil {
			return fmt.Errorf("mfa: saving attempts: %w", err)
		}
		if !ok {
			return ErrContention
		}
		return nil
	}
	refuse := func(cause error) (int64, error) {
		next, lockedNow := p.charge(cur, now)
		if err := save(next); err != nil {
			return 0, err
		}
		return 0, failed(next, lockedNow, cause)
	}
	step, ok := MatchStep(s, code, now)
	if !ok {
		return refuse(ErrInvalidCode)
	}
	if err := g.Store.AdvanceTOTPStep(ctx, userID, step); err != nil {
		if errors.Is(err, ErrCodeReused) {
			return refuse(ErrCodeReused)
		}
		return 0, fmt.Errorf("mfa: recording used time step: %w", err)
	}
	if !cur.clean() {
		if err := save(Attempts{}); err != nil {
			return 0, err
		}
	}
	*prior = cur.Failures + cur.Lockouts*p.MaxFailures
	return step, nil
}

// isOutcome tells a refused code (which must still be committed, since
// its attempt was charged) from a storage failure.
func isOutcome(err error) bool {
	return errors.Is(err, ErrInvalidCode) || errors.Is(err, ErrCodeReused) || errors.Is(err, ErrLockedOut)
}

// verify charges the attempt, matches the code and resets the counter on
// success; with burn, the matched step is first recorded as used (the
// replay guard of an active authenticator).
// When prior is not nil it is set, on success, to the failures counted
// before this attempt.
func (g *Guard) verify(ctx context.Context, userID string, s Secret, code string, burn bool, prior *int) (step int64, err error) {
	now := g.now()
	code, wellFormed := NormalizeCode(code)
	var refuse error
	if !wellFormed {
		refuse = ErrMalformedCode
	}
	charged, lockedNow, err := g.charge(ctx, userID, now, refuse)
	if err != nil {
		return 0, err
	}
	step, ok := MatchStep(s, code, now)
	if !ok {
		return 0, failed(charged, lockedNow, ErrInvalidCode)
	}
	if burn {
		if err := g.Store.AdvanceTOTPStep(ctx, userID, step); err != nil {
			if errors.Is(err, ErrCodeReused) {
				return 0, failed(charged, lockedNow, ErrCodeReused)
			}
			return 0, fmt.Errorf("mfa: recording used time step: %w", err)
		}
	}
	if err := g.reset(ctx, userID, &charged); err != nil {
		return 0, fmt.Errorf("mfa: code accepted but resetting attempts failed: %w", err)
	}
	if prior != nil {
		*prior = max(charged.Failures-1, 0) + charged.Lockouts*g.Policy.orDefault().MaxFailures
	}
	return step, nil
}

// CheckPendingCode verifies the first code of an authenticator that is not
// yet active (enrollment) and returns its matched step, with the same
// accounting as CheckCode: refused while locked, charged before it is
// evaluated, the counter reset on success. It burns no step: the caller
// records the returned step when it activates the authenticator, so the
// confirming code cannot be used again. Its errors are CheckCode's, less
// ErrCodeReused.
func (g *Guard) CheckPendingCode(ctx context.Context, userID string, s Secret, code string) (step int64, err error) {
	if err := s.Validate(); err != nil {
		return 0, err
	}
	return g.verify(ctx, userID, s, code, false, nil)
}

// CheckRecoveryKey applies the same attempt accounting to a recovery-key
// attempt; the caller compares the key (RecoveryKeyMatches) and passes the
// result. While locked it returns *LockedOutError whatever matched is, so a
// locked account gives no answer; only when it returns nil may the caller
// spend the key and sign the user in. A wrong key returns
// ErrInvalidRecoveryKey, or *LockedOutError{JustLocked: true} wrapping it
// when that failure triggered a lockout. A match resets the counter.
func (g *Guard) CheckRecoveryKey(ctx context.Context, userID string, matched bool) error {
	now := g.now()
	p := g.Policy.orDefault()
	var lockedNow bool
	a, err := g.update(ctx, userID, nil, func(cur Attempts) (Attempts, bool, error) {
		if cur.LockedAt(now) {
			return cur, false, &LockedOutError{Until: cur.LockedUntil}
		}
		if matched {
			return Attempts{}, !cur.clean(), nil
		}
		next, l := p.charge(cur, now)
		lockedNow = l
		return next, true, nil
	})
	if err != nil {
		return err
	}
	if !matched {
		return failed(a, lockedNow, ErrInvalidRecoveryKey)
	}
	return nil
}

// Admit returns *LockedOutError if code entry is locked for userID now. It
// is a read-only, advisory check (for example to show the lock instead of
// the form); CheckCode and CheckRecoveryKey check again atomically.
func (g *Guard) Admit(ctx context.Context, userID string) error {
	a, err := g.Store.LoadAttempts(ctx, userID)
	if err != nil {
		return fmt.Errorf("mfa: loading attempts: %w", err)
	}
	if a.LockedAt(g.now()) {
		return &LockedOutError{Until: a.LockedUntil}
	}
	return nil
}

// charge refuses with *LockedOutError while locked, then returns refuse
// uncharged if it is set, and otherwise charges one failure.
func (g *Guard) charge(ctx context.Context, userID string, now time.Time, refuse error) (Attempts, bool, error) {
	p := g.Policy.orDefault()
	var lockedNow bool
	a, err := g.update(ctx, userID, nil, func(cur Attempts) (Attempts, bool, error) {
		if cur.LockedAt(now) {
			return cur, false, &LockedOutError{Until: cur.LockedUntil}
		}
		if refuse != nil {
			return cur, false, refuse
		}
		next, l := p.charge(cur, now)
		lockedNow = l
		return next, true, nil
	})
	return a, lockedNow, err
}

// reset clears the counter; known, if set, is the last state we wrote and
// saves a read when nobody changed it since.
func (g *Guard) reset(ctx context.Context, userID string, known *Attempts) error {
	_, err := g.update(ctx, userID, known, func(cur Attempts) (Attempts, bool, error) {
		return Attempts{}, !cur.clean(), nil
	})
	return err
}

// update is the compare-and-swap loop over the attempt counter. fn returns
// the next state, whether to write it, or an error that ends the loop. A
// lost race reloads and calls fn again with the fresh state.
func (g *Guard) update(ctx context.Context, userID string, known *Attempts, fn func(cur Attempts) (Attempts, bool, error)) (Attempts, error) {
	for range maxCASRetries {
		var cur Attempts
		if known != nil {
			cur, known = *known, nil
		} else {
			var err error
			if cur, err = g.Store.LoadAttempts(ctx, userID); err != nil {
				return Attempts{}, fmt.Errorf("mfa: loading attempts: %w", err)
			}
		}
		next, write, err := fn(cur)
		if err != nil || !write {
			return cur, err
		}
		next.Version = cur.Version + 1
		ok, err := g.Store.SaveAttempts(ctx, userID, cur.Version, next)
		if err != nil {
			return Attempts{}, fmt.Errorf("mfa: saving attempts: %w", err)
		}
		if ok {
			return next, nil
		}
		if err := ctx.Err(); err != nil {
			return Attempts{}, err
		}
	}
	return Attempts{}, ErrContention
}

// failed turns the cause of a failed, already charged attempt into the
// error to return: the cause itself, or a fresh-lockout error wrapping it.
func failed(charged Attempts, lockedNow bool, cause error) error {
	if lockedNow {
		return &LockedOutError{Until: charged.LockedUntil, JustLocked: true, Cause: cause}
	}
	return cause
}
