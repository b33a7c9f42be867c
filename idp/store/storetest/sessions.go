package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/store"
)

const idle = 30 * time.Minute

// active reports whether secretHash opens a live session (idle limit idle).
func active(t testing.TB, s *store.Store, secretHash string) bool {
	t.Helper()
	_, err := s.ActiveSession(t.Context(), secretHash, idle)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ActiveSession: %v", err)
	}
	return err == nil
}

func testActiveSession(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	n := now()

	live := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) { bs.ACR = "urn:portcullis:mfa" })
	got, err := s.ActiveSession(ctx, live.SecretHash, idle)
	mustNil(t, "ActiveSession", err)
	if got.ID != live.ID || got.UserID != u.ID || got.TenantID != u.TenantID || !slices.Equal(got.AMR, []string{"pwd"}) ||
		got.ACR != live.ACR || got.UserAgent != "storetest" || got.IP != "192.0.2.1" || !got.AuthTime.Equal(live.AuthTime) ||
		!got.ExpiresAt.Equal(live.ExpiresAt) || got.EndedAt != nil {
		t.Errorf("ActiveSession = %+v, want %+v", got, live)
	}

	expired := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) { bs.ExpiresAt = n.Add(-time.Minute) })
	if active(t, s, expired.SecretHash) {
		t.Error("a session past its absolute end is active")
	}
	idleOne := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) { bs.LastSeenAt = n.Add(-idle - time.Minute) })
	if active(t, s, idleOne.SecretHash) {
		t.Error("a session idle for longer than the limit is active")
	}
	if _, err := s.ActiveSession(ctx, idleOne.SecretHash, 2*idle); err != nil {
		t.Errorf("ActiveSession with a longer idle limit: %v", err)
	}
	mustNil(t, "TouchSession", s.TouchSession(ctx, idleOne.ID))
	if !active(t, s, idleOne.SecretHash) {
		t.Error("TouchSession did not record activity")
	}

	ended := mustBrowserSession(t, s, u, nil)
	_, err = s.EndSession(ctx, ended.ID, "logout")
	mustNil(t, "EndSession", err)
	if active(t, s, ended.SecretHash) {
		t.Error("an ended session is active")
	}
	mustNil(t, "TouchSession(ended)", s.TouchSession(ctx, ended.ID))
	if active(t, s, ended.SecretHash) {
		t.Error("TouchSession revived an ended session")
	}
	if active(t, s, "no-such-hash") {
		t.Error("an unknown secret opened a session")
	}

	got, err = s.SessionByID(ctx, ended.ID)
	mustNil(t, "SessionByID(ended)", err)
	if got.EndedAt == nil || got.EndReason != "logout" {
		t.Errorf("ended session: EndedAt %v, EndReason %q", got.EndedAt, got.EndReason)
	}
	_, err = s.SessionByID(ctx, "missing")
	mustIs(t, "SessionByID(missing)", err, store.ErrNotFound)
}

func testUpdateSessionAuth(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	bs := mustBrowserSession(t, s, u, nil)
	authTime := now().Add(time.Second)
	mustNil(t, "UpdateSessionAuth", s.UpdateSessionAuth(ctx, bs.ID, store.SessionUpdate{
		NewSecretHash: "rotated-" + bs.SecretHash,
		AuthTime:      authTime,
		AMR:           []string{"pwd", "otp"},
		ACR:           "urn:portcullis:mfa",
	}))
	if active(t, s, bs.SecretHash) {
		t.Error("the secret from before the rotation still opens the session")
	}
	got, err := s.ActiveSession(ctx, "rotated-"+bs.SecretHash, idle)
	mustNil(t, "ActiveSession(rotated)", err)
	if got.ID != bs.ID || !slices.Equal(got.AMR, []string{"pwd", "otp"}) || got.ACR != "urn:portcullis:mfa" || !got.AuthTime.Equal(authTime) {
		t.Errorf("after UpdateSessionAuth: %+v", got)
	}

	_, err = s.EndSession(ctx, bs.ID, "logout")
	mustNil(t, "EndSession", err)
	mustIs(t, "UpdateSessionAuth(ended)", s.UpdateSessionAuth(ctx, bs.ID, store.SessionUpdate{NewSecretHash: "x"}), store.ErrNotFound)
	mustIs(t, "UpdateSessionAuth(missing)", s.UpdateSessionAuth(ctx, "missing", store.SessionUpdate{NewSecretHash: "y"}), store.ErrNotFound)
}

