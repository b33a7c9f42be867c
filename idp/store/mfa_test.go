package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/mfa/mfatest"
	"github.com/portcullis-idp/portcullis/migrations"
)

// TestMFAStoreConformance runs the mfa.Store contract on every backend.
// The suite invents user ids; mfaLazyUsers creates each one (with a
// confirmed authenticator, which AdvanceTOTPStep needs) on first use.
func TestMFAStoreConformance(t *testing.T) {
	for name, open := range storetest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			w := &mfaLazyUsers{Store: s, tenantID: storetest.NewTenant(t, s).ID, made: map[string]bool{}}
			mfatest.RunStoreTests(t, func(*testing.T) mfa.Store { return w })
		})
	}
}

// mfaLazyUsers is a *store.Store whose mfa.Store methods first create the
// user they are given, as a member of tenantID with a confirmed
// authenticator at step 0, so the foreign keys hold.
type mfaLazyUsers struct {
	*store.Store
	tenantID string

	mu   sync.Mutex
	made map[string]bool
}

func (w *mfaLazyUsers) ensure(ctx context.Context, userID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.made[userID] {
		return nil
	}
	u := &store.User{ID: userID, TenantID: w.tenantID, Email: userID + "@example.test", PasswordHash: "$argon2id$stub"}
	if err := w.CreateUser(ctx, u); err != nil {
		return err
	}
	if err := w.BeginEnrollment(ctx, userID, mfa.Secret("secret-"+userID)); err != nil {
		return err
	}
	if err := w.ConfirmEnrollment(ctx, userID, mfa.Secret("secret-"+userID), 0, mfaHash("key-"+userID)); err != nil {
		return err
	}
	w.made[userID] = true
	return nil
}

func (w *mfaLazyUsers) AdvanceTOTPStep(ctx context.Context, userID string, step int64) error {
	if err := w.ensure(ctx, userID); err != nil {
		return err
	}
	return w.Store.AdvanceTOTPStep(ctx, userID, step)
}

func (w *mfaLazyUsers) LoadAttempts(ctx context.Context, userID string) (mfa.Attempts, error) {
	if err := w.ensure(ctx, userID); err != nil {
		return mfa.Attempts{}, err
	}
	return w.Store.LoadAttempts(ctx, userID)
}

func (w *mfaLazyUsers) SaveAttempts(ctx context.Context, userID string, prevVersion int64, next mfa.Attempts) (bool, error) {
	if err := w.ensure(ctx, userID); err != nil {
		return false, err
	}
	return w.Store.SaveAttempts(ctx, userID, prevVersion, next)
}

// TestMFA runs the enrollment, replay, recovery and administration cases on
// every backend, each on a fresh store.
func TestMFA(t *testing.T) {
	cases := []struct {
		name string
		run  func(*testing.T, *store.Store)
	}{
		{"Enrollment/PendingThenConfirm", testMFAEnrollment},
		{"Enrollment/ConfirmNeedsPending", testMFAConfirmNeedsPending},
		{"Enrollment/JoinsTransaction", testMFAEnrollmentInTx},
		{"Enrollment/SecretBoundToRow", testMFASealedSecret},
		{"TOTPStep/ConfirmingStepNotReplayable", testMFAConfirmStepBurned},
		{"TOTPStep/PendingNeverAdvances", testMFAPendingNoStep},
		{"TOTPStep/ConcurrentOneWinner", testMFAStepRace},
		{"TOTPStep/ConfirmKeepsLaterStep", testMFAConfirmKeepsLaterStep},
		{"AcceptStep/BurnsAndResets", testMFAAcceptStep},
		{"AcceptStep/RefusedByLockStepOrPending", testMFAAcceptStepRefused},
		{"AcceptStep/ConcurrentOneWinner", testMFAAcceptStepRace},
		{"RecoveryKey/WrongReplacedSpent", testMFARecoveryKey},
		{"RecoveryKey/ConcurrentOneWinner", testMFARecoveryRace},
		{"Reset/RemovesEverything", testMFAReset},
		{"Status/TenantList", testMFAStatus},
		{"Users/DeleteCascades", testMFACascade},
	}
	for name, open := range storetest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
			}
		})
	}
}

