package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// RunLogout runs only the back-channel logout cases of the contract (those
// named Logout/… and Clock/Logout…), for a quick `go test -run Logout`;
// Run and RunClock include them too.
func RunLogout(t *testing.T, newStore func(testing.TB) *store.Store, newConfig func(testing.TB) store.Config) {
	t.Helper()
	for _, tc := range cases {
		if strings.HasPrefix(tc.name, "Logout/") {
			t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
		}
	}
	for _, tc := range clockCases {
		if strings.HasPrefix(tc.name, "Clock/Logout") {
			t.Run(tc.name, func(t *testing.T) {
				c := newClock()
				cfg := newConfig(t)
				cfg.Now = c.Now
				tc.run(t, Open(t, cfg), c)
			})
		}
	}
}

const lease = time.Minute

// logoutClient creates a client whose back-channel logout URI is uri (none
// when empty).
func logoutClient(t testing.TB, s *store.Store, uri string) *store.Client {
	t.Helper()
	c := &store.Client{
		Name: "RP " + store.NewID()[:6], SecretHash: []byte("$2a$10$stub"),
		RedirectURIs: store.StringList{"https://rp.example/cb"}, BackchannelLogoutURI: uri,
		Scopes: store.StringList{"openid"}, GrantTypes: store.StringList{"authorization_code"},
	}
	mustNil(t, "CreateClient", s.CreateClient(t.Context(), c))
	return c
}

// linkedSession creates a live session of u signed into clients.
func linkedSession(t testing.TB, s *store.Store, u *store.User, edit func(*store.BrowserSession), clients ...*store.Client) *store.BrowserSession {
	t.Helper()
	bs := mustBrowserSession(t, s, u, edit)
	for _, c := range clients {
		mustNil(t, "RecordSessionClient", s.RecordSessionClient(t.Context(), bs.ID, c.ID))
	}
	return bs
}

func deliveries(t testing.TB, s *store.Store, tenantID string) []store.LogoutDelivery {
	t.Helper()
	ds, err := s.ListLogoutDeliveries(t.Context(), tenantID, 100000)
	mustNil(t, "ListLogoutDeliveries", err)
	return ds
}

func deliveryIDs(ds []store.LogoutDelivery) []int64 {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	slices.Sort(ids)
	return ids
}

