package storetest

import (
	"errors"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
)

// testPasswordAttempts: the password step's counter locks after five
// failures, is kept apart from the second factor's, and a success resets
// it.
func testPasswordAttempts(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	g := &mfa.Guard{Store: s.PasswordAttempts()}
	for i := 1; i <= 5; i++ {
		err := g.CheckRecoveryKey(ctx, u.ID, false)
		var locked *mfa.LockedOutError
		if i < 5 && !errors.Is(err, mfa.ErrInvalidRecoveryKey) {
			t.Fatalf("failure %d: %v", i, err)
		}
		if i == 5 && !(errors.As(err, &locked) && locked.JustLocked) {
			t.Fatalf("fifth failure: %v, want the lockout", err)
		}
	}
	if err := g.CheckRecoveryKey(ctx, u.ID, true); !errors.Is(err, mfa.ErrLockedOut) {
		t.Fatalf("right password while locked: %v", err)
	}
	codes, err := s.LoadAttempts(ctx, u.ID)
	mustNil(t, "LoadAttempts", err)
	if codes.Failures != 0 || !codes.LockedUntil.IsZero() {
		t.Fatalf("the second factor's counter moved: %+v", codes)
	}
	other := NewUser(t, s, u.TenantID)
	mustNil(t, "CheckRecoveryKey(other)", g.CheckRecoveryKey(ctx, other.ID, true))
	if err := s.PasswordAttempts().AdvanceTOTPStep(ctx, u.ID, 1); err == nil {
		t.Fatal("AdvanceTOTPStep on the password counter succeeded")
	}

	// ChargeNobody (an unknown email) changes nothing, inside a
	// transaction as the sign-in runs it too.
	var before, after int64
	mustNil(t, "count", s.DB().Table("password_attempts").Count(&before).Error)
	mustNil(t, "ChargeNobody", s.InTx(ctx, s.PasswordAttempts().ChargeNobody))
	mustNil(t, "count", s.DB().Table("password_attempts").Count(&after).Error)
	if after != before {
		t.Fatalf("ChargeNobody changed the counters: %d rows, then %d", before, after)
	}
}
