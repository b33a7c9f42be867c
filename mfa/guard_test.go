package mfa_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/mfa/mfatest"
)

const user = "user-1"

type guardFixture struct {
	g     *mfa.Guard
	store *memStore
	clock *fakeClock
	s     mfa.Secret
}

func newGuardFixture(t *testing.T) *guardFixture {
	t.Helper()
	f := &guardFixture{store: newMemStore(), clock: newFakeClock(), s: testSecret(t)}
	f.g = &mfa.Guard{Store: f.store, Clock: f.clock, Policy: mfa.DefaultLockoutPolicy}
	return f
}

// newAcceptorFixture is newGuardFixture over an acceptStore.
func newAcceptorFixture(t *testing.T) (*guardFixture, *acceptStore) {
	t.Helper()
	f := newGuardFixture(t)
	as := &acceptStore{memStore: f.store}
	f.g.Store = as
	return f, as
}

// bothStores runs a test over a plain Store and over a StepAcceptor.
func bothStores(t *testing.T, test func(t *testing.T, f *guardFixture)) {
	t.Run("Store", func(t *testing.T) { test(t, newGuardFixture(t)) })
	t.Run("StepAcceptor", func(t *testing.T) {
		f, _ := newAcceptorFixture(t)
		test(t, f)
	})
}

func (f *guardFixture) code(t *testing.T) string  { return mustCode(t, f.s, f.clock.Now()) }
func (f *guardFixture) wrong(t *testing.T) string { return wrongCode(t, f.s, f.clock.Now()) }

func (f *guardFixture) check(code string) (int64, error) {
	return f.g.CheckCode(context.Background(), user, f.s, code)
}

// failUntilLocked submits wrong codes until one triggers a lockout and
// returns that lockout.
func (f *guardFixture) failUntilLocked(t *testing.T) *mfa.LockedOutError {
	t.Helper()
	for i := 1; i <= mfa.DefaultLockoutPolicy.MaxFailures; i++ {
		_, err := f.check(f.wrong(t))
		if i < mfa.DefaultLockoutPolicy.MaxFailures {
			if !errors.Is(err, mfa.ErrInvalidCode) || errors.Is(err, mfa.ErrLockedOut) {
				t.Fatalf("failure %d: err = %v, want ErrInvalidCode", i, err)
			}
			continue
		}
		var lo *mfa.LockedOutError
		if !errors.As(err, &lo) || !lo.JustLocked || !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("failure %d: err = %v, want a fresh lockout caused by ErrInvalidCode", i, err)
		}
		return lo
	}
	return nil
}

func TestCheckCodeAccepts(t *testing.T) {
	f := newGuardFixture(t)
	step, err := f.check(f.code(t))
	if err != nil || step != mfa.Step(t0) {
		t.Fatalf("CheckCode = %d, %v; want %d, nil", step, err, mfa.Step(t0))
	}
	// A step later the used code is still inside the skew window, yet refused.
	f.clock.Advance(mfa.Period)
	prev := mustCode(t, f.s, t0)
	if _, err := f.check(prev); !errors.Is(err, mfa.ErrCodeReused) {
		t.Errorf("code of the already used step = %v, want ErrCodeReused", err)
	}
	step, err = f.check(f.code(t))
	if err != nil || step != mfa.Step(t0)+1 {
		t.Errorf("next step's code = %d, %v", step, err)
	}
}

func TestCheckCodeReplay(t *testing.T) {
	f := newGuardFixture(t)
	code := f.code(t)
	if _, err := f.check(code); err != nil {
		t.Fatal(err)
	}
	_, err := f.check(code)
	if !errors.Is(err, mfa.ErrCodeReused) {
		t.Fatalf("same code twice = %v, want ErrCodeReused", err)
	}
	if a := f.store.get(user); a.Failures != 1 {
		t.Errorf("a reused code counts as a failure: Failures = %d, want 1", a.Failures)
	}
}

