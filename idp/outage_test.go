package idp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// TestDatabaseOutage takes the provider's database down while it runs (a
// database of the test's own: connections refused and every open one
// terminated, as in a PostgreSQL restart) and checks what clients and
// users are told: every endpoint answers 503 with Retry-After
// (server_error at the back-channel endpoints, the "briefly unavailable"
// page for browsers), none blames the client or the user with a 4xx, and
// each failure is logged at ERROR with its request id. When the database
// is back, requests succeed again without a restart.
func TestDatabaseOutage(t *testing.T) {
	cfg, db := storetest.PostgresFaultDatabase(t)
	logs := &lockedBuffer{}
	e := newEnvWith(t, func(tb testing.TB) *store.Store { return storetest.Open(tb, cfg) }, func(o *idp.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})

	// Before the outage: a signed-in user with tokens, a browser at the
	// password page of a pending request, and the machine client.
	b := newBrowser(t)
	relying, tok := e.signedInWithTokens(b)
	atLogin := newBrowser(t)
	_, loginPage := atLogin.get(authURLFor(relying, oauth2.GenerateVerifier()))
	pending := hiddenAuthRequest(t, loginPage)

	type probe struct {
		name string
		req  func() *http.Request
		// ok tells the answer after the outage is a success.
		ok func(resp *http.Response, body string) bool
		// json: a back-channel endpoint (an OAuth JSON error during the
		// outage); otherwise a page for browsers.
		json bool
	}
	form := func(path string, v url.Values, user, pass string) func() *http.Request {
		return func() *http.Request {
			req, err := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(v.Encode()))
			must(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if user != "" {
				req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
			}
			return req
		}
	}
	get := func(u string, header ...string) func() *http.Request {
		return func() *http.Request {
			req, err := http.NewRequest(http.MethodGet, u, nil)
			must(t, err)
			for i := 0; i+1 < len(header); i += 2 {
				req.Header.Set(header[i], header[i+1])
			}
			return req
		}
	}
	status := func(code int) func(*http.Response, string) bool {
		return func(resp *http.Response, _ string) bool { return resp.StatusCode == code }
	}
	probes := []probe{
		{name: "token (client credentials)", json: true, ok: status(http.StatusOK),
			req: form("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"reports"}}, e.machine.ID, e.mSecret)},
		{name: "token (refresh)", json: true, ok: status(http.StatusOK),
			req: func() *http.Request {
				return form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, e.client.ID, e.secret)()
			}},
		{name: "introspection", json: true, ok: status(http.StatusOK),
			req: form("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, e.client.ID, e.secret)},
		{name: "revocation", json: true, ok: status(http.StatusOK),
			req: form("/oauth2/revoke", url.Values{"token": {"not-a-token"}}, e.client.ID, e.secret)},
		{name: "userinfo", json: true, ok: func(resp *http.Response, _ string) bool {
			// The refresh above rotated the grant's tokens: the old
			// access token is no longer valid, which is a verdict, not
			// an outage.
			return resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized
		}, req: get(e.issuer+"/userinfo", "Authorization", "Bearer "+tok.AccessToken)},
		{name: "authorization", ok: func(resp *http.Response, _ string) bool {
			return resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound
		}, req: get(authURLFor(relying, oauth2.GenerateVerifier()))},
		{name: "password page", ok: func(resp *http.Response, _ string) bool { return resp.StatusCode < 500 },
			req: func() *http.Request {
				req := form("/login", url.Values{"auth_request": {pending}, "email": {"ada@example.com"}, "password": {"wrong password"}}, "", "")()
				for _, c := range atLogin.c.Jar.Cookies(req.URL) { // the pending request is bound to this browser
					req.AddCookie(c)
				}
				req.Header.Set("Origin", e.issuer)
				return req
			}},
		{name: "readiness", ok: status(http.StatusOK), req: get(e.issuer + "/health/ready")},
	}
	// Every probe is sent without following redirects and without cookies
	// (the browser's session would not change what an outage answers).
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	send := func(p probe) (*http.Response, string) {
		t.Helper()
		resp, err := client.Do(p.req())
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}

	db.Down(t)
	// The store tells "could not look up" from "not found".
	if _, err := e.store.GetClient(context.Background(), e.client.ID); !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient during the outage: %v, want store.ErrUnavailable", err)
	}
	for _, p := range probes {
		resp, body := send(p)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s during the outage: %d, want 503\n%s", p.name, resp.StatusCode, body)
			continue
		}
		if p.name != "readiness" && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s during the outage: 503 without Retry-After", p.name)
		}
		if p.json {
			var oe struct{ Error string }
			if err := json.Unmarshal([]byte(body), &oe); err != nil || oe.Error != "server_error" {
				t.Errorf("%s during the outage: body %s, want error server_error", p.name, body)
			}
		} else if p.name != "readiness" && !strings.Contains(body, "briefly unavailable") {
			t.Errorf("%s during the outage: the page does not say the service is briefly unavailable:\n%s", p.name, body)
		} else if p.name != "readiness" && !strings.Contains(body, `">Try again</a>`) {
			t.Errorf("%s during the outage: the page does not offer to try again:\n%s", p.name, body)
		}
		if id := resp.Header.Get("X-Request-Id"); p.name != "readiness" && !loggedErrorWith(logs.String(), id) {
			t.Errorf("%s during the outage: no ERROR log line with request id %q", p.name, id)
		}
	}
	// The log says what went wrong, never a credential.
	for _, secret := range []string{e.secret, e.mSecret, tok.RefreshToken, tok.AccessToken} {
		if strings.Contains(logs.String(), secret) {
			t.Fatal("a secret reached the log")
		}
	}

	db.Up(t)
	// Healing needs no restart: the pool reconnects on the next request.
	deadline := time.Now().Add(15 * time.Second)
	for _, p := range probes {
		for {
			resp, body := send(p)
			if p.ok(resp, body) {
				break
			}
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("%s after the outage: %d\n%s", p.name, resp.StatusCode, body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still fails 15 s after the outage: %d\n%s", p.name, resp.StatusCode, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// loggedErrorWith reports whether logs (JSON lines) hold an ERROR line
// carrying request id id.
func loggedErrorWith(logs, id string) bool {
	if id == "" {
		return false
	}
	for line := range strings.SplitSeq(logs, "\n") {
		var l struct {
			Level     string `json:"level"`
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Level == "ERROR" && l.RequestID == id {
			return true
		}
	}
	return false
}
