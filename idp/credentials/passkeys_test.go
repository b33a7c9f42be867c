package credentials_test

import (
	"errors"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/credentials"
	"github.com/portcullis-idp/portcullis/idp/credentials/passkeytest"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// TestPasskeyCeremonies registers a credential with a software
// authenticator and signs in with it, then checks what must be refused: a
// counter that went back, another origin, a credential of someone else,
// an answer to another purpose, and an issuer on an IP address.
func TestPasskeyCeremonies(t *testing.T) {
	pk, err := credentials.NewPasskeys("https://id.example.com")
	if err != nil || !pk.Available() {
		t.Fatalf("NewPasskeys = %v, %v", pk, err)
	}
	u := &store.User{ID: "user-1", Email: "ada@example.com"}
	auth := passkeytest.New("https://id.example.com")

	reg, err := pk.BeginRegistration(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored, ok := credentials.DecodeCeremony(reg.Encode(), credentials.PurposeRegister, time.Now())
	if !ok {
		t.Fatal("a fresh ceremony does not decode")
	}
	if _, ok := credentials.DecodeCeremony(reg.Encode(), credentials.PurposeLogin, time.Now()); ok {
		t.Error("a registration decodes as a login")
	}
	if _, ok := credentials.DecodeCeremony(reg.Encode(), credentials.PurposeRegister, time.Now().Add(6*time.Minute)); ok {
		t.Error("an expired ceremony decodes")
	}
	resp, err := auth.Create(stored.Options)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := pk.FinishRegistration(u, nil, stored, resp, "Laptop")
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	if cred.UserID != u.ID || cred.Name != "Laptop" || len(cred.PublicKey) == 0 || cred.BackupState || !cred.UserVerified || !cred.Discoverable {
		t.Errorf("credential = %+v", cred)
	}
	creds := []store.WebAuthnCredential{*cred}

	login := func() (*credentials.Ceremony, string) {
		t.Helper()
		c, err := pk.BeginLogin(u, creds)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := auth.Get(c.Options)
		if err != nil {
			t.Fatal(err)
		}
		return c, resp
	}
	c, resp := login()
	a, err := pk.FinishLogin(u, creds, c, resp)
	if err != nil || a.CredentialID != cred.ID || a.SignCount != 1 || !a.UserVerified {
		t.Fatalf("FinishLogin = %+v, %v", a, err)
	}
	creds[0].SignCount = int64(a.SignCount)

	// The same answer again (its counter is not above the stored one).
	if _, err := pk.FinishLogin(u, creds, c, resp); !errors.Is(err, credentials.ErrPasskeyCloned) {
		t.Errorf("replayed assertion: %v, want ErrPasskeyCloned", err)
	}
	// An answer for a registration ceremony.
	if _, err := pk.FinishLogin(u, creds, reg, resp); !errors.Is(err, credentials.ErrPasskeyFailed) {
		t.Errorf("answer to a registration: %v", err)
	}
	// A phishing page's origin.
	phish := passkeytest.New("https://id.example.com.evil.test")
	phish.Creds = auth.Creds
	c, _ = login()
	resp, err = phish.Get(c.Options)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pk.FinishLogin(u, creds, c, resp); !errors.Is(err, credentials.ErrPasskeyFailed) {
		t.Errorf("other origin: %v, want ErrPasskeyFailed", err)
	}
	// Someone else's credential.
	other := &store.User{ID: "user-2", Email: "bob@example.com"}
	c, resp = login()
	if _, err := pk.FinishLogin(other, nil, c, resp); !errors.Is(err, credentials.ErrPasskeyUnknown) {
		t.Errorf("credential of another user: %v", err)
	}
	// Garbage.
	if _, err := pk.FinishLogin(u, creds, c, `{"id":"x"}`); !errors.Is(err, credentials.ErrPasskeyFailed) {
		t.Errorf("garbage: %v", err)
	}
	for msg, err := range map[string]error{
		credentials.MsgPasskeyCloned:  store.ErrCounterWentBack,
		credentials.MsgPasskeyUnknown: credentials.ErrPasskeyUnknown,
		credentials.MsgPasskeyFailed:  credentials.ErrPasskeyFailed,
	} {
		if got := credentials.PasskeyMessage(err); got != msg {
			t.Errorf("PasskeyMessage(%v) = %q", err, got)
		}
	}

	ip, err := credentials.NewPasskeys("http://127.0.0.1:8080")
	if err != nil || ip.Available() {
		t.Errorf("an IP issuer: Available = %v, %v", ip.Available(), err)
	}
	if _, err := ip.BeginLogin(u, creds); !errors.Is(err, credentials.ErrNoPasskeys) {
		t.Errorf("BeginLogin on an IP issuer: %v", err)
	}
}

// BenchmarkPasskeyFinishLogin is the CPU a passkey step costs here:
// parsing the answer and one ES256 verification (the store's one
// conditional UPDATE comes on top). The yardstick is the password's
// argon2id (BenchmarkPasswordCheck in idp).
func BenchmarkPasskeyFinishLogin(b *testing.B) {
	pk, err := credentials.NewPasskeys("https://id.example.com")
	if err != nil {
		b.Fatal(err)
	}
	u := &store.User{ID: "user-1", Email: "ada@example.com"}
	auth := passkeytest.New("https://id.example.com")
	reg, _ := pk.BeginRegistration(u, nil)
	resp, _ := auth.Create(reg.Options)
	cred, err := pk.FinishRegistration(u, nil, reg, resp, "Laptop")
	if err != nil {
		b.Fatal(err)
	}
	creds := []store.WebAuthnCredential{*cred}
	for b.Loop() {
		b.StopTimer()
		c, _ := pk.BeginLogin(u, creds)
		answer, _ := auth.Get(c.Options)
		b.StartTimer()
		a, err := pk.FinishLogin(u, creds, c, answer)
		if err != nil {
			b.Fatal(err)
		}
		creds[0].SignCount = int64(a.SignCount)
	}
}
