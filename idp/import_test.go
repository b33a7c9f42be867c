package idp_test

import (
	"context"
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/secrets"
)

// TestImportedHashesSignInAndRehash: a user imported with a bcrypt,
// PBKDF2-SHA256 (Keycloak) or foreign-cost argon2id hash signs in with
// their password, and the stored hash becomes argon2id at the current
// cost; a wrong password is still refused.
func TestImportedHashesSignInAndRehash(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	must(t, err)
	otherCost, err := secrets.HashPassword(testPassword, secrets.Argon2Params{MemoryKiB: 128, Passes: 3, Lanes: 1})
	must(t, err)
	for _, tc := range []struct{ name, hash, password string }{
		{"bcrypt", string(bc), testPassword},
		{"pbkdf2-sha256", "$pbkdf2-sha256$i=4096$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q==", "passwordPASSWORDpassword"},
		{"argon2id at another cost", otherCost, testPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				must(t, e.store.SetPasswordHash(ctx, e.user.ID, tc.hash))
				relying := e.rp(e.client, e.secret)
				if resp, _ := e.signInFrom(relying, "", "ada@example.com", tc.password+"x"); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("wrong password: %d", resp.StatusCode)
				}
				if u, _ := e.store.UserByID(ctx, e.user.ID); u.PasswordHash != tc.hash {
					t.Fatal("a wrong password replaced the hash")
				}
				landed := e.authorize(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), "ada@example.com", tc.password)
				if landed.Query().Get("code") == "" {
					t.Fatalf("no code: %s", landed)
				}
				u, err := e.store.UserByID(ctx, e.user.ID)
				must(t, err)
				if secrets.NeedsRehash(u.PasswordHash, testArgon2) {
					t.Fatalf("after the sign-in the hash is still %.12s…", u.PasswordHash)
				}
				if ok, _ := secrets.CheckPassword(u.PasswordHash, tc.password); !ok {
					t.Fatal("the new hash does not match the password")
				}
			})
		})
	}
}
