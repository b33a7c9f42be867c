package idp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"golang.org/x/oauth2"
)

type idClaims struct {
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	AuthTime      int64    `json:"auth_time"`
	AMR           []string `json:"amr"`
	ACR           string   `json:"acr"`
	SID           string   `json:"sid"`
	Tenant        string   `json:"tenant"`
}

// TestAuthorizationCodeFlow drives the whole code + PKCE flow with the real
// go-oidc and x/oauth2 clients: ID token, userinfo, refresh rotation,
// introspection, revocation, SSO, prompt=none, max_age and consent.
func TestAuthorizationCodeFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		relying := e.rp(e.client, e.secret)
		b := newBrowser(t)

		verifier := oauth2.GenerateVerifier()
		authURL := relying.cfg.AuthCodeURL("state-1234567890", oidc.Nonce("nonce-1234567890"), oauth2.S256ChallengeOption(verifier))
		landed := e.authorize(b, authURL, "ada@example.com", testPassword)
		q := landed.Query()
		if q.Get("state") != "state-1234567890" || q.Get("code") == "" {
			t.Fatalf("redirect = %s", landed)
		}
		tok, err := relying.cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		must(t, err)
		rawID, _ := tok.Extra("id_token").(string)
		idt, err := relying.verifier.Verify(ctx, rawID)
		must(t, err)
		var c idClaims
		must(t, idt.Claims(&c))
		if idt.Subject != e.user.ID || idt.Nonce != "nonce-1234567890" || idt.Issuer != e.issuer {
			t.Fatalf("id token sub=%q nonce=%q iss=%q", idt.Subject, idt.Nonce, idt.Issuer)
		}
		if c.Email != "ada@example.com" || !c.EmailVerified || c.Name != "Ada Lovelace" || c.Tenant != "acme" ||
			c.SID == "" || c.AuthTime == 0 || c.ACR != claims.ACRPassword || len(c.AMR) != 1 || c.AMR[0] != "pwd" {
			t.Fatalf("claims = %+v", c)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token with offline_access")
		}

		// userinfo, through go-oidc
		ui, err := relying.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		must(t, err)
		if ui.Subject != e.user.ID || ui.Email != "ada@example.com" {
			t.Fatalf("userinfo = %+v", ui)
		}

		// introspection: active
		if !e.introspect(t, tok.AccessToken) {
			t.Fatal("fresh access token inactive")
		}

		// refresh with rotation
		rotated, err := relying.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		must(t, err)
		if rotated.RefreshToken == "" || rotated.RefreshToken == tok.RefreshToken {
			t.Fatal("refresh token not rotated")
		}
		if e.introspect(t, tok.AccessToken) {
			t.Fatal("access token of the rotated refresh token still active")
		}
		// reuse of the old refresh token fails and revokes the family
		if _, err := relying.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
			t.Fatal("old refresh token accepted again")
		}
		if e.introspect(t, rotated.AccessToken) {
			t.Fatal("family not revoked after refresh token reuse")
		}
		if _, err := relying.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rotated.RefreshToken}).Token(); err == nil {
			t.Fatal("rotated refresh token survived reuse detection")
		}

		// SSO: a second request gets a code without any page, same auth_time.
		verifier2 := oauth2.GenerateVerifier()
		resp, _ := b.get(relying.cfg.AuthCodeURL("state-abcdefghij", oauth2.S256ChallengeOption(verifier2)))
		if b.landed == nil {
			t.Fatalf("SSO showed a page: %s", resp.Request.URL)
		}
		tok2, err := relying.cfg.Exchange(ctx, b.landed.Query().Get("code"), oauth2.VerifierOption(verifier2))
		must(t, err)
		idt2, err := relying.verifier.Verify(ctx, tok2.Extra("id_token").(string))
		must(t, err)
		var c2 idClaims
		must(t, idt2.Claims(&c2))
		if c2.AuthTime != c.AuthTime || c2.SID != c.SID {
			t.Fatalf("SSO auth_time %d vs %d, sid %s vs %s", c2.AuthTime, c.AuthTime, c2.SID, c.SID)
		}

		// revocation of the refresh token revokes its access token too
		form := url.Values{"token": {tok2.RefreshToken}, "token_type_hint": {"refresh_token"}}
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/revoke", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.client.ID, e.secret)
		rr, err := http.DefaultClient.Do(req)
		must(t, err)
		rr.Body.Close()
		if rr.StatusCode != http.StatusOK {
			t.Fatalf("revoke status %d", rr.StatusCode)
		}
		if e.introspect(t, tok2.AccessToken) {
			t.Fatal("access token active after its refresh token was revoked")
		}
		if _, err := relying.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); err == nil {
			t.Fatal("revoked refresh token still works")
		}

		// prompt=none with a session: a code, no page
		v3 := oauth2.GenerateVerifier()
		b.get(relying.cfg.AuthCodeURL("state-none-0001", oauth2.S256ChallengeOption(v3), oauth2.SetAuthURLParam("prompt", "none")))
		if b.landed == nil || b.landed.Query().Get("code") == "" {
			t.Fatalf("prompt=none with session: %v", b.landed)
		}
		// prompt=none without a session: login_required to the client
		fresh := newBrowser(t)
		fresh.get(relying.cfg.AuthCodeURL("state-none-0002", oauth2.S256ChallengeOption(v3), oauth2.SetAuthURLParam("prompt", "none")))
		if fresh.landed == nil || fresh.landed.Query().Get("error") != "login_required" || fresh.landed.Query().Get("state") != "state-none-0002" {
			t.Fatalf("prompt=none without session: %v", fresh.landed)
		}

		// max_age=0 after a second: sign in again, later auth_time
		time.Sleep(1100 * time.Millisecond)
		v4 := oauth2.GenerateVerifier()
		resp, body := b.get(relying.cfg.AuthCodeURL("state-maxage-01", oauth2.S256ChallengeOption(v4), oauth2.SetAuthURLParam("max_age", "0")))
		if resp.Request.URL.Path != "/login" {
			t.Fatalf("max_age=0 did not ask to sign in: %s", resp.Request.URL)
		}
		// Consent was remembered: after signing in we go straight back.
		resp, _ = b.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "email": {"ada@example.com"}, "password": {testPassword}})
		if b.landed == nil {
			t.Fatalf("after re-login: page %s (consent not remembered?)", resp.Request.URL)
		}
		tok4, err := relying.cfg.Exchange(ctx, b.landed.Query().Get("code"), oauth2.VerifierOption(v4))
		must(t, err)
		idt4, err := relying.verifier.Verify(ctx, tok4.Extra("id_token").(string))
		must(t, err)
		var c4 idClaims
		must(t, idt4.Claims(&c4))
		if c4.AuthTime <= c.AuthTime {
			t.Fatalf("max_age: auth_time %d not later than %d", c4.AuthTime, c.AuthTime)
		}
	})
}

// introspect asks the provider whether token is active.
func (e *env) introspect(t *testing.T, token string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.client.ID, e.secret)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var out struct {
		Active bool `json:"active"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect status %d", resp.StatusCode)
	}
	must(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Active
}