// testLogoutEnqueue: ending a session writes one delivery per linked client
// with a back-channel URI, in the ending's transaction.
func testLogoutEnqueue(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn, other := NewTenant(t, s), NewTenant(t, s)
	u := NewUser(t, s, tn.ID)
	withURI := logoutClient(t, s, "https://rp.example/backchannel?x=1")
	withURI2 := logoutClient(t, s, "https://rp2.example/bcl")
	without := logoutClient(t, s, "")
	bs := linkedSession(t, s, u, nil, withURI, without)
	stays := linkedSession(t, s, u, nil, withURI)
	unlinked := linkedSession(t, s, u, nil)

	before := now()
	_, err := s.EndSession(ctx, bs.ID, "logout")
	mustNil(t, "EndSession", err)
	after := now().Add(time.Microsecond)
	ds := deliveries(t, s, tn.ID)
	if len(ds) != 1 {
		t.Fatalf("after EndSession: %d deliveries %+v, want 1 (only the client with a URI)", len(ds), ds)
	}
	d := ds[0]
	if d.ID == 0 || d.SessionID != bs.ID || d.ClientID != withURI.ID || d.UserID != u.ID || d.TenantID != tn.ID ||
		d.URI != withURI.BackchannelLogoutURI || d.Attempts != 0 || d.LastError != "" || d.DeliveredAt != nil || d.FailedAt != nil {
		t.Errorf("delivery = %+v, want session %s, client %s, user %s, tenant %s, uri %s, untried",
			d, bs.ID, withURI.ID, u.ID, tn.ID, withURI.BackchannelLogoutURI)
	}
	if d.NextAttemptAt.Before(before) || d.NextAttemptAt.After(after) || !d.CreatedAt.Equal(d.NextAttemptAt) {
		t.Errorf("NextAttemptAt %v, CreatedAt %v; want both the time of the ending (%v..%v)", d.NextAttemptAt, d.CreatedAt, before, after)
	}

	// Nothing for a session without links, nor for one already ended.
	_, err = s.EndSession(ctx, unlinked.ID, "logout")
	mustNil(t, "EndSession(unlinked)", err)
	_, err = s.EndSession(ctx, bs.ID, "logout")
	mustNil(t, "EndSession(again)", err)
	if n := len(deliveries(t, s, tn.ID)); n != 1 {
		t.Errorf("%d deliveries after ending an unlinked and an ended session, want still 1", n)
	}

	// An ending that rolls back leaves no delivery behind.
	err = s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.EndSession(ctx, stays.ID, "logout"); err != nil {
			return err
		}
		return errAbort
	})
	mustIs(t, "InTx", err, errAbort)
	if n := len(deliveries(t, s, tn.ID)); n != 1 {
		t.Errorf("%d deliveries after a rolled back ending, want still 1", n)
	}

	// A tenant-wide ending larger than one batch, with two clients each.
	const many = 510
	ou := NewUser(t, s, other.ID)
	var want []string
	for range many {
		bs := linkedSession(t, s, ou, nil, withURI, withURI2, without)
		want = append(want, bs.ID+" "+withURI.ID, bs.ID+" "+withURI2.ID)
	}
	ended, err := s.EndTenantSessions(ctx, other.ID, "", "policy")
	mustNil(t, "EndTenantSessions", err)
	if len(ended) != many {
		t.Fatalf("EndTenantSessions ended %d, want %d", len(ended), many)
	}
	ods := deliveries(t, s, other.ID)
	var got []string
	for _, d := range ods {
		got = append(got, d.SessionID+" "+d.ClientID)
		if d.TenantID != other.ID || d.UserID != ou.ID {
			t.Fatalf("delivery %+v: want tenant %s, user %s", d, other.ID, ou.ID)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("EndTenantSessions enqueued %d deliveries, want %d (one per session and client with a URI)", len(got), len(want))
	}
	if n := len(deliveries(t, s, tn.ID)); n != 1 {
		t.Errorf("the other tenant's ending added to this tenant's deliveries: %d", n)
	}

	// Listing is per tenant, newest first, limited.
	_, err = s.EndSession(ctx, stays.ID, "logout")
	mustNil(t, "EndSession", err)
	list, err := s.ListLogoutDeliveries(ctx, tn.ID, 1)
	mustNil(t, "ListLogoutDeliveries", err)
	if len(list) != 1 || list[0].SessionID != stays.ID {
		t.Errorf("ListLogoutDeliveries(limit 1) = %+v, want the newest (session %s)", list, stays.ID)
	}
	if ds := deliveries(t, s, tn.ID); len(ds) != 2 || ds[0].SessionID != stays.ID || ds[1].SessionID != bs.ID {
		t.Errorf("ListLogoutDeliveries = %+v, want sessions %s then %s", ds, stays.ID, bs.ID)
	}
}

// endLinked ends n fresh sessions, each linked to c, and returns the
// deliveries enqueued.
func endLinked(t testing.TB, s *store.Store, n int) (*store.User, []store.LogoutDelivery) {
	t.Helper()
	u := NewUser(t, s, NewTenant(t, s).ID)
	c := logoutClient(t, s, "https://rp.example/bcl")
	for range n {
		linkedSession(t, s, u, nil, c)
	}
	_, err := s.EndUserSessions(t.Context(), u.ID, "", "logout")
	mustNil(t, "EndUserSessions", err)
	ds := deliveries(t, s, u.TenantID)
	if len(ds) != n {
		t.Fatalf("%d deliveries, want %d", len(ds), n)
	}
	return u, ds
}