func TestCheckCodeReplayOfEarlierStepAfterFutureStep(t *testing.T) {
	f := newGuardFixture(t)
	// A fast phone: the user's code is one step ahead, and accepted.
	if step, err := f.check(mustCode(t, f.s, t0.Add(mfa.Period))); err != nil || step != mfa.Step(t0)+1 {
		t.Fatalf("future code = %d, %v", step, err)
	}
	// The current step's code, seen earlier on the user's screen, is now stale.
	if _, err := f.check(f.code(t)); !errors.Is(err, mfa.ErrCodeReused) {
		t.Errorf("earlier step after a later one = %v, want ErrCodeReused", err)
	}
}

func TestCheckCodeMalformedNotCharged(t *testing.T) {
	f := newGuardFixture(t)
	for _, in := range []string{"", "12345", "abcdef", "١٢٣٤٥٦"} {
		_, err := f.check(in)
		if !errors.Is(err, mfa.ErrMalformedCode) || !errors.Is(err, mfa.ErrInvalidCode) {
			t.Errorf("CheckCode(%q) = %v, want ErrMalformedCode", in, err)
		}
	}
	if a := f.store.get(user); a.Failures != 0 || a.Version != 0 {
		t.Errorf("malformed input was charged: %+v", a)
	}
	if _, err := f.g.CheckCode(context.Background(), user, "", f.code(t)); !errors.Is(err, mfa.ErrInvalidSecret) {
		t.Errorf("invalid stored secret = %v, want ErrInvalidSecret", err)
	}
}

func TestLockoutAfterFiveFailures(t *testing.T) {
	f := newGuardFixture(t)
	lo := f.failUntilLocked(t)
	if want := t0.Add(time.Minute); !lo.Until.Equal(want) {
		t.Errorf("locked until %s, want %s", lo.Until, want)
	}

	// The sixth attempt, even with the right code, is refused unevaluated.
	advances := f.store.advanceCalls()
	f.clock.Advance(20 * time.Second)
	_, err := f.check(f.code(t))
	var refused *mfa.LockedOutError
	if !errors.As(err, &refused) || refused.JustLocked || refused.Cause != nil {
		t.Fatalf("attempt while locked = %v, want a plain *LockedOutError", err)
	}
	if f.store.advanceCalls() != advances {
		t.Error("the code was evaluated and accepted while locked")
	}
	if got := refused.Remaining(f.clock.Now()); got != 40*time.Second {
		t.Errorf("Remaining = %s, want 40s", got)
	}
	if got := refused.Remaining(t0.Add(time.Hour)); got != 0 {
		t.Errorf("Remaining after the end = %s, want 0", got)
	}
	if err := f.g.Admit(context.Background(), user); !errors.Is(err, mfa.ErrLockedOut) {
		t.Errorf("Admit while locked = %v", err)
	}
	if _, err := f.check("12"); !errors.Is(err, mfa.ErrLockedOut) {
		t.Errorf("malformed input while locked = %v, want the lockout", err)
	}

	// At exactly Until the lock is over; the right code works and resets.
	f.clock.Set(lo.Until)
	if err := f.g.Admit(context.Background(), user); err != nil {
		t.Errorf("Admit after the cool-down = %v", err)
	}
	if _, err := f.check(f.code(t)); err != nil {
		t.Fatalf("right code after the cool-down = %v", err)
	}
	if a := f.store.get(user); a.Failures != 0 || a.Lockouts != 0 || !a.LockedUntil.IsZero() {
		t.Errorf("success did not reset: %+v", a)
	}
	// So the next lockout is back to one minute.
	f.clock.Advance(mfa.Period)
	if lo := f.failUntilLocked(t); lo.Until.Sub(f.clock.Now()) != time.Minute {
		t.Errorf("cool-down after a success = %s, want 1m", lo.Until.Sub(f.clock.Now()))
	}
}

