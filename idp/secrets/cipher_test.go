package secrets_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/secrets"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustCipher(t *testing.T, active string, keys map[string][]byte) *secrets.Cipher {
	t.Helper()
	c, err := secrets.NewCipher(active, keys)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCipherRoundTrip(t *testing.T) {
	c := mustCipher(t, "k1", map[string][]byte{"k1": key(1)})
	aad := secrets.AAD("mfa_authenticators", "secret", "user-1")
	plain := []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
	sealed, err := c.Seal(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^v1\.k1\.[A-Za-z0-9_-]+$`).MatchString(sealed) {
		t.Errorf("sealed form %q", sealed)
	}
	if strings.Contains(sealed, string(plain)) {
		t.Error("plaintext visible in sealed value")
	}
	got, err := c.Open(sealed, aad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := c.Seal(plain, aad)
	if again == sealed {
		t.Error("two seals of the same value are equal: nonce not random")
	}
	empty, _ := c.Seal(nil, nil)
	if got, err := c.Open(empty, nil); err != nil || len(got) != 0 {
		t.Errorf("empty round trip = %q, %v", got, err)
	}
}

func TestCipherRejects(t *testing.T) {
	c := mustCipher(t, "k1", map[string][]byte{"k1": key(1), "k2": key(2)})
	aad := secrets.AAD("mfa_authenticators", "secret", "user-1")
	sealed, _ := c.Seal([]byte("secret value"), aad)
	body := sealed[len("v1.k1."):]
	raw, _ := base64.RawURLEncoding.DecodeString(body)

	cases := map[string]struct {
		sealed string
		aad    []byte
	}{
		"wrong row":        {sealed, secrets.AAD("mfa_authenticators", "secret", "user-2")},
		"wrong column":     {sealed, secrets.AAD("mfa_authenticators", "other", "user-1")},
		"no aad":           {sealed, nil},
		"other key id":     {"v1.k2." + body, aad},
		"unknown key id":   {"v1.k9." + body, aad},
		"other version":    {"v2.k1." + body, aad},
		"truncated":        {sealed[:len(sealed)-4], aad},
		"too short":        {"v1.k1.AAAA", aad},
		"bad base64":       {"v1.k1.***", aad},
		"padded base64":    {sealed + "==", aad},
		"empty":            {"", aad},
		"no body":          {"v1.k1", aad},
		"dot in key id":    {"v1.k.1." + body, aad},
		"plain text value": {"ABCDEFGHIJKLMNOP", aad},
	}
	for i := range raw { // every byte of nonce, ciphertext and tag
		tampered := append([]byte{}, raw...)
		tampered[i] ^= 0x01
		cases[fmt.Sprintf("flipped byte %d", i)] = struct {
			sealed string
			aad    []byte
		}{"v1.k1." + base64.RawURLEncoding.EncodeToString(tampered), aad}
	}
	for name, tc := range cases {
		if got, err := c.Open(tc.sealed, tc.aad); !errors.Is(err, secrets.ErrDecrypt) || got != nil {
			t.Errorf("%s: Open = %q, %v; want ErrDecrypt", name, got, err)
		}
	}
}

func TestCipherRotation(t *testing.T) {
	aad := secrets.AAD("signing_keys", "private_key", "key-1")
	old := mustCipher(t, "2025", map[string][]byte{"2025": key(1)})
	sealedOld, _ := old.Seal([]byte("old"), aad)

	rotated := mustCipher(t, "2026", map[string][]byte{"2025": key(1), "2026": key(2)})
	if got, err := rotated.Open(sealedOld, aad); err != nil || string(got) != "old" {
		t.Fatalf("rotated cipher cannot open a value sealed with the old key: %q, %v", got, err)
	}
	sealedNew, _ := rotated.Seal([]byte("new"), aad)
	if id, err := secrets.KeyIDOf(sealedNew); err != nil || id != "2026" || rotated.ActiveKeyID() != "2026" {
		t.Errorf("new value sealed with key %q (%v), want 2026", id, err)
	}
	if !rotated.NeedsRotation(sealedOld) || rotated.NeedsRotation(sealedNew) || !rotated.NeedsRotation("junk") {
		t.Error("NeedsRotation wrong")
	}
	if _, err := old.Open(sealedNew, aad); !errors.Is(err, secrets.ErrDecrypt) {
		t.Errorf("old cipher opened a value sealed with a key it does not have: %v", err)
	}
	// Once the old key is retired, its values no longer open.
	retired := mustCipher(t, "2026", map[string][]byte{"2026": key(2)})
	if _, err := retired.Open(sealedOld, aad); !errors.Is(err, secrets.ErrDecrypt) {
		t.Errorf("retired key still opens: %v", err)
	}
}

func TestNewCipherValidation(t *testing.T) {
	cases := map[string]struct {
		active string
		keys   map[string][]byte
	}{
		"no keys":          {"k1", nil},
		"active missing":   {"k3", map[string][]byte{"k1": key(1)}},
		"short key":        {"k1", map[string][]byte{"k1": key(1)[:16]}},
		"long key":         {"k1", map[string][]byte{"k1": append(key(1), 0)}},
		"dot in id":        {"a.b", map[string][]byte{"a.b": key(1)}},
		"empty id":         {"", map[string][]byte{"": key(1)}},
		"bad inactive key": {"k1", map[string][]byte{"k1": key(1), "k2": nil}},
	}
	for name, tc := range cases {
		if _, err := secrets.NewCipher(tc.active, tc.keys); err == nil {
			t.Errorf("%s: NewCipher succeeded", name)
		}
	}
	// Every problem is reported at once.
	_, err := secrets.NewCipher("k1", map[string][]byte{"k1": nil, "k2": nil})
	if err == nil || !strings.Contains(err.Error(), `"k1"`) || !strings.Contains(err.Error(), `"k2"`) {
		t.Errorf("error does not name both bad keys: %v", err)
	}
}

func TestDeriveKey(t *testing.T) {
	master := key(9)
	a := secrets.DeriveKey(master, "mfa-secrets")
	b := secrets.DeriveKey(master, "cookie-hash")
	c := secrets.DeriveKey(master, "cookie-block")
	if len(a) != 32 || len(b) != 32 || len(c) != 32 {
		t.Fatalf("lengths %d %d %d, want 32", len(a), len(b), len(c))
	}
	if bytes.Equal(a, b) || bytes.Equal(b, c) || bytes.Equal(a, c) || bytes.Equal(a, master) {
		t.Error("derived keys are not distinct per purpose")
	}
	if !bytes.Equal(a, secrets.DeriveKey(master, "mfa-secrets")) {
		t.Error("DeriveKey is not deterministic")
	}
	if bytes.Equal(a, secrets.DeriveKey(key(8), "mfa-secrets")) {
		t.Error("different masters give the same key")
	}
	// RFC 5869 test case 3 (SHA-256, no salt, no info): the first 32 bytes of
	// its 42-byte OKM.
	okm, _ := hex.DecodeString("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d")
	if got := secrets.DeriveKey(bytes.Repeat([]byte{0x0b}, 22), ""); !bytes.Equal(got, okm) {
		t.Errorf("RFC 5869 case 3: got %x", got)
	}
}

func TestAAD(t *testing.T) {
	if got := string(secrets.AAD("mfa_authenticators", "secret", "u-1")); got != "mfa_authenticators|secret|u-1" {
		t.Errorf("AAD = %q", got)
	}
}