// testLogoutClaimExclusive: workers claiming at once each get a disjoint
// share, and together every due delivery.
func testLogoutClaimExclusive(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, ds := endLinked(t, s, 30)
	got := make([][]store.LogoutDelivery, racers)
	errs := race(racers, func(i int) error {
		var err error
		got[i], err = s.ClaimLogoutDeliveries(ctx, 50, lease)
		return err
	})
	seen := make(map[int64]int)
	for i, err := range errs {
		mustNil(t, fmt.Sprint("claimer ", i), err)
		for _, d := range got[i] {
			if _, dup := seen[d.ID]; dup {
				t.Errorf("delivery %d claimed by claimers %d and %d", d.ID, seen[d.ID], i)
			}
			seen[d.ID] = i
			if d.SessionID == "" || d.URI == "" {
				t.Errorf("claimed delivery lacks its fields: %+v", d)
			}
		}
	}
	if len(seen) != len(ds) {
		t.Errorf("%d of %d due deliveries claimed", len(seen), len(ds))
	}
	more, err := s.ClaimLogoutDeliveries(ctx, 50, lease)
	mustNil(t, "ClaimLogoutDeliveries(leased)", err)
	if len(more) != 0 {
		t.Errorf("claimed %d deliveries that are under another worker's lease", len(more))
	}
	if none, err := s.ClaimLogoutDeliveries(ctx, 0, lease); err != nil || len(none) != 0 {
		t.Errorf("ClaimLogoutDeliveries(limit 0) = %+v, %v", none, err)
	}
}

// testLogoutDoneNeverClaimed: delivered and given-up rows are never
// claimed again; a failed row is claimed once its next attempt is due.
func testLogoutDoneNeverClaimed(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u, _ := endLinked(t, s, 4)
	claimed, err := s.ClaimLogoutDeliveries(ctx, 10, lease)
	mustNil(t, "ClaimLogoutDeliveries", err)
	if len(claimed) != 4 {
		t.Fatalf("claimed %d, want 4", len(claimed))
	}
	delivered, gaveUp, retry, later := claimed[0], claimed[1], claimed[2], claimed[3]
	n := now()
	token := "eyJhbGciOiJSUzI1NiJ9.eyJzaWQiOiJzZXNzaW9uIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	longErr := "post https://rp.example/bcl: logout_token=" + token + " echoed " + token + "\x00\xff" + strings.Repeat("x", 1000)
	mustNil(t, "MarkLogoutDelivered", s.MarkLogoutDelivered(ctx, delivered.ID))
	mustNil(t, "MarkLogoutDelivered(again)", s.MarkLogoutDelivered(ctx, delivered.ID))
	mustNil(t, "MarkLogoutFailed(give up)", s.MarkLogoutFailed(ctx, gaveUp.ID, 12, "HTTP 503", n.Add(-time.Hour), true))
	mustNil(t, "MarkLogoutFailed(retry)", s.MarkLogoutFailed(ctx, retry.ID, 3, longErr, n.Add(-time.Second), false))
	mustNil(t, "MarkLogoutFailed(later)", s.MarkLogoutFailed(ctx, later.ID, 1, "HTTP 500", n.Add(time.Hour), false))
	// A late failure report of another worker does not undo a delivery.
	mustNil(t, "MarkLogoutFailed(delivered)", s.MarkLogoutFailed(ctx, delivered.ID, 5, "late", n.Add(-time.Hour), true))
	mustIs(t, "MarkLogoutDelivered(missing)", s.MarkLogoutDelivered(ctx, -1), store.ErrNotFound)
	mustIs(t, "MarkLogoutFailed(missing)", s.MarkLogoutFailed(ctx, -1, 1, "x", n, false), store.ErrNotFound)

	again, err := s.ClaimLogoutDeliveries(ctx, 10, lease)
	mustNil(t, "ClaimLogoutDeliveries", err)
	if len(again) != 1 || again[0].ID != retry.ID || again[0].Attempts != 4 {
		t.Fatalf("claimed %+v, want only delivery %d (failed, due again) with 4 attempts (3 and this claim's)", again, retry.ID)
	}

	byID := make(map[int64]store.LogoutDelivery)
	for _, d := range deliveries(t, s, u.TenantID) {
		byID[d.ID] = d
	}
	if d := byID[delivered.ID]; d.DeliveredAt == nil || d.FailedAt != nil || d.Attempts != 1 || d.LastError != "" {
		t.Errorf("delivered row = %+v, want delivered, untouched by the late failure", d)
	}
	if d := byID[gaveUp.ID]; d.FailedAt == nil || d.DeliveredAt != nil || d.Attempts != 12 || d.LastError != "HTTP 503" {
		t.Errorf("given-up row = %+v, want failed_at set, 12 attempts, HTTP 503", d)
	}
	if d := byID[later.ID]; d.FailedAt != nil || d.Attempts != 1 || !d.NextAttemptAt.Equal(n.Add(time.Hour)) {
		t.Errorf("row to retry later = %+v, want next attempt at %v", d, n.Add(time.Hour))
	}
	e := byID[retry.ID].LastError
	if strings.Contains(e, "eyJ") || strings.Contains(e, "c2lnbmF0dXJl") || strings.ContainsRune(e, 0) || !utf8.ValidString(e) {
		t.Errorf("LastError keeps the token or bad bytes: %q", e)
	}
	if utf8.RuneCountInString(e) > 300 || !strings.HasPrefix(e, "post https://rp.example/bcl: logout_token=[redacted]") {
		t.Errorf("LastError = %q (%d characters), want the start of the error, at most 300 characters", e, utf8.RuneCountInString(e))
	}
}

