package store

// Back-channel logout outbox (OpenID Connect Back-Channel Logout 1.0).
//
// endSessions writes one LogoutDelivery per (ended session, linked client
// with a back-channel logout URI) in the transaction that ends the
// sessions, so no ending is committed without its notifications. Any
// replica's worker then claims due rows with a lease, sends them, and marks
// each delivered or failed (with the next attempt time). A worker that dies
// mid-send leaves its claim to expire, and another one retries the row.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"gorm.io/gorm"
)

// maxLogoutError is how much of a delivery error is kept for the admin page.
const maxLogoutError = 300

// enqueueLogouts writes the deliveries owed for ended sessions; it runs in
// endSessions' transaction. tenantOf maps a session ID to its tenant.
func (s *Store) enqueueLogouts(ctx context.Context, ended []EndedSession, tenantOf map[string]string) error {
	seen := make(map[string]bool)
	var clientIDs []string
	for _, e := range ended {
		for _, c := range e.ClientIDs {
			if !seen[c] {
				seen[c] = true
				clientIDs = append(clientIDs, c)
			}
		}
	}
	if len(clientIDs) == 0 {
		return nil
	}
	db := s.conn(ctx)
	uris := make(map[string]string)
	for _, chunk := range chunks(clientIDs, 500) {
		var cs []Client
		if err := db.Select("id", "backchannel_logout_uri").
			Where("id IN ? AND backchannel_logout_uri <> ''", chunk).Find(&cs).Error; err != nil {
			return err
		}
		for _, c := range cs {
			uris[c.ID] = c.BackchannelLogoutURI
		}
	}
	if len(uris) == 0 {
		return nil
	}
	now := s.now()
	// Rows as maps, so gorm does not ask for the new ids back (RETURNING):
	// nobody needs them here.
	var rows []map[string]any
	for _, e := range ended {
		for _, c := range e.ClientIDs {
			if uri, ok := uris[c]; ok {
				rows = append(rows, map[string]any{
					"session_id": e.SessionID, "client_id": c, "user_id": e.UserID, "tenant_id": tenantOf[e.SessionID],
					"uri": uri, "attempts": 0, "next_attempt_at": now, "last_error": "", "created_at": now,
				})
			}
		}
	}
	if len(rows) == 0 {
		return nil
	}
	// Small batches: the SQLite driver binds parameters in time quadratic
	// in their number per statement (500 rows a statement took about
	// twice as long as 100 for a 10,000-session ending).
	return db.Table(LogoutDelivery{}.TableName()).CreateInBatches(rows, 100).Error
}

// ClaimLogoutDeliveries returns up to limit deliveries that are due and
// claims each for the caller until now+lease: a conditional UPDATE moves
// next_attempt_at forward only if it still holds the value read, so of two
// workers reading the same row exactly one gets it. A claim not followed by
// MarkLogoutDelivered or MarkLogoutFailed simply expires, and the row is
// due again.
//
// The same UPDATE counts the attempt (attempts+1, returned in Attempts):
// a claim is made to send, and a send whose worker died before recording
// its outcome, its lease running out, still counts. A worker that claims
// and then does not send gives the attempt back (MarkLogoutFailed with
// Attempts-1).
func (s *Store) ClaimLogoutDeliveries(ctx context.Context, limit int, lease time.Duration) ([]LogoutDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	now := s.now()
	var due []LogoutDelivery
	if err := s.conn(ctx).
		Where("delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?", now).
		Order("next_attempt_at, id").Limit(limit).Find(&due).Error; err != nil {
		return nil, err
	}
	// Microseconds: what PostgreSQL keeps, so the returned value is the
	// stored one.
	until := now.Add(lease).Truncate(time.Microsecond)
	claimed := due[:0]
	for _, d := range due {
		res := s.conn(ctx).Model(&LogoutDelivery{}).
			Where("id = ? AND next_attempt_at = ? AND delivered_at IS NULL AND failed_at IS NULL", d.ID, d.NextAttemptAt.UTC()).
			Updates(map[string]any{"next_attempt_at": until, "attempts": gorm.Expr("attempts + 1")})
		if res.Error != nil {
			return claimed, res.Error
		}
		if res.RowsAffected == 1 {
			d.NextAttemptAt = until
			d.Attempts++
			claimed = append(claimed, d)
		}
	}
	return claimed, nil
}

