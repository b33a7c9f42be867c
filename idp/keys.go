package idp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
)

// keySet holds the signing keys decrypted once, the active one first, and
// the JWKS document pre-rendered. It is replaced as a whole when keys change.
type keySet struct {
	version string
	active  *jose.JSONWebKey // private
	public  []jose.JSONWebKey
	jwks    []byte
}

// Keys manages signing keys: created on first start, loaded and decrypted
// once, and reloaded only when another replica (or `keys rotate`) changed
// them.
type Keys struct {
	store   *store.Store
	cipher  *mfa.Cipher
	alg     string
	rsaBits int
	keep    time.Duration // how long retired keys stay published
	log     *slog.Logger

	mu  sync.RWMutex
	set *keySet
}

func newKeys(s *store.Store, c *mfa.Cipher, alg string, rsaBits int, keep time.Duration, log *slog.Logger) *Keys {
	if alg == "" {
		alg = "RS256"
	}
	if rsaBits == 0 {
		rsaBits = 2048
	}
	return &Keys{store: s, cipher: c, alg: alg, rsaBits: rsaBits, keep: keep, log: log}
}

func signingKeyAAD(kid string) []byte { return mfa.AAD("signing_keys", "private_key", kid) }

// GenerateSigningKey makes a new key of alg, sealed for storage.
func GenerateSigningKey(c *mfa.Cipher, alg string, rsaBits int) (*store.SigningKey, error) {
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
	kid := store.NewID()
	sealed, err := c.Seal(der, signingKeyAAD(kid))
	if err != nil {
		return nil, err
	}
	pub := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return &store.SigningKey{KID: kid, Alg: alg, PrivateKey: sealed, PublicJWK: string(pubJSON)}, nil
}

// Ensure creates the first key when there is none, then loads the set.
func (k *Keys) Ensure(ctx context.Context) error {
	ks, err := k.store.PublishedSigningKeys(ctx, k.keep)
	if err != nil {
		return err
	}
	if len(ks) == 0 {
		key, err := GenerateSigningKey(k.cipher, k.alg, k.rsaBits)
		if err != nil {
			return err
		}
		if err := k.store.AddSigningKey(ctx, key); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return k.reload(ctx)
}

// reload reads and decrypts the published keys if their version changed.
func (k *Keys) reload(ctx context.Context) error {
	version, err := k.store.SigningKeysVersion(ctx)
	if err != nil {
		return err
	}
	k.mu.RLock()
	same := k.set != nil && k.set.version == version
	k.mu.RUnlock()
	if same {
		return nil
	}
	rows, err := k.store.PublishedSigningKeys(ctx, k.keep)
	if err != nil {
		return err
	}
	set := &keySet{version: version}
	for _, row := range rows {
		var pub jose.JSONWebKey
		if err := pub.UnmarshalJSON([]byte(row.PublicJWK)); err != nil {
			return fmt.Errorf("signing key %s: %w", row.KID, err)
		}
		set.public = append(set.public, pub)
		if set.active == nil && row.RetiredAt == nil {
			der, err := k.cipher.Open(row.PrivateKey, signingKeyAAD(row.KID))
			if err != nil {
				return fmt.Errorf("signing key %s: cannot decrypt (wrong secrets key?): %w", row.KID, err)
			}
			priv, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", row.KID, err)
			}
			set.active = &jose.JSONWebKey{Key: priv, KeyID: row.KID, Algorithm: row.Alg, Use: "sig"}
		}
	}
	if set.active == nil {
		return errors.New("no active signing key")
	}
	set.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: set.public})
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.set = set
	k.mu.Unlock()
	k.log.Info("signing keys loaded", "active_kid", set.active.KeyID, "published", len(set.public))
	return nil
}

// Watch reloads keys every interval until ctx ends, so a rotation made by
// another replica is picked up within seconds.
func (k *Keys) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.reload(ctx); err != nil && ctx.Err() == nil {
				k.log.Warn("signing key reload failed", "err", err)
			}
		}
	}
}

func (k *Keys) current() *keySet {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.set
}

// PrivateKey is fosite's key getter: the active key as a JWK (so `kid` is
// set on every token).
func (k *Keys) PrivateKey(context.Context) (any, error) {
	set := k.current()
	if set == nil {
		return nil, errors.New("signing keys not loaded")
	}
	return set.active, nil
}

// JWKS returns the pre-rendered public key set.
func (k *Keys) JWKS() []byte { return k.current().jwks }

// PublicKey returns the published key with kid, for verifying our own
// tokens (id_token_hint).
func (k *Keys) PublicKey(kid string) (*jose.JSONWebKey, bool) {
	for _, pk := range k.current().public {
		if pk.KeyID == kid {
			return &pk, true
		}
	}
	return nil, false
}

// Alg is the algorithm new keys are made with (for discovery).
func (k *Keys) Alg() string { return k.alg }
