package storetest

import (
	"testing"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
)

// testWebAuthnCredentials: credentials are added (with the recovery key
// when given), listed as factors beside the TOTP authenticator, counted by
// SecondFactorsOf, unique by id across users, removed only by their user,
// and removed with everything else by a reset and a spent recovery key.
func testWebAuthnCredentials(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tenant := NewTenant(t, s)
	u, other := NewUser(t, s, tenant.ID), NewUser(t, s, tenant.ID)

	f, err := s.SecondFactorsOf(ctx, u.ID)
	mustNil(t, "SecondFactorsOf (none)", err)
	if f.Any() {
		t.Fatalf("a new user has factors: %+v", f)
	}
	key := mfa.HashRecoveryKey("AAAA-BBBB-CCCC-DDDD")
	c := &store.WebAuthnCredential{ID: "cred-1", UserID: u.ID, Name: "Laptop", PublicKey: []byte{1, 2, 3},
		BackupEligible: true, BackupState: true, Transports: store.StringList{"internal"}}
	mustNil(t, "AddWebAuthnCredential", s.AddWebAuthnCredential(ctx, c, key))
	if ok, err := s.RecoveryKeyMatches(ctx, u.ID, key); err != nil || !ok {
		t.Errorf("the recovery key given with the first credential: %v, %v", ok, err)
	}
	mustIs(t, "the same credential id for another user",
		s.AddWebAuthnCredential(ctx, &store.WebAuthnCredential{ID: "cred-1", UserID: other.ID, Name: "x", PublicKey: []byte{9}}, nil),
		store.ErrConflict)
	mustNil(t, "a second credential", s.AddWebAuthnCredential(ctx,
		&store.WebAuthnCredential{ID: "cred-2", UserID: u.ID, Name: "Key", PublicKey: []byte{4}}, nil))

	has, err := s.HasActiveAuthenticator(ctx, u.ID)
	if err != nil || !has {
		t.Errorf("HasActiveAuthenticator with passkeys = %v, %v", has, err)
	}
	factors, err := s.Factors(ctx, u.ID)
	mustNil(t, "Factors", err)
	if len(factors) != 2 || factors[0].ID != "cred-1" || factors[0].Name != "Laptop" || !factors[0].Synced || factors[1].Kind != store.FactorWebAuthn {
		t.Errorf("Factors = %+v", factors)
	}
	st, err := s.MFAStatus(ctx, tenant.ID)
	mustNil(t, "MFAStatus", err)
	if !st[u.ID].Active || st[u.ID].Passkeys != 2 || st[u.ID].TOTP || st[other.ID].Active {
		t.Errorf("MFAStatus = %+v", st)
	}

	mustIs(t, "removing another user's credential", s.RemoveWebAuthnCredential(ctx, other.ID, "cred-2"), store.ErrNotFound)
	mustNil(t, "RemoveWebAuthnCredential", s.RemoveWebAuthnCredential(ctx, u.ID, "cred-2"))
	mustIs(t, "using a removed credential", s.UseWebAuthnCredential(ctx, u.ID, "cred-2", 5, false), store.ErrNotFound)

	// A spent recovery key removes every factor.
	if spent, err := s.UseRecoveryKey(ctx, u.ID, key); err != nil || !spent {
		t.Fatalf("UseRecoveryKey = %v, %v", spent, err)
	}
	if f, _ := s.SecondFactorsOf(ctx, u.ID); f.Any() {
		t.Errorf("factors after the recovery key: %+v", f)
	}
	// A reset too.
	mustNil(t, "AddWebAuthnCredential again", s.AddWebAuthnCredential(ctx,
		&store.WebAuthnCredential{ID: "cred-3", UserID: u.ID, Name: "Phone", PublicKey: []byte{5}}, key))
	mustNil(t, "ResetMFA", s.ResetMFA(ctx, u.ID))
	if f, _ := s.SecondFactorsOf(ctx, u.ID); f.Any() {
		t.Errorf("factors after a reset: %+v", f)
	}
}

// testWebAuthnSignCounter: the counter only moves forward; of concurrent
// assertions with the same counter exactly one is accepted (two replicas
// cannot both accept a cloned or replayed assertion); a counter below the
// stored one is refused; authenticators without a counter (always 0) are
// accepted every time.
func testWebAuthnSignCounter(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	mustNil(t, "add", s.AddWebAuthnCredential(ctx, &store.WebAuthnCredential{ID: "k", UserID: u.ID, Name: "Key", PublicKey: []byte{1}, SignCount: 3}, nil))
	mustNil(t, "counter 4", s.UseWebAuthnCredential(ctx, u.ID, "k", 4, false))
	mustIs(t, "counter 4 again", s.UseWebAuthnCredential(ctx, u.ID, "k", 4, false), store.ErrCounterWentBack)
	mustIs(t, "counter 2", s.UseWebAuthnCredential(ctx, u.ID, "k", 2, false), store.ErrCounterWentBack)
	mustIs(t, "counter 0 after counting", s.UseWebAuthnCredential(ctx, u.ID, "k", 0, false), store.ErrCounterWentBack)

	errs := race(8, func(int) error { return s.UseWebAuthnCredential(ctx, u.ID, "k", 9, true) })
	oneWinner(t, errs, store.ErrCounterWentBack)
	c, err := s.WebAuthnCredentialByID(ctx, "k")
	mustNil(t, "WebAuthnCredentialByID", err)
	if c.SignCount != 9 || !c.BackupState || c.LastUsedAt == nil {
		t.Errorf("after the race: %+v", c)
	}

	mustNil(t, "add a counterless passkey", s.AddWebAuthnCredential(ctx, &store.WebAuthnCredential{ID: "p", UserID: u.ID, Name: "Passkey", PublicKey: []byte{2}}, nil))
	for range 3 {
		mustNil(t, "counter 0 on a counterless passkey", s.UseWebAuthnCredential(ctx, u.ID, "p", 0, true))
	}
	mustIs(t, "another user's credential", s.UseWebAuthnCredential(ctx, "nobody", "p", 0, true), store.ErrNotFound)
}

// testRemoveLastFactorRace: of two removals at once of a user's two
// factors, one wins and the other is ErrLastFactor: the user never ends
// with none.
func testRemoveLastFactorRace(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	for _, id := range []string{"a", "b"} {
		mustNil(t, "add", s.AddWebAuthnCredential(ctx, &store.WebAuthnCredential{ID: id, UserID: u.ID, Name: id, PublicKey: []byte{1}}, nil))
	}
	errs := race(2, func(i int) error { return s.RemoveFactor(ctx, u.ID, store.FactorWebAuthn, []string{"a", "b"}[i]) })
	oneWinner(t, errs, store.ErrLastFactor)
	if f, _ := s.Factors(ctx, u.ID); len(f) != 1 {
		t.Errorf("factors left: %+v", f)
	}
	mustIs(t, "removing the last one", s.RemoveFactor(ctx, u.ID, store.FactorWebAuthn, f0(t, s, u.ID)), store.ErrLastFactor)
}

func f0(t *testing.T, s *store.Store, userID string) string {
	t.Helper()
	f, err := s.Factors(t.Context(), userID)
	mustNil(t, "Factors", err)
	return f[0].ID
}
