package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// KeySize is the length of every encryption key: AES-256.
const KeySize = 32

// MasterKeySize is the length the operator's master key must have for
// DeriveKey; configuration validation should refuse anything shorter.
const MasterKeySize = 32

// sealedVersion prefixes every sealed value so the format can change later.
const sealedVersion = "v1"

// maxKeyIDLen bounds key ids, which are stored in every sealed value.
const maxKeyIDLen = 64

// ErrDecrypt is returned by Cipher.Open for every failure: malformed input,
// unknown key id, tampered ciphertext or wrong AAD. Details are in the
// wrapped message, never in a distinct error a caller could branch on.
var ErrDecrypt = errors.New("secrets: cannot decrypt value")

// Cipher encrypts secrets at rest with AES-256-GCM. It knows several keys
// by id (so old values still open after a rotation) and seals with the
// active one. A Cipher is safe for concurrent use.
//
// A sealed value is text: "v1.<keyid>.<base64url(nonce|ciphertext|tag)>",
// without base64 padding, with a random 96-bit nonce from crypto/rand. The
// GCM additional data is the "v1.<keyid>." header followed by the caller's
// AAD, so a value only opens for the row it was written for (see AAD).
type Cipher struct {
	active string
	aeads  map[string]cipher.AEAD
}

// NewCipher builds a Cipher from keys (id → 32-byte key) that seals with
// activeKeyID. Key ids are 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'.
// The key bytes are used to build the AES ciphers and not retained.
func NewCipher(activeKeyID string, keys map[string][]byte) (*Cipher, error) {
	if _, ok := keys[activeKeyID]; !ok {
		return nil, fmt.Errorf("secrets: active key id %q is not among the configured keys", activeKeyID)
	}
	ids := slices.Sorted(maps.Keys(keys)) // deterministic error messages
	c := &Cipher{active: activeKeyID, aeads: make(map[string]cipher.AEAD, len(keys))}
	var errs []error
	for _, id := range ids {
		if !validKeyID(id) {
			errs = append(errs, fmt.Errorf("secrets: key id %q must be 1-%d characters of A-Z a-z 0-9 _ -", id, maxKeyIDLen))
			continue
		}
		if len(keys[id]) != KeySize {
			errs = append(errs, fmt.Errorf("secrets: key %q is %d bytes, want %d", id, len(keys[id]), KeySize))
			continue
		}
		block, err := aes.NewCipher(keys[id])
		if err != nil {
			errs = append(errs, fmt.Errorf("secrets: key %q: %w", id, err))
			continue
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			errs = append(errs, fmt.Errorf("secrets: key %q: %w", id, err))
			continue
		}
		c.aeads[id] = aead
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ActiveKeyID returns the id of the key Seal uses.
func (c *Cipher) ActiveKeyID() string { return c.active }

// Seal encrypts plaintext with the active key, bound to aad.
func (c *Cipher) Seal(plaintext, aad []byte) (string, error) {
	header := sealedVersion + "." + c.active + "."
	ct := c.aeads[c.active].Seal(nil, nil, plaintext, additionalData(header, aad))
	return header + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a value made by Seal with any configured key. It fails with
// an error wrapping ErrDecrypt when the key id is unknown, the value was
// changed, or aad differs from the one used to seal.
func (c *Cipher) Open(sealed string, aad []byte) ([]byte, error) {
	id, body, err := splitSealed(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := c.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w: unknown key id %q", ErrDecrypt, id)
	}
	ct, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed ciphertext", ErrDecrypt)
	}
	pt, err := aead.Open(nil, nil, ct, additionalData(sealedVersion+"."+id+".", aad))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (wrong key, AAD or tampered value)", ErrDecrypt)
	}
	return pt, nil
}

// NeedsRotation reports whether sealed was made with a key other than the
// active one, so a key-rotation job can re-seal it. Malformed values report
// true.
func (c *Cipher) NeedsRotation(sealed string) bool {
	id, err := KeyIDOf(sealed)
	return err != nil || id != c.active
}

// KeyIDOf returns the id of the key that sealed a value, without decrypting.
func KeyIDOf(sealed string) (string, error) {
	id, _, err := splitSealed(sealed)
	return id, err
}

func splitSealed(sealed string) (id, body string, err error) {
	version, rest, ok1 := strings.Cut(sealed, ".")
	id, body, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || version != sealedVersion || !validKeyID(id) {
		return "", "", fmt.Errorf("%w: not a %s sealed value", ErrDecrypt, sealedVersion)
	}
	return id, body, nil
}

func additionalData(header string, aad []byte) []byte {
	out := make([]byte, 0, len(header)+len(aad))
	out = append(out, header...)
	return append(out, aad...)
}

// AAD returns the additional authenticated data that binds an encrypted
// value to its place: "table|column|rowID", for example
// "mfa_authenticators|secret|<userID>". A value copied to another row,
// column or table then fails to open. table and column are constants of the
// calling code and must not contain '|'; rowID, the last field, may contain
// anything.
func AAD(table, column, rowID string) []byte {
	return []byte(table + "|" + column + "|" + rowID)
}

// DeriveKey derives a 32-byte key for one purpose from the operator's master
// key with HKDF-SHA256 (RFC 5869; no salt, info = purpose), so a single
// configured secret yields independent keys for MFA secrets, cookies and so
// on. Different purposes give unrelated keys. master should be MasterKeySize
// bytes of randomness; DeriveKey panics only if HKDF refuses it (an empty or
// very short master in FIPS 140-only mode), a configuration error to catch at
// start.
func DeriveKey(master []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, master, nil, purpose, KeySize)
	if err != nil {
		panic(fmt.Sprintf("secrets: DeriveKey: %v", err))
	}
	return k
}
