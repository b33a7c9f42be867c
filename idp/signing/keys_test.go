package signing_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/signing"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// TestKeyAddedElsewhereIsPublished: replica A runs with its keys loaded
// and no poll; another replica (B) starts signing with a key A has never
// seen. A accepts an ID token B signed with it as a hint (a kid A does
// not know makes it look), and A's JWKS publishes the key within MaxAge,
// without A's poll.
func TestKeyAddedElsewhereIsPublished(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, storetest.SQLiteConfig(t))
	cipher, err := secrets.AtRestCipher(storetest.MasterKey())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	newReplica := func() *signing.Keys {
		k := signing.New(st, cipher, "ES256", 0, time.Hour, log)
		k.MaxAge = 50 * time.Millisecond
		if err := k.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := newReplica()

	// `keys rotate` (or another replica) adds a key; B, started after,
	// signs with it.
	added, err := signing.Generate(cipher, "ES256", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RotateSigningKeys(ctx, added); err != nil {
		t.Fatal(err)
	}
	b := newReplica()
	priv, err := b.PrivateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kid := priv.(*jose.JSONWebKey).KeyID; kid != added.KID {
		t.Fatalf("B signs with %s, want the added key %s", kid, added.KID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"iss": "https://id.example.com", "sub": "u1", "aud": "c1"})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	hint, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}

	// Once MaxAge has passed since A last looked, a hint signed with the
	// new key is accepted by A at the first try (the unknown kid makes A
	// look; its poll does not run here).
	time.Sleep(2 * a.MaxAge)
	if _, ok := a.VerifyHint(hint, "https://id.example.com"); !ok {
		t.Error("A refused an ID token B signed with a key A had not loaded")
	}
	// A's JWKS has the new key within MaxAge (generous bound).
	deadline := time.Now().Add(5 * time.Second)
	for {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(a.JWKS(ctx), &set); err != nil {
			t.Fatal(err)
		}
		if len(set.Key(added.KID)) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A's JWKS never published the key B signs with (%d keys)", len(set.Keys))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
