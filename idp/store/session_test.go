package store_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// TestSessionJSON: a session with empty ID token claims and headers (a
// client-credentials token's) is stored without them and reads back with
// both empty but usable; a user's session keeps them; and a session stored
// in the longer, older form still reads back.
func TestSessionJSON(t *testing.T) {
	exp := time.Date(2026, 11, 27, 7, 30, 0, 0, time.UTC)
	machine := store.NewSession()
	machine.Subject, machine.ClientID = "client-1", "client-1"
	machine.ExpiresAt = map[fosite.TokenType]time.Time{fosite.AccessToken: exp}
	b, err := json.Marshal(machine)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "auth_time") || !strings.Contains(string(b), `"id_token_claims":null`) {
		t.Errorf("machine session stored as %s, want the empty claims left out", b)
	}
	got := store.NewSession()
	got.Claims, got.Headers = nil, nil
	if err := json.Unmarshal(b, got); err != nil {
		t.Fatal(err)
	}
	if got.Claims == nil || got.Claims.Extra == nil || got.Headers == nil || got.Headers.Extra == nil {
		t.Fatalf("claims %+v, headers %+v: want empty, non-nil", got.Claims, got.Headers)
	}
	if got.Subject != "client-1" || got.ClientID != "client-1" || !got.GetExpiresAt(fosite.AccessToken).Equal(exp) {
		t.Errorf("read back %+v", got)
	}

	user := store.NewSession()
	user.Claims.Subject, user.Claims.AuthTime, user.SessionID = "user-1", exp, "sid-1"
	user.Claims.AuthenticationMethodsReferences = []string{"pwd", "otp", "mfa"}
	b, err = json.Marshal(user)
	if err != nil {
		t.Fatal(err)
	}
	back := store.NewSession()
	if err := json.Unmarshal(b, back); err != nil {
		t.Fatal(err)
	}
	if back.Claims.Subject != "user-1" || !back.Claims.AuthTime.Equal(exp) || len(back.Claims.AuthenticationMethodsReferences) != 3 || back.SessionID != "sid-1" {
		t.Errorf("user session read back as %+v", back.Claims)
	}
	extraOnly := store.NewSession()
	extraOnly.Claims.Extra["tenant"] = "acme"
	if b, _ := json.Marshal(extraOnly); !strings.Contains(string(b), `"tenant":"acme"`) {
		t.Errorf("claims with only an extra claim were dropped: %s", b)
	}

	old := `{"oidc":{"id_token_claims":{"jti":"","iss":"","sub":"","aud":null,"nonce":"","exp":"0001-01-01T00:00:00Z","iat":"0001-01-01T00:00:00Z","rat":"0001-01-01T00:00:00Z","auth_time":"0001-01-01T00:00:00Z","at_hash":"","acr":"","amr":null,"c_hash":"","ext":{}},"headers":{"extra":{}},"expires_at":{"access_token":"2026-11-27T07:30:00Z"},"username":"","subject":"client-1"},"client_id":"client-1"}`
	fromOld := store.NewSession()
	if err := json.Unmarshal([]byte(old), fromOld); err != nil || fromOld.Subject != "client-1" || fromOld.Claims == nil {
		t.Errorf("old form: %+v, %v", fromOld, err)
	}
}
