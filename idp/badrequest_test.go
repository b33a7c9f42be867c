package idp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"golang.org/x/oauth2"
)

// TestClientAuthFailuresChallengeBasic: a client that fails to
// authenticate at the token, revocation or introspection endpoint gets 401
// invalid_client with WWW-Authenticate: Basic.
func TestClientAuthFailuresChallengeBasic(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	for _, c := range []struct{ path, body string }{
		{"/oauth2/token", "grant_type=client_credentials"},
		{"/oauth2/revoke", "token=x"},
		{"/oauth2/introspect", "token=x"},
	} {
		req, err := http.NewRequest(http.MethodPost, e.issuer+c.path, strings.NewReader(c.body))
		must(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.client.ID, "wrong-secret")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || body.Error != "invalid_client" ||
			!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: %d %q, WWW-Authenticate %q; want 401 invalid_client with a Basic challenge",
				c.path, resp.StatusCode, body.Error, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestUnknownClientAndRedirectTellApart: both are a 400 page that sends
// the browser nowhere, each with its own accurate text.
func TestUnknownClientAndRedirectTellApart(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	q := url.Values{"client_id": {e.client.ID}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {"https://evil.example/cb"}, "state": {"state-0123456789"}}
	for name, tc := range map[string]struct {
		edit func(url.Values)
		want string
	}{
		"unknown client":            {func(q url.Values) { q.Set("client_id", "nope") }, "unknown client_id"},
		"unregistered redirect_uri": {func(url.Values) {}, "has not registered (redirect_uri)"},
	} {
		v := url.Values{}
		for k, vs := range q {
			v[k] = append([]string(nil), vs...)
		}
		tc.edit(v)
		resp, err := http.Get(e.issuer + "/oauth2/auth?" + v.Encode())
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Request.URL.Host != strings.TrimPrefix(e.issuer, "http://") ||
			!strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d at %s, want 400 saying %q", name, resp.StatusCode, resp.Request.URL, tc.want)
		}
	}
}

// TestBadRequests is the route table of malformed and hostile requests:
// each gets a 4xx with an OAuth error body or an HTML error page, never a
// 500, never a redirect to an unvalidated URI, and none changes stored
// state.
func TestBadRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
		auth := func(mod func(q url.Values)) string {
			q := url.Values{
				"client_id": {e.client.ID}, "response_type": {"code"}, "scope": {"openid email"},
				"redirect_uri": {rpRedirect}, "state": {"state-0123456789"},
				"code_challenge": {challenge}, "code_challenge_method": {"S256"},
			}
			mod(q)
			return "/oauth2/auth?" + q.Encode()
		}
		form := func(kv ...string) string {
			v := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				v.Add(kv[i], kv[i+1])
			}
			return v.Encode()
		}
		type expect int
		const (
			htmlPage      expect = iota // 4xx HTML error page, no redirect
			redirectError               // 303 to the client with ?error=
			jsonError                   // 4xx JSON with "error"
			bare                        // just a 4xx status
		)
		cases := []struct {
			name        string
			method, url string
			body        string
			basicAuth   bool
			want        expect
			status      int
			errCode     string
		}{
			{"unknown client", "GET", auth(func(q url.Values) { q.Set("client_id", "nope") }), "", false, htmlPage, 400, ""},
			{"unregistered redirect_uri", "GET", auth(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }), "", false, htmlPage, 400, ""},
			{"redirect_uri with extra query", "GET", auth(func(q url.Values) { q.Set("redirect_uri", rpRedirect+"?x=1") }), "", false, htmlPage, 400, ""},
			{"client_id twice", "GET", auth(func(q url.Values) { q.Add("client_id", e.client.ID) }), "", false, htmlPage, 400, ""},
			{"missing PKCE", "GET", auth(func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }), "", false, redirectError, 303, "invalid_request"},
			{"plain PKCE", "GET", auth(func(q url.Values) { q.Set("code_challenge_method", "plain") }), "", false, redirectError, 303, "invalid_request"},
			{"scope twice", "GET", auth(func(q url.Values) { q.Add("scope", "openid") }), "", false, redirectError, 303, "invalid_request"},
			{"no openid scope", "GET", auth(func(q url.Values) { q.Set("scope", "email") }), "", false, redirectError, 303, "invalid_scope"},
			{"missing response_type", "GET", auth(func(q url.Values) { q.Del("response_type") }), "", false, redirectError, 303, "unsupported_response_type"},
			{"implicit response_type", "GET", auth(func(q url.Values) { q.Set("response_type", "token") }), "", false, redirectError, 303, "unsupported_response_type"},
			{"request object", "GET", auth(func(q url.Values) { q.Set("request", "eyJhbGciOiJub25lIn0.e30.") }), "", false, redirectError, 303, "request_not_supported"},
			{"foreign request_uri", "GET", auth(func(q url.Values) { q.Set("request_uri", "https://evil.example/req") }), "", false, redirectError, 303, "request_uri_not_supported"},
			{"short state", "GET", auth(func(q url.Values) { q.Set("state", "abc") }), "", false, redirectError, 303, "invalid_request"},
			{"bad claims param", "GET", auth(func(q url.Values) { q.Set("claims", "{not json") }), "", false, redirectError, 303, "invalid_request"},
			{"unknown prompt", "GET", auth(func(q url.Values) { q.Set("prompt", "bogus") }), "", false, redirectError, 303, "invalid_request"},
			{"short code_challenge", "GET", auth(func(q url.Values) { q.Set("code_challenge", "abc") }), "", false, redirectError, 303, "invalid_request"},
			{"code_challenge outside the unreserved set", "GET", auth(func(q url.Values) { q.Set("code_challenge", strings.Repeat("a", 42)+"+") }), "", false, redirectError, 303, "invalid_request"},
			{"code_challenge too long", "GET", auth(func(q url.Values) { q.Set("code_challenge", strings.Repeat("a", 129)) }), "", false, redirectError, 303, "invalid_request"},
			{"response_type in capitals", "GET", auth(func(q url.Values) { q.Set("response_type", "CODE") }), "", false, redirectError, 303, "unsupported_response_type"},
			{"response_type with a space", "GET", auth(func(q url.Values) { q.Set("response_type", "code ") }), "", false, redirectError, 303, "unsupported_response_type"},
			{"revoke: no token", "POST", "/oauth2/revoke", form("client_id", e.client.ID, "client_secret", e.secret), false, jsonError, 400, "invalid_request"},
			{"introspect: no token", "POST", "/oauth2/introspect", form("token_type_hint", "access_token"), true, jsonError, 400, "invalid_request"},
			{"token: wrong secret", "POST", "/oauth2/token", form("grant_type", "authorization_code", "code", "x", "redirect_uri", rpRedirect, "client_id", e.client.ID, "client_secret", "wrong"), false, jsonError, 401, "invalid_client"},
			{"token: unknown client", "POST", "/oauth2/token", form("grant_type", "client_credentials", "client_id", "nope", "client_secret", "x"), false, jsonError, 401, "invalid_client"},
			{"token: no grant_type", "POST", "/oauth2/token", form("code", "x"), true, jsonError, 400, "invalid_request"},
			{"token: password grant", "POST", "/oauth2/token", form("grant_type", "password", "username", "ada@example.com", "password", testPassword), true, jsonError, 400, ""},
			{"token: bogus code", "POST", "/oauth2/token", form("grant_type", "authorization_code", "code", "bogus.code", "redirect_uri", rpRedirect, "code_verifier", strings.Repeat("a", 43)), true, jsonError, 400, "invalid_grant"},
			{"token: duplicate grant_type", "POST", "/oauth2/token", form("grant_type", "authorization_code", "grant_type", "refresh_token"), true, jsonError, 400, "invalid_request"},
			{"token: oversized body", "POST", "/oauth2/token", "grant_type=authorization_code&code=" + strings.Repeat("a", 2<<20), true, bare, 400, ""},
			{"token: bogus refresh", "POST", "/oauth2/token", form("grant_type", "refresh_token", "refresh_token", "nope.nope"), true, jsonError, 400, "invalid_grant"},
			{"introspect: no client auth", "POST", "/oauth2/introspect", form("token", "x"), false, jsonError, 401, "invalid_client"},
			{"revoke: wrong secret", "POST", "/oauth2/revoke", form("token", "x", "client_id", e.client.ID, "client_secret", "wrong"), false, jsonError, 401, "invalid_client"},
			{"userinfo: no token", "GET", "/userinfo", "", false, jsonError, 401, ""},
			{"userinfo: bad token", "GET", "/userinfo?x=1", "", false, jsonError, 401, "invalid_token"},
			{"par: no client auth", "POST", "/oauth2/par", form("client_id", e.client.ID, "response_type", "code", "scope", "openid"), false, jsonError, 401, "invalid_client"},
			{"login: unknown request", "GET", "/login?auth_request=nope", "", false, htmlPage, 400, ""},
			{"login post: unknown request", "POST", "/login", form("auth_request", "nope", "email", "a@b.c", "password", "x"), false, htmlPage, 400, ""},
			{"consent: unknown request", "GET", "/consent?auth_request=nope", "", false, htmlPage, 400, ""},
			{"resume: unknown request", "GET", "/oauth2/auth/resume?auth_request=nope", "", false, htmlPage, 400, ""},
			{"code page: unknown request", "GET", "/login/code?auth_request=nope", "", false, htmlPage, 400, ""},
			{"code: unknown request", "POST", "/login/code", form("auth_request", "nope", "code", "123456"), false, htmlPage, 400, ""},
			{"recovery: unknown request", "POST", "/login/recovery", form("auth_request", "nope", "recovery_key", strings.Repeat("A", 64)), false, htmlPage, 400, ""},
			{"enroll: unknown request", "GET", "/enroll?auth_request=nope", "", false, htmlPage, 400, ""},
			{"enroll: no request", "GET", "/enroll", "", false, htmlPage, 400, ""},
			{"enroll key: unknown request", "POST", "/enroll/recovery-key", form("auth_request", "nope", "stored", "yes"), false, htmlPage, 400, ""},
			{"enroll key file: unknown request", "GET", "/enroll/recovery-key.txt?auth_request=nope", "", false, htmlPage, 400, ""},
			{"enroll verify: unknown request", "POST", "/enroll/verify", form("auth_request", "nope", "code", "123456"), false, htmlPage, 400, ""},
			{"enroll verify: oversized request id", "POST", "/enroll/verify", form("auth_request", strings.Repeat("x", 5000), "code", "123456"), false, htmlPage, 400, ""},
			{"logout confirm: unknown request", "POST", "/logout/confirm", form("logout_request", "nope", "decision", "yes"), false, htmlPage, 400, ""},
			{"logout: forged hint", "GET", "/logout?id_token_hint=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F", "", false, htmlPage, 400, ""},
			{"logout: parameter twice", "GET", "/logout?state=a&state=b", "", false, htmlPage, 400, ""},
			{"account: signed out POST", "POST", "/account/2fa/deactivate", form("code", "123456"), false, htmlPage, 401, ""},
			{"admin: signed out POST", "POST", "/admin/require-tfa", form("require_tfa", "on", "sessions", "clear"), false, htmlPage, 401, ""},
			{"admin API: no token", "GET", "/admin/api/users", "", false, jsonError, 401, ""},
			{"admin API: bogus token", "GET", "/admin/api/tenant?access_token=x", "", false, jsonError, 401, ""},
			{"wrong method code", "PUT", "/login/code", "", false, bare, 405, ""},
			{"wrong method enroll", "DELETE", "/enroll", "", false, bare, 405, ""},
			{"wrong method account", "DELETE", "/account", "", false, bare, 405, ""},
			{"wrong method token", "GET", "/oauth2/token", "", false, bare, 405, ""},
			{"wrong method auth", "DELETE", "/oauth2/auth", "", false, bare, 405, ""},
			{"wrong method discovery", "POST", "/.well-known/openid-configuration", "", false, bare, 405, ""},
			{"wrong method jwks", "PUT", "/.well-known/jwks.json", "", false, bare, 405, ""},
			{"wrong method userinfo", "PUT", "/userinfo", "", false, bare, 405, ""},
			{"wrong method introspect", "GET", "/oauth2/introspect", "", false, bare, 405, ""},
			{"wrong method revoke", "GET", "/oauth2/revoke", "", false, bare, 405, ""},
			{"unknown path", "GET", "/nope", "", false, htmlPage, 404, ""},
			// Bytes PostgreSQL refuses in text (NUL, invalid UTF-8) are
			// refused before any handler reads them, never a 500.
			{"client_id with NUL", "GET", auth(func(q url.Values) { q.Set("client_id", "a\x00b") }), "", false, htmlPage, 400, ""},
			{"client_id invalid UTF-8", "GET", auth(func(q url.Values) { q.Set("client_id", "a\xffb") }), "", false, htmlPage, 400, ""},
			{"state with NUL", "GET", auth(func(q url.Values) { q.Set("state", "state-0123456789\x00") }), "", false, htmlPage, 400, ""},
			{"malformed query", "GET", "/oauth2/auth?client_id=%zz", "", false, htmlPage, 400, ""},
			{"token: client_id with NUL", "POST", "/oauth2/token", form("grant_type", "client_credentials", "client_id", "a\x00", "client_secret", "x"), false, jsonError, 400, "invalid_request"},
			{"token: code invalid UTF-8", "POST", "/oauth2/token", form("grant_type", "authorization_code", "code", "a.\xff\xfe", "redirect_uri", rpRedirect), true, jsonError, 400, "invalid_request"},
			{"token: refresh invalid UTF-8", "POST", "/oauth2/token", form("grant_type", "refresh_token", "refresh_token", "a.\xff"), true, jsonError, 400, "invalid_request"},
			{"token: Basic client id invalid UTF-8", "POST", "/oauth2/token?basic=bad", form("grant_type", "client_credentials"), false, jsonError, 400, "invalid_request"},
			{"introspect: token with NUL", "POST", "/oauth2/introspect", form("token", "a.b\x00"), true, jsonError, 400, "invalid_request"},
			{"revoke: token invalid UTF-8", "POST", "/oauth2/revoke", form("token", "a.\xff"), true, jsonError, 400, "invalid_request"},
			{"par: state invalid UTF-8", "POST", "/oauth2/par", form("response_type", "code", "scope", "openid", "state", "\xff\xff\xff\xff\xff\xff\xff\xff"), true, jsonError, 400, "invalid_request"},
			{"userinfo: token with NUL", "POST", "/userinfo", form("access_token", "a.b\x00"), false, jsonError, 400, "invalid_request"},
			{"login post: request id invalid UTF-8", "POST", "/login", form("auth_request", "\xff", "email", "a@b.c", "password", "x"), false, htmlPage, 400, ""},
			{"login post: email with NUL", "POST", "/login", form("auth_request", "nope", "email", "ada@example.com\x00", "password", "x"), false, htmlPage, 400, ""},
			{"logout: hint with NUL", "GET", "/logout?id_token_hint=%00", "", false, htmlPage, 400, ""},
			{"admin API: user id with NUL", "GET", "/admin/api/users/%00", "", false, jsonError, 400, "invalid_request"},
		}
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := e.rowCounts(t)
				var body io.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				req, _ := http.NewRequest(tc.method, e.issuer+tc.url, body)
				if tc.body != "" {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if tc.basicAuth {
					req.SetBasicAuth(e.client.ID, e.secret)
				}
				if strings.HasSuffix(tc.url, "?basic=bad") {
					req.SetBasicAuth("\xff\xfe", "secret")
				}
				if tc.name == "userinfo: bad token" {
					req.Header.Set("Authorization", "Bearer not-a-token")
				}
				resp, err := noRedirect.Do(req)
				must(t, err)
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				text := string(raw)
				if resp.StatusCode >= 500 {
					t.Fatalf("status %d: %s", resp.StatusCode, text)
				}
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, text)
				}
				ct := resp.Header.Get("Content-Type")
				switch tc.want {
				case htmlPage:
					if !strings.HasPrefix(ct, "text/html") || resp.Header.Get("Location") != "" {
						t.Fatalf("want HTML page without redirect, got %q location %q", ct, resp.Header.Get("Location"))
					}
					if strings.Contains(text, "goroutine") || strings.Contains(text, ".go:") {
						t.Fatal("stack trace in page")
					}
				case redirectError:
					loc, err := url.Parse(resp.Header.Get("Location"))
					must(t, err)
					if !strings.HasPrefix(loc.String(), rpRedirect) || loc.Query().Get("error") != tc.errCode {
						t.Fatalf("redirect %s, want error %s", loc, tc.errCode)
					}
					if loc.Query().Get("state") != "state-0123456789" && tc.name != "short state" {
						t.Fatalf("state not returned: %s", loc)
					}
				case jsonError:
					if !strings.HasPrefix(ct, "application/json") {
						t.Fatalf("content type %q: %s", ct, text)
					}
					if tc.errCode != "" && !strings.Contains(text, `"error":"`+tc.errCode+`"`) {
						t.Fatalf("want error %s in %s", tc.errCode, text)
					}
					if tc.status == 401 && strings.HasPrefix(tc.url, "/userinfo") && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Fatal("userinfo 401 without WWW-Authenticate: Bearer")
					}
				}
				if after := e.rowCounts(t); after != before {
					t.Fatalf("stored state changed: %v -> %v", before, after)
				}
			})
		}
	})
}

