package mfa

import (
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// The TOTP parameters. They are fixed: most authenticator apps ignore any
// other algorithm, length or period in the otpauth:// link.
const (
	Digits = 6                // code length
	Period = 30 * time.Second // time-step length (RFC 6238 X)
	Skew   = 1                // steps accepted either side of the current one
)

// ErrTimeBeforeEpoch is returned by GenerateCode for times before 1970,
// which have no TOTP step.
var ErrTimeBeforeEpoch = errors.New("mfa: time before the Unix epoch")

// maxCodeInput bounds how much of a submitted code is looked at, so garbage
// of any size costs the same small amount of work.
const maxCodeInput = 32

// Step returns the RFC 6238 time-step counter for t: floor(unix seconds / 30).
// It is negative for times before the Unix epoch.
func Step(t time.Time) int64 {
	sec, p := t.Unix(), int64(Period/time.Second)
	st := sec / p
	if sec%p < 0 {
		st-- // floor, not truncation, for negative times
	}
	return st
}

// StepTime returns the start of the time step.
func StepTime(step int64) time.Time {
	return time.Unix(step*int64(Period/time.Second), 0).UTC()
}

// GenerateCode returns the 6-digit code of s at time t. Portcullis itself
// only verifies codes; this is for tests and the demo relying apps.
func GenerateCode(s Secret, t time.Time) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	st := Step(t)
	if st < 0 {
		return "", ErrTimeBeforeEpoch
	}
	return hotpCode(s, uint64(st), otp.DigitsSix)
}

// NormalizeCode trims the submitted code and reports whether it has the
// shape of a code: exactly six ASCII digits once surrounding white space and
// any spaces inside are removed ("123 456" is how several apps display a
// code). Other digits (Arabic-Indic, full-width, ...) are refused.
func NormalizeCode(code string) (string, bool) {
	if len(code) > maxCodeInput {
		return "", false
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != Digits {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}

// MatchStep reports whether code is the code of s for the step of now or
// one step either side (Skew), and returns the matched step so the caller
// can burn it in the replay guard. It never panics: a malformed code or an
// invalid secret simply does not match.
//
// All candidate codes are computed and compared with
// crypto/subtle.ConstantTimeCompare, without stopping at the first match.
// Should two steps of the window share a code (a one-in-a-million
// coincidence), the current step wins, then the earlier one.
func MatchStep(s Secret, code string, now time.Time) (step int64, ok bool) {
	code, valid := NormalizeCode(code)
	if !valid || s.Validate() != nil {
		return 0, false
	}
	cur := Step(now)
	// Current step first, then the past ones, then the future ones.
	offsets := [2*Skew + 1]int64{}
	for i := 1; i <= Skew; i++ {
		offsets[i] = -int64(i)
		offsets[Skew+i] = int64(i)
	}
	for _, off := range offsets {
		st := cur + off
		if st < 0 {
			continue
		}
		want, err := hotpCode(s, uint64(st), otp.DigitsSix)
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = st, true
		}
	}
	return step, ok
}

// hotpCode is RFC 4226 HOTP with HMAC-SHA1 through pquerna/otp. The digits
// parameter exists so tests can check the 8-digit RFC 6238 vectors.
func hotpCode(s Secret, counter uint64, digits otp.Digits) (string, error) {
	return hotp.GenerateCodeCustom(string(s), counter, hotp.ValidateOpts{
		Digits:    digits,
		Algorithm: otp.AlgorithmSHA1,
	})
}