// MarkLogoutDelivered records that the relying app acknowledged the
// logout. Marking a delivered row again is not an error; an unknown id is
// ErrNotFound.
func (s *Store) MarkLogoutDelivered(ctx context.Context, id int64) error {
	res := s.conn(ctx).Model(&LogoutDelivery{}).Where("id = ? AND delivered_at IS NULL", id).
		Update("delivered_at", s.now())
	if res.Error != nil || res.RowsAffected > 0 {
		return res.Error
	}
	return s.logoutExists(ctx, id)
}

// MarkLogoutFailed records a failed attempt: attempts is the count so far,
// next when to try again, and giveUp ends the retries (failed_at). errText
// is kept for the admin page, cut to 300 characters and with anything that
// looks like a token removed. A row delivered meanwhile (by a worker whose
// claim outlived ours) is left alone.
func (s *Store) MarkLogoutFailed(ctx context.Context, id int64, attempts int, errText string, next time.Time, giveUp bool) error {
	fields := map[string]any{
		"attempts":        attempts,
		"last_error":      cleanLogoutError(errText),
		"next_attempt_at": next.UTC().Truncate(time.Microsecond),
	}
	if giveUp {
		fields["failed_at"] = s.now()
	}
	res := s.conn(ctx).Model(&LogoutDelivery{}).Where("id = ? AND delivered_at IS NULL", id).Updates(fields)
	if res.Error != nil || res.RowsAffected > 0 {
		return res.Error
	}
	return s.logoutExists(ctx, id)
}

func (s *Store) logoutExists(ctx context.Context, id int64) error {
	var n int64
	if err := s.conn(ctx).Model(&LogoutDelivery{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// PendingLogoutDeliveries counts the back-channel logouts not yet
// delivered nor given up (the outbox backlog).
func (s *Store) PendingLogoutDeliveries(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&LogoutDelivery{}).Where("delivered_at IS NULL AND failed_at IS NULL").Count(&n).Error
	return n, err
}

// ListLogoutDeliveries returns a tenant's deliveries, newest first, at
// most limit (100 when limit <= 0).
func (s *Store) ListLogoutDeliveries(ctx context.Context, tenantID string, limit int) ([]LogoutDelivery, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []LogoutDelivery
	err := s.conn(ctx).Where("tenant_id = ?", tenantID).
		Order("created_at DESC, id DESC").Limit(limit).Find(&out).Error
	return out, err
}

// jwtLike matches a compact JWS or JWE; logoutTokenParam a form field that
// would carry one.
var (
	jwtLike          = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*){2,4}`)
	logoutTokenParam = regexp.MustCompile(`(?i)logout_token=[^&\s"']*`)
)

// cleanLogoutError makes an error text safe to store and show: no token
// (defence in depth: callers must not pass one), valid UTF-8 without
// control characters (PostgreSQL rejects NUL), and at most maxLogoutError
// characters.
func cleanLogoutError(s string) string {
	s = logoutTokenParam.ReplaceAllString(s, "logout_token=[redacted]")
	s = jwtLike.ReplaceAllString(s, "[redacted]")
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= maxLogoutError {
		return s
	}
	r := []rune(s)
	return string(r[:maxLogoutError-1]) + "…"
}

// maxIdleBuckets bounds the OR terms of EndExpiredSessions' query.
const maxIdleBuckets = 32

// EndExpiredSessions ends, with reason "expired", up to limit (500 when
// limit <= 0) live sessions past their absolute end or idle for longer than
// their own limit (defaultIdle for those without one) — the sessions
// ActiveSession no longer accepts — so that expiry, too, reaches relying
// apps by back-channel logout. It returns how many it ended; a caller
// drains a backlog by calling again while the count equals limit (a batch
// can come out short when more distinct idle limits are in use than the
// query has terms for; the next sweep then finds the rest). Each session
// it ends gets a session.expired audit event in the same transaction.
func (s *Store) EndExpiredSessions(ctx context.Context, defaultIdle time.Duration, limit int) (int, error) {
	if defaultIdle <= 0 {
		return 0, errors.New("store: EndExpiredSessions needs a positive default idle limit")
	}
	if limit <= 0 {
		limit = 500
	}
	now := s.now()
	db := s.conn(ctx)
	// Sessions carry their own idle limit, and the cutoffs cannot be
	// computed in SQL the same way on both engines; so the query has one
	// term per group of idle limits in use. With a single cutoff (the
	// shortest limit) sessions with long limits that are merely idle for a
	// while could fill every batch and starve the really expired ones.
	var idles []int
	if err := db.Model(&BrowserSession{}).Where("ended_at IS NULL").
		Distinct("idle_seconds").Pluck("idle_seconds", &idles).Error; err != nil {
		return 0, err
	}
	if len(idles) == 0 {
		return 0, nil
	}
	cond, args := expiredCondition(now, defaultIdle, idles)
	var cands []BrowserSession
	if err := db.Model(&BrowserSession{}).Select("id", "user_id", "tenant_id", "last_seen_at", "expires_at", "idle_seconds").
		Where("ended_at IS NULL").Where(cond, args...).Order("id").Limit(limit).Find(&cands).Error; err != nil {
		return 0, err
	}
	// Exact check in Go (a group spanning several limits is only a
	// superset), then group by limit so ending re-checks each session in
	// the transaction: one touched meanwhile is live again and stays.
	byLimit := make(map[time.Duration][]string)
	candByID := make(map[string]*BrowserSession, len(cands))
	for i, bs := range cands {
		l := bs.IdleLimit(defaultIdle)
		if !bs.ExpiresAt.After(now) || bs.idleAt(now, defaultIdle) {
			byLimit[l] = append(byLimit[l], bs.ID)
			candByID[bs.ID] = &cands[i]
		}
	}
	if len(byLimit) == 0 {
		return 0, nil
	}
	var terms []string
	var targs []any
	for l, ids := range byLimit {
		terms = append(terms, "(id IN ? AND (expires_at <= ? OR last_seen_at <= ?))")
		targs = append(targs, ids, now, now.Add(-l))
	}
	var ended []EndedSession
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		ended, err = s.endSessions(ctx, "expired", func(q *gorm.DB) *gorm.DB {
			// Ordered, so replicas sweeping at once lock rows in the same
			// order (PostgreSQL) instead of deadlocking.
			return q.Where("("+strings.Join(terms, " OR ")+")", targs...).Order("id")
		})
		if err != nil || len(ended) == 0 {
			return err
		}
		// Each ending is audited in its transaction (session.expired).
		events := make([]AuditEvent, 0, len(ended))
		for _, e := range ended {
			bs := candByID[e.SessionID]
			if bs == nil {
				continue
			}
			reason, at := bs.expiry(defaultIdle)
			events = append(events, AuditEvent{Event: audit.SessionExpired, TenantID: bs.TenantID, SubjectID: bs.UserID,
				Detail: fmt.Sprintf(`{"reason":%q,"expired_at":%q}`, reason, at.UTC().Format(time.RFC3339)), CreatedAt: now})
		}
		return s.conn(ctx).CreateInBatches(&events, 200).Error
	})
	if err != nil {
		return 0, err
	}
	return len(ended), nil
}

