package idp

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/web"
)

// TestWayBack: the way on an error page offers when the error names none.
func TestWayBack(t *testing.T) {
	get := func(target string) *http.Request { return httptest.NewRequest(http.MethodGet, target, nil) }
	post := func(target string, form url.Values) *http.Request {
		r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	retry := func(u string) web.Link { return web.Link{URL: u, Label: "Try again"} }
	for _, c := range []struct {
		what string
		r    *http.Request
		code int
		want web.Link
	}{
		{"rate-limited GET", get("/oauth2/auth?client_id=a&scope=openid"), http.StatusTooManyRequests, retry("/oauth2/auth?client_id=a&scope=openid")},
		{"outage on a GET", get("/account"), http.StatusServiceUnavailable, retry("/account")},
		{"outage on a sign-in form", post("/login/code", url.Values{"auth_request": {"ar 1"}}), http.StatusServiceUnavailable, retry("/login/code?auth_request=ar+1")},
		{"busy on the password form", post("/login", url.Values{"auth_request": {"ar-1"}}), http.StatusServiceUnavailable, retry("/login?auth_request=ar-1")},
		{"outage on an authorization POST", post("/oauth2/auth", url.Values{"client_id": {"a"}}), http.StatusServiceUnavailable, web.LinkStart},
		{"outage on an account form", post("/account/password", nil), http.StatusServiceUnavailable, web.Link{URL: "/account", Label: "Back to your account"}},
		{"bad account form", post("/account/sessions/end", nil), http.StatusBadRequest, web.Link{URL: "/account", Label: "Back to your account"}},
		{"admin: no such user", post("/admin/users/u1/reset-2fa", nil), http.StatusNotFound, web.Link{URL: "/admin", Label: "Back to administration"}},
		{"bad sign-out link", get("/logout?post_logout_redirect_uri=x"), http.StatusBadRequest, web.LinkStart},
		{"unknown address", get("/nowhere"), http.StatusNotFound, web.LinkStart},
		{"look-alike of /account", get("/accounts"), http.StatusNotFound, web.LinkStart},
	} {
		if got := wayBack(c.r, &web.Error{Code: c.code}); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.what, got, c.want)
		}
	}
}
