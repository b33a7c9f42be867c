package idp_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestPasswordAttemptLimit: five wrong passwords lock the password step;
// the right one is then refused with the same message as a wrong one (the
// lock does not reveal the account), and the lockout is audited.
func TestPasswordAttemptLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		b := newBrowser(t)
		_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
		ar := hiddenAuthRequest(t, body)
		try := func(password string) (int, string) {
			resp, body := b.post(e.issuer+"/login", url.Values{"auth_request": {ar}, "email": {"ada@example.com"}, "password": {password}})
			return resp.StatusCode, body
		}
		for i := 0; i < 5; i++ {
			if status, _ := try("wrong password " + string(rune('a'+i))); status != http.StatusUnauthorized {
				t.Fatalf("wrong password %d: %d", i+1, status)
			}
		}
		status, body := try(testPassword)
		if status != http.StatusUnauthorized || !strings.Contains(body, "The email or password is not correct.") {
			t.Fatalf("right password while locked: %d", status)
		}
		events := e.auditEvents("ada@example.com")
		if !slices.Contains(events, "login.lockout") || !slices.Contains(events, "login.locked") {
			t.Fatalf("audit: %v", events)
		}
	})
}
