// Package mfatest holds the conformance suite for mfa.Store. Every Store
// implementation (the SQL store on SQLite and on PostgreSQL, the in-memory
// fake of the mfa tests) runs the same cases, so the replay guard and the
// attempt counter behave the same everywhere:
//
//	func TestMFAStore(t *testing.T) {
//		mfatest.RunStoreTests(t, func(t *testing.T) mfa.Store { return newTestStore(t) })
//	}
package mfatest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/mfa"
)

// Racers is how many goroutines the concurrency cases start.
const Racers = 20

// RunStoreTests runs the mfa.Store contract against stores made by
// newStore. User ids are unique per case, so newStore may return stores
// that share one database.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) mfa.Store) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s mfa.Store, user string)
	}{
		{"TOTPStep/FirstAccepted", testFirstStep},
		{"TOTPStep/SameOrLowerRefused", testStepNotGreater},
		{"TOTPStep/HigherAccepted", testStepHigher},
		{"TOTPStep/UsersIndependent", testStepUsers},
		{"TOTPStep/ConcurrentOneWinner", testStepConcurrent},
		{"Attempts/MissingIsZero", testAttemptsMissing},
		{"Attempts/InsertOnce", testAttemptsInsertOnce},
		{"Attempts/RoundTrip", testAttemptsRoundTrip},
		{"Attempts/StaleVersionRefused", testAttemptsStale},
		{"Attempts/UsersIndependent", testAttemptsUsers},
		{"Attempts/ConcurrentIncrements", testAttemptsConcurrent},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newStore(t), fmt.Sprintf("mfatest-%d-%d", time.Now().UnixNano(), i))
		})
	}
}

func testFirstStep(t *testing.T, s mfa.Store, user string) {
	if err := s.AdvanceTOTPStep(context.Background(), user, 1000); err != nil {
		t.Fatalf("first AdvanceTOTPStep: %v", err)
	}
}

func testStepNotGreater(t *testing.T, s mfa.Store, user string) {
	ctx := context.Background()
	if err := s.AdvanceTOTPStep(ctx, user, 1000); err != nil {
		t.Fatalf("AdvanceTOTPStep(1000): %v", err)
	}
	for _, step := range []int64{1000, 999, 0} {
		if err := s.AdvanceTOTPStep(ctx, user, step); !errors.Is(err, mfa.ErrCodeReused) {
			t.Errorf("AdvanceTOTPStep(%d) after 1000 = %v, want ErrCodeReused", step, err)
		}
	}
}

func testStepHigher(t *testing.T, s mfa.Store, user string) {
	ctx := context.Background()
	for _, step := range []int64{1000, 1001, 1005} {
		if err := s.AdvanceTOTPStep(ctx, user, step); err != nil {
			t.Fatalf("AdvanceTOTPStep(%d): %v", step, err)
		}
	}
	if err := s.AdvanceTOTPStep(ctx, user, 1003); !errors.Is(err, mfa.ErrCodeReused) {
		t.Errorf("AdvanceTOTPStep(1003) after 1005 = %v, want ErrCodeReused", err)
	}
}

func testStepUsers(t *testing.T, s mfa.Store, user string) {
	ctx := context.Background()
	if err := s.AdvanceTOTPStep(ctx, user+"-a", 1000); err != nil {
		t.Fatalf("user a: %v", err)
	}
	if err := s.AdvanceTOTPStep(ctx, user+"-b", 1000); err != nil {
		t.Fatalf("user b, same step: %v", err)
	}
}

func testStepConcurrent(t *testing.T, s mfa.Store, user string) {
	ctx := context.Background()
	if err := s.AdvanceTOTPStep(ctx, user, 999); err != nil {
		t.Fatalf("AdvanceTOTPStep(999): %v", err)
	}
	errs := Race(Racers, func() error { return s.AdvanceTOTPStep(ctx, user, 1000) })
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, mfa.ErrCodeReused):
			t.Errorf("racer error = %v, want nil or ErrCodeReused", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d racers advanced to the same step, want exactly 1", wins, Racers)
	}
}

func testAttemptsMissing(t *testing.T, s mfa.Store, user string) {
	a, err := s.LoadAttempts(context.Background(), user)
	if err != nil {
		t.Fatalf("LoadAttempts: %v", err)
	}
	if a.Failures != 0 || a.Lockouts != 0 || !a.LockedUntil.IsZero() || a.Version != 0 {
		t.Errorf("LoadAttempts of unknown user = %+v, want zero value", a)
	}
}