// testClockLogoutLease: a claim that is never settled expires with its
// lease and the delivery is claimed again; a failed one waits for its next
// attempt.
func testClockLogoutLease(t *testing.T, s *store.Store, c *clock) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	cl := logoutClient(t, s, "https://rp.example/bcl")
	bs := linkedSession(t, s, u, func(bs *store.BrowserSession) { bs.ExpiresAt = c.Now().Add(time.Hour) }, cl)
	_, err := s.EndSession(ctx, bs.ID, "logout")
	mustNil(t, "EndSession", err)

	claim := func(step string, want int) []store.LogoutDelivery {
		t.Helper()
		got, err := s.ClaimLogoutDeliveries(ctx, 10, lease)
		mustNil(t, "ClaimLogoutDeliveries", err)
		if len(got) != want {
			t.Fatalf("%s: claimed %d, want %d", step, len(got), want)
		}
		return got
	}
	first := claim("due", 1)[0]
	checkUTC(t, "claimed NextAttemptAt", first.NextAttemptAt, c.Now().Add(lease))
	if first.Attempts != 1 {
		t.Errorf("claimed %+v, want the claim's send counted (1 attempt)", first)
	}
	claim("leased", 0)
	c.Advance(lease - time.Second)
	claim("just before the lease ends", 0)
	c.Advance(time.Second)
	second := claim("lease over (the worker died)", 1)[0]
	// The worker that died may have sent it: that send counts, and so
	// does this one.
	if second.ID != first.ID || second.Attempts != 2 {
		t.Errorf("reclaimed %+v, want delivery %d with 2 attempts counted", second, first.ID)
	}
	stored := deliveries(t, s, u.TenantID)
	if len(stored) != 1 || stored[0].Attempts != 2 {
		t.Errorf("stored %+v, want 2 attempts", stored)
	}

	mustNil(t, "MarkLogoutFailed", s.MarkLogoutFailed(ctx, second.ID, second.Attempts, "HTTP 503", c.Now().Add(10*time.Second), false))
	claim("before the retry", 0)
	c.Advance(10 * time.Second)
	third := claim("retry due", 1)[0]
	if third.Attempts != 3 || third.LastError != "HTTP 503" {
		t.Errorf("retried delivery = %+v, want 3 attempts and the last error", third)
	}
	mustNil(t, "MarkLogoutDelivered", s.MarkLogoutDelivered(ctx, third.ID))
	c.Advance(2 * lease)
	claim("delivered", 0)
}

