package idp_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// TestAuthorizationResponsesCarryIss: RFC 9207. A code and an error sent
// back to the client both carry iss, the issuer; discovery says so.
func TestAuthorizationResponsesCarryIss(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	relying := e.rp(e.client, e.secret)
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t)
	landed := e.authorize(b, relying.cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)), e.user.Email, testPassword)
	if landed.Query().Get("code") == "" || landed.Query().Get("iss") != e.issuer {
		t.Errorf("code response %s: want a code and iss=%s", landed, e.issuer)
	}

	q := url.Values{"client_id": {e.client.ID}, "response_type": {"code"}, "scope": {"email"},
		"redirect_uri": {rpRedirect}, "state": {"state-0123456789"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(e.issuer + "/oauth2/auth?" + q.Encode())
	must(t, err)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	must(t, err)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), rpRedirect) ||
		loc.Query().Get("error") != "invalid_scope" || loc.Query().Get("iss") != e.issuer || loc.Query().Get("state") != "state-0123456789" {
		t.Errorf("error response %d %s: want invalid_scope with state and iss", resp.StatusCode, loc)
	}

	var doc map[string]any
	resp, err = http.Get(e.issuer + "/.well-known/openid-configuration")
	must(t, err)
	must(t, json.NewDecoder(resp.Body).Decode(&doc))
	resp.Body.Close()
	if doc["authorization_response_iss_parameter_supported"] != true {
		t.Error("discovery does not advertise authorization_response_iss_parameter_supported")
	}
}
