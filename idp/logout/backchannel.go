package logout

// OpenID Connect Back-Channel Logout 1.0, delivered from the outbox that
// the store fills when sessions end (store/backchannel.go). Every replica
// runs the worker; the store's claims with a lease keep two replicas from
// sending the same notification at once, and a notification whose worker
// died is sent again once its lease runs out.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/signing"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// backchannelLogoutEvent is the event a logout token carries (spec §2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

const (
	logoutBatch       = 50          // deliveries claimed per round
	logoutLease       = time.Minute // how long a claim keeps other workers off
	logoutConcurrency = 4           // POSTs in flight per replica
	logoutTokenTTL    = 2 * time.Minute
	expirySweepBatch  = 500 // sessions ended per EndExpiredSessions call
)

// Worker delivers back-channel logouts (OpenID Connect Back-Channel
// Logout 1.0) from the outbox every session ending fills, and ends
// expired sessions so their apps are told too. Each replica runs one;
// deliveries are claimed in the database, so replicas share the work.
type Worker struct {
	Store       WorkerStore
	Keys        *signing.Keys
	Issuer      string
	Log         *slog.Logger
	Now         func() time.Time
	SessionIdle time.Duration
	Options     Options
	// Outcome, when set, is told how each send ended: delivered, retry
	// or gave_up (metrics).
	Outcome func(outcome string)

	wake chan struct{}
}

func (wk *Worker) outcome(o string) {
	if wk.Outcome != nil {
		wk.Outcome(o)
	}
}

// WorkerStore is the outbox and the session expiry.
type WorkerStore interface {
	EndExpiredSessions(ctx context.Context, defaultIdle time.Duration, limit int) (int, error)
	ClaimLogoutDeliveries(ctx context.Context, limit int, lease time.Duration) ([]store.LogoutDelivery, error)
	MarkLogoutFailed(ctx context.Context, id int64, attempts int, lastErr string, next time.Time, giveUp bool) error
	MarkLogoutDelivered(ctx context.Context, id int64) error
}

// NewWorker returns a worker; fill its fields before Run.
func NewWorker() *Worker { return &Worker{wake: make(chan struct{}, 1)} }

// Wake tells the worker there is work (sessions ended on this replica),
// without ever blocking the request.
func (wk *Worker) Wake() {
	select {
	case wk.wake <- struct{}{}:
	default:
	}
}

// Options tune back-channel logout delivery; zero fields take the
// defaults noted.
type Options struct {
	PollInterval   time.Duration // how often the outbox is checked (2s)
	RetryBase      time.Duration // delay after the first failure, doubling (10s)
	RetryMax       time.Duration // longest delay between attempts (1h)
	MaxAttempts    int           // attempts before giving up (12)
	Timeout        time.Duration // per POST (5s; at most 30s, well inside the lease)
	ExpiryInterval time.Duration // how often expired sessions are ended (1m)
}

func (o Options) withDefaults() Options {
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&o.PollInterval, 2 * time.Second},
		{&o.RetryBase, 10 * time.Second},
		{&o.RetryMax, time.Hour},
		{&o.Timeout, 5 * time.Second},
		{&o.ExpiryInterval, time.Minute},
	} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 12
	}
	// A send must end well before the claim does, or another replica
	// could send the same notification meanwhile.
	o.Timeout = min(o.Timeout, logoutLease/2)
	return o
}

// retryDelay is the wait after the attempts-th failure: RetryBase doubling,
// capped at RetryMax.
func (o Options) retryDelay(attempts int) time.Duration {
	d := o.RetryBase
	for i := 1; i < attempts && d < o.RetryMax; i++ {
		d *= 2
	}
	return min(d, o.RetryMax)
}

// Run sends due back-channel logouts until ctx ends: at
// every poll, at once when woken (wk.wake, after this replica ended
// sessions), and after each sweep that ends expired sessions.
func (wk *Worker) Run(ctx context.Context) {
	o := wk.Options.withDefaults()
	client := &http.Client{
		Timeout: o.Timeout,
		// A redirect is a failure: the token must reach the registered URI
		// and nothing else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	poll := time.NewTicker(o.PollInterval)
	defer poll.Stop()
	sweep := time.NewTicker(o.ExpiryInterval)
	defer sweep.Stop()
	wk.endExpiredSessions(ctx)
	for {
		wk.deliverLogouts(ctx, o, client)
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-wk.wake:
		case <-sweep.C:
			wk.endExpiredSessions(ctx)
		}
	}
}

// endExpiredSessions ends the sessions past their absolute or idle limit,
// so their relying apps get back-channel logout too.
func (wk *Worker) endExpiredSessions(ctx context.Context) {
	total := 0
	// Bounded, so a huge backlog cannot keep deliveries waiting.
	for range 20 {
		n, err := wk.Store.EndExpiredSessions(ctx, wk.SessionIdle, expirySweepBatch)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				wk.Log.Warn("ending expired sessions failed", "err", err)
			}
			break
		}
		if n < expirySweepBatch {
			break
		}
	}
	if total > 0 {
		wk.Log.Info("expired sessions ended", "count", total)
	}
}