func testMFAEnrollment(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := storetest.NewUser(t, s, storetest.NewTenant(t, s).ID)

	if _, err := s.PendingAuthenticator(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PendingAuthenticator before enrolling: err = %v, want ErrNotFound", err)
	}
	if err := s.BeginEnrollment(ctx, u.ID, "secret-1"); err != nil {
		t.Fatalf("BeginEnrollment: %v", err)
	}
	// Starting again replaces the pending secret.
	if err := s.BeginEnrollment(ctx, u.ID, "secret-2"); err != nil {
		t.Fatalf("BeginEnrollment again: %v", err)
	}
	if got, err := s.PendingAuthenticator(ctx, u.ID); err != nil || got != "secret-2" {
		t.Errorf("PendingAuthenticator = %q, %v; want sealed-2", got, err)
	}
	if _, _, err := s.ActiveAuthenticator(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ActiveAuthenticator while pending: err = %v, want ErrNotFound", err)
	}
	mfaWantActive(t, s, u.ID, false)

	// A code checked against a secret that was since replaced (another tab
	// started over) confirms nothing.
	if err := s.ConfirmEnrollment(ctx, u.ID, "secret-1", 5000, mfaHash("paper")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConfirmEnrollment with a replaced secret: err = %v, want ErrNotFound", err)
	}
	if err := s.ConfirmEnrollment(ctx, u.ID, "secret-2", 5000, mfaHash("paper")); err != nil {
		t.Fatalf("ConfirmEnrollment: %v", err)
	}
	secret, last, err := s.ActiveAuthenticator(ctx, u.ID)
	if err != nil || secret != "secret-2" || last != 5000 {
		t.Errorf("ActiveAuthenticator = %q, %d, %v; want secret-2, 5000", string(secret), last, err)
	}
	mfaWantActive(t, s, u.ID, true)
	if _, err := s.PendingAuthenticator(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PendingAuthenticator after confirming: err = %v, want ErrNotFound", err)
	}
	if err := s.ConfirmEnrollment(ctx, u.ID, "secret-2", 5001, mfaHash("other")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second ConfirmEnrollment: err = %v, want ErrNotFound", err)
	}
	// A confirmed authenticator is not replaced by a new enrollment.
	if err := s.BeginEnrollment(ctx, u.ID, "secret-3"); !errors.Is(err, store.ErrMFAActive) {
		t.Errorf("BeginEnrollment with an active authenticator: err = %v, want ErrMFAActive", err)
	}
	if secret, last, err := s.ActiveAuthenticator(ctx, u.ID); err != nil || secret != "secret-2" || last != 5000 {
		t.Errorf("after refused BeginEnrollment: ActiveAuthenticator = %q, %d, %v; want unchanged", string(secret), last, err)
	}
	// The recovery key written by the confirmation is the one that works.
	if ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("other")); err != nil || ok {
		t.Errorf("UseRecoveryKey(key of the refused confirmation) = %v, %v; want false", ok, err)
	}
	if ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("paper")); err != nil || !ok {
		t.Errorf("UseRecoveryKey(confirmed key) = %v, %v; want true", ok, err)
	}
}

func testMFAConfirmNeedsPending(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := storetest.NewUser(t, s, storetest.NewTenant(t, s).ID)
	if err := s.ConfirmEnrollment(ctx, u.ID, "secret", 5000, mfaHash("paper")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ConfirmEnrollment without enrollment: err = %v, want ErrNotFound", err)
	}
	if ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("paper")); err != nil || ok {
		t.Errorf("refused ConfirmEnrollment left a recovery key: UseRecoveryKey = %v, %v", ok, err)
	}
	if err := s.BeginEnrollment(ctx, u.ID, "secret"); err != nil {
		t.Fatalf("BeginEnrollment: %v", err)
	}
	if err := s.ConfirmEnrollment(ctx, u.ID, "secret", 5000, nil); err == nil {
		t.Error("ConfirmEnrollment with an empty recovery hash succeeded")
	}
	mfaWantActive(t, s, u.ID, false)
}

