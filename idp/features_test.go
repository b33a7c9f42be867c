package idp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestPushedAuthorizationRequest: RFC 9126 end to end. The request_uri
// works once, and the secret sent with the push is not kept.
func TestPushedAuthorizationRequest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		relying := e.rp(e.client, e.secret)
		v := oauth2.GenerateVerifier()
		form := url.Values{
			"client_id": {e.client.ID}, "client_secret": {e.secret}, "response_type": {"code"},
			"scope": {"openid email"}, "redirect_uri": {rpRedirect}, "state": {"state-par-000001"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"},
		}
		resp, err := http.PostForm(e.issuer+"/oauth2/par", form)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PAR status %d: %s", resp.StatusCode, body)
		}
		var par struct {
			RequestURI string `json:"request_uri"`
			ExpiresIn  int    `json:"expires_in"`
		}
		must(t, json.Unmarshal(body, &par))
		if !strings.HasPrefix(par.RequestURI, "urn:ietf:params:oauth:request_uri:") || par.ExpiresIn <= 0 {
			t.Fatalf("PAR response %s", body)
		}
		var stored int64
		must(t, e.store.DB().Table("oauth_tokens").Where("form LIKE ?", "%"+e.secret+"%").Count(&stored).Error)
		if stored != 0 {
			t.Fatal("client secret stored with the pushed request")
		}
		authURL := e.issuer + "/oauth2/auth?" + url.Values{"client_id": {e.client.ID}, "request_uri": {par.RequestURI}}.Encode()
		landed := e.authorize(newBrowser(t), authURL, "ada@example.com", testPassword)
		if landed.Query().Get("state") != "state-par-000001" {
			t.Fatalf("state lost through PAR: %s", landed)
		}
		tok, err := relying.cfg.Exchange(ctx, landed.Query().Get("code"), oauth2.VerifierOption(v))
		must(t, err)
		if _, err := relying.verifier.Verify(ctx, tok.Extra("id_token").(string)); err != nil {
			t.Fatal(err)
		}
		// The request_uri is single-use.
		b := newBrowser(t)
		resp2, _ := b.get(authURL)
		if b.landed != nil || resp2.StatusCode != http.StatusBadRequest {
			t.Fatalf("request_uri reused: status %d landed %v", resp2.StatusCode, b.landed)
		}
	})
}

var formPostField = regexp.MustCompile(`name="([a-z_]+)" value="([^"]*)"`)

// TestFormPostAndClaimsParameter: response_mode=form_post answers with an
// auto-submitting form to the redirect URI, and claims requested through
// the claims parameter are released only under a granted scope: a client
// granted openid alone gets neither email nor name, in the ID token or at
// userinfo, whatever it asks by name. A public client uses PKCE without a
// secret.
func TestFormPostAndClaimsParameter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		relying := e.rp(e.public, "", "openid")
		v := oauth2.GenerateVerifier()
		claims := `{"id_token":{"email":{"essential":true}},"userinfo":{"name":null}}`
		authURL := relying.cfg.AuthCodeURL("state-formpost-1", oidc.Nonce("nonce-formpost-1"), oauth2.S256ChallengeOption(v),
			oauth2.SetAuthURLParam("response_mode", "form_post"), oauth2.SetAuthURLParam("claims", claims))
		b := newBrowser(t)
		resp, body := b.get(authURL)
		if resp.Request.URL.Path != "/login" {
			t.Fatalf("expected sign-in page, got %s", resp.Request.URL)
		}
		resp, body = b.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "email": {"ada@example.com"}, "password": {testPassword}})
		if !strings.Contains(body, `action="`+e.public.RedirectURIs[0]+`"`) {
			t.Fatalf("no form_post form (status %d):\n%s", resp.StatusCode, body)
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "form-action http://127.0.0.1:1") {
			t.Fatalf("CSP does not allow the post: %s", resp.Header.Get("Content-Security-Policy"))
		}
		fields := map[string]string{}
		for _, m := range formPostField.FindAllStringSubmatch(body, -1) {
			fields[m[1]] = m[2]
		}
		if fields["state"] != "state-formpost-1" || fields["code"] == "" {
			t.Fatalf("form_post fields %v", fields)
		}
		tok, err := relying.cfg.Exchange(ctx, fields["code"], oauth2.VerifierOption(v))
		must(t, err)
		idt, err := relying.verifier.Verify(ctx, tok.Extra("id_token").(string))
		must(t, err)
		var c idClaims
		must(t, idt.Claims(&c))
		if c.Email != "" || c.Name != "" {
			t.Fatalf("ID token released claims no granted scope covers: %+v", c)
		}
		ui, err := relying.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		must(t, err)
		var uc struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		}
		must(t, ui.Claims(&uc))
		if uc.Name != "" || uc.Email != "" {
			t.Fatalf("userinfo released claims no granted scope covers: %+v", uc)
		}
	})
}

// TestPromptNoneWithIDTokenHint: a hint we signed for the session's user
// gets a code; a hint that is not ours is refused without a session change.
func TestPromptNoneWithIDTokenHint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		relying := e.rp(e.client, e.secret)
		b := newBrowser(t)
		v := oauth2.GenerateVerifier()
		landed := e.authorize(b, relying.cfg.AuthCodeURL("state-hint-00001", oauth2.S256ChallengeOption(v)), "ada@example.com", testPassword)
		tok, err := relying.cfg.Exchange(ctx, landed.Query().Get("code"), oauth2.VerifierOption(v))
		must(t, err)
		hint := tok.Extra("id_token").(string)
		v2 := oauth2.GenerateVerifier()
		b.get(relying.cfg.AuthCodeURL("state-hint-00002", oauth2.S256ChallengeOption(v2),
			oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", hint)))
		if b.landed == nil || b.landed.Query().Get("code") == "" {
			t.Fatalf("prompt=none with our hint: %v", b.landed)
		}
		// alg=none forgery of the same claims
		parts := strings.Split(hint, ".")
		forged := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
		b.get(relying.cfg.AuthCodeURL("state-hint-00003", oauth2.S256ChallengeOption(v2),
			oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", forged)))
		if b.landed == nil || b.landed.Query().Get("code") != "" || b.landed.Query().Get("error") == "" {
			t.Fatalf("forged hint accepted: %v", b.landed)
		}
	})
}