func testAttemptsInsertOnce(t *testing.T, s mfa.Store, user string) {
	ctx := context.Background()
	ok, err := s.SaveAttempts(ctx, user, 0, mfa.Attempts{Failures: 1, Version: 1})
	if err != nil || !ok {
		t.Fatalf("first insert = %v, %v; want true, nil", ok, err)
	}
	ok, err = s.SaveAttempts(ctx, user, 0, mfa.Attempts{Failures: 7, Version: 1})
	if err != nil || ok {
		t.Fatalf("second insert with prevVersion 0 = %v, %v; want false, nil", ok, err)
	}
	a := mustLoad(t, s, user)
	if a.Failures != 1 || a.Version != 1 {
		t.Errorf("after losing insert: %+v, want Failures 1, Version 1", a)
	}
}

func testAttemptsRoundTrip(t *testing.T, s mfa.Store, user string) {
	ctx := context.Background()
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	want := mfa.Attempts{Failures: 3, Lockouts: 2, LockedUntil: until, Version: 1}
	if ok, err := s.SaveAttempts(ctx, user, 0, want); err != nil || !ok {
		t.Fatalf("insert = %v, %v", ok, err)
	}
	got := mustLoad(t, s, user)
	if got.Failures != 3 || got.Lockouts != 2 || !got.LockedUntil.Equal(until) || got.Version != 1 {
		t.Errorf("round trip: got %+v, want %+v", got, want)
	}
	// The zero LockedUntil ("not locked") must come back as the zero time.
	if ok, err := s.SaveAttempts(ctx, user, 1, mfa.Attempts{Version: 2}); err != nil || !ok {
		t.Fatalf("update = %v, %v", ok, err)
	}
	got = mustLoad(t, s, user)
	if !got.LockedUntil.IsZero() || got.Failures != 0 || got.Lockouts != 0 || got.Version != 2 {
		t.Errorf("after reset: got %+v, want zero counters, zero LockedUntil, Version 2", got)
	}
}

func testAttemptsStale(t *testing.T, s mfa.Store, user string) {
	ctx := context.Background()
	if ok, err := s.SaveAttempts(ctx, user, 0, mfa.Attempts{Failures: 1, Version: 1}); err != nil || !ok {
		t.Fatalf("insert = %v, %v", ok, err)
	}
	if ok, err := s.SaveAttempts(ctx, user, 1, mfa.Attempts{Failures: 2, Version: 2}); err != nil || !ok {
		t.Fatalf("update from version 1 = %v, %v", ok, err)
	}
	if ok, err := s.SaveAttempts(ctx, user, 1, mfa.Attempts{Failures: 9, Version: 2}); err != nil || ok {
		t.Fatalf("stale update from version 1 = %v, %v; want false, nil", ok, err)
	}
	if a := mustLoad(t, s, user); a.Failures != 2 || a.Version != 2 {
		t.Errorf("after stale update: %+v, want Failures 2, Version 2", a)
	}
}

func testAttemptsUsers(t *testing.T, s mfa.Store, user string) {
	ctx := context.Background()
	if ok, err := s.SaveAttempts(ctx, user+"-a", 0, mfa.Attempts{Failures: 4, Version: 1}); err != nil || !ok {
		t.Fatalf("insert a = %v, %v", ok, err)
	}
	if a := mustLoad(t, s, user+"-b"); a.Version != 0 || a.Failures != 0 {
		t.Errorf("user b sees %+v, want zero value", a)
	}
}

func testAttemptsConcurrent(t *testing.T, s mfa.Store, user string) {
	ctx := context.Background()
	errs := Race(Racers, func() error {
		for range 10 * Racers {
			a, err := s.LoadAttempts(ctx, user)
			if err != nil {
				return err
			}
			prev := a.Version
			a.Failures++
			a.Version = prev + 1
			ok, err := s.SaveAttempts(ctx, user, prev, a)
			if err != nil || ok {
				return err
			}
		}
		return errors.New("gave up after too many lost races")
	})
	for _, err := range errs {
		if err != nil {
			t.Errorf("racer: %v", err)
		}
	}
	if a := mustLoad(t, s, user); a.Failures != Racers || a.Version != Racers {
		t.Errorf("after %d concurrent increments: %+v, want Failures and Version %d", Racers, a, Racers)
	}
}

func mustLoad(t *testing.T, s mfa.Store, user string) mfa.Attempts {
	t.Helper()
	a, err := s.LoadAttempts(context.Background(), user)
	if err != nil {
		t.Fatalf("LoadAttempts: %v", err)
	}
	return a
}

// Race runs f in n goroutines released at the same moment and returns
// their errors, in goroutine order. The concurrency cases here and in the
// stores' own tests use it with Racers goroutines.
func Race(n int, f func() error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f()
		})
	}
	close(start)
	wg.Wait()
	return errs
}