// TestFifthAttemptRightCode: the attempt that would lock, when right, wins.
func TestFifthAttemptRightCode(t *testing.T) {
	f := newGuardFixture(t)
	for range mfa.DefaultLockoutPolicy.MaxFailures - 1 {
		if _, err := f.check(f.wrong(t)); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatal(err)
		}
	}
	if _, err := f.check(f.code(t)); err != nil {
		t.Fatalf("right code as the 5th attempt = %v", err)
	}
	if a := f.store.get(user); a.Failures != 0 || a.Lockouts != 0 || !a.LockedUntil.IsZero() {
		t.Errorf("counter after success = %+v, want reset", a)
	}
}

func TestLockoutDoublesAndCaps(t *testing.T) {
	f := newGuardFixture(t)
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, minutes := range want {
		lo := f.failUntilLocked(t)
		if got := lo.Until.Sub(f.clock.Now()); got != minutes*time.Minute {
			t.Errorf("lockout %d lasts %s, want %s", i+1, got, minutes*time.Minute)
		}
		// One second early is still locked; at the end it is open.
		f.clock.Set(lo.Until.Add(-time.Second))
		if _, err := f.check(f.wrong(t)); !errors.Is(err, mfa.ErrLockedOut) {
			t.Fatalf("lockout %d: attempt 1s early = %v", i+1, err)
		}
		f.clock.Set(lo.Until)
	}
	if a := f.store.get(user); a.Lockouts != len(want) {
		t.Errorf("Lockouts = %d, want %d", a.Lockouts, len(want))
	}
}

// TestMaxCodesPerDay replays the worst case doc.go describes: an attacker
// who knows the password tries codes the moment each lockout ends.
func TestMaxCodesPerDay(t *testing.T) {
	f := newGuardFixture(t)
	evaluated := 0
	for end := t0.Add(24 * time.Hour); f.clock.Now().Before(end); {
		_, err := f.check(f.wrong(t))
		var lo *mfa.LockedOutError
		switch {
		case errors.As(err, &lo) && !lo.JustLocked:
			f.clock.Set(lo.Until)
		case errors.Is(err, mfa.ErrInvalidCode):
			evaluated++
		default:
			t.Fatalf("unexpected %v", err)
		}
	}
	if want := mfa.DefaultLockoutPolicy.MaxAttemptsPer(24 * time.Hour); evaluated != want || want != 145 {
		t.Errorf("%d codes evaluated in 24 h, MaxAttemptsPer says %d, doc.go says 145", evaluated, want)
	}
	// Steady state, once the cool-down is at its cap: 5 per hour.
	if got := mfa.DefaultLockoutPolicy.MaxAttemptsPer(48*time.Hour) - 145; got != 120 {
		t.Errorf("second day allows %d codes, doc.go says 120", got)
	}
}

func TestConcurrentSameCodeOneWinner(t *testing.T) { bothStores(t, concurrentSameCodeOneWinner) }

func concurrentSameCodeOneWinner(t *testing.T, f *guardFixture) {
	code := f.code(t)
	errs := mfatest.Race(mfatest.Racers, func() error {
		_, err := f.check(code)
		return err
	})
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, mfa.ErrCodeReused), errors.Is(err, mfa.ErrLockedOut):
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent submissions of one code succeeded, want 1", wins, mfatest.Racers)
	}
}

// TestConcurrentWrongCodesBounded shows why attempts are charged before the
// code is evaluated: of 20 simultaneous guesses only MaxFailures are looked at.
func TestConcurrentWrongCodesBounded(t *testing.T) { bothStores(t, concurrentWrongCodesBounded) }

func concurrentWrongCodesBounded(t *testing.T, f *guardFixture) {
	wrong := f.wrong(t)
	errs := mfatest.Race(mfatest.Racers, func() error {
		_, err := f.check(wrong)
		return err
	})
	evaluated, fresh := 0, 0
	for _, err := range errs {
		var lo *mfa.LockedOutError
		if errors.Is(err, mfa.ErrInvalidCode) {
			evaluated++
		}
		if errors.As(err, &lo) && lo.JustLocked {
			fresh++
		}
	}
	if evaluated != mfa.DefaultLockoutPolicy.MaxFailures || fresh != 1 {
		t.Errorf("%d guesses evaluated and %d fresh lockouts, want %d and 1", evaluated, fresh, mfa.DefaultLockoutPolicy.MaxFailures)
	}
}

