package idp_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/signing"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/templates"
)

// TestKeyRotation: a rotation written to the database (what `portcullis
// keys rotate` does) is picked up by a running server: new ID tokens carry
// the new kid, and the old key stays published, so tokens it signed still
// verify with go-oidc.
func TestKeyRotation(t *testing.T) {
	e := newEnvWith(t, storetest.OpenSQLite, func(o *idp.Options) { o.KeyPollInterval = 50 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.srv.Run(ctx)

	relying := e.rp(e.client, e.secret)
	b := newBrowser(t)
	_, oldTok := e.signedInWithTokens(b)
	oldKID := kidOf(t, oldTok.Extra("id_token").(string))

	cipher, err := secrets.AtRestCipher(e.master)
	must(t, err)
	k, err := signing.Generate(cipher, "RS256", 2048)
	must(t, err)
	must(t, e.store.RotateSigningKeys(ctx, k))

	deadline := time.Now().Add(10 * time.Second)
	for !jwksHas(t, e.issuer, k.KID) {
		if time.Now().After(deadline) {
			t.Fatal("the rotated key never appeared in the JWKS")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !jwksHas(t, e.issuer, oldKID) {
		t.Fatal("the old key was unpublished at once")
	}
	verifier := oauth2.GenerateVerifier()
	newTok, _ := e.tokenFor(relying, e.signIn(b, authURLFor(relying, verifier), &mfaUser{email: "ada@example.com", password: testPassword}), verifier)
	if got := kidOf(t, newTok.Extra("id_token").(string)); got != k.KID {
		t.Fatalf("new ID token signed with %s, want %s", got, k.KID)
	}
	// A fresh verifier fetches the JWKS and still accepts the old token.
	if _, err := e.rp(e.client, e.secret).verifier.Verify(ctx, oldTok.Extra("id_token").(string)); err != nil {
		t.Fatalf("token signed before the rotation: %v", err)
	}
	// And it still works as an id_token_hint: the request validator checks
	// hints against every published key, not the active one alone.
	b.get(authURLFor(relying, oauth2.GenerateVerifier(),
		oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", oldTok.Extra("id_token").(string))))
	if b.landed == nil || b.landed.Query().Get("code") == "" {
		t.Fatalf("prompt=none with a hint signed by the retired key: landed %v, page %s", b.landed, b.last.Request.URL)
	}
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSigned(raw)
	must(t, err)
	return jws.Signatures[0].Header.KeyID
}

func jwksHas(t *testing.T, issuer, kid string) bool {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/jwks.json")
	must(t, err)
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	must(t, json.NewDecoder(resp.Body).Decode(&set))
	return len(set.Key(kid)) == 1
}

// TestReplicasStartingTogetherShareOneKey: three servers built at once on
// an empty database (replicas started together) end with one signing key,
// and every replica publishes it and signs with it.
func TestReplicasStartingTogetherShareOneKey(t *testing.T) {
	for name, open := range storetest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			tpl, err := templates.Load()
			must(t, err)
			master := make([]byte, 32)
			servers := make([]*idp.Server, 3)
			errs := make([]error, 3)
			var wg sync.WaitGroup
			for i := range servers {
				wg.Go(func() {
					servers[i], errs[i] = idp.New(context.Background(), idp.Options{
						Store: st, Templates: tpl, Issuer: "http://127.0.0.1:1", MasterKey: master,
						Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
					})
				})
			}
			wg.Wait()
			var first []byte
			for i, srv := range servers {
				must(t, errs[i])
				rec := httptest.NewRecorder()
				srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
				var set jose.JSONWebKeySet
				must(t, json.Unmarshal(rec.Body.Bytes(), &set))
				if len(set.Keys) != 1 {
					t.Errorf("replica %d publishes %d keys, want 1", i, len(set.Keys))
				}
				if first == nil {
					first = rec.Body.Bytes()
				} else if string(first) != rec.Body.String() {
					t.Errorf("replica %d publishes other keys than replica 0", i)
				}
			}
			keys, err := st.PublishedSigningKeys(context.Background(), 0)
			must(t, err)
			if len(keys) != 1 {
				t.Errorf("%d signing keys stored, want 1", len(keys))
			}
		})
	}
}
