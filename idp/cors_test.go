package idp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/store"
)

const spaOrigin = "https://spa.example.com"

// newSPA registers a public single-page app allowed the given origins.
func (e *env) newSPA(t testing.TB, redirect string, origins ...string) *store.Client {
	t.Helper()
	spa := &store.Client{Name: "Acme SPA", Public: true, RequirePKCE: true, SkipConsent: true,
		RedirectURIs: []string{redirect}, WebOrigins: origins, Scopes: claims.SupportedScopes,
		GrantTypes: []string{"authorization_code", "refresh_token"}}
	must(t, e.store.CreateClient(context.Background(), spa))
	return spa
}

// corsDo sends a request with an Origin header and returns the response
// (body closed) and its decoded JSON body, if any.
func corsDo(t *testing.T, method, u, origin string, form url.Values, header ...string) (*http.Response, map[string]any) {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, u, body)
	must(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// TestCORS: preflights of the token, revocation and userinfo endpoints are
// answered for registered web origins only and for the methods each
// takes; the answers themselves carry Access-Control-Allow-Origin only for
// an origin of the request's own client; discovery and the JWKS allow any
// origin; introspection, PAR, the pages and the admin API have no CORS.
func TestCORS(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		spa := e.newSPA(t, "http://127.0.0.1:1/spa", spaOrigin)
		const evil = "https://evil.example.com"
		acao := func(resp *http.Response) string { return resp.Header.Get("Access-Control-Allow-Origin") }

		for _, c := range []struct {
			path, origin, method string
			allowed              bool
		}{
			{"/oauth2/token", spaOrigin, "POST", true},
			{"/oauth2/revoke", spaOrigin, "POST", true},
			{"/userinfo", spaOrigin, "GET", true},
			{"/userinfo", spaOrigin, "POST", true},
			{"/oauth2/token", evil, "POST", false},
			{"/oauth2/token", spaOrigin, "DELETE", false},
			{"/oauth2/token", spaOrigin + ":443", "POST", false},
			{"/userinfo", "null", "GET", false},
			{"/oauth2/token", "https://spa.example.com\xff", "POST", false},
			{"/oauth2/token", "https://%.example.com", "POST", false},
		} {
			resp, _ := corsDo(t, http.MethodOptions, e.issuer+c.path, c.origin, nil, "Access-Control-Request-Method", c.method,
				"Access-Control-Request-Headers", "authorization")
			got := acao(resp)
			switch {
			case resp.StatusCode != http.StatusNoContent:
				t.Errorf("preflight %s from %s: %d, want 204", c.path, c.origin, resp.StatusCode)
			case c.allowed && (got != c.origin || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), c.method) ||
				!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") || resp.Header.Get("Access-Control-Max-Age") == ""):
				t.Errorf("preflight %s from %s for %s: %v, want it allowed", c.path, c.origin, c.method, resp.Header)
			case !c.allowed && got != "":
				t.Errorf("preflight %s from %s for %s: allowed (%q)", c.path, c.origin, c.method, got)
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("preflight %s: credentials allowed", c.path)
			}
		}
		// Public documents: any origin.
		for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
			if resp, _ := corsDo(t, http.MethodGet, e.issuer+path, evil, nil); acao(resp) != "*" {
				t.Errorf("GET %s: Access-Control-Allow-Origin %q, want *", path, acao(resp))
			}
			if resp, _ := corsDo(t, http.MethodOptions, e.issuer+path, evil, nil, "Access-Control-Request-Method", "GET"); acao(resp) != "*" {
				t.Errorf("preflight %s: %d %q, want *", path, resp.StatusCode, acao(resp))
			}
		}
		// No CORS at all: introspection, PAR, the pages, the admin API.
		for _, path := range []string{"/oauth2/introspect", "/oauth2/par", "/admin/api/users", "/account", "/login", "/oauth2/auth"} {
			resp, _ := corsDo(t, http.MethodOptions, e.issuer+path, spaOrigin, nil, "Access-Control-Request-Method", "POST")
			if resp.StatusCode != http.StatusMethodNotAllowed || acao(resp) != "" {
				t.Errorf("preflight %s: %d %q, want 405 without CORS", path, resp.StatusCode, acao(resp))
			}
			if resp, _ := corsDo(t, http.MethodGet, e.issuer+path, spaOrigin, nil); acao(resp) != "" {
				t.Errorf("GET %s from a registered origin: Access-Control-Allow-Origin %q", path, acao(resp))
			}
		}

		// The code exchange, userinfo and revocation, as the page would.
		redeem := func(c *store.Client, secret, origin string) (*http.Response, map[string]any) {
			t.Helper()
			relying := e.rp(c, secret)
			verifier := oauth2.GenerateVerifier()
			landed := e.signIn(newBrowser(t), authURLFor(relying, verifier), &mfaUser{email: "ada@example.com", password: testPassword})
			form := url.Values{"grant_type": {"authorization_code"}, "code": {landed.Query().Get("code")},
				"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}}
			var hdr []string
			if secret == "" {
				form.Set("client_id", c.ID)
			} else {
				hdr = []string{"Authorization", "Basic " + basic(c.ID, secret)}
			}
			return corsDo(t, http.MethodPost, e.issuer+"/oauth2/token", origin, form, hdr...)
		}
		resp, tok := redeem(spa, "", spaOrigin)
		if resp.StatusCode != http.StatusOK || acao(resp) != spaOrigin || !strings.Contains(resp.Header.Get("Vary"), "Origin") {
			t.Fatalf("code exchange from the SPA's origin: %d %q %v", resp.StatusCode, acao(resp), tok)
		}
		if resp, _ := redeem(spa, "", evil); resp.StatusCode != http.StatusOK || acao(resp) != "" {
			t.Errorf("code exchange from another origin: %d, Access-Control-Allow-Origin %q", resp.StatusCode, acao(resp))
		}
		if resp, _ := redeem(e.client, e.secret, spaOrigin); resp.StatusCode != http.StatusOK || acao(resp) != "" {
			t.Errorf("another client's exchange from the SPA's origin: %d, Access-Control-Allow-Origin %q", resp.StatusCode, acao(resp))
		}
		access, _ := tok["access_token"].(string)
		resp, info := corsDo(t, http.MethodGet, e.issuer+"/userinfo", spaOrigin, nil, "Authorization", "Bearer "+access)
		if resp.StatusCode != http.StatusOK || acao(resp) != spaOrigin || info["sub"] != e.user.ID {
			t.Errorf("userinfo from the SPA's origin: %d %q %v", resp.StatusCode, acao(resp), info)
		}
		if resp, _ := corsDo(t, http.MethodGet, e.issuer+"/userinfo", evil, nil, "Authorization", "Bearer "+access); acao(resp) != "" {
			t.Errorf("userinfo from another origin: Access-Control-Allow-Origin %q", acao(resp))
		}
		resp, _ = corsDo(t, http.MethodPost, e.issuer+"/oauth2/revoke", spaOrigin,
			url.Values{"token": {tok["refresh_token"].(string)}, "client_id": {spa.ID}})
		if resp.StatusCode != http.StatusOK || acao(resp) != spaOrigin {
			t.Errorf("revocation from the SPA's origin: %d %q", resp.StatusCode, acao(resp))
		}
	})
}

func basic(id, secret string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}
