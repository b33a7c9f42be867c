package secrets_test

import (
	"regexp"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/secrets"
)

// cheap keeps hashing fast; the format does not depend on the cost.
var cheap = secrets.Argon2Params{MemoryKiB: 1024, Passes: 1, Lanes: 1}

func TestPasswordHashRoundTrip(t *testing.T) {
	hash, err := secrets.HashPassword("correct horse battery staple", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(hash) {
		t.Errorf("hash %q is not a PHC argon2id string", hash)
	}
	if ok, err := secrets.CheckPassword(hash, "correct horse battery staple"); !ok || err != nil {
		t.Errorf("CheckPassword(right) = %v, %v", ok, err)
	}
	if ok, err := secrets.CheckPassword(hash, "correct horse battery stapler"); ok || err != nil {
		t.Errorf("CheckPassword(wrong) = %v, %v", ok, err)
	}
	if again, _ := secrets.HashPassword("correct horse battery staple", cheap); again == hash {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestCheckPasswordMalformed(t *testing.T) {
	for _, hash := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
		"$argon2id$v=16$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
		"$argon2id$v=19$m=x,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
		"$argon2id$v=19$m=1024,t=1,p=1$***$aGFzaA",
		"$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
	} {
		if ok, err := secrets.CheckPassword(hash, "anything"); ok || err == nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want an error", hash, ok, err)
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	a, b := secrets.GeneratePassword(), secrets.GeneratePassword()
	if a == b || len(a) < secrets.MinPasswordLength {
		t.Errorf("GeneratePassword = %q, %q", a, b)
	}
}