// sessionTokens issues a code, an access and a refresh token through the
// browser session sid, signed code-<sid>, at-<sid> and rt-<sid>.
func sessionTokens(t testing.TB, s *store.Store, c *store.Client, sid string) {
	t.Helper()
	ctx := t.Context()
	req := newRequest(c, newSession("user-"+sid, sid))
	mustNil(t, "code", s.CreateAuthorizeCodeSession(ctx, "code-"+sid, req))
	mustNil(t, "access", s.CreateAccessTokenSession(ctx, "at-"+sid, req))
	mustNil(t, "refresh", s.CreateRefreshTokenSession(ctx, "rt-"+sid, "at-"+sid, req))
}

// checkTokens asserts whether the tokens of sessionTokens(sid) still work.
func checkTokens(t testing.TB, s *store.Store, sid string, live bool) {
	t.Helper()
	ctx := t.Context()
	_, errAT := s.GetAccessTokenSession(ctx, "at-"+sid, store.NewSession())
	rt, errRT := s.GetRefreshTokenSession(ctx, "rt-"+sid, store.NewSession())
	code, errCode := s.GetAuthorizeCodeSession(ctx, "code-"+sid, store.NewSession())
	if live {
		if errAT != nil || errRT != nil || errCode != nil {
			t.Errorf("tokens of %s: access %v, refresh %v, code %v; want all live", sid, errAT, errRT, errCode)
		}
		return
	}
	if !errors.Is(errAT, fosite.ErrNotFound) {
		t.Errorf("access token of %s: err = %v, want ErrNotFound", sid, errAT)
	}
	if !errors.Is(errRT, fosite.ErrInactiveToken) || rt == nil {
		t.Errorf("refresh token of %s: requester %v, err = %v; want requester and ErrInactiveToken", sid, rt, errRT)
	}
	if !errors.Is(errCode, fosite.ErrInvalidatedAuthorizeCode) || code == nil {
		t.Errorf("code of %s: requester %v, err = %v; want requester and ErrInvalidatedAuthorizeCode", sid, code, errCode)
	}
}