func testMFAEnrollmentInTx(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := storetest.NewUser(t, s, storetest.NewTenant(t, s).ID)
	abort := errors.New("abort")
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.BeginEnrollment(ctx, u.ID, "secret"); err != nil {
			return err
		}
		if err := s.ConfirmEnrollment(ctx, u.ID, "secret", 5000, mfaHash("paper")); err != nil {
			return err
		}
		if ok, err := s.HasActiveAuthenticator(ctx, u.ID); err != nil || !ok {
			t.Errorf("inside the transaction: HasActiveAuthenticator = %v, %v; want true", ok, err)
		}
		if ok, err := s.SaveAttempts(ctx, u.ID, 0, mfa.Attempts{Failures: 1, Version: 1}); err != nil || !ok {
			t.Errorf("inside the transaction: SaveAttempts = %v, %v", ok, err)
		}
		return abort
	})
	if !errors.Is(err, abort) {
		t.Fatalf("InTx = %v, want the abort error", err)
	}
	mfaWantActive(t, s, u.ID, false)
	if _, err := s.PendingAuthenticator(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after rollback: PendingAuthenticator err = %v, want ErrNotFound", err)
	}
	if a, err := s.LoadAttempts(ctx, u.ID); err != nil || a.Version != 0 {
		t.Errorf("after rollback: LoadAttempts = %+v, %v; want zero", a, err)
	}
	if ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("paper")); err != nil || ok {
		t.Errorf("after rollback: UseRecoveryKey = %v, %v; want false", ok, err)
	}
}

func testMFASealedSecret(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn := storetest.NewTenant(t, s)
	u, other := storetest.NewUser(t, s, tn.ID), storetest.NewUser(t, s, tn.ID)
	secret := mfa.Secret("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	if err := s.BeginEnrollment(ctx, u.ID, secret); err != nil {
		t.Fatalf("BeginEnrollment: %v", err)
	}
	if err := s.BeginEnrollment(ctx, other.ID, "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"); err != nil {
		t.Fatalf("BeginEnrollment: %v", err)
	}
	var sealed string
	if err := s.DB().Raw(`SELECT secret FROM mfa_authenticators WHERE user_id = ?`, u.ID).Scan(&sealed).Error; err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v1.") || strings.Contains(sealed, string(secret)) {
		t.Errorf("stored secret %q is not sealed", sealed)
	}
	if got, err := s.PendingAuthenticator(ctx, u.ID); err != nil || got != secret {
		t.Errorf("PendingAuthenticator(own row) = %q, %v", string(got), err)
	}
	// Someone with database access copies the value to another user's row.
	if err := s.DB().Exec(`UPDATE mfa_authenticators SET secret = ? WHERE user_id = ?`, sealed, other.ID).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.PendingAuthenticator(ctx, other.ID); !errors.Is(err, secrets.ErrDecrypt) {
		t.Errorf("PendingAuthenticator(value copied to another row) err = %v, want ErrDecrypt", err)
	}
}

func testMFAConfirmStepBurned(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := mfaEnrolled(t, s, storetest.NewTenant(t, s).ID, 5000)
	for _, step := range []int64{5000, 4999} {
		if err := s.AdvanceTOTPStep(ctx, u.ID, step); !errors.Is(err, mfa.ErrCodeReused) {
			t.Errorf("AdvanceTOTPStep(%d) after confirming at 5000: err = %v, want ErrCodeReused", step, err)
		}
	}
	if err := s.AdvanceTOTPStep(ctx, u.ID, 5001); err != nil {
		t.Fatalf("AdvanceTOTPStep(5001): %v", err)
	}
	if err := s.AdvanceTOTPStep(ctx, u.ID, 5001); !errors.Is(err, mfa.ErrCodeReused) {
		t.Errorf("AdvanceTOTPStep(5001) twice: err = %v, want ErrCodeReused", err)
	}
	if _, last, err := s.ActiveAuthenticator(ctx, u.ID); err != nil || last != 5001 {
		t.Errorf("ActiveAuthenticator last step = %d, %v; want 5001", last, err)
	}
}

func testMFAPendingNoStep(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn := storetest.NewTenant(t, s)
	none, pending := storetest.NewUser(t, s, tn.ID), storetest.NewUser(t, s, tn.ID)
	if err := s.BeginEnrollment(ctx, pending.ID, "secret"); err != nil {
		t.Fatalf("BeginEnrollment: %v", err)
	}
	for _, id := range []string{none.ID, pending.ID, "no-such-user"} {
		if err := s.AdvanceTOTPStep(ctx, id, 5000); !errors.Is(err, mfa.ErrCodeReused) {
			t.Errorf("AdvanceTOTPStep without a confirmed authenticator: err = %v, want ErrCodeReused", err)
		}
	}
	if err := s.ConfirmEnrollment(ctx, pending.ID, "secret", 4000, mfaHash("paper")); err != nil {
		t.Fatalf("ConfirmEnrollment: %v", err)
	}
	if err := s.AdvanceTOTPStep(ctx, pending.ID, 5000); err != nil {
		t.Errorf("AdvanceTOTPStep after confirming: %v", err)
	}
}

