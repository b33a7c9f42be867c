package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// Zones on both sides of UTC: SQLite keeps times as text, so one stored
// with an offset compares wrongly against UTC in one direction or the other.
var (
	east = time.FixedZone("UTC+05:30", 5*3600+30*60)
	west = time.FixedZone("UTC-07:00", -7*3600)
)

// checkUTC fails unless got is the instant want, read back in UTC.
func checkUTC(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s read back in %v, want UTC", what, got.Location())
	}
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// testTimesUTC hands the store times in other zones, as callers may, and
// checks that they are stored as UTC: read back in UTC and compared as
// instants, not as text.
func testTimesUTC(t *testing.T, s *store.Store) {
	ctx := t.Context()
	n := now()
	tn := NewTenant(t, s)
	u := NewUser(t, s, tn.ID)
	c := mustClient(t, s)

	live := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) {
		bs.AuthTime, bs.CreatedAt, bs.LastSeenAt = n.In(west), n.In(west), n.In(west)
		bs.ExpiresAt = n.Add(time.Hour).In(west)
	})
	if !active(t, s, live.SecretHash) {
		t.Error("a live session whose times came in UTC-07:00 is not active")
	}
	expired := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) {
		bs.LastSeenAt, bs.ExpiresAt = n.In(east), n.Add(-time.Hour).In(east)
	})
	if active(t, s, expired.SecretHash) {
		t.Error("an expired session whose times came in UTC+05:30 is active")
	}
	idleOne := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) {
		bs.LastSeenAt = n.Add(-idle - time.Minute).In(east)
	})
	if active(t, s, idleOne.SecretHash) {
		t.Error("an idle session whose times came in UTC+05:30 is active")
	}
	got, err := s.SessionByID(ctx, live.ID)
	mustNil(t, "SessionByID", err)
	checkUTC(t, "session AuthTime", got.AuthTime, n)
	checkUTC(t, "session CreatedAt", got.CreatedAt, n)
	checkUTC(t, "session LastSeenAt", got.LastSeenAt, n)
	checkUTC(t, "session ExpiresAt", got.ExpiresAt, n.Add(time.Hour))

	mustNil(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &store.AuthRequest{
		ID: "ar-east", BrowserID: "b", ClientID: c.ID, ExpiresAt: n.Add(-time.Minute).In(east),
	}))
	mustNil(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &store.AuthRequest{
		ID: "ar-west", BrowserID: "b", ClientID: c.ID, CreatedAt: n.In(west), ExpiresAt: n.Add(time.Hour).In(west),
	}))
	_, err = s.AuthRequestFor(ctx, "ar-east", "b")
	mustIs(t, "expired auth request given in UTC+05:30", err, store.ErrNotFound)
	ar, err := s.AuthRequestFor(ctx, "ar-west", "b")
	mustNil(t, "live auth request given in UTC-07:00", err)
	checkUTC(t, "auth request CreatedAt", ar.CreatedAt, n)
	checkUTC(t, "auth request ExpiresAt", ar.ExpiresAt, n.Add(time.Hour))

	sess := newSession("quinn", "")
	sess.SetExpiresAt(fosite.AccessToken, n.Add(-time.Hour).In(east))
	req := newRequest(c, sess)
	req.RequestedAt = n.In(east)
	mustNil(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, "at-east", req))
	tok, err := s.GetAccessTokenSession(ctx, "at-east", store.NewSession())
	mustNil(t, "GetAccessTokenSession", err)
	checkUTC(t, "token RequestedAt", tok.GetRequestedAt(), n)

	k := signingKey("k-east")
	k.CreatedAt, k.RetiredAt = n.Add(-time.Hour).In(east), new(n.Add(-time.Minute).In(west))
	mustNil(t, "AddSigningKey", s.AddSigningKey(ctx, k))
	ks, err := s.PublishedSigningKeys(ctx, time.Hour)
	mustNil(t, "PublishedSigningKeys", err)
	if len(ks) != 1 || ks[0].RetiredAt == nil {
		t.Fatalf("PublishedSigningKeys = %+v, want k-east", ks)
	}
	checkUTC(t, "key CreatedAt", ks[0].CreatedAt, n.Add(-time.Hour))
	checkUTC(t, "key RetiredAt", *ks[0].RetiredAt, n.Add(-time.Minute))

	mustNil(t, "Audit", s.Audit(ctx, &store.AuditEvent{TenantID: tn.ID, Event: audit.LoginPassword, CreatedAt: n.In(east)}))
	evs, err := s.ListAudit(ctx, store.AuditFilter{TenantID: tn.ID})
	mustNil(t, "ListAudit", err)
	if len(evs) != 1 {
		t.Fatalf("ListAudit = %+v", evs)
	}
	checkUTC(t, "audit CreatedAt", evs[0].CreatedAt, n)

	// Housekeeping compares the same way: it removes the expired token and
	// request given east of UTC and keeps the live request given west.
	_, err = s.DeleteExpired(ctx)
	mustNil(t, "DeleteExpired", err)
	_, err = s.GetAccessTokenSession(ctx, "at-east", store.NewSession())
	mustIs(t, "expired token after DeleteExpired", err, fosite.ErrNotFound)
	_, err = s.AuthRequestFor(ctx, "ar-west", "b")
	mustNil(t, "live auth request after DeleteExpired", err)
}

