package idp_test

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// routeTable is every URL of the provider, by the domain that mounts it:
// the one place a newcomer reads them all. TestRoutes fails when a route
// is added, removed or moved without this table following.
var routeTable = map[string][]string{
	"idp/oauth": {
		"GET /.well-known/openid-configuration",
		"GET /.well-known/jwks.json",
		"OPTIONS /.well-known/openid-configuration",
		"OPTIONS /.well-known/jwks.json",
		"GET /oauth2/auth",
		"POST /oauth2/auth",
		"GET /oauth2/auth/resume",
		"GET /consent",
		"POST /consent",
		"POST /oauth2/par",
		"POST /oauth2/token",
		"OPTIONS /oauth2/token",
		"POST /oauth2/revoke",
		"OPTIONS /oauth2/revoke",
		"POST /oauth2/introspect",
		"GET /userinfo",
		"POST /userinfo",
		"OPTIONS /userinfo",
	},
	"idp/signin": {
		"GET /login",
		"POST /login",
		"GET /login/code",
		"POST /login/code",
		"GET /login/recovery",
		"POST /login/recovery",
		"GET /enroll",
		"POST /enroll",
		"GET /enroll/recovery-key",
		"POST /enroll/recovery-key",
		"GET /enroll/recovery-key.txt",
		"GET /enroll/verify",
		"POST /enroll/verify",
		"POST /enroll/choose",
		"POST /enroll/later",
		"GET /login/passkey",
		"POST /login/passkey",
		"POST /login/passwordless",
	},
	"idp/account": {
		"GET /{$}",
		"GET /account",
		"POST /account/2fa/activate",
		"POST /account/2fa/deactivate",
		"POST /account/2fa/recovery-key",
		"POST /account/sessions/end",
		"POST /account/sessions/end-others",
		"POST /account/password",
		"POST /account/verify",
		"POST /account/passkeys/add",
		"POST /account/factors/remove",
		"POST /admin/second-factors",
		"POST /admin/enrollment-deadline",
		"POST /admin/passwordless",
		"PUT /admin/api/tenant/second-factors",
		"PUT /admin/api/tenant/enrollment-deadline",
		"PUT /admin/api/tenant/passwordless",
	},
	"idp/admin": {
		"GET /admin",
		"POST /admin/require-tfa",
		"POST /admin/users/{id}/reset-2fa",
		"POST /admin/users/{id}/end-sessions",
		"POST /admin/users/{id}/unlock",
		"GET /admin/audit/export",
		"POST /admin/users",
		"GET /admin/users/{id}/reset-2fa",
		"POST /admin/users/{id}/reset-password",
		"GET /admin/users/{id}/disable",
		"POST /admin/users/{id}/disable",
		"POST /admin/users/{id}/enable",
		"GET /admin/users/{id}/delete",
		"POST /admin/users/{id}/delete",
		"GET /admin/api/tenant",
		"PUT /admin/api/tenant/require-tfa",
		"POST /admin/api/tenant/require-tfa",
		"GET /admin/api/users",
		"POST /admin/api/users",
		"DELETE /admin/api/users/{id}",
		"POST /admin/api/users/{id}/disable",
		"POST /admin/api/users/{id}/enable",
		"POST /admin/api/users/{id}/reset-password",
		"POST /admin/api/users/{id}/reset-2fa",
		"POST /admin/api/users/{id}/end-sessions",
		"POST /admin/api/users/{id}/unlock",
		"GET /admin/api/audit",
		"GET /admin/api/audit/export",
		"GET /admin/api/logout-deliveries",
		"GET /admin/api/clients",
		"PATCH /admin/api/clients/{id}",
	},
	"idp/passwordlink": {
		"GET /set-password",
		"POST /set-password",
	},
	"idp/logout": {
		"GET /logout",
		"POST /logout",
		"POST /logout/confirm",
	},
	"idp": {
		"GET /health/alive",
		"GET /health/ready",
		"GET /static/",
	},
}

// TestRoutes: the server mounts exactly routeTable, and a known path asked
// with another method is 405 with an Allow header naming the methods the
// table gives it (GET implies HEAD), with a JSON error body on the
// protocol endpoints and the HTML error page on the pages.
func TestRoutes(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	var want []string
	methods := map[string][]string{} // path -> methods
	for _, routes := range routeTable {
		for _, r := range routes {
			want = append(want, r)
			method, path, _ := strings.Cut(r, " ")
			methods[path] = append(methods[path], method)
		}
	}
	got := e.srv.Routes()
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("routes mounted:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for path, ms := range methods {
		wrong := http.MethodDelete
		if slices.Contains(ms, wrong) {
			wrong = http.MethodPut
		}
		url := e.issuer + strings.ReplaceAll(strings.ReplaceAll(path, "{id}", "some-id"), "{$}", "")
		req, err := http.NewRequest(wrong, url, nil)
		must(t, err)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 405", wrong, path, resp.StatusCode)
			continue
		}
		protocol := path == "/userinfo" || strings.HasPrefix(path, "/.well-known/") || strings.HasPrefix(path, "/admin/api/") ||
			strings.HasPrefix(path, "/oauth2/") && path != "/oauth2/auth" && path != "/oauth2/auth/resume"
		wantType := "text/html"
		if protocol {
			wantType = "application/json"
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
			t.Errorf("DELETE %s: Content-Type %q, want %s", path, ct, wantType)
		}
		allow := strings.Split(strings.ReplaceAll(resp.Header.Get("Allow"), " ", ""), ",")
		for _, m := range ms {
			if !slices.Contains(allow, m) {
				t.Errorf("DELETE %s: Allow %q lacks %s", path, resp.Header.Get("Allow"), m)
			}
		}
	}
	// Unknown addresses, static ones included, get the error page.
	for _, path := range []string{"/nope", "/static/nope.css", "/static/", "/oauth2/nope"} {
		resp, err := http.Get(e.issuer + path)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s, want the 404 error page", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
