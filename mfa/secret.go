package mfa

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// SecretSize is the number of random bytes in a new TOTP secret: 160 bits,
// the length RFC 4226 (section 4, R6) recommends for HMAC-SHA1.
const SecretSize = 20

// MinSecretSize is the shortest secret MatchStep and GenerateCode accept
// (RFC 4226 R6: at least 128 bits). Shorter stored secrets are refused with
// ErrInvalidSecret instead of being used.
const MinSecretSize = 16

// ErrInvalidSecret is returned when a Secret is not canonical base32 of at
// least MinSecretSize bytes (for example an empty or corrupted stored value).
var ErrInvalidSecret = errors.New("mfa: invalid TOTP secret")

// secretEncoding is RFC 4648 base32, upper case, without padding: the form
// authenticator apps expect in otpauth:// URIs.
var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Secret is a TOTP shared secret in its canonical text form: RFC 4648
// base32, upper case, no padding. A new one is 32 characters (20 bytes).
//
// Its String method redacts the value so that a Secret passed to a logger or
// fmt by mistake does not leak; use string(s) where the value itself is meant,
// Grouped for display and KeyURI for the app link.
type Secret string

// NewSecret returns a fresh secret of SecretSize bytes read from r.
// A nil r means crypto/rand.Reader.
func NewSecret(r io.Reader) (Secret, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, SecretSize)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("mfa: reading randomness for secret: %w", err)
	}
	return Secret(secretEncoding.EncodeToString(b)), nil
}

// ParseSecret accepts a secret as a person might type or paste it (spaces,
// dashes, lower case, trailing '=' padding) and returns its canonical form.
// It fails with ErrInvalidSecret unless the input is valid base32 of at
// least MinSecretSize bytes.
func ParseSecret(input string) (Secret, error) {
	if len(input) > 256 {
		return "", ErrInvalidSecret
	}
	var b strings.Builder
	for _, r := range input {
		switch {
		case r == ' ' || r == '-' || r == '\t' || r == '\n' || r == '\r':
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteRune(r)
		}
	}
	k, err := secretEncoding.DecodeString(strings.TrimRight(b.String(), "="))
	if err != nil || len(k) < MinSecretSize {
		return "", ErrInvalidSecret
	}
	return Secret(secretEncoding.EncodeToString(k)), nil
}

// key decodes the secret, refusing anything that is not canonical or is
// shorter than MinSecretSize bytes.
func (s Secret) key() ([]byte, error) {
	k, err := secretEncoding.DecodeString(string(s))
	// Re-encoding rejects non-canonical forms (lower case, unused trailing
	// bits that are not zero), so one key has exactly one Secret.
	if err != nil || len(k) < MinSecretSize || secretEncoding.EncodeToString(k) != string(s) {
		return nil, ErrInvalidSecret
	}
	return k, nil
}

// Validate reports whether s is usable (ErrInvalidSecret otherwise).
func (s Secret) Validate() error {
	_, err := s.key()
	return err
}

// Grouped returns the secret in groups of four separated by single spaces
// ("ABCD EFGH IJKL ..."), for people who type it into their app by hand.
// Apps ignore the spaces.
func (s Secret) Grouped() string { return group(string(s), ' ') }

// String redacts the secret; see the type documentation.
func (s Secret) String() string { return "mfa.Secret(redacted)" }

// group splits v into runs of four characters joined by sep.
func group(v string, sep byte) string {
	var b strings.Builder
	b.Grow(len(v) + len(v)/4)
	for i := 0; i < len(v); i++ {
		if i > 0 && i%4 == 0 {
			b.WriteByte(sep)
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// KeyURI returns the otpauth:// link authenticator apps understand (the
// "Key Uri Format" of Google Authenticator):
//
//	otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
//
// Issuer and account are percent-encoded byte by byte; only RFC 3986
// unreserved characters (and '@' in the label, where it is a legal path
// character and makes e-mail addresses readable) are left as they are. A space
// becomes %20 both in the label and in the query, never '+', which some apps
// show literally. A colon inside issuer or account becomes %3A, so the one
// literal colon in the label is the issuer/account separator.
func KeyURI(issuer, account string, s Secret) string {
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	b.WriteString(uriEscape(issuer, true))
	b.WriteByte(':')
	b.WriteString(uriEscape(account, true))
	b.WriteString("?secret=")
	b.WriteString(uriEscape(string(s), false))
	b.WriteString("&issuer=")
	b.WriteString(uriEscape(issuer, false))
	b.WriteString("&algorithm=SHA1&digits=")
	b.WriteString(strconv.Itoa(Digits))
	b.WriteString("&period=")
	b.WriteString(strconv.Itoa(int(Period.Seconds())))
	return b.String()
}

// uriEscape percent-encodes every byte of v except RFC 3986 unreserved
// characters (and '@' when keepAt is set).
func uriEscape(v string, keepAt bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', keepAt && c == '@':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0f])
		}
	}
	return b.String()
}

// Enrollment is what a user is shown when setting up an authenticator: the
// secret (as QR code, grouped text and link) and the recovery paper key.
// Nothing in it is active until the first code is confirmed; the caller
// stores it as pending and activates it after Guard.CheckCode succeeds.
type Enrollment struct {
	Secret      Secret
	KeyURI      string
	RecoveryKey RecoveryKey
}

// NewEnrollment draws a new secret and recovery key from r (nil means
// crypto/rand.Reader) and builds the otpauth:// link for issuer and account.
func NewEnrollment(r io.Reader, issuer, account string) (Enrollment, error) {
	s, err := NewSecret(r)
	if err != nil {
		return Enrollment{}, err
	}
	k, err := NewRecoveryKey(r)
	if err != nil {
		return Enrollment{}, err
	}
	return Enrollment{Secret: s, KeyURI: KeyURI(issuer, account, s), RecoveryKey: k}, nil
}