// clock is the store's Config.Now in the RunClock cases: it moves only
// when told to, and it is west of UTC on purpose.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2031, 3, 4, 5, 6, 7, 891011000, west)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testClockUTC checks that every time the store takes from its own clock
// is written and read as UTC, although the clock runs in UTC-07:00.
func testClockUTC(t *testing.T, s *store.Store, c *clock) {
	ctx := t.Context()
	t0 := c.Now()
	tn := NewTenant(t, s)
	got, err := s.TenantByID(ctx, tn.ID)
	mustNil(t, "TenantByID", err)
	checkUTC(t, "tenant CreatedAt", got.CreatedAt, t0)
	checkUTC(t, "tenant UpdatedAt", got.UpdatedAt, t0)

	u := NewUser(t, s, tn.ID)
	mustNil(t, "TouchLastLogin", s.TouchLastLogin(ctx, u.ID))
	gu, err := s.UserByID(ctx, u.ID)
	mustNil(t, "UserByID", err)
	if gu.LastLoginAt == nil {
		t.Fatal("LastLoginAt not set")
	}
	checkUTC(t, "user LastLoginAt", *gu.LastLoginAt, t0)

	bs := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) {
		bs.AuthTime, bs.ExpiresAt = c.Now(), c.Now().Add(time.Hour)
	})
	c.Advance(time.Minute)
	_, err = s.EndSession(ctx, bs.ID, "logout")
	mustNil(t, "EndSession", err)
	gs, err := s.SessionByID(ctx, bs.ID)
	mustNil(t, "SessionByID", err)
	checkUTC(t, "session CreatedAt", gs.CreatedAt, t0)
	checkUTC(t, "session LastSeenAt", gs.LastSeenAt, t0)
	if gs.EndedAt == nil {
		t.Fatal("EndedAt not set")
	}
	checkUTC(t, "session EndedAt", *gs.EndedAt, t0.Add(time.Minute))

	cl := mustClient(t, s)
	mustNil(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &store.AuthRequest{ID: "ar", BrowserID: "b", ClientID: cl.ID, ExpiresAt: c.Now().Add(time.Minute)}))
	ar, err := s.AuthRequestFor(ctx, "ar", "b")
	mustNil(t, "AuthRequestFor", err)
	checkUTC(t, "auth request CreatedAt", ar.CreatedAt, c.Now())

	req := newRequest(cl, store.NewSession())
	req.RequestedAt = time.Time{}
	mustNil(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, "at", req))
	tok, err := s.GetAccessTokenSession(ctx, "at", store.NewSession())
	mustNil(t, "GetAccessTokenSession", err)
	checkUTC(t, "token RequestedAt (store default)", tok.GetRequestedAt(), c.Now())

	mustNil(t, "AddSigningKey", s.AddSigningKey(ctx, signingKey("k1")))
	c.Advance(time.Minute)
	mustNil(t, "RotateSigningKeys", s.RotateSigningKeys(ctx, signingKey("k2")))
	ks, err := s.PublishedSigningKeys(ctx, time.Hour)
	mustNil(t, "PublishedSigningKeys", err)
	if got := kids(ks); !slices.Equal(got, []string{"k2", "k1"}) || ks[1].RetiredAt == nil {
		t.Fatalf("PublishedSigningKeys = %+v", ks)
	}
	checkUTC(t, "key CreatedAt", ks[0].CreatedAt, c.Now())
	checkUTC(t, "key RetiredAt", *ks[1].RetiredAt, c.Now())

	mustNil(t, "Audit", s.Audit(ctx, &store.AuditEvent{TenantID: tn.ID, Event: audit.LoginPassword}))
	evs, err := s.ListAudit(ctx, store.AuditFilter{TenantID: tn.ID})
	mustNil(t, "ListAudit", err)
	if len(evs) != 1 {
		t.Fatalf("ListAudit = %+v", evs)
	}
	checkUTC(t, "audit CreatedAt", evs[0].CreatedAt, c.Now())
}

