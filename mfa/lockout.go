package mfa

import (
	"errors"
	"fmt"
	"time"
)

// Attempts is one user's code-entry attempt counter as the Store keeps it.
type Attempts struct {
	Failures    int       // consecutive failures since last success or lockout
	Lockouts    int       // number of lockouts since last success (drives the doubling)
	LockedUntil time.Time // zero when not locked (a past time also means not locked)
	Version     int64     // optimistic-concurrency version; 0 means no row yet
}

// LockedAt reports whether code entry is locked at now.
func (a Attempts) LockedAt(now time.Time) bool { return now.Before(a.LockedUntil) }

// clean reports whether a has nothing to reset.
func (a Attempts) clean() bool {
	return a.Failures == 0 && a.Lockouts == 0 && a.LockedUntil.IsZero()
}

// LockoutPolicy says how many consecutive failures lock code entry and for
// how long. The n-th lockout since the last success (n = 1, 2, ...) lasts
// BaseCooldown·2^(n-1), at most MaxCooldown.
type LockoutPolicy struct {
	MaxFailures  int
	BaseCooldown time.Duration
	MaxCooldown  time.Duration
}

// DefaultLockoutPolicy: five failures, then 1, 2, 4, ... minutes, at most an
// hour. doc.go works out what that allows per day.
var DefaultLockoutPolicy = LockoutPolicy{MaxFailures: 5, BaseCooldown: time.Minute, MaxCooldown: time.Hour}

// Validate reports every problem with p at once.
func (p LockoutPolicy) Validate() error {
	var errs []error
	if p.MaxFailures < 1 {
		errs = append(errs, fmt.Errorf("mfa: lockout MaxFailures must be at least 1, got %d", p.MaxFailures))
	}
	if p.BaseCooldown <= 0 {
		errs = append(errs, fmt.Errorf("mfa: lockout BaseCooldown must be positive, got %s", p.BaseCooldown))
	}
	if p.MaxCooldown < p.BaseCooldown {
		errs = append(errs, fmt.Errorf("mfa: lockout MaxCooldown (%s) must not be shorter than BaseCooldown (%s)", p.MaxCooldown, p.BaseCooldown))
	}
	return errors.Join(errs...)
}

// orDefault returns p, or DefaultLockoutPolicy when p is not valid (the
// zero value included), so a Guard never runs without a limit.
func (p LockoutPolicy) orDefault() LockoutPolicy {
	if p.Validate() != nil {
		return DefaultLockoutPolicy
	}
	return p
}

// Cooldown returns how long the lockout lasts that follows priorLockouts
// earlier lockouts since the last success.
func (p LockoutPolicy) Cooldown(priorLockouts int) time.Duration {
	d := p.BaseCooldown
	for i := 0; i < priorLockouts; i++ {
		if d > p.MaxCooldown/2 { // d*2 would pass the cap (or overflow)
			return p.MaxCooldown
		}
		d *= 2
	}
	return min(d, p.MaxCooldown)
}

// charge counts one failed attempt at now. When it is the MaxFailures-th
// consecutive one, code entry locks for the next cooldown, starting now or,
// if a lock is still running (failures recorded by a replica that had
// admitted the attempt before the lock), right after it: every MaxFailures
// failures cost one cooldown, however they arrive.
func (p LockoutPolicy) charge(a Attempts, now time.Time) (next Attempts, lockedNow bool) {
	next = a
	if !next.LockedAt(now) {
		next.LockedUntil = time.Time{}
	}
	next.Failures++
	if next.Failures < p.MaxFailures {
		return next, false
	}
	start := now
	if next.LockedAt(now) {
		start = next.LockedUntil
	}
	next.LockedUntil = start.Add(p.Cooldown(next.Lockouts))
	next.Lockouts++
	next.Failures = 0
	return next, true
}

// MaxAttemptsPer returns the most codes an attacker can have evaluated in a
// window of length d starting from a clean counter, by trying MaxFailures
// codes the moment each lockout ends.
func (p LockoutPolicy) MaxAttemptsPer(d time.Duration) int {
	p = p.orDefault()
	n, lockouts := 0, 0
	for t := time.Duration(0); t < d; t += p.Cooldown(lockouts - 1) {
		n += p.MaxFailures
		lockouts++
	}
	return n
}

// ErrLockedOut matches every *LockedOutError with errors.Is.
var ErrLockedOut = errors.New("mfa: too many failed attempts")

// LockedOutError says code entry is locked until Until. JustLocked is set
// when the attempt being answered is the one that triggered the lockout
// (write an audit event); Cause is then why that attempt failed
// (ErrInvalidCode, ErrCodeReused or ErrInvalidRecoveryKey) and is reachable
// with errors.Is. A refused attempt during a lockout has JustLocked false
// and no Cause.
type LockedOutError struct {
	Until      time.Time
	JustLocked bool
	Cause      error
}

func (e *LockedOutError) Error() string {
	return fmt.Sprintf("%v; code entry locked until %s", ErrLockedOut, e.Until.UTC().Format(time.RFC3339))
}

// Remaining returns how long the lockout still lasts at now (never negative).
func (e *LockedOutError) Remaining(now time.Time) time.Duration {
	return max(e.Until.Sub(now), 0)
}

// Is makes errors.Is(err, ErrLockedOut) true.
func (e *LockedOutError) Is(target error) bool { return target == ErrLockedOut }

// Unwrap returns Cause.
func (e *LockedOutError) Unwrap() error { return e.Cause }