func testMFAStepRace(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := mfaEnrolled(t, s, storetest.NewTenant(t, s).ID, 4999)
	errs := mfatest.Race(20, func() error { return s.AdvanceTOTPStep(ctx, u.ID, 5000) })
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, mfa.ErrCodeReused):
			t.Errorf("racer: err = %v, want nil or ErrCodeReused", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d racers burned step 5000, want exactly 1", wins, len(errs))
	}
}

func testMFARecoveryKey(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := mfaEnrolled(t, s, storetest.NewTenant(t, s).ID, 5000) // recovery key "paper"
	for _, h := range [][]byte{mfaHash("wrong"), nil, {}} {
		if ok, err := s.UseRecoveryKey(ctx, u.ID, h); err != nil || ok {
			t.Errorf("UseRecoveryKey(%x) = %v, %v; want false", h, ok, err)
		}
	}
	mfaWantActive(t, s, u.ID, true) // a wrong key removes nothing

	if err := s.ReplaceRecoveryKey(ctx, u.ID, mfaHash("paper-2")); err != nil {
		t.Fatalf("ReplaceRecoveryKey: %v", err)
	}
	if ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("paper")); err != nil || ok {
		t.Errorf("UseRecoveryKey(replaced key) = %v, %v; want false", ok, err)
	}
	mfaWantActive(t, s, u.ID, true)
	if ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("paper-2")); err != nil || !ok {
		t.Fatalf("UseRecoveryKey(current key) = %v, %v; want true", ok, err)
	}
	mfaWantActive(t, s, u.ID, false)
	if ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("paper-2")); err != nil || ok {
		t.Errorf("UseRecoveryKey(spent key) = %v, %v; want false", ok, err)
	}
	// Re-enrollment writes a new key; the spent one stays spent.
	if err := s.BeginEnrollment(ctx, u.ID, "secret-new"); err != nil {
		t.Fatalf("BeginEnrollment after recovery: %v", err)
	}
	if err := s.ConfirmEnrollment(ctx, u.ID, "secret-new", 6000, mfaHash("paper-3")); err != nil {
		t.Fatalf("ConfirmEnrollment after recovery: %v", err)
	}
	if ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("paper-2")); err != nil || ok {
		t.Errorf("UseRecoveryKey(old spent key) after re-enrolling = %v, %v; want false", ok, err)
	}
	if ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("paper-3")); err != nil || !ok {
		t.Errorf("UseRecoveryKey(new key) = %v, %v; want true", ok, err)
	}
	if err := s.ReplaceRecoveryKey(ctx, u.ID, nil); err == nil {
		t.Error("ReplaceRecoveryKey with an empty hash succeeded")
	}
}

func testMFARecoveryRace(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := mfaEnrolled(t, s, storetest.NewTenant(t, s).ID, 5000)
	const racers = 10

	// A transaction holding the key's row (PostgreSQL) or the write lock
	// (SQLite) makes the racers pile up: on PostgreSQL every one of them has
	// read the key as unused and waits in its UPDATE, so only the
	// conditional UPDATE can stop a second use.
	holdCtx, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceRecoveryKey(holdCtx, u.ID, mfaHash("paper")); err != nil {
		_ = s.Rollback(holdCtx)
		t.Fatal(err)
	}
	var mu sync.Mutex
	wins := 0
	done := make(chan []error)
	go func() {
		done <- mfatest.Race(racers, func() error {
			ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("paper"))
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
			return err
		})
	}()
	mfaAwaitBlocked(t, s, "UPDATE mfa_recovery_keys", racers)
	if err := s.Commit(holdCtx); err != nil {
		t.Fatal(err)
	}
	errs := <-done
	for _, err := range errs {
		if err != nil {
			t.Errorf("racer: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d racers spent the recovery key, want exactly 1", wins, len(errs))
	}
	mfaWantActive(t, s, u.ID, false)
	if _, err := s.PendingAuthenticator(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after recovery: PendingAuthenticator err = %v, want ErrNotFound (authenticator removed)", err)
	}
}

