package idp_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// TestLoopbackRedirectsOnlyForPublicClients: a loopback redirect URI
// matches on any port for a public (native) client only, and nothing else
// about it may differ (user info, the scheme's case, an empty query or
// fragment); a confidential client's redirect URI matches exactly, at the
// authorization endpoint and at PAR, and a refused one is never
// redirected to.
func TestLoopbackRedirectsOnlyForPublicClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		authorize := func(c *store.Client, redirect string) *http.Response {
			t.Helper()
			q := url.Values{"client_id": {c.ID}, "response_type": {"code"}, "scope": {"openid"},
				"redirect_uri": {redirect}, "state": {"state-123456789"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
			resp, err := noFollow.Get(e.issuer + "/oauth2/auth?" + q.Encode())
			must(t, err)
			resp.Body.Close()
			return resp
		}
		accepted := func(c *store.Client, redirect string) {
			t.Helper()
			resp := authorize(c, redirect)
			if loc, _ := resp.Location(); resp.StatusCode >= 400 || loc == nil || loc.Path != "/login" {
				t.Errorf("%s %s: %d to %v, want the sign-in page", c.Name, redirect, resp.StatusCode, loc)
			}
		}
		refused := func(c *store.Client, redirect string) {
			t.Helper()
			resp := authorize(c, redirect)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("%s %s: %d to %q, want the 400 error page", c.Name, redirect, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		// Confidential: http://127.0.0.1:1/callback, exactly.
		accepted(e.client, rpRedirect)
		for _, bad := range []string{
			"http://127.0.0.1:2/callback", "http://127.0.0.1/callback", "http://user@127.0.0.1:1/callback",
			"HTTP://127.0.0.1:1/callback", "http://127.0.0.1:1/callback?", "http://127.0.0.1:1/callback#",
		} {
			refused(e.client, bad)
		}
		// Public: http://127.0.0.1:1/native on any port, nothing else.
		accepted(e.public, "http://127.0.0.1:1/native")
		accepted(e.public, "http://127.0.0.1:54321/native")
		accepted(e.public, "http://127.0.0.1/native")
		for _, bad := range []string{
			"http://user@127.0.0.1:5/native", "HTTP://127.0.0.1:5/native", "Http://127.0.0.1:1/native",
			"http://127.0.0.1:5/native?", "http://127.0.0.1:5/native#", "http://127.0.0.1:5/native/",
			"http://127.0.0.2:5/native", "http://localhost:5/native", "http://[::1]:5/native", "http://127.0.0.1:0/native",
		} {
			refused(e.public, bad)
		}

		// PAR: the confidential client gets invalid_request for another port.
		form := url.Values{"response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {"http://127.0.0.1:2/callback"},
			"state": {"state-123456789"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
			"code_challenge_method": {"S256"}}
		req, err := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/par", strings.NewReader(form.Encode()))
		must(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(e.client.ID), url.QueryEscape(e.secret))
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		var out map[string]any
		must(t, json.NewDecoder(resp.Body).Decode(&out))
		if resp.StatusCode != http.StatusBadRequest || out["error"] != "invalid_request" {
			t.Errorf("PAR with another port: %d %v, want 400 invalid_request", resp.StatusCode, out)
		}
	})
}
