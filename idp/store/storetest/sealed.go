package storetest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
)

// testOAuthHMACSecret: one secret of 32 bytes, made once, stored sealed.
func testOAuthHMACSecret(t *testing.T, s *store.Store) {
	ctx := t.Context()
	first, err := s.OAuthHMACSecret(ctx)
	mustNil(t, "OAuthHMACSecret", err)
	again, err := s.OAuthHMACSecret(ctx)
	mustNil(t, "OAuthHMACSecret(again)", err)
	if len(first) != 32 || !bytes.Equal(first, again) {
		t.Errorf("OAuthHMACSecret = %x, then %x; want the same 32 bytes", first, again)
	}
	stored, err := s.Setting(ctx, "oauth_hmac_secret")
	mustNil(t, "Setting", err)
	if !strings.HasPrefix(stored, "v1.") || strings.Contains(stored, string(first)) {
		t.Errorf("the token secret is stored as %q, not sealed", stored)
	}
}

// testAuthRequestRecoveryKey: the key moves in with a stage change, comes
// back from the reloaded request, and opens only for that request.
func testAuthRequestRecoveryKey(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	exp := now().Add(10 * time.Minute)
	for _, id := range []string{"ar-1", "ar-2"} {
		mustNil(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &store.AuthRequest{
			ID: id, BrowserID: "browser-1", UserID: u.ID, Stage: "password", ExpiresAt: exp,
		}))
	}
	ar, err := s.AuthRequestFor(ctx, "ar-1", "browser-1")
	mustNil(t, "AuthRequestFor", err)
	_, err = s.AuthRequestRecoveryKey(ar)
	mustIs(t, "AuthRequestRecoveryKey(none kept)", err, store.ErrNotFound)

	key := mfa.RecoveryKey(strings.Repeat("0123456789ABCDEF", 4))
	sealed, err := s.SealRecoveryKey("ar-1", key)
	mustNil(t, "SealRecoveryKey", err)
	moved := *ar
	moved.Stage, moved.SecretData = "enroll", sealed
	mustNil(t, "MoveAuthRequest", s.MoveAuthRequest(ctx, ar, &moved))
	mustIs(t, "MoveAuthRequest(replayed)", s.MoveAuthRequest(ctx, ar, &moved), store.ErrNotFound)
	ar, err = s.AuthRequestFor(ctx, "ar-1", "browser-1")
	mustNil(t, "AuthRequestFor", err)
	if ar.Stage != "enroll" || !strings.HasPrefix(ar.SecretData, "v1.") || strings.Contains(ar.SecretData, string(key)) {
		t.Errorf("after MoveAuthRequest: stage %q, secret_data %q; want enroll and a sealed value", ar.Stage, ar.SecretData)
	}
	got, err := s.AuthRequestRecoveryKey(ar)
	if err != nil || got != key {
		t.Errorf("AuthRequestRecoveryKey = %q, %v; want the key kept", string(got), err)
	}
	copied, err := s.AuthRequestFor(ctx, "ar-2", "browser-1")
	mustNil(t, "AuthRequestFor", err)
	copied.SecretData = ar.SecretData
	_, err = s.AuthRequestRecoveryKey(copied)
	mustIs(t, "AuthRequestRecoveryKey(value of another request)", err, secrets.ErrDecrypt)
}

// testSealedBeforeStillOpen: values sealed under MasterKey by earlier
// versions, which sealed them in the HTTP layer with the same AADs, still
// open, so upgrading keeps every enrolled authenticator, pending
// enrollment and token.
func testSealedBeforeStillOpen(t *testing.T, s *store.Store) {
	ctx := t.Context()
	db := s.DB().WithContext(ctx)
	u := &store.User{ID: "golden-user", TenantID: NewTenant(t, s).ID, Email: "golden@example.com", PasswordHash: "$argon2id$stub"}
	mustNil(t, "CreateUser", s.CreateUser(ctx, u))
	mustNil(t, "insert authenticator", db.Exec(
		`INSERT INTO mfa_authenticators (user_id, secret, confirmed_at, created_at) VALUES (?, ?, ?, ?)`, u.ID,
		"v1.k1.0i2sOMgbiButvw5GLiU2XAyRH6mKNc6pIaknbce-BzPLTNsrU_RYx7sCjNcMdjQ7meYeVO1v_RFBm4vG", now(), now()).Error)
	mustNil(t, "insert setting", db.Exec(`INSERT INTO settings (name, value) VALUES (?, ?)`, "oauth_hmac_secret",
		"v1.k1.PLZpHYfOP2kG21v-jbEsSd3vD2FHHrUTs2ReYLHYkvvuB50ZCd2xffXMT8uiXXtzUy6EwH8fKyITDSCU").Error)
	ar := &store.AuthRequest{ID: "golden-request", BrowserID: "b", UserID: u.ID, Stage: "enroll", ExpiresAt: now().Add(time.Hour),
		SecretData: "v1.k1.MzBtLleVFcHvS4z11OWh_5i2uaf6DKRfJP4dLbCYmpPq_rwHE5LlRdCoQKt-Gb6YBVWCRL_SFw7WGA4Hg4jsbC4iSQwHLJFlsvaP5jZAfLmjcKzh85t5Vc_iTsc"}
	mustNil(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, ar))

	if secret, err := s.ActiveSecret(ctx, u.ID); err != nil || secret != "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" {
		t.Errorf("ActiveSecret = %q, %v", string(secret), err)
	}
	if key, err := s.AuthRequestRecoveryKey(ar); err != nil || key != "0123456789ABCDEFGHJKMNPQRSTVWXYZ0123456789ABCDEFGHJKMNPQRSTVWXYZ" {
		t.Errorf("AuthRequestRecoveryKey = %q, %v", string(key), err)
	}
	want := make([]byte, 32)
	for i := range want {
		want[i] = byte(i)
	}
	if got, err := s.OAuthHMACSecret(ctx); err != nil || !bytes.Equal(got, want) {
		t.Errorf("OAuthHMACSecret = %x, %v; want %x", got, err, want)
	}
}
