package throttle

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestBucketsRefuseBeyondBurstAndRefill(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	b := NewBuckets(Rate{PerMinute: 30, Burst: 3}, clock.now)
	for i := range 3 {
		if ok, _ := b.Allow("192.0.2.1"); !ok {
			t.Fatalf("request %d refused within the burst", i+1)
		}
	}
	ok, retry := b.Allow("192.0.2.1")
	if ok || retry != 2*time.Second {
		t.Fatalf("fourth request: allowed %v, retry after %s; want refused, 2s (30 a minute)", ok, retry)
	}
	if ok, _ := b.Allow("192.0.2.2"); !ok {
		t.Fatal("another address shares the bucket")
	}
	clock.t = clock.t.Add(2 * time.Second)
	if ok, _ := b.Allow("192.0.2.1"); !ok {
		t.Fatal("no token back after the refill time")
	}
}

func TestBucketsChargeOnlyFailures(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	b := NewBuckets(Rate{PerMinute: 60, Burst: 2}, clock.now)
	if empty, _ := b.Empty("a"); empty {
		t.Fatal("an unseen key is empty")
	}
	b.Take("a")
	b.Take("a")
	empty, retry := b.Empty("a")
	if !empty || retry != time.Second {
		t.Fatalf("after two failures: empty %v, retry %s; want true, 1s", empty, retry)
	}
	for range 10 {
		b.Take("a") // debt is bounded at one burst
	}
	clock.t = clock.t.Add(5 * time.Second)
	if empty, _ := b.Empty("a"); empty {
		t.Fatal("debt not bounded: still empty after 5 s at one a second with burst 2")
	}
}

func TestBucketsStayBounded(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	b := NewBuckets(Rate{PerMinute: 1, Burst: 5}, clock.now)
	b.maxKeys = 100
	for i := range 1000 {
		clock.t = clock.t.Add(time.Millisecond)
		b.Allow(fmt.Sprint("198.51.100.", i))
	}
	if n := b.Len(); n > 100 {
		t.Fatalf("holds %d buckets, more than the bound of 100", n)
	}
}

func TestGateBoundsConcurrencyAndQueue(t *testing.T) {
	g := NewGate(2, 1, time.Hour)
	ctx := context.Background()
	leave1, err1 := g.Enter(ctx)
	leave2, err2 := g.Enter(ctx)
	if err1 != nil || err2 != nil {
		t.Fatal("refused within the slots:", err1, err2)
	}
	entered := make(chan error)
	go func() {
		leave, err := g.Enter(ctx) // waits in the queue
		if err == nil {
			leave()
		}
		entered <- err
	}()
	for g.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	if _, err := g.Enter(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("beyond slots and queue: %v, want ErrBusy", err)
	}
	leave1()
	if err := <-entered; err != nil {
		t.Fatalf("queued caller: %v", err)
	}
	leave2()
	if g.InUse() != 0 {
		t.Fatalf("%d places still taken", g.InUse())
	}
}

func TestGateWaitIsBounded(t *testing.T) {
	g := NewGate(1, 4, 10*time.Millisecond)
	leave, _ := g.Enter(context.Background())
	defer leave()
	if _, err := g.Enter(context.Background()); !errors.Is(err, ErrBusy) {
		t.Fatalf("after the longest wait: %v, want ErrBusy", err)
	}
}