// expiry says which limit ended the session first, "idle" or "absolute",
// and when it was reached.
func (bs *BrowserSession) expiry(defaultIdle time.Duration) (string, time.Time) {
	idleAt := bs.LastSeenAt.Add(bs.IdleLimit(defaultIdle))
	if idleAt.Before(bs.ExpiresAt) {
		return "idle", idleAt
	}
	return "absolute", bs.ExpiresAt
}

// expiredCondition is the SQL for "past expires_at, or idle for longer than
// the limit" over the distinct idle_seconds values in use. Values are
// grouped into at most maxIdleBuckets ranges; a range uses the cutoff of its
// shortest limit, so it may match sessions that are not yet idle (callers
// check each row), but never misses one that is.
func expiredCondition(now time.Time, defaultIdle time.Duration, idles []int) (string, []any) {
	terms := []string{"expires_at <= ?"}
	args := []any{now}
	var own []int
	for _, v := range idles {
		if v > 0 {
			own = append(own, v)
		}
	}
	if len(own) < len(idles) {
		terms = append(terms, "(idle_seconds <= 0 AND last_seen_at <= ?)")
		args = append(args, now.Add(-defaultIdle))
	}
	slices.Sort(own)
	size := (len(own) + maxIdleBuckets - 1) / maxIdleBuckets
	for len(own) > 0 {
		n := min(size, len(own))
		lo, hi := own[0], own[n-1]
		own = own[n:]
		terms = append(terms, "(idle_seconds BETWEEN ? AND ? AND last_seen_at <= ?)")
		args = append(args, lo, hi, now.Add(-time.Duration(lo)*time.Second))
	}
	return "(" + strings.Join(terms, " OR ") + ")", args
}
