package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"io"
	"strings"
)

// RecoveryAlphabet is the 32-symbol alphabet of recovery keys: Crockford's
// base32 symbols, digits and upper-case letters without I, L, O and U.
const RecoveryAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Recovery key sizes: 64 symbols of 5 bits each carry 320 random bits.
const (
	RecoveryKeyLen  = 64
	recoveryKeyBits = RecoveryKeyLen * 5
	recoveryKeySize = recoveryKeyBits / 8 // random bytes behind one key
)

// recoveryGroupsPerLine is how many groups of four Lines puts on one line.
const recoveryGroupsPerLine = 4

var recoveryEncoding = base32.NewEncoding(RecoveryAlphabet).WithPadding(base32.NoPadding)

// RecoveryKey is a recovery "paper key" in normalized form: exactly 64
// symbols of RecoveryAlphabet, upper case, no separators. Only its hash
// (HashRecoveryKey) is stored. Its String method redacts the value; use
// string(k), Grouped or Lines where the key itself is meant.
type RecoveryKey string

// NewRecoveryKey draws 320 bits from r (nil means crypto/rand.Reader) and
// encodes them as a 64-symbol key.
func NewRecoveryKey(r io.Reader) (RecoveryKey, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, recoveryKeySize)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("mfa: reading randomness for recovery key: %w", err)
	}
	return RecoveryKey(recoveryEncoding.EncodeToString(b)), nil
}

// Grouped returns the key as 16 groups of four symbols joined by dashes
// ("ABCD-EFGH-..."), the form shown on screen and in the downloadable text
// file. Dashes survive copy and paste and let browsers wrap the line between
// groups; NormalizeRecoveryKey ignores them (and spaces) again.
func (k RecoveryKey) Grouped() string { return group(string(k), '-') }

// Lines returns the grouped key as four lines of four groups each, for the
// printable paper key.
func (k RecoveryKey) Lines() []string {
	groups := strings.Split(k.Grouped(), "-")
	var lines []string
	for len(groups) > 0 {
		n := min(recoveryGroupsPerLine, len(groups))
		lines = append(lines, strings.Join(groups[:n], "-"))
		groups = groups[n:]
	}
	return lines
}

// String redacts the key; see the type documentation.
func (k RecoveryKey) String() string { return "mfa.RecoveryKey(redacted)" }

// NormalizeRecoveryKey turns what a user typed or pasted into a RecoveryKey.
// Spaces, dashes, tabs and line breaks are ignored, lower case is accepted,
// and the Crockford look-alikes are mapped: O to 0, I and L to 1. It reports
// false unless exactly 64 valid symbols remain.
func NormalizeRecoveryKey(input string) (RecoveryKey, bool) {
	if len(input) > 4*RecoveryKeyLen {
		return "", false
	}
	out := make([]byte, 0, RecoveryKeyLen)
	for i := 0; i < len(input); i++ {
		c := input[i]
		switch c {
		case ' ', '-', '\t', '\r', '\n':
			continue
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		switch c {
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		if strings.IndexByte(RecoveryAlphabet, c) < 0 || len(out) == RecoveryKeyLen {
			return "", false
		}
		out = append(out, c)
	}
	if len(out) != RecoveryKeyLen {
		return "", false
	}
	return RecoveryKey(out), true
}

// HashRecoveryKey returns SHA-256 of the normalized key. 320 random bits
// cannot be guessed, so a slow password hash would add cost and no safety.
// The key is normalized first, so a grouped or lower-case form of the same
// key hashes the same.
func HashRecoveryKey(k RecoveryKey) []byte {
	if n, ok := NormalizeRecoveryKey(string(k)); ok {
		k = n
	}
	sum := sha256.Sum256([]byte(k))
	return sum[:]
}

// RecoveryKeyMatches reports, in constant time, whether k hashes to hash.
func RecoveryKeyMatches(k RecoveryKey, hash []byte) bool {
	return subtle.ConstantTimeCompare(HashRecoveryKey(k), hash) == 1
}