// testClockSessionWindows moves the store's clock, not the wall clock,
// through a session's idle and absolute limits.
func testClockSessionWindows(t *testing.T, s *store.Store, c *clock) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	start := c.Now()
	idler := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) {
		bs.AuthTime, bs.ExpiresAt = start, start.Add(2*time.Hour)
	})
	busy := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) {
		bs.AuthTime, bs.ExpiresAt = start, start.Add(2*time.Hour)
	})
	for i, st := range []struct {
		advance    time.Duration
		touchIdler bool
		idler      bool // want idler active
		busy       bool // want busy (touched at every step) active
	}{
		{0, false, true, true},
		{20 * time.Minute, true, true, true},
		{25 * time.Minute, false, true, true},   // idler: 25m since its touch
		{10 * time.Minute, false, false, true},  // idler: 35m idle
		{20 * time.Minute, false, false, true},  //
		{20 * time.Minute, false, false, true},  //
		{20 * time.Minute, false, false, true},  // busy: 1h55m after sign-in
		{10 * time.Minute, false, false, false}, // busy: past its absolute end
	} {
		c.Advance(st.advance)
		if st.touchIdler {
			mustNil(t, "TouchSession", s.TouchSession(ctx, idler.ID))
		}
		if got := active(t, s, idler.SecretHash); got != st.idler {
			t.Errorf("step %d (%v in): idle session active = %v, want %v", i, c.Now().Sub(start), got, st.idler)
		}
		if got := active(t, s, busy.SecretHash); got != st.busy {
			t.Errorf("step %d (%v in): busy session active = %v, want %v", i, c.Now().Sub(start), got, st.busy)
		}
		mustNil(t, "TouchSession", s.TouchSession(ctx, busy.ID))
	}
}

func testClockExpiry(t *testing.T, s *store.Store, c *clock) {
	ctx := t.Context()
	cl := mustClient(t, s)

	mustNil(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &store.AuthRequest{ID: "ar", BrowserID: "b", ClientID: cl.ID, ExpiresAt: c.Now().Add(10 * time.Minute)}))

	sess := store.NewSession()
	sess.SetExpiresAt(fosite.PushedAuthorizeRequestContext, c.Now().Add(90*time.Second))
	par := fosite.NewAuthorizeRequest()
	par.ID, par.Client, par.Session = "par-1", cl, sess
	mustNil(t, "CreatePARSession", s.CreatePARSession(ctx, "urn:par:1", par))
	// Without an expiry in the session a pushed request lives 10 minutes.
	par2 := fosite.NewAuthorizeRequest()
	par2.ID, par2.Client, par2.Session = "par-2", cl, store.NewSession()
	mustNil(t, "CreatePARSession", s.CreatePARSession(ctx, "urn:par:2", par2))

	mustNil(t, "SetClientAssertionJWT", s.SetClientAssertionJWT(ctx, "jti", c.Now().Add(5*time.Minute)))

	type check struct {
		name string
		live bool
		err  error
	}
	probe := func() []check {
		_, errAR := s.AuthRequestFor(ctx, "ar", "b")
		_, errPAR := s.GetPARSession(ctx, "urn:par:1")
		_, errPAR2 := s.GetPARSession(ctx, "urn:par:2")
		errJTI := s.ClientAssertionJWTValid(ctx, "jti")
		return []check{
			{"auth request", errAR == nil, errAR},
			{"PAR (90s)", errPAR == nil, errPAR},
			{"PAR (default)", errPAR2 == nil, errPAR2},
			{"JTI", errors.Is(errJTI, fosite.ErrJTIKnown), errJTI},
		}
	}
	for _, st := range []struct {
		advance time.Duration
		live    []bool // auth request, PAR (90s), PAR (default), JTI
	}{
		{0, []bool{true, true, true, true}},
		{2 * time.Minute, []bool{true, false, true, true}},
		{4 * time.Minute, []bool{true, false, true, false}},
		{5 * time.Minute, []bool{false, false, false, false}},
	} {
		c.Advance(st.advance)
		for i, ch := range probe() {
			if ch.live != st.live[i] {
				t.Errorf("%v in: %s live = %v (err %v), want %v", c.Now().Sub(newClock().Now()), ch.name, ch.live, ch.err, st.live[i])
			} else if !ch.live && ch.name != "JTI" && !errors.Is(ch.err, fosite.ErrNotFound) {
				t.Errorf("%s: expired err = %v, want ErrNotFound", ch.name, ch.err)
			}
		}
	}
}