// rowCounts fingerprints the mutable tables.
func (e *env) rowCounts(t *testing.T) [4]int64 {
	var out [4]int64
	for i, table := range []string{"oauth_tokens", "auth_requests", "browser_sessions", "consents"} {
		must(t, e.store.DB().Table(table).Count(&out[i]).Error)
	}
	return out
}

// TestAuthorizationCodeReuse: a second exchange of a code fails and the
// tokens from its first use are revoked (RFC 6749 §4.1.2).
func TestAuthorizationCodeReuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		relying := e.rp(e.client, e.secret)
		v := oauth2.GenerateVerifier()
		landed := e.authorize(newBrowser(t), relying.cfg.AuthCodeURL("state-reuse-0001", oidc.Nonce("n-0123456789"), oauth2.S256ChallengeOption(v)), "ada@example.com", testPassword)
		code := landed.Query().Get("code")
		tok, err := relying.cfg.Exchange(ctx, code, oauth2.VerifierOption(v))
		must(t, err)
		if _, err := relying.cfg.Exchange(ctx, code, oauth2.VerifierOption(v)); err == nil {
			t.Fatal("code accepted twice")
		} else if !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("reuse error = %v", err)
		}
		if e.introspect(t, tok.AccessToken) {
			t.Fatal("access token from the first exchange still active after code reuse")
		}
		if _, err := relying.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
			t.Fatal("refresh token from the first exchange still works after code reuse")
		}
		// Wrong PKCE verifier on a fresh code fails.
		v2 := oauth2.GenerateVerifier()
		landed = e.authorize(newBrowser(t), relying.cfg.AuthCodeURL("state-reuse-0002", oauth2.S256ChallengeOption(v2)), "ada@example.com", testPassword)
		if _, err := relying.cfg.Exchange(ctx, landed.Query().Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
			t.Fatal("wrong code_verifier accepted")
		}
	})
}

// TestMultipartFormsRefused: a form sent as multipart/form-data, which
// fosite would parse past the text check, is refused on the protocol
// endpoints and on the pages alike.
func TestMultipartFormsRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, path := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/login"} {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			must(t, mw.WriteField("grant_type", "authorization_code"))
			must(t, mw.WriteField("code", "a.\xff\xfe"))
			must(t, mw.WriteField("token", "a.\xff\xfe"))
			must(t, mw.Close())
			before := e.rowCounts(t)
			req, _ := http.NewRequest(http.MethodPost, e.issuer+path, &buf)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.SetBasicAuth(e.client.ID, e.secret)
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400: %s", path, resp.StatusCode, body)
			}
			if strings.HasPrefix(path, "/oauth2/") && !strings.Contains(string(body), `"error":"invalid_request"`) {
				t.Errorf("%s: body %s, want invalid_request", path, body)
			}
			if after := e.rowCounts(t); after != before {
				t.Errorf("%s: stored state changed", path)
			}
		}
	})
}
