package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// newLinkedUser creates a user of a new tenant through CreateUserWithLink.
func newLinkedUser(t *testing.T, s *store.Store, email string, ttl time.Duration) (*store.User, *store.IssuedLink) {
	t.Helper()
	tn := NewTenant(t, s)
	u := &store.User{TenantID: tn.ID, Email: email, Name: "Ada"}
	link, err := s.CreateUserWithLink(t.Context(), u, ttl, store.Actor{UserID: "admin-1", Via: "cli"})
	mustNil(t, "CreateUserWithLink", err)
	return u, link
}

// testPasswordLinkSingleUse: a new user has no usable password and a
// link; reading the link does not spend it; racers setting a password
// through it at once: exactly one wins, the others get ErrLinkUsed, and the
// winner's hash is the one stored. The link stays spent; a second link
// replaces the first.
func testPasswordLinkSingleUse(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u, link := newLinkedUser(t, s, "New.User@Example.com", store.NewUserLinkLifetime)
	if u.Email != "new.user@example.com" || u.PasswordHash != "" || len(link.Token) < 40 {
		t.Fatalf("user %+v, token %q", u, link.Token)
	}
	if _, err := s.CreateUserWithLink(ctx, &store.User{TenantID: u.TenantID, Email: "new.user@example.com"}, time.Hour, store.Actor{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a taken email: %v, want ErrConflict", err)
	}
	for range 2 {
		l, got, err := s.PasswordLinkFor(ctx, link.Token)
		mustNil(t, "PasswordLinkFor", err)
		if got.ID != u.ID || l.Purpose != store.LinkNewUser || l.TokenHash == link.Token {
			t.Fatalf("link %+v of %s", l, got.ID)
		}
	}
	sid := mustBrowserSession(t, s, u, nil).ID
	errs := race(racers, func(i int) error {
		_, _, err := s.SetPasswordByLink(ctx, link.Token, fmt.Sprint("hash-", i), store.Actor{IP: "192.0.2.1"})
		return err
	})
	winner := oneWinner(t, errs, store.ErrLinkUsed)
	got, err := s.UserByID(ctx, u.ID)
	mustNil(t, "UserByID", err)
	if want := fmt.Sprint("hash-", winner); got.PasswordHash != want {
		t.Errorf("hash %q, want the winner's %q", got.PasswordHash, want)
	}
	if bs, _ := s.SessionByID(ctx, sid); bs.EndedAt == nil || bs.EndReason != store.EndReasonPasswordSet {
		t.Errorf("the user's session survived the new password: %+v", bs)
	}
	if _, _, err := s.PasswordLinkFor(ctx, link.Token); !errors.Is(err, store.ErrLinkUsed) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a spent link: %v", err)
	}
	if _, _, err := s.PasswordLinkFor(ctx, "no-such-token"); !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrLinkUsed) {
		t.Errorf("an unknown link: %v", err)
	}
	evs, err := s.ListAudit(ctx, store.AuditFilter{TenantID: u.TenantID, SubjectID: u.ID})
	mustNil(t, "ListAudit", err)
	var names []audit.Event
	for _, e := range evs {
		names = append(names, e.Event)
		if e.Event == audit.PasswordSetByLink && (e.ActorID != u.ID || e.IP != "192.0.2.1" || e.Detail != `{"purpose":"new_user","sessions_ended":1}`) {
			t.Errorf("password.set_by_link: %+v", e)
		}
	}
	if !slices.Equal(names, []audit.Event{audit.PasswordSetByLink, audit.UserCreated}) {
		t.Errorf("audit %v", names)
	}

	// A reset link replaces any earlier one.
	first, err := s.IssueResetLink(ctx, u.ID, store.ResetLinkLifetime, store.Actor{Via: "cli"})
	mustNil(t, "IssueResetLink", err)
	second, err := s.IssueResetLink(ctx, u.ID, store.ResetLinkLifetime, store.Actor{Via: "cli"})
	mustNil(t, "IssueResetLink", err)
	if _, _, err := s.PasswordLinkFor(ctx, first.Token); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the replaced link: %v", err)
	}
	if l, _, err := s.PasswordLinkFor(ctx, second.Token); err != nil || l.Purpose != store.LinkReset {
		t.Errorf("the reset link: %+v %v", l, err)
	}
}