// testClockSigningKeys rotates twice an hour apart and checks the window
// of retired keys that stay published.
func testClockSigningKeys(t *testing.T, s *store.Store, c *clock) {
	ctx := t.Context()
	mustNil(t, "AddSigningKey", s.AddSigningKey(ctx, signingKey("k1")))
	c.Advance(time.Hour)
	mustNil(t, "RotateSigningKeys", s.RotateSigningKeys(ctx, signingKey("k2")))
	c.Advance(time.Hour)
	mustNil(t, "RotateSigningKeys", s.RotateSigningKeys(ctx, signingKey("k3")))
	c.Advance(30 * time.Minute)
	// k2 was retired 30m ago, k1 90m ago; a key retired exactly keep ago
	// is no longer published.
	for keep, want := range map[time.Duration][]string{
		0:                {"k3"},
		30 * time.Minute: {"k3"},
		31 * time.Minute: {"k3", "k2"},
		90 * time.Minute: {"k3", "k2"},
		91 * time.Minute: {"k3", "k2", "k1"},
		48 * time.Hour:   {"k3", "k2", "k1"},
	} {
		ks, err := s.PublishedSigningKeys(ctx, keep)
		mustNil(t, "PublishedSigningKeys", err)
		if got := kids(ks); !slices.Equal(got, want) {
			t.Errorf("PublishedSigningKeys(%v) = %q, want %q", keep, got, want)
		}
	}
}

// testClockDeleteExpired lets some of everything expire on the store's
// clock and runs the housekeeping.
func testClockDeleteExpired(t *testing.T, s *store.Store, c *clock) {
	ctx := t.Context()
	cl := mustClient(t, s)
	access := func(sig string, ttl time.Duration) {
		sess := store.NewSession()
		sess.SetExpiresAt(fosite.AccessToken, c.Now().Add(ttl))
		mustNil(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, sig, newRequest(cl, sess)))
	}
	access("at-live", time.Hour)
	access("at-dead", time.Minute)
	// A refresh token without a lifespan is kept (for reuse detection).
	mustNil(t, "CreateRefreshTokenSession", s.CreateRefreshTokenSession(ctx, "rt", "at-live", newRequest(cl, store.NewSession())))
	for id, ttl := range map[string]time.Duration{"ar-live": time.Hour, "ar-dead": time.Minute} {
		mustNil(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &store.AuthRequest{ID: id, BrowserID: "b", ClientID: cl.ID, ExpiresAt: c.Now().Add(ttl)}))
	}
	mustNil(t, "SetClientAssertionJWT", s.SetClientAssertionJWT(ctx, "jti-live", c.Now().Add(time.Hour)))
	mustNil(t, "SetClientAssertionJWT", s.SetClientAssertionJWT(ctx, "jti-dead", c.Now().Add(time.Minute)))

	n, err := s.DeleteExpired(ctx)
	mustNil(t, "DeleteExpired", err)
	if n != 0 {
		t.Errorf("DeleteExpired removed %d rows before anything expired", n)
	}
	c.Advance(10 * time.Minute)
	n, err = s.DeleteExpired(ctx)
	mustNil(t, "DeleteExpired", err)
	if n != 3 {
		t.Errorf("DeleteExpired = %d, want 3 (token, auth request, jti)", n)
	}

	_, err = s.GetAccessTokenSession(ctx, "at-live", store.NewSession())
	mustNil(t, "live access token", err)
	_, err = s.GetAccessTokenSession(ctx, "at-dead", store.NewSession())
	mustIs(t, "expired access token", err, fosite.ErrNotFound)
	_, err = s.GetRefreshTokenSession(ctx, "rt", store.NewSession())
	mustNil(t, "refresh token", err)
	_, err = s.AuthRequestFor(ctx, "ar-live", "b")
	mustNil(t, "live auth request", err)
	var ars, jtis []string
	mustNil(t, "auth_requests", s.DB().WithContext(ctx).Table("auth_requests").Pluck("id", &ars).Error)
	mustNil(t, "client_assertion_jtis", s.DB().WithContext(ctx).Table("client_assertion_jtis").Pluck("jti", &jtis).Error)
	if !slices.Equal(ars, []string{"ar-live"}) || !slices.Equal(jtis, []string{"jti-live"}) {
		t.Errorf("left auth requests %q and jtis %q, want ar-live and jti-live", ars, jtis)
	}

	n, err = s.DeleteExpired(ctx)
	mustNil(t, "DeleteExpired(again)", err)
	if n != 0 {
		t.Errorf("second DeleteExpired = %d, want 0", n)
	}
}
