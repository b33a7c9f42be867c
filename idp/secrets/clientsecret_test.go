package secrets_test

import (
	"context"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/secrets"
)

func TestClientSecret(t *testing.T) {
	master, other := key(1), key(2)
	secret, hash, err := secrets.NewClientSecret(master)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 43 || len(hash) != 32 {
		t.Errorf("secret %d characters, digest %d bytes; want 43 and 32", len(secret), len(hash))
	}
	if !secrets.ClientSecretMatches(master, secret, hash) {
		t.Error("the secret does not match its digest")
	}
	for name, ok := range map[string]bool{
		"wrong secret":     secrets.ClientSecretMatches(master, secret+"x", hash),
		"other master key": secrets.ClientSecretMatches(other, secret, hash),
		"empty digest":     secrets.ClientSecretMatches(master, secret, nil),
	} {
		if ok {
			t.Errorf("%s matched", name)
		}
	}
	h := secrets.NewClientSecretHasher(master)
	if err := h.Compare(context.Background(), hash, []byte(secret)); err != nil {
		t.Errorf("Compare = %v", err)
	}
}

func TestTokens(t *testing.T) {
	a, b := secrets.RandomToken(), secrets.RandomToken()
	if a == b || len(a) != 43 {
		t.Errorf("RandomToken = %q, %q", a, b)
	}
	// SHA-256 of "abc" (FIPS 180-2, appendix B.1).
	if got := secrets.HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashToken(abc) = %s", got)
	}
}

func TestSigningKey(t *testing.T) {
	c, err := secrets.AtRestCipher(key(3))
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"RS256", "ES256"} {
		k, err := secrets.GenerateSigningKey(c, alg, 2048)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if k.Alg != alg || len(k.KID) != 26 {
			t.Errorf("%s: key %q, alg %q", alg, k.KID, k.Alg)
		}
		if _, err := secrets.OpenSigningKey(c, k.KID, k.PrivateKey); err != nil {
			t.Errorf("%s: OpenSigningKey: %v", alg, err)
		}
		if _, err := secrets.OpenSigningKey(c, "other", k.PrivateKey); err == nil {
			t.Errorf("%s: opened under another kid", alg)
		}
		wrong, _ := secrets.AtRestCipher(key(4))
		if _, err := secrets.OpenSigningKey(wrong, k.KID, k.PrivateKey); err == nil {
			t.Errorf("%s: opened with another master key", alg)
		}
	}
	if _, err := secrets.GenerateSigningKey(c, "HS256", 0); err == nil {
		t.Error("HS256 accepted")
	}
	if _, err := secrets.AtRestCipher(key(3)[:16]); err == nil {
		t.Error("AtRestCipher accepted a 16-byte master key")
	}
}