// testClockPasswordLinkExpiry: a link works until its lifetime ends, then
// is ErrLinkExpired and cannot be spent.
func testClockPasswordLinkExpiry(t *testing.T, s *store.Store, c *clock) {
	ctx := t.Context()
	u, link := newLinkedUser(t, s, "late@example.com", time.Hour)
	if !link.ExpiresAt.Equal(c.Now().Add(time.Hour)) {
		t.Errorf("expires %v, want an hour from %v", link.ExpiresAt, c.Now())
	}
	c.Advance(59 * time.Minute)
	if _, _, err := s.PasswordLinkFor(ctx, link.Token); err != nil {
		t.Fatalf("a live link: %v", err)
	}
	c.Advance(time.Minute)
	if _, _, err := s.PasswordLinkFor(ctx, link.Token); !errors.Is(err, store.ErrLinkExpired) {
		t.Errorf("an expired link: %v", err)
	}
	if _, _, err := s.SetPasswordByLink(ctx, link.Token, "hash", store.Actor{}); !errors.Is(err, store.ErrLinkExpired) {
		t.Errorf("spending an expired link: %v", err)
	}
	if got, _ := s.UserByID(ctx, u.ID); got.PasswordHash != "" {
		t.Errorf("an expired link set the password")
	}
}

// testDisableDeleteUser: disabling ends the user's sessions and removes
// their links, enabling restores the flag; deleting ends the sessions and
// removes the user and what follows them, and keeps the audit rows.
func testDisableDeleteUser(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u, link := newLinkedUser(t, s, "gone@example.com", time.Hour)
	sid := mustBrowserSession(t, s, u, nil).ID
	ended, err := s.SetUserDisabled(ctx, u.ID, true, store.Actor{UserID: "admin-1", Via: "admin page"})
	mustNil(t, "SetUserDisabled", err)
	if len(ended) != 1 || ended[0].SessionID != sid {
		t.Errorf("disable ended %+v", ended)
	}
	if got, _ := s.UserByID(ctx, u.ID); !got.Disabled {
		t.Error("not disabled")
	}
	if _, _, err := s.PasswordLinkFor(ctx, link.Token); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a disabled user's link: %v", err)
	}
	if _, err := s.IssueResetLink(ctx, u.ID, time.Hour, store.Actor{}); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("a reset link for a disabled user: %v", err)
	}
	_, err = s.SetUserDisabled(ctx, u.ID, false, store.Actor{UserID: "admin-1", Via: "admin page"})
	mustNil(t, "SetUserDisabled(false)", err)
	if got, _ := s.UserByID(ctx, u.ID); got.Disabled {
		t.Error("still disabled")
	}

	mustBrowserSession(t, s, u, nil)
	mustNil(t, "BeginEnrollment", s.BeginEnrollment(ctx, u.ID, "secret"))
	mustNil(t, "ConfirmEnrollment", s.ConfirmEnrollment(ctx, u.ID, "secret", 1, []byte("recovery-hash")))
	_, err = s.ChargeSignInFailure(ctx, u.ID, "192.0.2.7", time.Hour)
	mustNil(t, "ChargeSignInFailure", err)
	ended, err = s.DeleteUser(ctx, u.ID, store.Actor{UserID: "admin-1", Via: "admin api"})
	mustNil(t, "DeleteUser", err)
	if len(ended) != 1 {
		t.Errorf("delete ended %d sessions", len(ended))
	}
	if _, err := s.UserByID(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user: %v", err)
	}
	if has, err := s.HasActiveAuthenticator(ctx, u.ID); err != nil || has {
		t.Errorf("the deleted user's authenticator: %v %v", has, err)
	}
	if cs, err := s.SignInCountersFor(ctx, u.ID, "192.0.2.7"); err != nil || cs.Pair.Failures != 0 {
		t.Errorf("the deleted user's failure counters: %+v %v", cs.Pair, err)
	}
	if _, err := s.DeleteUser(ctx, u.ID, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting again: %v", err)
	}
	evs, err := s.ListAudit(ctx, store.AuditFilter{TenantID: u.TenantID, SubjectID: u.ID})
	mustNil(t, "ListAudit", err)
	var names []audit.Event
	for _, e := range evs {
		names = append(names, e.Event)
	}
	if !slices.Equal(names, []audit.Event{audit.UserDeleted, audit.UserEnabled, audit.UserDisabled, audit.UserCreated}) {
		t.Errorf("audit %v", names)
	}
	if evs[0].Detail != `{"email":"gone@example.com","sessions_ended":1,"via":"admin api"}` {
		t.Errorf("user.deleted detail %s", evs[0].Detail)
	}
}

