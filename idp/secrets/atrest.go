package secrets

import "errors"

// atRestPurpose is DeriveKey's purpose for the at-rest cipher's key.
const atRestPurpose = "at-rest"

// atRestKeyID is the key id of the at-rest cipher, stored in every value it
// seals.
const atRestKeyID = "k1"

// AtRestCipher returns the cipher that seals secrets at rest (TOTP secrets,
// private signing keys, the token HMAC secret, the recovery key of a pending
// enrollment) under a key derived from masterKey. Everything that reads or
// writes such a secret (the server, its store, `portcullis keys rotate`)
// builds its cipher here from the same master key, or the others cannot
// open what it sealed.
func AtRestCipher(masterKey []byte) (*Cipher, error) {
	if len(masterKey) != MasterKeySize {
		return nil, errors.New("secrets: the master key must be 32 bytes")
	}
	return NewCipher(atRestKeyID, map[string][]byte{atRestKeyID: DeriveKey(masterKey, atRestPurpose)})
}