func testMFAReset(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn := storetest.NewTenant(t, s)
	u := mfaEnrolled(t, s, tn.ID, 5000)
	keep := mfaEnrolled(t, s, tn.ID, 5000)
	for _, id := range []string{u.ID, keep.ID} {
		if ok, err := s.SaveAttempts(ctx, id, 0, mfa.Attempts{Failures: 3, Version: 1}); err != nil || !ok {
			t.Fatalf("SaveAttempts = %v, %v", ok, err)
		}
	}
	if err := s.ResetMFA(ctx, u.ID); err != nil {
		t.Fatalf("ResetMFA: %v", err)
	}
	mfaWantActive(t, s, u.ID, false)
	if a, err := s.LoadAttempts(ctx, u.ID); err != nil || a != (mfa.Attempts{}) {
		t.Errorf("after reset: LoadAttempts = %+v, %v; want zero", a, err)
	}
	if ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("paper")); err != nil || ok {
		t.Errorf("after reset: UseRecoveryKey = %v, %v; want false", ok, err)
	}
	if _, err := s.UserByID(ctx, u.ID); err != nil {
		t.Errorf("after reset: UserByID: %v", err)
	}
	// Resetting nothing is fine; a pending enrollment is reset too.
	if err := s.ResetMFA(ctx, u.ID); err != nil {
		t.Errorf("second ResetMFA: %v", err)
	}
	if err := s.BeginEnrollment(ctx, u.ID, "secret"); err != nil {
		t.Fatalf("BeginEnrollment after reset: %v", err)
	}
	if err := s.ResetMFA(ctx, u.ID); err != nil {
		t.Fatalf("ResetMFA of a pending enrollment: %v", err)
	}
	if _, err := s.PendingAuthenticator(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after reset: PendingAuthenticator err = %v, want ErrNotFound", err)
	}
	// Other users keep theirs.
	mfaWantActive(t, s, keep.ID, true)
	if a, err := s.LoadAttempts(ctx, keep.ID); err != nil || a.Failures != 3 {
		t.Errorf("other user: LoadAttempts = %+v, %v; want Failures 3", a, err)
	}
}

func testMFAStatus(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn, otherTenant := storetest.NewTenant(t, s), storetest.NewTenant(t, s)
	active := mfaEnrolled(t, s, tn.ID, 5000)
	activeLocked := mfaEnrolled(t, s, tn.ID, 5000)
	pending := storetest.NewUser(t, s, tn.ID)
	lockExpired := storetest.NewUser(t, s, tn.ID)
	none := storetest.NewUser(t, s, tn.ID)
	outsider := mfaEnrolled(t, s, otherTenant.ID, 5000)
	if err := s.BeginEnrollment(ctx, pending.ID, "secret"); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	for id, a := range map[string]mfa.Attempts{
		activeLocked.ID: {Lockouts: 1, LockedUntil: until.In(time.FixedZone("UTC+05:30", 5*3600+30*60)), Version: 1},
		lockExpired.ID:  {Failures: 2, Lockouts: 1, LockedUntil: time.Now().Add(-time.Minute), Version: 1},
		outsider.ID:     {Lockouts: 1, LockedUntil: until, Version: 1},
	} {
		if ok, err := s.SaveAttempts(ctx, id, 0, a); err != nil || !ok {
			t.Fatalf("SaveAttempts = %v, %v", ok, err)
		}
	}

	got, err := s.MFAStatus(ctx, tn.ID)
	if err != nil {
		t.Fatalf("MFAStatus: %v", err)
	}
	if len(got) != 5 {
		t.Errorf("MFAStatus has %d users, want the tenant's 5: %v", len(got), got)
	}
	if _, ok := got[outsider.ID]; ok {
		t.Error("MFAStatus lists a user of another tenant")
	}
	for _, w := range []struct {
		name   string
		id     string
		active bool
		locked bool
	}{
		{"active", active.ID, true, false},
		{"active and locked", activeLocked.ID, true, true},
		{"pending", pending.ID, false, false},
		{"lock expired", lockExpired.ID, false, false},
		{"nothing", none.ID, false, false},
	} {
		st, ok := got[w.id]
		switch {
		case !ok:
			t.Errorf("%s: missing from MFAStatus", w.name)
		case st.Active != w.active:
			t.Errorf("%s: Active = %v, want %v", w.name, st.Active, w.active)
		case w.locked && (st.LockedUntil == nil || !st.LockedUntil.Equal(until) || st.LockedUntil.Location() != time.UTC):
			t.Errorf("%s: LockedUntil = %v, want %v in UTC", w.name, st.LockedUntil, until)
		case !w.locked && st.LockedUntil != nil:
			t.Errorf("%s: LockedUntil = %v, want nil", w.name, st.LockedUntil)
		}
	}

	empty, err := s.MFAStatus(ctx, "no-such-tenant")
	if err != nil || len(empty) != 0 {
		t.Errorf("MFAStatus(unknown tenant) = %v, %v; want empty", empty, err)
	}
}

