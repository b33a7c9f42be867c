package secrets

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v3"
)

// SigningKey is a new ID-token signing key as it is stored: the caller
// copies it into its storage record.
type SigningKey struct {
	KID        string // random, 26 characters of lower-case base32
	Alg        string // RS256 or ES256
	PrivateKey string // PKCS #8 DER, sealed with the at-rest cipher for KID
	PublicJWK  string // the public key as a JWK (kid, alg, use "sig")
}

// signingKeyAAD binds a sealed private key to its row: the same bytes the
// values sealed so far were bound to, so existing databases still open.
func signingKeyAAD(kid string) []byte { return AAD("signing_keys", "private_key", kid) }

// GenerateSigningKey makes a new key of alg (RS256 with rsaBits, or ES256)
// and seals its private half with c.
func GenerateSigningKey(c *Cipher, alg string, rsaBits int) (*SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	kid := newKeyID()
	sealed, err := c.Seal(der, signingKeyAAD(kid))
	if err != nil {
		return nil, err
	}
	pub := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return &SigningKey{KID: kid, Alg: alg, PrivateKey: sealed, PublicJWK: string(pubJSON)}, nil
}

// OpenSigningKey opens the private key kid that GenerateSigningKey sealed.
// It fails with an error wrapping ErrDecrypt when c has not the key that
// sealed it.
func OpenSigningKey(c *Cipher, kid, sealed string) (crypto.Signer, error) {
	der, err := c.Open(sealed, signingKeyAAD(kid))
	if err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("secrets: signing key %s is a %T, not a signer", kid, priv)
	}
	return signer, nil
}

// newKeyID returns 128 random bits in lower-case base32, the shape of every
// id Portcullis makes.
func newKeyID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
