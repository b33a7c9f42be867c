package secrets

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Password hashes imported from another system (`portcullis user import`)
// are verified at the user's next sign-in and then replaced by an argon2id
// hash at DefaultArgon2 (NeedsRehash). Besides our own argon2id, these
// forms are accepted:
//
//	$2a$, $2b$, $2y$ …                 bcrypt, cost at most 14
//	$pbkdf2-sha256$i=N$SALT$HASH       PBKDF2-HMAC-SHA256, N at most 1,000,000,
//	                                   SALT and HASH in base64 (Keycloak's export:
//	                                   credentialData.hashIterations, secretData.salt,
//	                                   secretData.value)
//
// Every cost is bounded, here and when the hash is verified, so an
// imported hash cannot make a sign-in arbitrarily expensive.
const (
	maxBcryptCost      = 14
	maxPBKDF2Iter      = 1_000_000
	maxArgon2MemoryKiB = 256 * 1024
	maxArgon2Passes    = 10
	maxArgon2Lanes     = 8
)

// CheckImportedHash reports what is wrong with a password hash to import,
// or nil: it must be one of the accepted forms, within the cost bounds.
func CheckImportedHash(hash string) error {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		_, _, _, err := parseArgon2(hash)
		return err
	case isBcrypt(hash):
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return fmt.Errorf("not a bcrypt hash: %v", err)
		}
		if cost > maxBcryptCost {
			return fmt.Errorf("bcrypt cost %d is above %d", cost, maxBcryptCost)
		}
		return nil
	case strings.HasPrefix(hash, "$pbkdf2-sha256$"):
		_, _, _, err := parsePBKDF2(hash)
		return err
	}
	return fmt.Errorf("not an argon2id, bcrypt or $pbkdf2-sha256$ hash")
}

// NeedsRehash reports whether hash is anything but an argon2id hash at
// exactly p's cost: an imported hash, or one made at an older cost.
func NeedsRehash(hash string, p Argon2Params) bool {
	got, _, _, err := parseArgon2(hash)
	return err != nil || got != p
}

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

func checkBcrypt(hash, password string) (bool, error) {
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil || cost > maxBcryptCost {
		return false, errBadHash
	}
	if len(password) > 72 {
		// bcrypt hashed only the first 72 bytes where the hash was made
		// (PHP, OpenBSD); x/crypto refuses longer input rather than
		// truncating, so it is cut here as it was there.
		password = password[:72]
	}
	err = bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	return err == nil, nil
}

func parsePBKDF2(hash string) (iter int, salt, want []byte, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 5 || parts[1] != "pbkdf2-sha256" || !strings.HasPrefix(parts[2], "i=") {
		return 0, nil, nil, fmt.Errorf("a PBKDF2 hash reads $pbkdf2-sha256$i=ITERATIONS$SALT$HASH")
	}
	iter, err = strconv.Atoi(parts[2][2:])
	if err != nil || iter < 1000 || iter > maxPBKDF2Iter {
		return 0, nil, nil, fmt.Errorf("PBKDF2 iterations must be 1,000 to %d", maxPBKDF2Iter)
	}
	if salt, err = decodeBase64(parts[3]); err != nil || len(salt) < 8 {
		return 0, nil, nil, fmt.Errorf("PBKDF2 salt is not base64 of at least 8 bytes")
	}
	if want, err = decodeBase64(parts[4]); err != nil || len(want) < 16 {
		return 0, nil, nil, fmt.Errorf("PBKDF2 hash is not base64 of at least 16 bytes")
	}
	return iter, salt, want, nil
}

func checkPBKDF2(hash, password string) (bool, error) {
	iter, salt, want, err := parsePBKDF2(hash)
	if err != nil {
		return false, errBadHash
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
	if err != nil {
		return false, errBadHash
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// decodeBase64 reads standard base64, padded (as Keycloak exports it) or
// not (as PHC strings write it).
func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