func testMFACascade(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := mfaEnrolled(t, s, storetest.NewTenant(t, s).ID, 5000)
	if ok, err := s.SaveAttempts(ctx, u.ID, 0, mfa.Attempts{Failures: 1, Version: 1}); err != nil || !ok {
		t.Fatalf("SaveAttempts = %v, %v", ok, err)
	}
	if err := s.DB().WithContext(ctx).Exec("DELETE FROM users WHERE id = ?", u.ID).Error; err != nil {
		t.Fatalf("delete user: %v", err)
	}
	for _, table := range []string{"mfa_authenticators", "mfa_recovery_keys", "mfa_attempts"} {
		var n int64
		if err := s.DB().WithContext(ctx).Table(table).Where("user_id = ?", u.ID).Count(&n).Error; err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		if n != 0 {
			t.Errorf("%s keeps %d rows of a deleted user", table, n)
		}
	}
	// And no row can point at a user that does not exist.
	if err := s.BeginEnrollment(ctx, u.ID, "secret"); err == nil {
		t.Error("BeginEnrollment for a deleted user succeeded")
	}
}

// --- helpers ---

// mfaEnrolled is a user with an authenticator confirmed at step and the
// recovery key "paper".
func mfaEnrolled(t testing.TB, s *store.Store, tenantID string, step int64) *store.User {
	t.Helper()
	u := storetest.NewUser(t, s, tenantID)
	if err := s.BeginEnrollment(t.Context(), u.ID, mfa.Secret("secret-"+u.ID)); err != nil {
		t.Fatalf("BeginEnrollment: %v", err)
	}
	if err := s.ConfirmEnrollment(t.Context(), u.ID, mfa.Secret("secret-"+u.ID), step, mfaHash("paper")); err != nil {
		t.Fatalf("ConfirmEnrollment: %v", err)
	}
	return u
}

func mfaHash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

func mfaWantActive(t testing.TB, s *store.Store, userID string, want bool) {
	t.Helper()
	ctx := t.Context()
	got, err := s.HasActiveAuthenticator(ctx, userID)
	if err != nil || got != want {
		t.Errorf("HasActiveAuthenticator = %v, %v; want %v", got, err, want)
	}
	full, _, err := s.ActiveAuthenticator(ctx, userID)
	if want && err != nil || !want && !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ActiveAuthenticator: err = %v (want active: %v)", err, want)
	}
	secret, err := s.ActiveSecret(ctx, userID)
	if want && (err != nil || secret != full || secret == "") || !want && !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ActiveSecret = %q, %v; want %q (active: %v)", string(secret), err, string(full), want)
	}
}

