package mfa

import "time"

// Clock tells the time. Everything in this package that depends on time
// (TOTP steps, lockout windows) takes it from a Clock so tests can use a fixed
// or stepped clock instead of sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock. Now returns the current time in UTC.
type SystemClock struct{}

// Now returns time.Now().UTC().
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// ClockFunc adapts a function to the Clock interface.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }
