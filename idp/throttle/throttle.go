// Package throttle holds the in-memory limits of one replica: token
// buckets per client address (how often an address may post a password,
// a code, a client secret, or open a pending sign-in) and the admission
// gate in front of password hashing (how many argon2id hashes run at
// once). What must hold across replicas, the failure counters per account
// and address, lives in the database (idp/credentials); these limits only
// shed load, so a per-replica view is enough: with N replicas behind a
// balancer an address gets at most N times the rate.
package throttle

import (
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is one token bucket's shape: Burst requests at once, refilled at
// PerMinute a minute.
type Rate struct {
	PerMinute float64
	Burst     int
}

// Buckets limits how often each key (a client address) may do one thing.
// It keeps at most MaxKeys buckets: a full bucket is the same as no
// bucket, so idle ones are forgotten, and when a flood of distinct keys
// fills the table the oldest are dropped (they are then full again, which
// is the generous direction).
type Buckets struct {
	rate    Rate
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*entry
}

type entry struct {
	limiter *rate.Limiter
	seen    time.Time
}

// DefaultMaxKeys bounds the memory of one Buckets: about 150 bytes a key.
const DefaultMaxKeys = 100_000

// NewBuckets makes an empty set of buckets of shape r; now nil means
// time.Now.
func NewBuckets(r Rate, now func() time.Time) *Buckets {
	if now == nil {
		now = time.Now
	}
	return &Buckets{rate: r, maxKeys: DefaultMaxKeys, now: now, buckets: make(map[string]*entry)}
}

// Allow takes one token from key's bucket. When the bucket is empty it
// returns false and how long until a token is back (what Retry-After
// says), and takes nothing.
func (b *Buckets) Allow(key string) (bool, time.Duration) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entry(key, now)
	if e.limiter.AllowN(now, 1) {
		return true, 0
	}
	return false, b.wait(e, now)
}

// Empty reports, without taking a token, whether key's bucket is empty
// and if so for how long. With Take it limits what is charged only when
// it fails (client authentication at the token endpoint).
func (b *Buckets) Empty(key string) (bool, time.Duration) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.buckets[key]
	if !ok || e.limiter.TokensAt(now) >= 1 {
		return false, 0
	}
	return true, b.wait(e, now)
}

// Take takes one token from key's bucket, going below zero if need be.
func (b *Buckets) Take(key string) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entry(key, now)
	if !e.limiter.AllowN(now, 1) && e.limiter.TokensAt(now) > -float64(b.rate.Burst) {
		e.limiter.ReserveN(now, 1) // debt, bounded at one burst
	}
}

func (b *Buckets) wait(e *entry, now time.Time) time.Duration {
	missing := 1 - e.limiter.TokensAt(now)
	secs := missing * 60 / b.rate.PerMinute
	return time.Duration(math.Ceil(secs)) * time.Second
}

// entry returns key's bucket, making it (and making room) when missing.
func (b *Buckets) entry(key string, now time.Time) *entry {
	if e, ok := b.buckets[key]; ok {
		e.seen = now
		return e
	}
	if len(b.buckets) >= b.maxKeys {
		b.forget(now)
	}
	e := &entry{limiter: rate.NewLimiter(rate.Limit(b.rate.PerMinute/60), b.rate.Burst), seen: now}
	b.buckets[key] = e
	return e
}

// forget drops every bucket that has refilled (it says nothing a new one
// would not) and, if the table is still full, the half least recently
// seen.
func (b *Buckets) forget(now time.Time) {
	for k, e := range b.buckets {
		if e.limiter.TokensAt(now) >= float64(b.rate.Burst) {
			delete(b.buckets, k)
		}
	}
	if len(b.buckets) < b.maxKeys {
		return
	}
	var cutoff time.Time
	seen := make([]time.Time, 0, len(b.buckets))
	for _, e := range b.buckets {
		seen = append(seen, e.seen)
	}
	cutoff = median(seen)
	for k, e := range b.buckets {
		if !e.seen.After(cutoff) {
			delete(b.buckets, k)
		}
	}
}

func median(ts []time.Time) time.Time {
	// A rough median is enough: sample up to 1,000 and sort those.
	if len(ts) > 1000 {
		ts = ts[:1000]
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts[len(ts)/2]
}

// Len is how many buckets are held.
func (b *Buckets) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buckets)
}

// Rates are the per-address limits of one replica.
type Rates struct {
	// Password: posts of the password form.
	Password Rate
	// Code: posts of a TOTP code or recovery key (sign-in, enrollment).
	Code Rate
	// ClientAuth: failed client authentications at the token, revocation,
	// introspection and PAR endpoints (only failures take a token; when
	// none is left every request from the address is refused).
	ClientAuth Rate
	// Pending: pending sign-in requests opened (each is a database row).
	Pending Rate
}

// DefaultRates are generous for people (a person types a password a few
// times a minute) and for an office behind one address, and stop a
// script. Bursts let a whole team sign in at nine o'clock.
var DefaultRates = Rates{
	Password:   Rate{PerMinute: 30, Burst: 20},
	Code:       Rate{PerMinute: 30, Burst: 20},
	ClientAuth: Rate{PerMinute: 60, Burst: 20},
	Pending:    Rate{PerMinute: 60, Burst: 60},
}

// Scaled returns r with every rate and burst multiplied by f (the
// rate_limits.factor setting: raise it when many people share one address).
func (r Rates) Scaled(f float64) Rates {
	scale := func(x Rate) Rate {
		return Rate{PerMinute: x.PerMinute * f, Burst: max(1, int(math.Round(float64(x.Burst)*f)))}
	}
	return Rates{Password: scale(r.Password), Code: scale(r.Code), ClientAuth: scale(r.ClientAuth), Pending: scale(r.Pending)}
}
