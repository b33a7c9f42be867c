package store_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/mfa"
)

// BenchmarkCodeVerification measures mfa.Guard.CheckCode against the real
// store, every call a success: the code matched in memory, then one
// conditional UPDATE of the user's counter row (Store.AcceptStep) that
// burns the step for the replay guard and resets the counter. Run with
// eight workers:
//
//	PORTCULLIS_TEST_POSTGRES_DSN=postgres://… \
//	go test ./idp/store -run '^$' -bench 'CodeVerification|AdvanceTOTPStep' -cpu 8
//
// Each worker owns codeBenchUsersPerWorker users and its own Guard, whose
// clock moves one step forward after every round over them (a Guard keeps
// no state, so one per worker is what replicas with their own clocks do):
// so every code is of a step its user has not used, and no two workers
// touch the same rows. Computing the code (one HMAC) is inside the timing.
func BenchmarkCodeVerification(b *testing.B) {
	forCodeBenchBackends(b, func(b *testing.B, cb *codeBench) {
		ctx := context.Background()
		cb.run(b, func(users []codeBenchUser) func(i int) error {
			now := cb.start
			g := &mfa.Guard{Store: cb.s, Clock: mfa.ClockFunc(func() time.Time { return now })}
			return func(i int) error {
				u := users[i%len(users)]
				if i > 0 && i%len(users) == 0 {
					now = now.Add(mfa.Period)
				}
				code, err := mfa.GenerateCode(u.secret, now)
				if err != nil {
					return err
				}
				if _, err := g.CheckCode(ctx, u.id, u.secret, code); err != nil {
					return fmt.Errorf("CheckCode for %s at %s: %w", u.id, now, err)
				}
				return nil
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
	})
}

// BenchmarkAdvanceTOTPStep is the replay guard's write alone (one
// conditional UPDATE, committed), in the same setting as
// BenchmarkCodeVerification: the yardstick of what the database gives
// right now. CheckCode's common path is one statement of the same kind, so
// the ratio of the two should be close to 1.
func BenchmarkAdvanceTOTPStep(b *testing.B) {
	forCodeBenchBackends(b, func(b *testing.B, cb *codeBench) {
		ctx := context.Background()
		cb.run(b, func(users []codeBenchUser) func(i int) error {
			step := mfa.Step(cb.start)
			return func(i int) error {
				u := users[i%len(users)]
				if i > 0 && i%len(users) == 0 {
					step++
				}
				return cb.s.AdvanceTOTPStep(ctx, u.id, step)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	})
}

const codeBenchUsersPerWorker = 16

type codeBenchUser struct {
	id     string
	secret mfa.Secret
}

// codeBench is a store with codeBenchUsersPerWorker enrolled users per
// worker of b.RunParallel (GOMAXPROCS of them).
type codeBench struct {
	s     *store.Store
	pool  chan []codeBenchUser
	all   []codeBenchUser
	start time.Time // mid-step; every user's first step is Step(start)
}

func forCodeBenchBackends(b *testing.B, f func(b *testing.B, cb *codeBench)) {
	forEachBenchStore(b, func(b *testing.B, s *store.Store) {
		workers := runtime.GOMAXPROCS(0)
		cb := &codeBench{s: s, pool: make(chan []codeBenchUser, workers),
			start: mfa.StepTime(mfa.Step(time.Now())).Add(mfa.Period / 2)}
		tn := storetest.NewTenant(b, s)
		for range workers {
			users := make([]codeBenchUser, codeBenchUsersPerWorker)
			for i := range users {
				users[i] = enrollCodeBenchUser(b, s, tn.ID)
			}
			cb.all = append(cb.all, users...)
			cb.pool <- users
		}
		f(b, cb)
	})
}

// run times b.N calls of the function newWorker returns for each worker's
// users (i counts that worker's calls), then checks that every call
// burned one step: a user's k-th call used step Step(start)+k, so the
// last steps add up to b.N.
func (cb *codeBench) run(b *testing.B, newWorker func(users []codeBenchUser) func(i int) error) {
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var users []codeBenchUser
		select {
		case users = <-cb.pool:
		default:
			b.Error("more workers than GOMAXPROCS")
			return
		}
		call := newWorker(users)
		for i := 0; pb.Next(); i++ {
			if err := call(i); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	var burned int64
	for _, u := range cb.all {
		_, last, err := cb.s.ActiveAuthenticator(context.Background(), u.id)
		if err != nil {
			b.Fatal(err)
		}
		if last > 0 {
			burned += last - mfa.Step(cb.start) + 1
		}
	}
	if !b.Failed() && burned != int64(b.N) {
		b.Errorf("%d steps burned, want b.N = %d", burned, b.N)
	}
}

// enrollCodeBenchUser creates a user with a confirmed authenticator.
func enrollCodeBenchUser(b *testing.B, s *store.Store, tenantID string) codeBenchUser {
	b.Helper()
	ctx := context.Background()
	u := storetest.NewUser(b, s, tenantID)
	secret, err := mfa.NewSecret(nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.BeginEnrollment(ctx, u.ID, secret); err != nil {
		b.Fatal(err)
	}
	key, err := mfa.NewRecoveryKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.ConfirmEnrollment(ctx, u.ID, secret, 0, mfa.HashRecoveryKey(key)); err != nil {
		b.Fatal(err)
	}
	return codeBenchUser{id: u.ID, secret: secret}
}