func endedIDs(ended []store.EndedSession) []string {
	var ids []string
	for _, e := range ended {
		ids = append(ids, e.SessionID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func testEndSession(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	bs, other := mustBrowserSession(t, s, u, nil), mustBrowserSession(t, s, u, nil)
	c1, c2 := mustClient(t, s), mustClient(t, s)
	for _, link := range [][2]string{{bs.ID, c1.ID}, {bs.ID, c2.ID}, {bs.ID, c1.ID}, {other.ID, c1.ID}} {
		mustNil(t, "RecordSessionClient", s.RecordSessionClient(ctx, link[0], link[1]))
	}
	sessionTokens(t, s, c1, bs.ID)
	sessionTokens(t, s, c1, other.ID)

	ended, err := s.EndSession(ctx, bs.ID, "logout")
	mustNil(t, "EndSession", err)
	if len(ended) != 1 || ended[0].SessionID != bs.ID || ended[0].UserID != u.ID {
		t.Fatalf("EndSession = %+v, want session %s of user %s", ended, bs.ID, u.ID)
	}
	if got := sorted(ended[0].ClientIDs...); !slices.Equal(got, sorted(c1.ID, c2.ID)) {
		t.Errorf("ClientIDs = %q, want %q (each once)", got, sorted(c1.ID, c2.ID))
	}
	checkTokens(t, s, bs.ID, false)
	checkTokens(t, s, other.ID, true)
	if !active(t, s, other.SecretHash) {
		t.Error("EndSession ended another session")
	}

	ended, err = s.EndSession(ctx, bs.ID, "logout")
	mustNil(t, "EndSession(again)", err)
	if len(ended) != 0 {
		t.Errorf("ending an ended session reported %+v", ended)
	}
	ended, err = s.EndSession(ctx, "missing", "logout")
	if err != nil || len(ended) != 0 {
		t.Errorf("EndSession(missing) = %+v, %v; want nothing", ended, err)
	}
}

var errNothingEnded = errors.New("nothing ended")

// testEndSessionRace logs one session out from several tabs at once.
func testEndSessionRace(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	bs := mustBrowserSession(t, s, u, nil)
	sessionTokens(t, s, mustClient(t, s), bs.ID)
	errs := race(racers, func(int) error {
		ended, err := s.EndSession(ctx, bs.ID, "logout")
		switch {
		case err != nil:
			return err
		case len(ended) == 0:
			return errNothingEnded
		case len(ended) > 1 || ended[0].SessionID != bs.ID:
			return fmt.Errorf("ended %+v", ended)
		}
		return nil
	})
	oneWinner(t, errs, errNothingEnded)
	checkTokens(t, s, bs.ID, false)
}

func testEndTenantSessions(t *testing.T, s *store.Store) {
	ctx := t.Context()
	acme, other := NewTenant(t, s), NewTenant(t, s)
	u1, u2, u3 := NewUser(t, s, acme.ID), NewUser(t, s, acme.ID), NewUser(t, s, other.ID)
	keep, a2, a3 := mustBrowserSession(t, s, u1, nil), mustBrowserSession(t, s, u1, nil), mustBrowserSession(t, s, u2, nil)
	b1 := mustBrowserSession(t, s, u3, nil)
	c := mustClient(t, s)
	for _, bs := range []*store.BrowserSession{keep, a2, a3, b1} {
		sessionTokens(t, s, c, bs.ID)
	}
	mustNil(t, "RecordSessionClient", s.RecordSessionClient(ctx, a3.ID, c.ID))

	ended, err := s.EndTenantSessions(ctx, acme.ID, keep.ID, "policy")
	mustNil(t, "EndTenantSessions", err)
	if got := endedIDs(ended); !slices.Equal(got, sorted(a2.ID, a3.ID)) {
		t.Errorf("EndTenantSessions ended %q, want %q", got, sorted(a2.ID, a3.ID))
	}
	for _, e := range ended {
		if e.SessionID == a3.ID && (e.UserID != u2.ID || !slices.Equal(e.ClientIDs, []string{c.ID})) {
			t.Errorf("ended %+v, want user %s and client %s", e, u2.ID, c.ID)
		}
	}
	for bs, want := range map[*store.BrowserSession]bool{keep: true, a2: false, a3: false, b1: true} {
		if active(t, s, bs.SecretHash) != want {
			t.Errorf("session %s: active = %v, want %v", bs.ID, !want, want)
		}
		checkTokens(t, s, bs.ID, want)
	}
	got, err := s.SessionByID(ctx, a2.ID)
	mustNil(t, "SessionByID", err)
	if got.EndReason != "policy" {
		t.Errorf("EndReason = %q, want policy", got.EndReason)
	}
}

func testEndUserSessions(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn := NewTenant(t, s)
	u, v := NewUser(t, s, tn.ID), NewUser(t, s, tn.ID)
	s1, s2, s3 := mustBrowserSession(t, s, u, nil), mustBrowserSession(t, s, u, nil), mustBrowserSession(t, s, u, nil)
	s4 := mustBrowserSession(t, s, v, nil)

	ended, err := s.EndUserSessions(ctx, u.ID, s2.ID, "password-changed")
	mustNil(t, "EndUserSessions", err)
	if got := endedIDs(ended); !slices.Equal(got, sorted(s1.ID, s3.ID)) {
		t.Errorf("EndUserSessions ended %q, want %q", got, sorted(s1.ID, s3.ID))
	}
	for bs, want := range map[*store.BrowserSession]bool{s1: false, s2: true, s3: false, s4: true} {
		if active(t, s, bs.SecretHash) != want {
			t.Errorf("session %s: active = %v, want %v", bs.ID, !want, want)
		}
	}

	ended, err = s.EndUserSessions(ctx, u.ID, "", "disabled")
	mustNil(t, "EndUserSessions(all)", err)
	if got := endedIDs(ended); !slices.Equal(got, []string{s2.ID}) {
		t.Errorf("EndUserSessions(all) ended %q, want only %s", got, s2.ID)
	}
	if !active(t, s, s4.SecretHash) {
		t.Error("another user's session was ended")
	}
}

func testListUserSessions(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	n := now()
	older := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) { bs.CreatedAt = n.Add(-2 * time.Hour) })
	newer := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) { bs.CreatedAt = n.Add(-time.Hour) })
	mustBrowserSession(t, s, u, func(bs *store.BrowserSession) { bs.ExpiresAt = n.Add(-time.Second) })
	gone := mustBrowserSession(t, s, u, nil)
	_, err := s.EndSession(ctx, gone.ID, "logout")
	mustNil(t, "EndSession", err)
	mustBrowserSession(t, s, NewUser(t, s, u.TenantID), nil)
	mustBrowserSession(t, s, u, func(bs *store.BrowserSession) { bs.LastSeenAt, bs.IdleSeconds = n.Add(-time.Hour), 60 })

	list, err := s.ListUserSessions(ctx, u.ID, 24*time.Hour)
	mustNil(t, "ListUserSessions", err)
	var ids []string
	for _, bs := range list {
		ids = append(ids, bs.ID)
	}
	if !slices.Equal(ids, []string{newer.ID, older.ID}) {
		t.Errorf("ListUserSessions = %q, want the live ones newest first %q", ids, []string{newer.ID, older.ID})
	}
}