// testClockLogoutEndExpired: the sweep ends sessions past their absolute
// end or their (own or default) idle limit, and only those, and enqueues
// their back-channel logouts and one session.expired audit event each.
func testClockLogoutEndExpired(t *testing.T, s *store.Store, c *clock) {
	ctx := t.Context()
	tn := NewTenant(t, s)
	u := NewUser(t, s, tn.ID)
	cl := logoutClient(t, s, "https://rp.example/bcl")
	start := c.Now()
	mk := func(expires time.Duration, idleSeconds int) *store.BrowserSession {
		return linkedSession(t, s, u, func(bs *store.BrowserSession) {
			bs.AuthTime, bs.ExpiresAt, bs.IdleSeconds = start, start.Add(expires), idleSeconds
		}, cl)
	}
	live := mk(12*time.Hour, 0)         // touched at every step (< 30m apart)
	absolute := mk(10*time.Minute, 0)   // ends at 10m
	idleDefault := mk(12*time.Hour, 0)  // ends at 30m (the default)
	ownShort := mk(12*time.Hour, 300)   // ends at 5m
	ownLong := mk(12*time.Hour, 2*3600) // ends at 2h, not at 30m
	name := map[string]string{live.ID: "live", absolute.ID: "absolute", idleDefault.ID: "idle (default)",
		ownShort.ID: "idle (own 5m)", ownLong.ID: "idle (own 2h)"}
	stamp := func(d time.Duration) string { return start.Add(d).UTC().Format(time.RFC3339) }
	audited := 0

	for _, st := range []struct {
		at   time.Duration
		ends []*store.BrowserSession
	}{
		{4 * time.Minute, nil},
		{5 * time.Minute, []*store.BrowserSession{ownShort}},
		{10 * time.Minute, []*store.BrowserSession{absolute}},
		{29 * time.Minute, nil},
		{30 * time.Minute, []*store.BrowserSession{idleDefault}},
		{59 * time.Minute, nil},
		{88 * time.Minute, nil},
		{117 * time.Minute, nil},
		{119 * time.Minute, nil},
		{2 * time.Hour, []*store.BrowserSession{ownLong}},
		{149 * time.Minute, nil},
		{178 * time.Minute, nil},
	} {
		c.Advance(start.Add(st.at).Sub(c.Now()))
		before := len(deliveries(t, s, tn.ID))
		n, err := s.EndExpiredSessions(ctx, idle, 0)
		mustNil(t, "EndExpiredSessions", err)
		if n != len(st.ends) {
			t.Errorf("at %v: EndExpiredSessions = %d, want %d", st.at, n, len(st.ends))
		}
		for _, bs := range st.ends {
			got, err := s.SessionByID(ctx, bs.ID)
			mustNil(t, "SessionByID", err)
			if got.EndedAt == nil || got.EndReason != "expired" {
				t.Errorf("at %v: %s session: ended %v, reason %q; want ended, expired", st.at, name[bs.ID], got.EndedAt, got.EndReason)
			}
		}
		ds := deliveries(t, s, tn.ID)
		if len(ds)-before != len(st.ends) {
			t.Errorf("at %v: %d deliveries enqueued, want %d", st.at, len(ds)-before, len(st.ends))
		} else if len(st.ends) == 1 && ds[0].SessionID != st.ends[0].ID {
			t.Errorf("at %v: delivery for %s, want one for the %s session", st.at, ds[0].SessionID, name[st.ends[0].ID])
		}
		// Each ending is audited: session.expired, subject the user, with
		// the limit that ended it and when it was reached.
		evs, err := s.ListAudit(ctx, store.AuditFilter{TenantID: tn.ID, Event: audit.SessionExpired})
		mustNil(t, "ListAudit", err)
		if len(evs) != audited+len(st.ends) {
			t.Errorf("at %v: %d session.expired events, want %d", st.at, len(evs), audited+len(st.ends))
		} else if len(st.ends) == 1 {
			bs := st.ends[0]
			want := map[string]string{ownShort.ID: `{"reason":"idle","expired_at":"` + stamp(5*time.Minute) + `"}`,
				absolute.ID:    `{"reason":"absolute","expired_at":"` + stamp(10*time.Minute) + `"}`,
				idleDefault.ID: `{"reason":"idle","expired_at":"` + stamp(30*time.Minute) + `"}`,
				ownLong.ID:     `{"reason":"idle","expired_at":"` + stamp(2*time.Hour) + `"}`}[bs.ID]
			if ev := evs[0]; ev.SubjectID != u.ID || ev.ActorID != "" || ev.Detail != want {
				t.Errorf("at %v: %s session audited as %+v, want subject %s and detail %s", st.at, name[bs.ID], ev, u.ID, want)
			}
		}
		audited = len(evs)
		mustNil(t, "TouchSession", s.TouchSession(ctx, live.ID))
	}
	if got, _ := s.SessionByID(ctx, live.ID); got.EndedAt != nil {
		t.Errorf("the session in use was ended (%s)", got.EndReason)
	}

	// A backlog goes in batches of limit.
	for range 3 {
		mk(-time.Minute, 0)
	}
	for _, want := range []int{2, 1, 0} {
		n, err := s.EndExpiredSessions(ctx, idle, 2)
		mustNil(t, "EndExpiredSessions(limit 2)", err)
		if n != want {
			t.Errorf("EndExpiredSessions(limit 2) = %d, want %d", n, want)
		}
	}
	if _, err := s.EndExpiredSessions(ctx, 0, 0); err == nil {
		t.Error("EndExpiredSessions without a default idle limit succeeded")
	}
}