// mfaAwaitBlocked waits until n statements starting with prefix wait for a
// lock on PostgreSQL (bounded, so a slow machine only weakens the case); on
// SQLite, where waiting happens in the busy handler, it just gives the
// racers a moment to start.
func mfaAwaitBlocked(t testing.TB, s *store.Store, prefix string, n int) {
	t.Helper()
	if s.Dialect() != migrations.Postgres {
		time.Sleep(100 * time.Millisecond)
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int64
		err := s.DB().WithContext(t.Context()).Raw(
			`SELECT count(*) FROM pg_stat_activity
			  WHERE wait_event_type = 'Lock' AND query LIKE ?`, prefix+"%").Scan(&waiting).Error
		if err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		if waiting >= int64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("only %d of %d racers waiting for the lock after 10s; going on", waiting, n)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGuardOnStoreConcurrency runs mfa.Guard on the real store, where
// CheckCode takes the locked, one-transaction path: twenty simultaneous
// wrong codes get exactly five evaluated (the fifth locks), and the same
// right code sent twenty times at once is accepted exactly once.
func TestGuardOnStoreConcurrency(t *testing.T) {
	for name, open := range storetest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			tenant := storetest.NewTenant(t, s)
			secret, err := mfa.NewSecret(nil)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC()
			g := &mfa.Guard{Store: s, Clock: mfa.ClockFunc(func() time.Time { return now })}
			newUser := func() string {
				u := storetest.NewUser(t, s, tenant.ID)
				if err := s.BeginEnrollment(ctx, u.ID, "secret"); err != nil {
					t.Fatal(err)
				}
				if err := s.ConfirmEnrollment(ctx, u.ID, "secret", 0, mfaHash("k")); err != nil {
					t.Fatal(err)
				}
				return u.ID
			}
			burst := func(userID, code string) (ok, wrong, locked, lockedNow int) {
				for _, err := range mfatest.Race(20, func() error {
					_, err := g.CheckCode(ctx, userID, secret, code)
					return err
				}) {
					var lo *mfa.LockedOutError
					switch {
					case err == nil:
						ok++
					case errors.As(err, &lo) && lo.JustLocked:
						lockedNow++
					case errors.Is(err, mfa.ErrLockedOut):
						locked++
					case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrCodeReused):
						wrong++
					default:
						t.Errorf("CheckCode: %v", err)
					}
				}
				return
			}

			wrongCode, _ := mfa.GenerateCode(secret, now.Add(-time.Hour))
			if ok, wrong, locked, lockedNow := burst(newUser(), wrongCode); ok != 0 || wrong != 4 || lockedNow != 1 || locked != 15 {
				t.Errorf("20 wrong codes at once: %d accepted, %d refused, %d locked out, %d locking; want 0, 4, 15, 1", ok, wrong, locked, lockedNow)
			}
			right, _ := mfa.GenerateCode(secret, now)
			if ok, _, _, _ := burst(newUser(), right); ok != 1 {
				t.Errorf("the same right code 20 times at once: accepted %d times, want once", ok)
			}
		})
	}
}

// testMFAConfirmKeepsLaterStep: the replay guard is per user and only moves
// forward, so re-enrolling confirms with a step not later than the last
// accepted one without lowering it.
func testMFAConfirmKeepsLaterStep(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := mfaEnrolled(t, s, storetest.NewTenant(t, s).ID, 6000)
	if ok, err := s.UseRecoveryKey(ctx, u.ID, mfaHash("paper")); err != nil || !ok {
		t.Fatalf("UseRecoveryKey = %v, %v", ok, err)
	}
	if err := s.BeginEnrollment(ctx, u.ID, "secret-new"); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmEnrollment(ctx, u.ID, "secret-new", 5999, mfaHash("paper-2")); err != nil {
		t.Fatal(err)
	}
	if _, last, err := s.ActiveAuthenticator(ctx, u.ID); err != nil || last != 6000 {
		t.Errorf("last step after re-enrolling = %d, %v; want 6000", last, err)
	}
	if err := s.AdvanceTOTPStep(ctx, u.ID, 6000); !errors.Is(err, mfa.ErrCodeReused) {
		t.Errorf("AdvanceTOTPStep(6000) = %v, want ErrCodeReused", err)
	}
}