func testRevokeTokensBySession(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := mustClient(t, s)
	sessionTokens(t, s, c, "sid-1")
	sessionTokens(t, s, c, "sid-2")
	mustNil(t, "RevokeTokensBySession", s.RevokeTokensBySession(ctx, "sid-1"))
	checkTokens(t, s, "sid-1", false)
	checkTokens(t, s, "sid-2", true)
	// Tokens without a browser session (client credentials) share the
	// empty session ID; revoking "" must not touch them.
	sessionTokens(t, s, c, "")
	mustNil(t, "RevokeTokensBySession(empty)", s.RevokeTokensBySession(ctx, ""))
	checkTokens(t, s, "", true)
}

func testAuthRequests(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := mustClient(t, s)
	u := NewUser(t, s, NewTenant(t, s).ID)
	n := now()
	ar := &store.AuthRequest{
		ID: "ar-1", BrowserID: "browser-1", ClientID: c.ID,
		Form:  "client_id=" + c.ID + "&scope=openid&state=s1",
		Stage: "password", ExpiresAt: n.Add(10 * time.Minute),
	}
	mustNil(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, ar))
	mustIs(t, "CreateAuthRequest(same id)", s.CreateAuthRequest(ctx, &store.AuthRequest{ID: "ar-1", BrowserID: "b", ClientID: c.ID, ExpiresAt: n.Add(time.Minute)}), store.ErrConflict)
	expired := &store.AuthRequest{ID: "ar-old", BrowserID: "browser-1", ClientID: c.ID, Stage: "password", ExpiresAt: n.Add(-time.Second)}
	mustNil(t, "CreateAuthRequest(expired)", s.CreateAuthRequest(ctx, expired))

	got, err := s.AuthRequestFor(ctx, "ar-1", "browser-1")
	mustNil(t, "AuthRequestFor", err)
	if got.ClientID != c.ID || got.Form != ar.Form || got.Stage != "password" || !got.ExpiresAt.Equal(ar.ExpiresAt) || got.CreatedAt.IsZero() {
		t.Errorf("AuthRequestFor = %+v, want %+v", got, ar)
	}
	_, err = s.AuthRequestFor(ctx, "ar-1", "browser-2")
	mustIs(t, "AuthRequestFor(other browser)", err, store.ErrNotFound)
	_, err = s.AuthRequestFor(ctx, "ar-old", "browser-1")
	mustIs(t, "AuthRequestFor(expired)", err, store.ErrNotFound)

	read := *got
	moved := read
	moved.Stage, moved.UserID, moved.SessionID = "totp", u.ID, "sess-1"
	mustNil(t, "MoveAuthRequest", s.MoveAuthRequest(ctx, &read, &moved))
	mustIs(t, "MoveAuthRequest(replayed)", s.MoveAuthRequest(ctx, &read, &moved), store.ErrNotFound)
	mustIs(t, "MoveAuthRequest(missing)", s.MoveAuthRequest(ctx, &store.AuthRequest{ID: "missing", Stage: "password"}, &moved), store.ErrNotFound)
	got, err = s.AuthRequestFor(ctx, "ar-1", "browser-1")
	mustNil(t, "AuthRequestFor", err)
	if got.Stage != "totp" || got.UserID != u.ID || got.SessionID != "sess-1" || got.Form != ar.Form || got.ClientID != c.ID {
		t.Errorf("after MoveAuthRequest: %+v", got)
	}
	// Clearing a field is a move too (a new password sign-in forgets the
	// session a step-up was for).
	cleared := moved
	cleared.SessionID, cleared.Stage = "", "signed_in"
	// A move that keeps the stage still loses to one made meanwhile: the
	// whole state read is compared, not the stage alone.
	stale := moved
	stale.SecretData = "from-another-tab"
	mustIs(t, "MoveAuthRequest(stale snapshot)", s.MoveAuthRequest(ctx, &stale, &cleared), store.ErrNotFound)
	mustNil(t, "MoveAuthRequest(clear)", s.MoveAuthRequest(ctx, &moved, &cleared))
	if got, err = s.AuthRequestFor(ctx, "ar-1", "browser-1"); err != nil || got.SessionID != "" || got.Stage != "signed_in" {
		t.Errorf("after clearing move: %+v, %v", got, err)
	}

	mustNil(t, "DeleteAuthRequest", s.DeleteAuthRequest(ctx, "ar-1"))
	mustIs(t, "DeleteAuthRequest(again)", s.DeleteAuthRequest(ctx, "ar-1"), store.ErrNotFound)
	_, err = s.AuthRequestFor(ctx, "ar-1", "browser-1")
	mustIs(t, "AuthRequestFor(deleted)", err, store.ErrNotFound)
}

// testAdvanceAuthRequestRace presents one TOTP step from many goroutines.
func testAdvanceAuthRequestRace(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := mustClient(t, s)
	mustNil(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &store.AuthRequest{
		ID: "ar-1", BrowserID: "browser-1", ClientID: c.ID, Stage: "totp", ExpiresAt: now().Add(time.Minute),
	}))
	errs := race(racers, func(i int) error {
		return s.MoveAuthRequest(ctx, &store.AuthRequest{ID: "ar-1", Stage: "totp"},
			&store.AuthRequest{ID: "ar-1", Stage: "done", SessionID: fmt.Sprint("sid-", i)})
	})
	winner := oneWinner(t, errs, store.ErrNotFound)
	got, err := s.AuthRequestFor(ctx, "ar-1", "browser-1")
	mustNil(t, "AuthRequestFor", err)
	if want := fmt.Sprint("sid-", winner); got.Stage != "done" || got.SessionID != want {
		t.Errorf("stage %q, session %q; want done, %q", got.Stage, got.SessionID, want)
	}
}
