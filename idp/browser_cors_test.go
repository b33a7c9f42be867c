package idp_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// TestSPAInBrowser: in a real Chromium, a page from a web origin the
// single-page app registered fetches discovery, redeems an authorization
// code and calls userinfo with a bearer token (a preflighted request)
// with fetch(); a page from another origin reads discovery too (public)
// but is refused by CORS at the token and userinfo endpoints.
func TestSPAInBrowser(t *testing.T) {
	ctx := chromium(t)
	e := newEnv(t, storetest.OpenSQLite)
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>SPA</title><p>single-page app</p>"))
	}
	allowed := httptest.NewServer(http.HandlerFunc(page))
	defer allowed.Close()
	other := httptest.NewServer(http.HandlerFunc(page))
	defer other.Close()
	spa := e.newSPA(t, "http://127.0.0.1:1/spa", allowed.URL)

	// The Go side signs Ada in and hands the page the code.
	code := func() (string, string) {
		relying := e.rp(spa, "")
		verifier := oauth2.GenerateVerifier()
		landed := e.signIn(newBrowser(t), authURLFor(relying, verifier), &mfaUser{email: "ada@example.com", password: testPassword})
		return landed.Query().Get("code"), verifier
	}
	js := func(v any) string {
		b, err := json.Marshal(v)
		must(t, err)
		return string(b)
	}
	script := func(code, verifier string) string {
		return `(async () => {
  const out = [];
  const d = await (await fetch(` + js(e.issuer+"/.well-known/openid-configuration") + `)).json();
  out.push("discovery " + (d.issuer === ` + js(e.issuer) + ` ? "ok" : "wrong"));
  let tok = {};
  try {
    const r = await fetch(d.token_endpoint, {method: "POST", body: new URLSearchParams({
      grant_type: "authorization_code", code: ` + js(code) + `, redirect_uri: ` + js(spa.RedirectURIs[0]) + `,
      client_id: ` + js(spa.ID) + `, code_verifier: ` + js(verifier) + `})});
    tok = await r.json();
    out.push("token " + r.status + (tok.id_token ? " id_token" : ""));
  } catch (err) {
    out.push("token refused " + err.name);
  }
  try {
    const r = await fetch(d.userinfo_endpoint, {headers: {Authorization: "Bearer " + (tok.access_token || "x")}});
    const info = await r.json();
    out.push("userinfo " + r.status + " " + info.sub);
  } catch (err) {
    out.push("userinfo refused " + err.name);
  }
  return out.join("; ");
})()`
	}
	run := func(origin string) string {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Navigate(origin+"/app")); err != nil {
			t.Fatal(err)
		}
		c, v := code()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](script(c, v), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("script at %s: %v", origin, err)
		}
		return got
	}

	if got, want := run(allowed.URL), "discovery ok; token 200 id_token; userinfo 200 "+e.user.ID; got != want {
		t.Errorf("page of the registered origin: %q, want %q", got, want)
	}
	got := run(other.URL)
	if want := "discovery ok; token refused TypeError; userinfo refused TypeError"; got != want {
		t.Errorf("page of another origin: %q, want %q", got, want)
	}
	if !strings.HasPrefix(got, "discovery ok") {
		t.Error("discovery is not readable from any origin")
	}
}