// testMFAAcceptStep: one statement burns the step and bumps the version,
// so a compare-and-swap prepared before it loses; a counter with failures
// is left to the Guard's locked path.
func testMFAAcceptStep(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := mfaEnrolled(t, s, storetest.NewTenant(t, s).ID, 5000)
	cur, err := s.LoadAttempts(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SaveAttempts(ctx, u.ID, cur.Version, mfa.Attempts{Failures: 3, Version: cur.Version + 1}); err != nil || !ok {
		t.Fatalf("SaveAttempts = %v, %v", ok, err)
	}
	if ok, err := s.AcceptStep(ctx, u.ID, 5001); err != nil || ok {
		t.Fatalf("AcceptStep(5001) with 3 failures = %v, %v; want false (the locked path reports them)", ok, err)
	}
	cur, _ = s.LoadAttempts(ctx, u.ID)
	if ok, err := s.SaveAttempts(ctx, u.ID, cur.Version, mfa.Attempts{Version: cur.Version + 1}); err != nil || !ok {
		t.Fatalf("SaveAttempts(clean) = %v, %v", ok, err)
	}
	before, _ := s.LoadAttempts(ctx, u.ID)

	if ok, err := s.AcceptStep(ctx, u.ID, 5001); err != nil || !ok {
		t.Fatalf("AcceptStep(5001) = %v, %v; want true", ok, err)
	}
	after, err := s.LoadAttempts(ctx, u.ID)
	if err != nil || after.Failures != 0 || after.Lockouts != 0 || !after.LockedUntil.IsZero() || after.Version != before.Version+1 {
		t.Errorf("counter after AcceptStep = %+v, %v; want clean at version %d", after, err, before.Version+1)
	}
	if ok, err := s.SaveAttempts(ctx, u.ID, before.Version, mfa.Attempts{Failures: 4, Version: before.Version + 1}); err != nil || ok {
		t.Errorf("compare-and-swap from before AcceptStep = %v, %v; want lost", ok, err)
	}
	if _, last, _ := s.ActiveAuthenticator(ctx, u.ID); last != 5001 {
		t.Errorf("last step = %d, want 5001", last)
	}
	for _, step := range []int64{5001, 5000, 0} {
		if ok, err := s.AcceptStep(ctx, u.ID, step); err != nil || ok {
			t.Errorf("AcceptStep(%d) after 5001 = %v, %v; want false", step, ok, err)
		}
	}
	if err := s.AdvanceTOTPStep(ctx, u.ID, 5001); !errors.Is(err, mfa.ErrCodeReused) {
		t.Errorf("AdvanceTOTPStep(5001) after AcceptStep = %v, want ErrCodeReused", err)
	}
}

// testMFAAcceptStepRefused: any lock on the row (even one that has run
// out: the Guard clears it on its locked path), and users without a
// confirmed authenticator, get false and no change.
func testMFAAcceptStepRefused(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn := storetest.NewTenant(t, s)
	for _, until := range []time.Time{time.Now().Add(time.Minute), time.Now().Add(-time.Minute)} {
		u := mfaEnrolled(t, s, tn.ID, 5000)
		cur, _ := s.LoadAttempts(ctx, u.ID)
		locked := mfa.Attempts{Failures: 5, Lockouts: 1, LockedUntil: until, Version: cur.Version + 1}
		if ok, err := s.SaveAttempts(ctx, u.ID, cur.Version, locked); err != nil || !ok {
			t.Fatalf("SaveAttempts = %v, %v", ok, err)
		}
		if ok, err := s.AcceptStep(ctx, u.ID, 5001); err != nil || ok {
			t.Errorf("AcceptStep with locked_until %s = %v, %v; want false", until, ok, err)
		}
		if a, _ := s.LoadAttempts(ctx, u.ID); a.Failures != 5 || a.Version != locked.Version {
			t.Errorf("refused AcceptStep changed the counter: %+v", a)
		}
		if _, last, _ := s.ActiveAuthenticator(ctx, u.ID); last != 5000 {
			t.Errorf("refused AcceptStep burned a step: last = %d", last)
		}
	}
	none, pending := storetest.NewUser(t, s, tn.ID), storetest.NewUser(t, s, tn.ID)
	if err := s.BeginEnrollment(ctx, pending.ID, "secret"); err != nil {
		t.Fatal(err)
	}
	// A counter row alone (a failed enrollment code) is not an authenticator.
	if ok, err := s.SaveAttempts(ctx, pending.ID, 0, mfa.Attempts{Failures: 1, Version: 1}); err != nil || !ok {
		t.Fatalf("SaveAttempts = %v, %v", ok, err)
	}
	for _, id := range []string{none.ID, pending.ID, "no-such-user"} {
		if ok, err := s.AcceptStep(ctx, id, 5000); err != nil || ok {
			t.Errorf("AcceptStep without a confirmed authenticator = %v, %v; want false", ok, err)
		}
	}
	// Reset takes the counter, and with it the step, away.
	u := mfaEnrolled(t, s, tn.ID, 5000)
	if err := s.ResetMFA(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.AcceptStep(ctx, u.ID, 5001); err != nil || ok {
		t.Errorf("AcceptStep after ResetMFA = %v, %v; want false", ok, err)
	}
}

func testMFAAcceptStepRace(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := mfaEnrolled(t, s, storetest.NewTenant(t, s).ID, 4999)
	wins := 0
	for _, err := range mfatest.Race(20, func() error {
		ok, err := s.AcceptStep(ctx, u.ID, 5000)
		if err == nil && !ok {
			return mfa.ErrCodeReused
		}
		return err
	}) {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, mfa.ErrCodeReused):
			t.Errorf("racer: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of 20 racers accepted step 5000, want exactly 1", wins)
	}
}
