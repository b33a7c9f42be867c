package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/store"
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
	var locks int
	var mu sync.Mutex
	for range 2 {
		wg.Go(func() {
			ok, err := s.LockSignIn(ctx, cs.Pair, until, 5)
			if err != nil {
				t.Error("LockSignIn:", err)
			}
			if ok {
				mu.Lock()
				locks++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if locks != 1 {
		t.Fatalf("%d locks taken on one counter, want 1", locks)
	}
	cs, err = s.SignInCountersFor(ctx, u.ID, addrA)
	mustNil(t, "SignInCountersFor", err)
	if !cs.Pair.LockedAt(time.Now()) || cs.Pair.Lockouts != 1 || cs.Pair.Failures != 0 {
		t.Fatalf("pair after the lock: %+v", cs.Pair)
	}
	if other, _ := s.SignInCountersFor(ctx, u.ID, addrB); other.Pair.LockedAt(time.Now()) {
		t.Fatal("the lock of address A holds for address B")
	}

	locked, err := s.PasswordLocked(ctx, u.TenantID)
	mustNil(t, "PasswordLocked", err)
	if !locked[u.ID] || len(locked) != 1 {
		t.Fatalf("PasswordLocked = %v, want only %s", locked, u.ID)
	}
	list, err := s.SignInLocks(ctx, u.ID)
	mustNil(t, "SignInLocks", err)
	if len(list) != 1 || list[0].Address != addrA {
		t.Fatalf("SignInLocks = %+v, want the lock from %s", list, addrA)
	}

	mustNil(t, "SignInSucceeded", s.SignInSucceeded(ctx, u.ID, addrB))
	n, err := s.ClearSignInLocks(ctx, u.ID)
	mustNil(t, "ClearSignInLocks", err)
	if n != 1 {
		t.Fatalf("ClearSignInLocks cleared %d locks, want 1", n)
	}
	cs, err = s.SignInCountersFor(ctx, u.ID, addrB)
	mustNil(t, "SignInCountersFor", err)
	if cs.Pair.SucceededAt == nil || cs.Account.Failures != 0 || cs.Account.LockedAt(time.Now()) {
		t.Fatalf("after clearing: %+v (the known address must stay, the counts go)", cs)
	}
	if list, _ := s.SignInLocks(ctx, u.ID); len(list) != 0 {
		t.Fatalf("locks after clearing: %+v", list)
	}
	// The address-wide counter is not the account's to clear.
	if cs.Address.Failures != 1 {
		t.Fatalf("address B's counter: %d failures, want 1", cs.Address.Failures)
	}
}
