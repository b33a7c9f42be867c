package idp_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/audit"
)

// signedInWithTokens signs a browser in through the confirmed client and
// returns the tokens.
func (e *env) signedInWithTokens(b *browser) (*rp, *oauth2.Token) {
	e.t.Helper()
	relying := e.rp(e.client, e.secret)
	verifier := oauth2.GenerateVerifier()
	u := &mfaUser{email: "ada@example.com", password: testPassword}
	tok, _ := e.tokenFor(relying, e.signIn(b, authURLFor(relying, verifier), u), verifier)
	return relying, tok
}

func (e *env) promptNone(b *browser, relying *rp) string {
	e.t.Helper()
	b.get(authURLFor(relying, oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("prompt", "none")))
	if b.landed == nil {
		e.t.Fatalf("prompt=none did not return to the client: %s", b.last.Request.URL)
	}
	if errCode := b.landed.Query().Get("error"); errCode != "" {
		return errCode
	}
	return "code"
}

// TestRPInitiatedLogout: OpenID Connect RP-Initiated Logout 1.0 with and
// without id_token_hint, the exact-match rule for
// post_logout_redirect_uri, state, and what a logout ends.
func TestRPInitiatedLogout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		registered := e.client.PostLogoutRedirectURIs[0]

		t.Run("hint signs out at once and returns with state", func(t *testing.T) {
			b := newBrowser(t)
			relying, tok := e.signedInWithTokens(b)
			hint, _ := tok.Extra("id_token").(string)
			b.get(e.issuer + "/logout?" + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {registered}, "state": {"st-1"}}.Encode())
			if b.landed == nil || b.landed.Query().Get("state") != "st-1" || !strings.HasPrefix(b.landed.String(), registered) {
				t.Fatalf("logout redirect = %v (%s)", b.landed, b.last.Request.URL)
			}
			if got := e.promptNone(b, relying); got != "login_required" {
				t.Fatalf("prompt=none after logout = %s", got)
			}
			if _, err := relying.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
				t.Fatal("the refresh token survived the logout")
			}
			if e.introspect(t, tok.AccessToken) {
				t.Fatal("the access token is still active")
			}
			e.wantAudit(t, "RP-initiated logout", audit.Logout, e.user.ID, `{"via":"logout endpoint","current":true}`)
		})

		t.Run("POST without state returns without state", func(t *testing.T) {
			b := newBrowser(t)
			_, tok := e.signedInWithTokens(b)
			hint, _ := tok.Extra("id_token").(string)
			b.post(e.issuer+"/logout", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {registered}})
			if b.landed == nil || b.landed.Query().Has("state") {
				t.Fatalf("logout redirect = %v", b.landed)
			}
		})

		t.Run("no hint asks first", func(t *testing.T) {
			b := newBrowser(t)
			relying, _ := e.signedInWithTokens(b)
			resp, body := b.get(e.issuer + "/logout")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign out of Portcullis?") {
				t.Fatalf("logout without hint: %d\n%s", resp.StatusCode, body)
			}
			if got := e.promptNone(b, relying); got != "code" {
				t.Fatalf("the session ended before confirmation: %s", got)
			}
			m := regexpLogoutRequest.FindStringSubmatch(body)
			if m == nil {
				t.Fatal("no logout_request field")
			}
			resp, body = b.post(e.issuer+"/logout/confirm", url.Values{"logout_request": {m[1]}, "decision": {"yes"}})
			if !strings.Contains(body, "You have signed out") {
				t.Fatalf("after confirming: %d\n%s", resp.StatusCode, body)
			}
			if got := e.promptNone(b, relying); got != "login_required" {
				t.Fatalf("prompt=none after logout = %s", got)
			}
		})

		t.Run("client_id without hint redirects after confirmation", func(t *testing.T) {
			b := newBrowser(t)
			e.signedInWithTokens(b)
			_, body := b.get(e.issuer + "/logout?" + url.Values{"client_id": {e.client.ID}, "post_logout_redirect_uri": {registered}, "state": {"st-2"}}.Encode())
			m := regexpLogoutRequest.FindStringSubmatch(body)
			if m == nil || !strings.Contains(body, "Acme Web") {
				t.Fatalf("confirmation page:\n%s", body)
			}
			b.post(e.issuer+"/logout/confirm", url.Values{"logout_request": {m[1]}, "decision": {"yes"}})
			if b.landed == nil || b.landed.Query().Get("state") != "st-2" {
				t.Fatalf("after confirming: %v", b.landed)
			}
		})

		bad := map[string]func(hint string) url.Values{
			"unregistered redirect": func(hint string) url.Values {
				return url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:1/elsewhere"}}
			},
			"registered redirect with an added query": func(hint string) url.Values {
				return url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {registered + "?next=1"}}
			},
			"redirect without any client": func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {registered}}
			},
			"unsigned hint": func(hint string) url.Values {
				return url.Values{"id_token_hint": {unsignedCopy(t, hint)}, "post_logout_redirect_uri": {registered}}
			},
			"client_id not in the hint's audience": func(hint string) url.Values {
				return url.Values{"id_token_hint": {hint}, "client_id": {e.public.ID}, "post_logout_redirect_uri": {registered}}
			},
		}
		for name, params := range bad {
			t.Run(name, func(t *testing.T) {
				b := newBrowser(t)
				relying, tok := e.signedInWithTokens(b)
				hint, _ := tok.Extra("id_token").(string)
				resp, body := b.get(e.issuer + "/logout?" + params(hint).Encode())
				if resp.StatusCode != http.StatusBadRequest || b.landed != nil || strings.Contains(body, "goroutine") {
					t.Fatalf("answered %d, landed %v", resp.StatusCode, b.landed)
				}
				if got := e.promptNone(b, relying); got != "code" {
					t.Fatalf("a refused logout ended the session: %s", got)
				}
			})
		}
	})
}

var regexpLogoutRequest = regexp.MustCompile(`name="logout_request" value="([^"]+)"`)

// unsignedCopy re-encodes an ID token's payload under "alg": "none".
func unsignedCopy(t *testing.T, idToken string) string {
	t.Helper()
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", idToken)
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	return header + "." + parts[1] + "."
}