func TestCheckRecoveryKeySharesTheLimit(t *testing.T) {
	f := newGuardFixture(t)
	ctx := context.Background()
	for range 3 {
		if _, err := f.check(f.wrong(t)); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatal(err)
		}
	}
	if err := f.g.CheckRecoveryKey(ctx, user, false); !errors.Is(err, mfa.ErrInvalidRecoveryKey) || errors.Is(err, mfa.ErrLockedOut) {
		t.Fatalf("4th failure = %v", err)
	}
	err := f.g.CheckRecoveryKey(ctx, user, false)
	var lo *mfa.LockedOutError
	if !errors.As(err, &lo) || !lo.JustLocked || !errors.Is(err, mfa.ErrInvalidRecoveryKey) {
		t.Fatalf("5th failure = %v, want a fresh lockout caused by ErrInvalidRecoveryKey", err)
	}
	// While locked even the right key gets no answer.
	if err := f.g.CheckRecoveryKey(ctx, user, true); !errors.Is(err, mfa.ErrLockedOut) {
		t.Errorf("right key while locked = %v, want the lockout", err)
	}
	f.clock.Set(lo.Until)
	if err := f.g.CheckRecoveryKey(ctx, user, true); err != nil {
		t.Errorf("right key after the cool-down = %v", err)
	}
	if a := f.store.get(user); a.Failures != 0 || a.Lockouts != 0 {
		t.Errorf("recovery success did not reset: %+v", a)
	}
}

func TestLockedOutError(t *testing.T) {
	until := time.Date(2026, 5, 1, 12, 1, 0, 0, time.UTC)
	var err error = &mfa.LockedOutError{Until: until, JustLocked: true, Cause: mfa.ErrInvalidCode}
	if !errors.Is(err, mfa.ErrLockedOut) || !errors.Is(err, mfa.ErrInvalidCode) || errors.Is(err, mfa.ErrCodeReused) {
		t.Error("errors.Is does not see the lockout and its cause")
	}
	if got, want := err.Error(), "mfa: too many failed attempts; code entry locked until 2026-05-01T12:01:00Z"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestLockoutPolicy(t *testing.T) {
	p := mfa.DefaultLockoutPolicy
	if p.MaxFailures != 5 || p.BaseCooldown != time.Minute || p.MaxCooldown != time.Hour {
		t.Errorf("DefaultLockoutPolicy = %+v", p)
	}
	for n, want := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60} {
		if got := p.Cooldown(n); got != want*time.Minute {
			t.Errorf("Cooldown(%d) = %s, want %dm", n, got, want)
		}
	}
	huge := mfa.LockoutPolicy{MaxFailures: 1, BaseCooldown: time.Hour, MaxCooldown: 1<<63 - 1}
	for _, n := range []int{40, 1000} {
		if got := huge.Cooldown(n); got <= 0 {
			t.Errorf("Cooldown(%d) overflowed to %s", n, got)
		}
	}
	if err := (mfa.LockoutPolicy{}).Validate(); err == nil {
		t.Error("zero policy validates")
	}
	if err := (mfa.LockoutPolicy{MaxFailures: 3, BaseCooldown: time.Hour, MaxCooldown: time.Minute}).Validate(); err == nil {
		t.Error("MaxCooldown < BaseCooldown validates")
	}

	// A Guard with a zero Policy and Clock still limits attempts.
	store := newMemStore()
	g := &mfa.Guard{Store: store}
	for range 5 {
		_ = g.CheckRecoveryKey(context.Background(), user, false)
	}
	if err := g.Admit(context.Background(), user); !errors.Is(err, mfa.ErrLockedOut) {
		t.Errorf("zero-value Guard did not lock after 5 failures: %v", err)
	}
}

// contendedStore loses every compare-and-swap.
type contendedStore struct{ *memStore }

func (contendedStore) SaveAttempts(context.Context, string, int64, mfa.Attempts) (bool, error) {
	return false, nil
}

