package idp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-idp/portcullis/idp"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/templates"
)

// TestEveryLogLineHasTheRequestID: a request that logs from its handler
// (a refused token request) writes that line and its access line, both
// with the id the response carries in X-Request-Id, and no secret.
func TestEveryLogLineHasTheRequestID(t *testing.T) {
	logs := &lockedBuffer{}
	e := newEnvWith(t, storetest.OpenSQLite, func(o *idp.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	const wrongSecret = "not-the-secret-0123456789"
	req, err := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	must(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.machine.ID, wrongSecret)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != http.StatusUnauthorized || id == "" {
		t.Fatalf("status %d, X-Request-Id %q; want 401 and an id", resp.StatusCode, id)
	}

	var messages []string
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if line["request_id"] != id {
			continue // start-up lines, or another request
		}
		messages = append(messages, line["msg"].(string))
	}
	if strings.Join(messages, ",") != "token request refused,request" {
		t.Errorf("lines with request_id %s: %q, want the refusal then the access line\n%s", id, messages, logs.String())
	}
	if strings.Contains(logs.String(), wrongSecret) {
		t.Error("the client secret was logged")
	}
}

// TestPolledMetadataLoggedAtDebug: the discovery document and the JWKS,
// which every relying app polls, are logged at debug level when served;
// refused requests on those paths still reach the info log.
func TestPolledMetadataLoggedAtDebug(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		logs := &lockedBuffer{}
		e := newEnvWith(t, storetest.OpenSQLite, func(o *idp.Options) {
			o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))
		})
		logged := func(method, path string) bool {
			req, err := http.NewRequest(method, e.issuer+path, nil)
			must(t, err)
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			resp.Body.Close()
			return strings.Contains(logs.String(), `"request_id":"`+resp.Header.Get("X-Request-Id")+`"`)
		}
		for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
			if got := logged(http.MethodGet, path); got != (level == slog.LevelDebug) {
				t.Errorf("level %s: GET %s logged = %v", level, path, got)
			}
			if !logged(http.MethodPost, path) {
				t.Errorf("level %s: a refused POST %s was not logged", level, path)
			}
		}
	}
}

// TestCookieNameHostPrefix: with an https issuer the browser cookie is
// __Host-portcullis (Secure, Path=/, no Domain), so a sibling subdomain
// cannot plant one; on an http loopback issuer it is plain portcullis.
func TestCookieNameHostPrefix(t *testing.T) {
	st := storetest.OpenSQLite(t)
	tpl, err := templates.Load()
	must(t, err)
	for issuer, want := range map[string]string{"https://id.example.com": "__Host-portcullis", "http://127.0.0.1:1": "portcullis"} {
		srv, err := idp.New(context.Background(), idp.Options{Store: st, Templates: tpl, Issuer: issuer,
			MasterKey: make([]byte, 32), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		must(t, err)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/account", nil))
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Name != want || cookies[0].Path != "/" || cookies[0].Domain != "" ||
			cookies[0].Secure != strings.HasPrefix(issuer, "https") {
			t.Errorf("%s: cookies %+v, want one %s", issuer, cookies, want)
		}
	}
}
