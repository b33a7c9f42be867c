// Package signing manages the provider's signing keys: the first one is
// created at start, all are loaded and decrypted once, the JWKS is
// rendered once, and a rotation made elsewhere (another replica, `portcullis
// keys rotate`) is picked up by polling. It also verifies our own ID
// tokens when they come back as hints (id_token_hint).
package signing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
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
	cipher  *secrets.Cipher
	alg     string
	rsaBits int
	keep    time.Duration // how long retired keys stay published
	log     *slog.Logger

	mu  sync.RWMutex
	set *keySet

	// MaxAge is how old the loaded set may be when the JWKS is served or
	// a token carries a kid the replica does not know: older, the version
	// is checked in the database first (one small query, at most once per
	// MaxAge, whatever the request rate). New sets it to one second.
	MaxAge time.Duration
	// checking serialises those checks; checked is when the last ended.
	checking sync.Mutex
	checked  atomic.Int64 // unix nanoseconds
}

// New returns the key manager; call Ensure before use.
func New(s *store.Store, c *secrets.Cipher, alg string, rsaBits int, keep time.Duration, log *slog.Logger) *Keys {
	if alg == "" {
		alg = "RS256"
	}
	if rsaBits == 0 {
		rsaBits = 2048
	}
	return &Keys{store: s, cipher: c, alg: alg, rsaBits: rsaBits, keep: keep, log: log, MaxAge: time.Second}
}

// Generate makes a new key of alg, sealed for storage (what `portcullis
// keys rotate` stores too).
func Generate(c *secrets.Cipher, alg string, rsaBits int) (*store.SigningKey, error) {
	k, err := secrets.GenerateSigningKey(c, alg, rsaBits)
	if err != nil {
		return nil, err
	}
	return &store.SigningKey{KID: k.KID, Alg: k.Alg, PrivateKey: k.PrivateKey, PublicJWK: k.PublicJWK}, nil
}

// Ensure creates the first key when there is none, then loads the set.
func (k *Keys) Ensure(ctx context.Context) error {
	ks, err := k.store.PublishedSigningKeys(ctx, k.keep)
	if err != nil {
		return err
	}
	if len(ks) == 0 {
		key, err := Generate(k.cipher, k.alg, k.rsaBits)
		if err != nil {
			return err
		}
		// Replicas starting together each offer one; the store keeps one.
		if _, err := k.store.AddFirstSigningKey(ctx, key); err != nil {
			return err
		}
	}
	return k.reload(ctx)
}

// freshen reloads the set when it was last checked longer than maxAge
// ago. Callers that arrive while a check runs wait for it (one query for
// all of them); a failed check keeps the set loaded and is not retried
// before maxAge has passed again, so an outage costs one query a second.
func (k *Keys) freshen(ctx context.Context, maxAge time.Duration) {
	stale := func() bool { return time.Since(time.Unix(0, k.checked.Load())) >= maxAge }
	if !stale() {
		return
	}
	k.checking.Lock()
	defer k.checking.Unlock()
	if !stale() {
		return // checked while this caller waited
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := k.reload(ctx); err != nil {
		k.log.Warn("signing key check failed; serving the keys loaded before", "err", err)
	}
}

// reload reads and decrypts the published keys if their version changed.
func (k *Keys) reload(ctx context.Context) error {
	defer k.checked.Store(time.Now().UnixNano())
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
			priv, err := secrets.OpenSigningKey(k.cipher, row.KID, row.PrivateKey)
			if errors.Is(err, secrets.ErrDecrypt) {
				return fmt.Errorf("signing key %s: cannot decrypt (wrong secrets key?): %w", row.KID, err)
			}
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

// JWKS returns the pre-rendered public key set, checked against the
// database first when it is older than MaxAge: a key another replica (or
// `keys rotate`) added is published by every replica within MaxAge, not
// at the next poll, so a relying app that fetches the set because it met
// a new kid finds it whichever replica answers.
func (k *Keys) JWKS(ctx context.Context) []byte {
	k.freshen(ctx, k.MaxAge)
	return k.current().jwks
}

// PublicKey returns the published key with kid, for verifying our own
// tokens (id_token_hint). A kid this replica does not know (a key another
// replica signed with) makes it check the database for new keys first,
// at most once per MaxAge.
func (k *Keys) PublicKey(kid string) (*jose.JSONWebKey, bool) {
	if key, ok := k.published(kid); ok {
		return key, true
	}
	k.freshen(context.Background(), k.MaxAge)
	return k.published(kid)
}

func (k *Keys) published(kid string) (*jose.JSONWebKey, bool) {
	for _, pk := range k.current().public {
		if pk.KeyID == kid {
			return &pk, true
		}
	}
	return nil, false
}

// Alg is the algorithm new keys are made with (for discovery).
func (k *Keys) Alg() string { return k.alg }

// CheckCipher opens every active signing key in st with c and reports the
// first it cannot open. A command that is about to seal a new secret calls
// it first: a key sealed under the wrong master key would make every
// server fail when it loads that key.
func CheckCipher(ctx context.Context, st *store.Store, c *secrets.Cipher) error {
	keys, err := st.PublishedSigningKeys(ctx, 0) // keep 0: only unretired keys
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.RetiredAt != nil {
			continue
		}
		if _, err := secrets.OpenSigningKey(c, k.KID, k.PrivateKey); err != nil {
			return fmt.Errorf("signing key %s cannot be decrypted with this secrets key; use the key the servers use", k.KID)
		}
	}
	return nil
}