// brokenStore fails every call.
type brokenStore struct{}

var errDB = errors.New("database down")

func (brokenStore) AdvanceTOTPStep(context.Context, string, int64) error { return errDB }
func (brokenStore) LoadAttempts(context.Context, string) (mfa.Attempts, error) {
	return mfa.Attempts{}, errDB
}
func (brokenStore) SaveAttempts(context.Context, string, int64, mfa.Attempts) (bool, error) {
	return false, errDB
}

func TestGuardStoreFailures(t *testing.T) {
	s := testSecret(t)
	clock := newFakeClock()
	code := mustCode(t, s, t0)
	g := &mfa.Guard{Store: contendedStore{newMemStore()}, Clock: clock}
	if _, err := g.CheckCode(context.Background(), user, s, code); !errors.Is(err, mfa.ErrContention) {
		t.Errorf("endless contention = %v, want ErrContention", err)
	}
	g = &mfa.Guard{Store: brokenStore{}, Clock: clock}
	if _, err := g.CheckCode(context.Background(), user, s, code); !errors.Is(err, errDB) {
		t.Errorf("broken store = %v, want the store error", err)
	}
	if err := g.Admit(context.Background(), user); !errors.Is(err, errDB) {
		t.Errorf("Admit on broken store = %v", err)
	}
}

func TestMemStoreConformance(t *testing.T) {
	mfatest.RunStoreTests(t, func(*testing.T) mfa.Store { return newMemStore() })
}

// txStore is a memStore with transactions: a failed function's writes are
// undone (a snapshot restored), as a database would.
type txStore struct {
	*memStore
	txs, rollbacks int
}

func (s *txStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	s.mu.Lock()
	s.txs++
	steps, attempts := maps.Clone(s.steps), maps.Clone(s.attempts)
	s.mu.Unlock()
	if err := fn(ctx); err != nil {
		s.mu.Lock()
		s.rollbacks++
		s.steps, s.attempts = steps, attempts
		s.mu.Unlock()
		return err
	}
	return nil
}