// testClockLogoutManyIdleLimits: with more distinct idle limits in use than
// the sweep has query terms for, it still ends exactly the idle sessions.
func testClockLogoutManyIdleLimits(t *testing.T, s *store.Store, c *clock) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	start := c.Now()
	var ids []string
	for i := range 80 {
		bs := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) {
			bs.AuthTime, bs.ExpiresAt, bs.IdleSeconds = start, start.Add(12*time.Hour), 600+i
		})
		ids = append(ids, bs.ID)
	}
	c.Advance(620 * time.Second)
	n, err := s.EndExpiredSessions(ctx, idle, 0)
	mustNil(t, "EndExpiredSessions", err)
	if n != 21 {
		t.Errorf("EndExpiredSessions = %d, want 21 (idle limits 600s..620s)", n)
	}
	for i, id := range ids {
		bs, err := s.SessionByID(ctx, id)
		mustNil(t, "SessionByID", err)
		if want := i <= 20; (bs.EndedAt != nil) != want {
			t.Errorf("session with idle limit %ds: ended = %v, want %v", 600+i, bs.EndedAt != nil, want)
		}
	}
}

// testClockLogoutRetention: DeleteExpired drops deliveries finished more
// than a month ago and keeps the rest, pending ones included.
func testClockLogoutRetention(t *testing.T, s *store.Store, c *clock) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	cl := logoutClient(t, s, "https://rp.example/bcl")
	for range 3 {
		linkedSession(t, s, u, func(bs *store.BrowserSession) { bs.ExpiresAt = c.Now().Add(time.Hour) }, cl)
	}
	_, err := s.EndUserSessions(ctx, u.ID, "", "logout")
	mustNil(t, "EndUserSessions", err)
	ds := deliveries(t, s, u.TenantID)
	if len(ds) != 3 {
		t.Fatalf("%d deliveries, want 3", len(ds))
	}
	mustNil(t, "MarkLogoutDelivered", s.MarkLogoutDelivered(ctx, ds[0].ID))
	mustNil(t, "MarkLogoutFailed", s.MarkLogoutFailed(ctx, ds[1].ID, 12, "503", c.Now(), true))

	c.Advance(29 * 24 * time.Hour)
	_, err = s.DeleteExpired(ctx)
	mustNil(t, "DeleteExpired", err)
	if got := len(deliveries(t, s, u.TenantID)); got != 3 {
		t.Fatalf("after 29 days: %d deliveries, want 3", got)
	}
	c.Advance(2 * 24 * time.Hour)
	_, err = s.DeleteExpired(ctx)
	mustNil(t, "DeleteExpired", err)
	left := deliveries(t, s, u.TenantID)
	if len(left) != 1 || left[0].ID != ds[2].ID {
		t.Fatalf("after 31 days: %+v, want only the pending delivery", deliveryIDs(left))
	}
}