// testSearchUsers: a substring of the email or name in any case, pages
// by offset, and another tenant's users never match.
func testSearchUsers(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn := NewTenant(t, s)
	other := NewTenant(t, s)
	for i, name := range []string{"Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara_Liskov"} {
		mustNil(t, "CreateUser", s.CreateUser(ctx, &store.User{TenantID: tn.ID, Email: fmt.Sprintf("user%d@example.com", i), Name: name, PasswordHash: "x"}))
	}
	mustNil(t, "CreateUser", s.CreateUser(ctx, &store.User{TenantID: other.ID, Email: "ada@other.example", Name: "Ada Other", PasswordHash: "x"}))
	names := func(p store.UserPage) ([]string, int) {
		t.Helper()
		p.TenantID = tn.ID
		us, total, err := s.SearchUsers(ctx, p)
		mustNil(t, "SearchUsers", err)
		var out []string
		for _, u := range us {
			out = append(out, u.Name)
		}
		return out, total
	}
	for _, c := range []struct {
		search string
		want   []string
	}{
		{"", []string{"Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara_Liskov"}},
		{"ADA", []string{"Ada Lovelace"}},
		{"hOpPeR", []string{"Grace Hopper"}},
		{"USER2@", []string{"Alan Turing"}},
		{"a_l", []string{"Barbara_Liskov"}}, // _ is no wildcard
		{"%", nil},
		{"nobody", nil},
	} {
		if got, total := names(store.UserPage{Search: c.search}); !slices.Equal(got, c.want) || total != len(c.want) {
			t.Errorf("search %q: %v (%d), want %v", c.search, got, total, c.want)
		}
	}
	if got, total := names(store.UserPage{Offset: 2, Limit: 2}); !slices.Equal(got, []string{"Alan Turing", "Edsger Dijkstra"}) || total != 5 {
		t.Errorf("page 2: %v (%d)", got, total)
	}
}

// testAuditKeyset: pages of the audit log by (created_at, id), newest
// first, with events sharing a time told apart by id, backwards and
// forwards, through the cursor's text form.
func testAuditKeyset(t *testing.T, s *store.Store) {
	ctx := t.Context()
	base := now().Add(-time.Hour)
	var ids []int64
	for i := range 7 {
		// Events 2, 3 and 4 share one time.
		at := base.Add([]time.Duration{0, 1, 10, 10, 10, 15, 16}[i] * time.Second)
		e := store.AuditEvent{TenantID: "t1", Event: audit.LoginPassword, CreatedAt: at}
		mustNil(t, "Audit", s.Audit(ctx, &e))
		ids = append(ids, e.ID)
	}
	page := func(f store.AuditFilter) []int64 {
		t.Helper()
		f.TenantID, f.Limit = "t1", 3
		es, err := s.ListAudit(ctx, f)
		mustNil(t, "ListAudit", err)
		var out []int64
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	cursor := func(id int64) *store.AuditCursor {
		es, err := s.ListAudit(ctx, store.AuditFilter{TenantID: "t1", Limit: 100})
		mustNil(t, "ListAudit", err)
		for _, e := range es {
			if e.ID == id {
				c, err := store.ParseAuditCursor(store.CursorOf(&e).String())
				mustNil(t, "ParseAuditCursor", err)
				return c
			}
		}
		t.Fatalf("no event %d", id)
		return nil
	}
	first := page(store.AuditFilter{})
	want := [][]int64{{ids[6], ids[5], ids[4]}, {ids[3], ids[2], ids[1]}, {ids[0]}}
	if !slices.Equal(first, want[0]) {
		t.Fatalf("first page %v, want %v", first, want[0])
	}
	second := page(store.AuditFilter{Before: cursor(first[2])})
	if !slices.Equal(second, want[1]) {
		t.Fatalf("second page %v, want %v", second, want[1])
	}
	if third := page(store.AuditFilter{Before: cursor(second[2])}); !slices.Equal(third, want[2]) {
		t.Errorf("third page %v, want %v", third, want[2])
	}
	if back := page(store.AuditFilter{After: cursor(second[0])}); !slices.Equal(back, want[0]) {
		t.Errorf("newer than the second page %v, want %v", back, want[0])
	}
	for _, bad := range []string{"", "x", "1-", "-1-2", "12"} {
		if _, err := store.ParseAuditCursor(bad); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
}
