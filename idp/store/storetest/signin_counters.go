package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
)

// testSignInCounters: a password failure counts on the pair, the account
// and the address at once, atomically under concurrency; a lock is taken
// once; a success marks the pair known; locks are listed and cleared per
// account; idle counters are swept.
func testSignInCounters(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	const addrA, addrB = "192.0.2.1", "198.51.100.7"

	cs, err := s.SignInCountersFor(ctx, u.ID, addrA)
	mustNil(t, "SignInCountersFor (none)", err)
	if cs.Pair.Failures != 0 || cs.Account.Address != store.AnyAddress || cs.Address.Account != store.AnyAccount {
		t.Fatalf("counters without rows: %+v", cs)
	}

	// Twenty concurrent failures are all counted, on every key.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := s.ChargeSignInFailure(ctx, u.ID, addrA, time.Hour); err != nil {
				t.Error("ChargeSignInFailure:", err)
			}
		})
	}
	wg.Wait()
	cs, err = s.ChargeSignInFailure(ctx, u.ID, addrB, time.Hour)
	mustNil(t, "ChargeSignInFailure(B)", err)
	if cs.Pair.Failures != 1 || cs.Account.Failures != 21 || cs.Address.Failures != 1 {
		t.Fatalf("after 20 failures from A and 1 from B, B's counters are %d/%d/%d; want pair 1, account 21, address 1",
			cs.Pair.Failures, cs.Account.Failures, cs.Address.Failures)
	}
	cs, err = s.SignInCountersFor(ctx, u.ID, addrA)
	mustNil(t, "SignInCountersFor", err)
	if cs.Pair.Failures != 20 || cs.Address.Failures != 20 {
		t.Fatalf("A's counters: pair %d, address %d; want 20, 20", cs.Pair.Failures, cs.Address.Failures)
	}

	// Two replicas locking the same counter: one lock.
	until := time.Now().Add(time.Hour)
	var taken int
	var mu sync.Mutex
	for range 2 {
		wg.Go(func() {
			ok, err := s.LockSignIn(ctx, cs.Pair, until, 5)
			if err != nil {
				t.Error("LockSignIn:", err)
			}
			if ok {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if taken != 1 {
		t.Fatalf("%d locks taken on one counter, want 1", taken)
	}
	cs, err = s.SignInCountersFor(ctx, u.ID, addrA)
	mustNil(t, "SignInCountersFor", err)
	if !cs.Pair.LockedAt(time.Now()) || cs.Pair.Lockouts != 1 || cs.Pair.Failures != 0 {
		t.Fatalf("pair after the lock: %+v", cs.Pair)
	}
	if other, _ := s.SignInCountersFor(ctx, u.ID, addrB); other.Pair.LockedAt(time.Now()) {
		t.Fatal("the lock of address A holds for address B")
	}

	locked, err := s.TenantPasswordLocks(ctx, u.TenantID)
	mustNil(t, "TenantPasswordLocks", err)
	if len(locked[u.ID]) != 1 || len(locked) != 1 || locked[u.ID][0].Address != addrA {
		t.Fatalf("TenantPasswordLocks = %+v, want the lock of %s from %s", locked, u.ID, addrA)
	}

	// A code lock too: Unlock clears both, keeps the known address and
	// the replay guard, and is audited.
	codes := &mfa.Guard{Store: s}
	for range 5 {
		_ = codes.CheckRecoveryKey(ctx, u.ID, false)
	}
	mustNil(t, "SignInSucceeded", s.SignInSucceeded(ctx, u.ID, addrB))
	locks, err := s.UserLocks(ctx, u.ID)
	mustNil(t, "UserLocks", err)
	if len(locks.Password) != 1 || locks.Password[0].Address != addrA || locks.CodesUntil == nil {
		t.Fatalf("UserLocks = %+v, want the password lock from %s and a code lock", locks, addrA)
	}
	cleared, err := s.Unlock(ctx, u.ID, store.Actor{Via: "cli"})
	mustNil(t, "Unlock", err)
	if len(cleared.Password) != 1 || cleared.CodesUntil == nil {
		t.Fatalf("Unlock cleared %+v", cleared)
	}
	if locks, _ := s.UserLocks(ctx, u.ID); locks.Locked() {
		t.Fatalf("locks after Unlock: %+v", locks)
	}
	cs, err = s.SignInCountersFor(ctx, u.ID, addrB)
	mustNil(t, "SignInCountersFor", err)
	if cs.Pair.SucceededAt == nil || cs.Account.Failures != 0 || cs.Account.LockedAt(time.Now()) {
		t.Fatalf("after Unlock: %+v (the known address must stay, the counts go)", cs)
	}
	events, err := s.ListAudit(ctx, store.AuditFilter{TenantID: u.TenantID, SubjectID: u.ID, Event: audit.UserUnlocked})
	mustNil(t, "ListAudit", err)
	if len(events) != 1 || events[0].Detail != `{"password_locks":1,"code_lock":true,"via":"cli"}` {
		t.Fatalf("audit of Unlock: %+v", events)
	}
	if _, err := s.Unlock(ctx, "no-such-user", store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Unlock of an unknown user: %v", err)
	}
	// The address-wide counter is not the account's to clear.
	if cs.Address.Failures != 1 {
		t.Fatalf("address B's counter: %d failures, want 1", cs.Address.Failures)
	}
}