// deliverLogouts claims and sends due deliveries, batch after batch, until
// none is left.
func (wk *Worker) deliverLogouts(ctx context.Context, o Options, client *http.Client) {
	for ctx.Err() == nil {
		claimedAt := time.Now()
		ds, err := wk.Store.ClaimLogoutDeliveries(ctx, logoutBatch, logoutLease)
		if err != nil {
			if ctx.Err() == nil {
				wk.Log.Warn("claiming back-channel logouts failed", "err", err)
			}
			return
		}
		c := claim{until: claimedAt.Add(logoutLease - 5*time.Second)}
		// A send that could not finish while the claim holds is not
		// started: another worker may own the row by then.
		sendBy := c.until.Add(-o.Timeout)
		jobs := make(chan store.LogoutDelivery)
		var wg sync.WaitGroup
		for range min(logoutConcurrency, len(ds)) {
			wg.Go(func() {
				for d := range jobs {
					if ctx.Err() != nil || !time.Now().Before(sendBy) {
						wk.releaseLogout(ctx, c, &d, d.Attempts-1) // not sent: the claim's count given back
						continue
					}
					wk.deliverLogout(ctx, o, client, c, &d)
				}
			})
		}
		for _, d := range ds {
			jobs <- d
		}
		close(jobs)
		wg.Wait()
		if len(ds) < logoutBatch {
			return
		}
	}
}

// claim is what this worker knows of its claim on a batch: until when
// (by the local clock, with a margin) no other worker can hold it.
type claim struct{ until time.Time }

func (c claim) held() bool { return time.Now().Before(c.until) }

// releaseLogout makes a claimed delivery due again at once, so a stopping
// server does not hold it back for the rest of the lease, with attempts
// the sends counted (the claim counted one; an unsent delivery gives it
// back). Past the claim nothing is written: the row may be another
// worker's by now.
func (wk *Worker) releaseLogout(ctx context.Context, c claim, d *store.LogoutDelivery, attempts int) {
	if !c.held() {
		return
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := wk.Store.MarkLogoutFailed(mctx, d.ID, max(attempts, 0), d.LastError, wk.Now(), false); err != nil {
		wk.Log.Warn("releasing a back-channel logout failed", "delivery", d.ID, "err", err)
	}
}

// deliverLogout sends one logout token and records the outcome.
func (wk *Worker) deliverLogout(ctx context.Context, o Options, client *http.Client, c claim, d *store.LogoutDelivery) {
	attempt := d.Attempts // counted by the claim
	err := wk.postLogoutToken(ctx, client, d)
	if err != nil && ctx.Err() != nil {
		// Cut short by shutdown, not the app's fault: due again at once;
		// the send may have reached the app, so it stays counted.
		wk.releaseLogout(ctx, c, d, attempt)
		return
	}
	// The outcome is recorded even when shutdown began after the POST:
	// a delivered notification must not be sent again.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	log := wk.Log.With("delivery", d.ID, "client_id", d.ClientID, "attempt", attempt)
	if err == nil {
		if err := wk.Store.MarkLogoutDelivered(mctx, d.ID); err != nil {
			log.Warn("back-channel logout delivered but not recorded", "err", err)
			return
		}
		log.Info("back-channel logout delivered")
		wk.outcome("delivered")
		return
	}
	giveUp := attempt >= o.MaxAttempts
	next := wk.Now().Add(o.retryDelay(attempt))
	if merr := wk.Store.MarkLogoutFailed(mctx, d.ID, attempt, err.Error(), next, giveUp); merr != nil {
		log.Warn("back-channel logout failed and not recorded", "err", err, "record_err", merr)
		return
	}
	if giveUp {
		log.Warn("back-channel logout failed; giving up", "err", err)
		wk.outcome("gave_up")
		return
	}
	log.Warn("back-channel logout failed; will retry", "err", err, "next_attempt", next)
	wk.outcome("retry")
}

// postLogoutToken POSTs a fresh logout token to the delivery's URI (spec
// §2.5). Errors never contain the token: they are stored and logged.
func (wk *Worker) postLogoutToken(ctx context.Context, client *http.Client, d *store.LogoutDelivery) error {
	token, err := wk.logoutToken(ctx, d)
	if err != nil {
		return fmt.Errorf("signing the logout token: %w", err)
	}
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URI, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("bad back-channel logout URI: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return err // a *url.Error: method, URI and cause, not the body
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fmt.Errorf("HTTP %s (redirects are not followed)", resp.Status)
	}
	return fmt.Errorf("HTTP %s", resp.Status)
}

// logoutToken makes the logout token of spec §2.4: signed with the current
// signing key (kid in the header), typ logout+jwt, and never a nonce.
func (wk *Worker) logoutToken(ctx context.Context, d *store.LogoutDelivery) (string, error) {
	k, err := wk.Keys.PrivateKey(ctx)
	if err != nil {
		return "", err
	}
	jwk, ok := k.(*jose.JSONWebKey)
	if !ok {
		return "", fmt.Errorf("unexpected signing key type %T", k)
	}
	// The key's own algorithm: after a change of signing.alg the active
	// key may still be of the old one.
	alg := jwk.Algorithm
	if alg == "" {
		alg = wk.Keys.Alg()
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jwk},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return "", err
	}
	now := wk.Now()
	payload, err := json.Marshal(map[string]any{
		"iss":    wk.Issuer,
		"aud":    d.ClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(logoutTokenTTL).Unix(),
		"jti":    secrets.RandomToken(),
		"sub":    d.UserID,
		"sid":    d.SessionID,
		"events": map[string]any{backchannelLogoutEvent: map[string]any{}},
	})
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
