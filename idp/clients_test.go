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

// TestNativeClientRedirects: RFC 8252 for public native apps — a loopback
// redirect matches on any port, and a private-use scheme works; PKCE is
// still required.
func TestNativeClientRedirects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		native := &store.Client{
			Name: "Acme Desktop", Public: true, RequirePKCE: true, SkipConsent: true,
			RedirectURIs: []string{"http://127.0.0.1/callback", "com.example.acme:/oauth2redirect"},
			Scopes:       claims.SupportedScopes, GrantTypes: []string{"authorization_code", "refresh_token"},
		}
		must(t, e.store.CreateClient(context.Background(), native))
		u := &mfaUser{email: "ada@example.com", password: testPassword}
		for _, redirect := range []string{"http://127.0.0.1:1/callback", "com.example.acme:/oauth2redirect"} {
			relying := e.rp(native, "")
			relying.cfg.RedirectURL = redirect
			verifier := oauth2.GenerateVerifier()
			landed := e.signIn(newBrowser(t), authURLFor(relying, verifier), u)
			if !strings.HasPrefix(landed.String(), redirect+"?") {
				t.Fatalf("landed at %s, want %s", landed, redirect)
			}
			e.tokenFor(relying, landed, verifier)
		}
		// Without PKCE the native app is refused.
		b := newBrowser(t)
		b.get(e.issuer + "/oauth2/auth?" + url.Values{"client_id": {native.ID}, "response_type": {"code"},
			"scope": {"openid"}, "redirect_uri": {"http://127.0.0.1:1/callback"}, "state": {"state-123456789"}}.Encode())
		if b.landed == nil || b.landed.Query().Get("error") != "invalid_request" {
			t.Fatalf("native app without PKCE: %v", b.landed)
		}
	})
}

// TestConfidentialClientWithoutPKCE: PKCE is the default for confidential
// clients, but one registered without it signs in with its secret alone.
func TestConfidentialClientWithoutPKCE(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		secret, hash, err := e.srv.ClientSecret()
		must(t, err)
		legacy := &store.Client{Name: "Legacy", SecretHash: hash, RequirePKCE: false, SkipConsent: true,
			RedirectURIs: []string{rpRedirect}, Scopes: claims.SupportedScopes, GrantTypes: []string{"authorization_code"}}
		must(t, e.store.CreateClient(ctx, legacy))
		relying := e.rp(legacy, secret)
		landed := e.signIn(newBrowser(t), relying.cfg.AuthCodeURL("state-1234567890"), &mfaUser{email: "ada@example.com", password: testPassword})
		tok, err := relying.cfg.Exchange(ctx, landed.Query().Get("code"))
		must(t, err)
		if _, err := relying.verifier.Verify(ctx, tok.Extra("id_token").(string)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCertificationParameters: display, ui_locales, claims_locales and an
// unknown parameter are accepted; login_hint prefills the email field.
func TestCertificationParameters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		b := newBrowser(t)
		resp, body := b.get(authURLFor(relying, oauth2.GenerateVerifier(),
			oauth2.SetAuthURLParam("display", "page"), oauth2.SetAuthURLParam("ui_locales", "fr-CA en"),
			oauth2.SetAuthURLParam("claims_locales", "en"), oauth2.SetAuthURLParam("login_hint", "ada@example.com"),
			oauth2.SetAuthURLParam("unknown_thing", "1")))
		if resp.Request.URL.Path != "/login" || !strings.Contains(body, `value="ada@example.com"`) {
			t.Fatalf("login page (%s) does not prefill the hint:\n%s", resp.Request.URL, body)
		}
	})
}

// TestUserinfoByPOST: the access token in a form body (RFC 6750 §2.2).
func TestUserinfoByPOST(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		_, tok := e.signedInWithTokens(newBrowser(t))
		resp, err := http.PostForm(e.issuer+"/userinfo", url.Values{"access_token": {tok.AccessToken}})
		must(t, err)
		defer resp.Body.Close()
		var info map[string]any
		must(t, json.NewDecoder(resp.Body).Decode(&info))
		if resp.StatusCode != http.StatusOK || info["sub"] != e.user.ID || info["email"] != "ada@example.com" {
			t.Fatalf("userinfo by POST: %d %v", resp.StatusCode, info)
		}
	})
}
