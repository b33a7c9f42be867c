package idp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp"
	"github.com/portcullis-idp/portcullis/idp/metrics"
)

var metricName = regexp.MustCompile(`\bportcullis_[a-z_]+[a-z]\b`)

// TestMetricsCountASignIn: after a scripted sign-in (one wrong password,
// the right one, one wrong code, the right one, the code exchanged for
// tokens, then refreshed), the metrics moved by exactly those amounts; the
// labels are route patterns and catalogue names, never a raw path; and
// the public port has no /metrics.
func TestMetricsCountASignIn(t *testing.T) {
	forEachBackendWith(t, func(o *idp.Options) { o.Metrics = metrics.New() }, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		app := e.activateAuthenticator(t, e.user.ID)
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		_, body := b.get(authURLFor(relying, verifier))
		ar := hiddenAuthRequest(t, body)
		b.post(e.issuer+"/login", url.Values{"auth_request": {ar}, "email": {"ada@example.com"}, "password": {"wrong"}})
		b.post(e.issuer+"/login", url.Values{"auth_request": {ar}, "email": {"ada@example.com"}, "password": {testPassword}})
		wrong := "000000"
		if wrong == app.code(t) {
			wrong = "111111"
		}
		b.post(e.issuer+"/login/code", url.Values{"auth_request": {ar}, "code": {wrong}})
		resp, body := b.post(e.issuer+"/login/code", url.Values{"auth_request": {ar}, "code": {app.code(t)}})
		if next := continueLink(body); next != "" {
			resp, body = b.get(e.issuer + next)
		}
		if resp.Request.URL.Path == "/consent" {
			b.post(e.issuer+"/consent", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "decision": {"allow"}})
		}
		if b.landed == nil {
			t.Fatalf("sign-in did not reach the app: %s", resp.Request.URL)
		}
		tok, _ := e.tokenFor(relying, b.landed, verifier)
		if _, err := relying.cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if resp, err := http.Get(e.issuer + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("the public port answers /metrics: %v %v", resp.StatusCode, err)
		}
		if resp, err := http.Get(e.issuer + "/no-such-path-ada"); err == nil {
			resp.Body.Close()
		}

		rec := httptest.NewRecorder()
		e.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		text, _ := io.ReadAll(rec.Body)
		scrape := string(text)
		for _, want := range []string{
			`portcullis_sign_in_events_total{event="login.failed",reason=""} 1`,
			`portcullis_sign_in_events_total{event="login.password",reason=""} 1`,
			`portcullis_sign_in_events_total{event="mfa.code_failed",reason="wrong"} 1`,
			`portcullis_sign_in_events_total{event="login.mfa",reason=""} 1`,
			`portcullis_tokens_issued_total{grant="authorization_code"} 1`,
			`portcullis_tokens_issued_total{grant="refresh_token"} 1`,
			`portcullis_http_requests_total{code="2xx",route="POST /oauth2/token"} 2`,
			`portcullis_http_requests_total{code="4xx",route="POST /login"} 1`,
			`portcullis_http_requests_total{code="4xx",route="unmatched"} 2`,
			`portcullis_http_request_duration_seconds_count{route="GET /oauth2/auth"} 1`,
			`portcullis_password_hashing_in_progress 0`,
			`portcullis_password_hashing_waiting 0`,
			`portcullis_backchannel_outbox_pending 0`,
			`go_sql_max_open_connections{db_name="portcullis"}`,
			`go_goroutines `,
		} {
			if !strings.Contains(scrape, want) {
				t.Errorf("the scrape lacks %s", want)
			}
		}
		// Every metric the sample dashboard and the README name exists.
		for _, file := range []string{"../deploy/grafana/portcullis-dashboard.json", "../README.md"} {
			doc, err := os.ReadFile(file)
			must(t, err)
			text := string(doc)
			if i := strings.Index(text, "## Metrics"); i >= 0 { // the README's section
				text = text[i:]
				text = text[:strings.Index(text[3:], "\n## ")+3]
			}
			for _, name := range metricName.FindAllString(text, -1) {
				if !strings.Contains(scrape, strings.TrimSuffix(name, "_bucket")) {
					t.Errorf("%s names %s, which the scrape lacks", file, name)
				}
			}
		}
		for _, leak := range []string{"no-such-path-ada", "ada@example.com", e.client.ID} {
			if strings.Contains(scrape, leak) {
				t.Errorf("a label carries %q", leak)
			}
		}
		if t.Failed() {
			t.Logf("scrape:\n%s", scrape)
		}
	})
}
