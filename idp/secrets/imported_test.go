package secrets

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestImportedHashes(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// PBKDF2-HMAC-SHA256, the published test vector (P, S, c = 4096, dkLen 40).
	want, _ := hex.DecodeString("348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9")
	salt := []byte("saltSALTsaltSALTsaltSALTsaltSALTsalt")
	keycloak := "$pbkdf2-sha256$i=4096$" + base64.StdEncoding.EncodeToString(salt) + "$" + base64.StdEncoding.EncodeToString(want)
	argon, err := HashPassword("correct horse", Argon2Params{MemoryKiB: 64, Passes: 1, Lanes: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, hash, right, wrong string
	}{
		{"bcrypt", string(bc), "correct horse", "correct horsE"},
		{"pbkdf2-sha256 (Keycloak)", keycloak, "passwordPASSWORDpassword", "passwordPASSWORDpasswore"},
		{"argon2id", argon, "correct horse", "wrong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckImportedHash(tc.hash); err != nil {
				t.Fatalf("CheckImportedHash: %v", err)
			}
			if ok, err := CheckPassword(tc.hash, tc.right); !ok || err != nil {
				t.Fatalf("right password: %v %v", ok, err)
			}
			if ok, err := CheckPassword(tc.hash, tc.wrong); ok || err != nil {
				t.Fatalf("wrong password: %v %v", ok, err)
			}
			if !NeedsRehash(tc.hash, DefaultArgon2) {
				t.Fatal("no rehash wanted for an imported hash")
			}
		})
	}
	own, err := HashPassword("x", DefaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if NeedsRehash(own, DefaultArgon2) {
		t.Fatal("our own hash at the current cost wants a rehash")
	}

	for _, bad := range []string{
		"", "plain text", "$1$md5crypt$xyz",
		"$2a$15$" + strings.Repeat("a", 53), // cost above 14, never computed
		"$pbkdf2-sha256$i=5000000$c2FsdHNhbHRzYWx0$" + base64.StdEncoding.EncodeToString(want),
		"$pbkdf2-sha256$i=4096$c2FsdA==$" + base64.StdEncoding.EncodeToString(want), // salt too short
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",             // 4 GiB
	} {
		if err := CheckImportedHash(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
		if ok, _ := CheckPassword(bad, "x"); ok {
			t.Errorf("%q matched", bad)
		}
	}
}

// TestBcryptLongPasswords: a password longer than bcrypt's 72 bytes
// matches a hash made where the input was cut to them (PHP, OpenBSD).
func TestBcryptLongPasswords(t *testing.T) {
	long := strings.Repeat("correct horse battery staple ", 3) // 87 bytes
	hash, err := bcrypt.GenerateFromPassword([]byte(long[:72]), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := CheckPassword(string(hash), long); err != nil || !ok {
		t.Fatalf("the long password: %v, %v", ok, err)
	}
	if ok, _ := CheckPassword(string(hash), long[:71]); ok {
		t.Fatal("a shorter password matched")
	}
}
