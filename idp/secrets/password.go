package secrets

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Password length rules, in characters (runes) for the minimum and bytes
// for the maximum, shared by the sign-in form, the account page and the
// CLI; the maximum bounds the hashing input.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 1024
)

// Argon2Params are the argon2id cost settings. The defaults are OWASP's
// minimum (19 MiB, 2 passes, 1 lane): the one deliberate cost of a sign-in.
type Argon2Params struct {
	MemoryKiB uint32
	Passes    uint32
	Lanes     uint8
}

// DefaultArgon2 is what new password hashes use.
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Passes: 2, Lanes: 1}

const argonKeyLen = 32

// HashPassword returns a PHC-format argon2id hash of password.
func HashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(password), salt, p.Passes, p.MemoryKiB, p.Lanes, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Passes, p.Lanes, enc.EncodeToString(salt), enc.EncodeToString(sum)), nil
}

var errBadHash = errors.New("malformed password hash")

// CheckPassword reports whether password matches hash, comparing in
// constant time: our argon2id PHC hash, or an imported bcrypt or PBKDF2
// one (imported.go), each within its cost bounds.
func CheckPassword(hash, password string) (bool, error) {
	switch {
	case isBcrypt(hash):
		return checkBcrypt(hash, password)
	case strings.HasPrefix(hash, "$pbkdf2-sha256$"):
		return checkPBKDF2(hash, password)
	}
	p, salt, want, err := parseArgon2(hash)
	if err != nil {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Passes, p.MemoryKiB, p.Lanes, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// parseArgon2 reads an argon2id PHC hash, refusing costs above the bounds
// (an imported hash must not make a sign-in arbitrarily expensive).
func parseArgon2(hash string) (p Argon2Params, salt, want []byte, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Passes, &p.Lanes); err != nil {
		return p, nil, nil, errBadHash
	}
	if p.MemoryKiB == 0 || p.MemoryKiB > maxArgon2MemoryKiB || p.Passes == 0 || p.Passes > maxArgon2Passes ||
		p.Lanes == 0 || p.Lanes > maxArgon2Lanes {
		return p, nil, nil, fmt.Errorf("%w: argon2id cost outside the bounds (m ≤ %d KiB, t ≤ %d, p ≤ %d)",
			errBadHash, maxArgon2MemoryKiB, maxArgon2Passes, maxArgon2Lanes)
	}
	enc := base64.RawStdEncoding
	if salt, err = enc.DecodeString(parts[4]); err != nil {
		return p, nil, nil, errBadHash
	}
	if want, err = enc.DecodeString(parts[5]); err != nil || len(want) == 0 {
		return p, nil, nil, errBadHash
	}
	return p, salt, want, nil
}

// GeneratePassword returns a strong random password (about 120 bits) for
// `user create` without --password-stdin.
func GeneratePassword() string {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