// TestCheckCodeInOneTransaction: with a Transactor, CheckCode runs in one
// transaction, and a refused code's charge is committed, not rolled back,
// so five wrong codes still lock.
func TestCheckCodeInOneTransaction(t *testing.T) {
	f := newGuardFixture(t)
	ts := &txStore{memStore: f.store}
	f.g.Store = ts
	for i := 1; i <= 4; i++ {
		if _, err := f.check(f.wrong(t)); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := f.check(f.wrong(t)); !errors.Is(err, mfa.ErrLockedOut) {
		t.Fatalf("fifth wrong code: %v, want the lockout", err)
	}
	if _, err := f.check(f.code(t)); !errors.Is(err, mfa.ErrLockedOut) {
		t.Fatalf("right code while locked: %v", err)
	}
	if ts.txs != 6 || ts.rollbacks != 0 {
		t.Fatalf("%d transactions, %d rollbacks; want 6 and 0", ts.txs, ts.rollbacks)
	}
}

// TestStepAcceptorPath: with a StepAcceptor, a right code is accepted by
// AcceptStep alone; everything else is offered as step 0 first (the same
// call, so a locked account takes the same work for right and wrong codes)
// and then decided by the charged path, with the same answers.
func TestStepAcceptorPath(t *testing.T) {
	f, as := newAcceptorFixture(t)
	step := mfa.Step(f.clock.Now())

	if got, err := f.check(f.code(t)); err != nil || got != step {
		t.Fatalf("right code = %d, %v; want %d", got, err, step)
	}
	if o := as.takeOffered(); len(o) != 1 || o[0] != step {
		t.Errorf("offered %v, want [%d]", o, step)
	}
	if as.advanceCalls() != 0 {
		t.Error("an accepted code also went through AdvanceTOTPStep")
	}

	// A replay is offered, refused, then charged as a reuse.
	if _, err := f.check(f.code(t)); !errors.Is(err, mfa.ErrCodeReused) {
		t.Fatalf("replay = %v, want ErrCodeReused", err)
	}
	if a := as.get(user); a.Failures != 1 {
		t.Errorf("failures after a replay = %d, want 1", a.Failures)
	}

	// A wrong code is offered as step 0 and charged; a right code then
	// resets the counter in the same single write.
	f.clock.Advance(mfa.Period)
	as.takeOffered()
	if _, err := f.check(f.wrong(t)); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("wrong code = %v", err)
	}
	if _, err := f.check("12"); !errors.Is(err, mfa.ErrMalformedCode) {
		t.Fatalf("malformed = %v", err)
	}
	if o := as.takeOffered(); len(o) != 2 || o[0] != 0 || o[1] != 0 {
		t.Errorf("wrong and malformed codes offered %v, want [0 0]", o)
	}
	if _, err := f.check(f.code(t)); err != nil {
		t.Fatalf("right code after failures = %v", err)
	}
	if a := as.get(user); !(a.Failures == 0 && a.Lockouts == 0 && a.LockedUntil.IsZero()) {
		t.Errorf("counter after success = %+v, want reset", a)
	}

	// Locked: the right code is offered, refused, and answered exactly as
	// a wrong one; nothing is burned.
	f.clock.Advance(mfa.Period)
	lo := f.failUntilLocked(t)
	burned := as.lastStep(user)
	as.takeOffered()
	_, right := f.check(f.code(t))
	_, wrong := f.check(f.wrong(t))
	var r, w *mfa.LockedOutError
	if !errors.As(right, &r) || !errors.As(wrong, &w) || *r != *w || r.JustLocked {
		t.Fatalf("while locked: right code = %v, wrong code = %v; want the same plain lockout", right, wrong)
	}
	if o := as.takeOffered(); len(o) != 2 || o[0] != mfa.Step(f.clock.Now()) || o[1] != 0 {
		t.Errorf("while locked offered %v, want [step 0]", o)
	}
	if as.lastStep(user) != burned {
		t.Error("a step was burned while locked")
	}

	// After the cool-down the lock is still on the row: AcceptStep refuses,
	// the charged path accepts and clears it, and the next code is fast.
	f.clock.Set(lo.Until)
	if _, err := f.check(f.code(t)); err != nil {
		t.Fatalf("right code after the cool-down = %v", err)
	}
	if a := as.get(user); !a.LockedUntil.IsZero() {
		t.Errorf("lock not cleared: %+v", a)
	}
	f.clock.Advance(mfa.Period)
	as.takeOffered()
	advances := as.advanceCalls()
	if _, err := f.check(f.code(t)); err != nil {
		t.Fatal(err)
	}
	if as.advanceCalls() != advances {
		t.Error("after the lock was cleared, a right code still took the charged path")
	}
}

// TestCheckCodeCountsPriorFailures: an accepted code reports the wrong
// codes tried since the last accepted one (so the user can be told), and
// a clean counter reports none.
func TestCheckCodeCountsPriorFailures(t *testing.T) {
	bothStores(t, func(t *testing.T, f *guardFixture) {
		ctx := context.Background()
		if _, prior, err := f.g.CheckCodeCounting(ctx, user, f.s, f.code(t)); err != nil || prior != 0 {
			t.Fatalf("first code: prior %d, %v; want 0", prior, err)
		}
		f.clock.Advance(30 * time.Second)
		for range 2 {
			if _, err := f.check(f.wrong(t)); !errors.Is(err, mfa.ErrInvalidCode) {
				t.Fatal(err)
			}
		}
		if _, prior, err := f.g.CheckCodeCounting(ctx, user, f.s, f.code(t)); err != nil || prior != 2 {
			t.Fatalf("after two wrong codes: prior %d, %v; want 2", prior, err)
		}
		f.clock.Advance(30 * time.Second)
		if _, prior, err := f.g.CheckCodeCounting(ctx, user, f.s, f.code(t)); err != nil || prior != 0 {
			t.Fatalf("the next sign-in: prior %d, %v; want 0", prior, err)
		}
	})
}
