package idp

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/metrics"
	"github.com/portcullis-idp/portcullis/idp/throttle"
	"github.com/portcullis-idp/portcullis/idp/web"
)

// routeLimits are this replica's per-address token buckets (README,
// "Limits"). They shed floods cheaply, before any database work or hash;
// the limits that must hold across replicas, the password failure
// counters, are in the database (idp/credentials).
type routeLimits struct {
	password, code, clientAuth, pending *throttle.Buckets
	metrics                             *metrics.Metrics
}

func newRouteLimits(r throttle.Rates, now func() time.Time, m *metrics.Metrics) routeLimits {
	return routeLimits{
		metrics:    m,
		password:   throttle.NewBuckets(r.Password, now),
		code:       throttle.NewBuckets(r.Code, now),
		clientAuth: throttle.NewBuckets(r.ClientAuth, now),
		pending:    throttle.NewBuckets(r.Pending, now),
	}
}

// clientAuthPaths are the endpoints where a client authenticates; only
// failures there take a token.
var clientAuthPaths = map[string]bool{
	"/oauth2/token": true, "/oauth2/revoke": true, "/oauth2/introspect": true, "/oauth2/par": true,
}

// admitPending is flow.Flows.Admit: opening a pending request (a row) is
// limited per address.
func (l routeLimits) admitPending(ctx context.Context) (bool, time.Duration) {
	addr, _ := web.ClientAddressFrom(ctx)
	ok, retry := l.pending.Allow(web.ThrottleKey(addr))
	if !ok {
		l.metrics.RateLimited("pending")
	}
	return ok, retry
}

// rateLimited answers 429 with Retry-After to a client address that posts
// passwords, codes or failing client credentials faster than its bucket
// allows: on the page for the forms, as an OAuth error for the endpoints.
func (s *Server) rateLimited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		key := web.ThrottleKey(web.ClientAddress(r))
		var buckets *throttle.Buckets
		limit := ""
		switch r.URL.Path {
		case flow.PathLogin:
			buckets, limit = s.limits.password, "password"
		case flow.PathCode, flow.PathRecovery, flow.PathEnrollVerify, flow.PathPasskey, flow.PathPasswordless:
			buckets, limit = s.limits.code, "code"
		}
		if buckets != nil {
			if ok, retry := buckets.Allow(key); !ok {
				s.limits.metrics.RateLimited(limit)
				s.pages.Render(w, r, web.TooManyRequests(retry))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if !clientAuthPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		if empty, retry := s.limits.clientAuth.Empty(key); empty {
			s.limits.metrics.RateLimited("client_auth")
			web.SetRetryAfter(w, retry)
			writeJSONError(w, http.StatusTooManyRequests, "temporarily_unavailable",
				fmt.Sprintf("Too many failed client authentications from this address. Try again in %s.", web.WaitText(retry)))
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusUnauthorized {
			s.limits.clientAuth.Take(key)
		}
	})
}
