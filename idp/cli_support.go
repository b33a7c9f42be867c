package idp

// Helpers shared with cmd/portcullis, so that the command line builds what
// the server reads exactly as New does.

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
)

// AtRestCipher returns the cipher that seals secrets at rest (private
// signing keys, the token HMAC secret) under a key derived from masterKey.
// Everything that writes such a secret outside New, like `portcullis keys
// rotate`, must seal it with this cipher, or running servers cannot open it.
func AtRestCipher(masterKey []byte) (*mfa.Cipher, error) {
	if len(masterKey) != 32 {
		return nil, errors.New("idp: MasterKey must be 32 bytes")
	}
	return mfa.NewCipher("k1", map[string][]byte{"k1": mfa.DeriveKey(masterKey, "at-rest")})
}

// CheckAtRestCipher opens every active signing key in st with c and
// reports the first it cannot open. A command that is about to seal a new
// secret calls it first: a key sealed under the wrong master key would make
// every server fail when it loads that key.
func CheckAtRestCipher(ctx context.Context, st *store.Store, c *mfa.Cipher) error {
	keys, err := st.PublishedSigningKeys(ctx, 0) // keep 0: only unretired keys
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.RetiredAt != nil {
			continue
		}
		if _, err := c.Open(k.PrivateKey, signingKeyAAD(k.KID)); err != nil {
			return fmt.Errorf("signing key %s cannot be decrypted with this secrets key; use the key the servers use", k.KID)
		}
	}
	return nil
}

// ClientSecretMatches reports whether secret is the client secret whose
// digest, made by NewClientSecret with the same masterKey, is hash.
func ClientSecretMatches(masterKey []byte, secret string, hash []byte) bool {
	return clientSecretHasher(masterKey).Compare(context.Background(), hash, []byte(secret)) == nil
}
