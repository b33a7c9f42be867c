package storetest

import (
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// testUserAndTenant: the joined reads give what UserByID/UserByEmail and
// TenantByID give, field for field, and ErrNotFound for an unknown user.
func testUserAndTenant(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn := NewTenant(t, s)
	mustNil(t, "SetTenantSessionLifetimes", s.SetTenantSessionLifetimes(ctx, tn.ID, time.Hour, 10*time.Minute, store.Actor{Via: "test"}))
	u := NewUser(t, s, tn.ID)
	mustNil(t, "TouchLastLogin", s.TouchLastLogin(ctx, u.ID))
	wantU, err := s.UserByID(ctx, u.ID)
	mustNil(t, "UserByID", err)
	wantT, err := s.TenantByID(ctx, tn.ID)
	mustNil(t, "TenantByID", err)
	for name, read := range map[string]func() (*store.User, *store.Tenant, error){
		"by id":    func() (*store.User, *store.Tenant, error) { return s.UserAndTenantByID(ctx, u.ID) },
		"by email": func() (*store.User, *store.Tenant, error) { return s.UserAndTenantByEmail(ctx, " "+u.Email+" ") },
	} {
		gotU, gotT, err := read()
		mustNil(t, name, err)
		if !sameUser(gotU, wantU) || !sameTenant(gotT, wantT) {
			t.Errorf("%s: got %+v %+v, want %+v %+v", name, gotU, gotT, wantU, wantT)
		}
	}
	_, _, err = s.UserAndTenantByID(ctx, "nobody")
	mustIs(t, "UserAndTenantByID(unknown)", err, store.ErrNotFound)
	_, _, err = s.UserAndTenantByEmail(ctx, "nobody@example.com")
	mustIs(t, "UserAndTenantByEmail(unknown)", err, store.ErrNotFound)
}

// testActiveSessionWithUser: the joined read is ActiveSession plus the
// user and tenant, with ActiveSession's rules (ended, expired, idle).
func testActiveSessionWithUser(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn := NewTenant(t, s)
	u := NewUser(t, s, tn.ID)
	bs := mustBrowserSession(t, s, u, func(bs *store.BrowserSession) { bs.ACR = "urn:test"; bs.AMR = store.StringList{"pwd", "otp"} })
	want, err := s.ActiveSession(ctx, bs.SecretHash, time.Hour)
	mustNil(t, "ActiveSession", err)
	got, err := s.ActiveSessionWithUser(ctx, bs.SecretHash, time.Hour)
	mustNil(t, "ActiveSessionWithUser", err)
	if got.Session.ID != want.ID || got.Session.ACR != want.ACR || len(got.Session.AMR) != 2 ||
		!got.Session.AuthTime.Equal(want.AuthTime) || !got.Session.LastSeenAt.Equal(want.LastSeenAt) ||
		!got.Session.ExpiresAt.Equal(want.ExpiresAt) || got.Session.SecretHash != want.SecretHash {
		t.Errorf("session: got %+v, want %+v", got.Session, want)
	}
	if got.User.ID != u.ID || got.User.Email != u.Email || got.Tenant.ID != tn.ID || got.Tenant.Slug != tn.Slug || !got.Tenant.RequireTFA {
		t.Errorf("user/tenant: %+v %+v", got.User, got.Tenant)
	}
	// Idle beyond the limit given: not found, as ActiveSession.
	_, err = s.ActiveSessionWithUser(ctx, bs.SecretHash, time.Nanosecond)
	mustIs(t, "ActiveSessionWithUser(idle)", err, store.ErrNotFound)
	_, err = s.EndSession(ctx, bs.ID, "test")
	mustNil(t, "EndSession", err)
	_, err = s.ActiveSessionWithUser(ctx, bs.SecretHash, time.Hour)
	mustIs(t, "ActiveSessionWithUser(ended)", err, store.ErrNotFound)
}

func sameUser(a, b *store.User) bool {
	return a.ID == b.ID && a.TenantID == b.TenantID && a.Email == b.Email && a.Name == b.Name &&
		a.PasswordHash == b.PasswordHash && a.Role == b.Role && a.Disabled == b.Disabled &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) &&
		(a.LastLoginAt == nil) == (b.LastLoginAt == nil) && (a.LastLoginAt == nil || a.LastLoginAt.Equal(*b.LastLoginAt))
}

func sameTenant(a, b *store.Tenant) bool {
	return a.ID == b.ID && a.Slug == b.Slug && a.Name == b.Name && a.RequireTFA == b.RequireTFA &&
		a.SessionAbsoluteSeconds == b.SessionAbsoluteSeconds && a.SessionIdleSeconds == b.SessionIdleSeconds &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}
