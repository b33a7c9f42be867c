package throttle

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrBusy is the gate's answer when its queue is full or the wait ran
// out: the caller answers 503 with Retry-After.
var ErrBusy = errors.New("throttle: too many password checks at once, try again shortly")

// Gate admits at most Slots callers at once into an expensive step
// (argon2id, 19 MiB and tens of milliseconds of one core each) and lets at
// most Queue more wait, each for at most MaxWait. Memory is then bounded
// by Slots hashes whatever the load, and a flood gets fast 503s instead of
// a server that swaps.
type Gate struct {
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
	maxWait time.Duration
}

// NewGate makes a gate with slots concurrent places and a queue of queue
// waiting ones, each waiting at most maxWait.
func NewGate(slots, queue int, maxWait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, max(slots, 1)), queue: int64(max(queue, 0)), maxWait: maxWait}
}

// Enter waits for a place and returns the function that gives it back. It
// returns ErrBusy at once when the queue is full, or after MaxWait.
func (g *Gate) Enter(ctx context.Context) (leave func(), err error) {
	select {
	case g.slots <- struct{}{}:
		return g.leave, nil
	default:
	}
	if g.waiting.Add(1) > g.queue {
		g.waiting.Add(-1)
		return nil, ErrBusy
	}
	defer g.waiting.Add(-1)
	timer := time.NewTimer(g.maxWait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		return g.leave, nil
	case <-timer.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *Gate) leave() { <-g.slots }

// InUse and Waiting report the gate's state (for metrics and tests).
func (g *Gate) InUse() int { return len(g.slots) }

// Waiting is how many callers wait for a place.
func (g *Gate) Waiting() int { return int(g.waiting.Load()) }
