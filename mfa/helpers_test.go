package mfa_test

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/mfa"
)

// t0 is the fixed start of every test clock: 15 s into a 30 s step.
var t0 = time.Date(2026, 5, 1, 12, 0, 15, 0, time.UTC)

// fakeClock is a Clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// memStore is an in-memory mfa.Store honouring the contract: step advance
// and compare-and-swap under one mutex. It counts AdvanceTOTPStep calls so
// tests can tell whether a code was evaluated and accepted.
type memStore struct {
	mu       sync.Mutex
	steps    map[string]int64
	attempts map[string]mfa.Attempts
	advances int
}

func newMemStore() *memStore {
	return &memStore{steps: map[string]int64{}, attempts: map[string]mfa.Attempts{}}
}

func (s *memStore) AdvanceTOTPStep(_ context.Context, userID string, step int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advances++
	if last, ok := s.steps[userID]; ok && step <= last {
		return mfa.ErrCodeReused
	}
	s.steps[userID] = step
	return nil
}

func (s *memStore) LoadAttempts(_ context.Context, userID string) (mfa.Attempts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[userID], nil
}

func (s *memStore) SaveAttempts(_ context.Context, userID string, prevVersion int64, next mfa.Attempts) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempts[userID].Version != prevVersion {
		return false, nil
	}
	next.Version = prevVersion + 1
	s.attempts[userID] = next
	return true, nil
}

func (s *memStore) advanceCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advances
}

func (s *memStore) get(userID string) mfa.Attempts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[userID]
}

// seeded returns a deterministic randomness source.
func seeded(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// testSecret returns a fixed secret.
func testSecret(t testing.TB) mfa.Secret {
	t.Helper()
	s, err := mfa.NewSecret(seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustCode returns the code of s at time at.
func mustCode(t testing.TB, s mfa.Secret, at time.Time) string {
	t.Helper()
	c, err := mfa.GenerateCode(s, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode returns a well-formed code that does not match s around now.
func wrongCode(t testing.TB, s mfa.Secret, now time.Time) string {
	t.Helper()
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if _, ok := mfa.MatchStep(s, c, now); !ok {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// reader that always fails.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// acceptStore is a memStore that also implements mfa.StepAcceptor, as
// idp/store does, and records every step offered to AcceptStep.
type acceptStore struct {
	*memStore
	offered []int64
}

func (s *acceptStore) AcceptStep(_ context.Context, userID string, step int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offered = append(s.offered, step)
	a := s.attempts[userID]
	if step <= s.steps[userID] || a.Failures != 0 || a.Lockouts != 0 || !a.LockedUntil.IsZero() {
		return false, nil
	}
	s.steps[userID] = step
	s.attempts[userID] = mfa.Attempts{Version: a.Version + 1}
	return true, nil
}

// takeOffered returns the steps offered since the last call.
func (s *acceptStore) takeOffered() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.offered
	s.offered = nil
	return o
}

func (s *acceptStore) lastStep(userID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.steps[userID]
}
