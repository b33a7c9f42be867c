package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
)

func testTenants(t *testing.T, s *store.Store) {
	ctx := t.Context()
	b := &store.Tenant{Slug: "beta", Name: "Beta", RequireTFA: false}
	a := &store.Tenant{Slug: "alpha", Name: "Alpha", RequireTFA: true}
	mustNil(t, "CreateTenant(beta)", s.CreateTenant(ctx, b))
	mustNil(t, "CreateTenant(alpha)", s.CreateTenant(ctx, a))
	if b.ID == "" || b.CreatedAt.IsZero() || b.UpdatedAt.IsZero() {
		t.Errorf("CreateTenant did not fill ID and timestamps: %+v", b)
	}

	got, err := s.TenantBySlug(ctx, "beta")
	mustNil(t, "TenantBySlug", err)
	// false must be written, not left to the column's DEFAULT TRUE.
	if got.ID != b.ID || got.Name != "Beta" || got.RequireTFA {
		t.Errorf("TenantBySlug = %+v, want %+v", got, b)
	}
	got, err = s.TenantByID(ctx, a.ID)
	mustNil(t, "TenantByID", err)
	if got.Slug != "alpha" || !got.RequireTFA {
		t.Errorf("TenantByID = %+v, want %+v", got, a)
	}

	mustIs(t, "duplicate slug", s.CreateTenant(ctx, &store.Tenant{Slug: "beta", Name: "Other"}), store.ErrConflict)
	_, err = s.TenantBySlug(ctx, "gamma")
	mustIs(t, "TenantBySlug(missing)", err, store.ErrNotFound)
	_, err = s.TenantByID(ctx, "missing")
	mustIs(t, "TenantByID(missing)", err, store.ErrNotFound)

	list, err := s.ListTenants(ctx)
	mustNil(t, "ListTenants", err)
	var slugs []string
	for _, tn := range list {
		slugs = append(slugs, tn.Slug)
	}
	if !slices.Equal(slugs, []string{"alpha", "beta"}) {
		t.Errorf("ListTenants = %q, want alpha, beta", slugs)
	}

	mustNil(t, "SetTenantRequireTFA", s.SetTenantRequireTFA(ctx, b.ID, true))
	got, err = s.TenantByID(ctx, b.ID)
	mustNil(t, "TenantByID", err)
	if !got.RequireTFA {
		t.Error("SetTenantRequireTFA(true) did not stick")
	}
	mustIs(t, "SetTenantRequireTFA(missing)", s.SetTenantRequireTFA(ctx, "missing", true), store.ErrNotFound)
}

func testUsers(t *testing.T, s *store.Store) {
	ctx := t.Context()
	acme, other := NewTenant(t, s), NewTenant(t, s)
	u := &store.User{TenantID: acme.ID, Email: "  Ada.Lovelace@Example.COM ", Name: "Ada", PasswordHash: "h1"}
	mustNil(t, "CreateUser", s.CreateUser(ctx, u))
	if u.Email != "ada.lovelace@example.com" || u.Role != store.RoleMember || u.ID == "" {
		t.Errorf("CreateUser left email %q, role %q, id %q", u.Email, u.Role, u.ID)
	}

	got, err := s.UserByEmail(ctx, "ADA.lovelace@example.com\t")
	mustNil(t, "UserByEmail", err)
	if got.ID != u.ID || got.Email != "ada.lovelace@example.com" || got.TenantID != acme.ID || got.IsAdmin() {
		t.Errorf("UserByEmail = %+v", got)
	}
	got, err = s.UserByID(ctx, u.ID)
	mustNil(t, "UserByID", err)
	if got.Email != u.Email || got.PasswordHash != "h1" || got.LastLoginAt != nil || got.Disabled {
		t.Errorf("UserByID = %+v", got)
	}

	// One email, one account, whatever the tenant: sign-in looks users up
	// by email alone.
	mustIs(t, "same email, other tenant", s.CreateUser(ctx, &store.User{TenantID: other.ID, Email: "ada.lovelace@example.com", PasswordHash: "h"}), store.ErrConflict)
	mustIs(t, "same email, other case", s.CreateUser(ctx, &store.User{TenantID: acme.ID, Email: "ADA.LOVELACE@EXAMPLE.COM", PasswordHash: "h"}), store.ErrConflict)

	admin := &store.User{TenantID: acme.ID, Email: "root@example.com", PasswordHash: "h", Role: store.RoleAdmin}
	mustNil(t, "CreateUser(admin)", s.CreateUser(ctx, admin))
	NewUser(t, s, other.ID)
	list, err := s.ListUsers(ctx, acme.ID)
	mustNil(t, "ListUsers", err)
	var emails []string
	for _, x := range list {
		emails = append(emails, x.Email)
	}
	if !slices.Equal(emails, []string{"ada.lovelace@example.com", "root@example.com"}) {
		t.Errorf("ListUsers = %q", emails)
	}
	got, err = s.UserByID(ctx, admin.ID)
	mustNil(t, "UserByID(admin)", err)
	if !got.IsAdmin() {
		t.Error("admin role lost")
	}

	mustNil(t, "TouchLastLogin", s.TouchLastLogin(ctx, u.ID))
	mustNil(t, "SetPasswordHash", s.SetPasswordHash(ctx, u.ID, "h2"))
	got, err = s.UserByID(ctx, u.ID)
	mustNil(t, "UserByID", err)
	if got.LastLoginAt == nil || got.PasswordHash != "h2" {
		t.Errorf("after TouchLastLogin and SetPasswordHash: last login %v, hash %q", got.LastLoginAt, got.PasswordHash)
	}

	_, err = s.UserByEmail(ctx, "nobody@example.com")
	mustIs(t, "UserByEmail(missing)", err, store.ErrNotFound)
	_, err = s.UserByID(ctx, "missing")
	mustIs(t, "UserByID(missing)", err, store.ErrNotFound)
}

func testClients(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn := NewTenant(t, s)
	c := &store.Client{
		ID:                     "web-app",
		Name:                   "Web",
		SecretHash:             []byte{0x24, 0x32, 0x00, 0xff},
		RedirectURIs:           store.StringList{"https://a.example/cb", "http://127.0.0.1:8080/cb"},
		PostLogoutRedirectURIs: store.StringList{"https://a.example/bye"},
		BackchannelLogoutURI:   "https://a.example/bcl",
		SkipConsent:            true,
		RequirePKCE:            false,
		TenantID:               &tn.ID,
		Scopes:                 store.StringList{"openid", "email"},
		GrantTypes:             store.StringList{"authorization_code"},
	}
	mustNil(t, "CreateClient", s.CreateClient(ctx, c))
	pub := &store.Client{Name: "CLI", Public: true, RequirePKCE: true}
	mustNil(t, "CreateClient(public)", s.CreateClient(ctx, pub))

	got, err := s.ClientByID(ctx, "web-app")
	mustNil(t, "ClientByID", err)
	for _, f := range []struct {
		name      string
		got, want []string
	}{
		{"RedirectURIs", got.RedirectURIs, c.RedirectURIs},
		{"PostLogoutRedirectURIs", got.PostLogoutRedirectURIs, c.PostLogoutRedirectURIs},
		{"Scopes", got.Scopes, c.Scopes},
		{"GrantTypes", got.GrantTypes, c.GrantTypes},
	} {
		if !slices.Equal(f.got, f.want) {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if string(got.SecretHash) != string(c.SecretHash) || got.BackchannelLogoutURI != c.BackchannelLogoutURI ||
		!got.SkipConsent || got.RequirePKCE || got.Public || got.TenantID == nil || *got.TenantID != tn.ID {
		t.Errorf("ClientByID = %+v, want %+v", got, c)
	}
	if !got.AllowsTenant(tn.ID) || got.AllowsTenant("other") {
		t.Error("a tenant-bound client must allow its tenant only")
	}
	if !got.HasPostLogoutRedirectURI("https://a.example/bye") || got.HasPostLogoutRedirectURI("https://a.example/bye/x") {
		t.Error("HasPostLogoutRedirectURI must match exactly")
	}

	got, err = s.ClientByID(ctx, pub.ID)
	mustNil(t, "ClientByID(public)", err)
	if !got.Public || got.TenantID != nil || len(got.RedirectURIs) != 0 || len(got.Scopes) != 0 || len(got.SecretHash) != 0 {
		t.Errorf("public client = %+v", got)
	}
	if !got.AllowsTenant(tn.ID) || !got.AllowsTenant("any") {
		t.Error("a client without tenant must allow every tenant")
	}

	mustIs(t, "duplicate id", s.CreateClient(ctx, &store.Client{ID: "web-app", Name: "Again"}), store.ErrConflict)
	list, err := s.ListClients(ctx)
	mustNil(t, "ListClients", err)
	if len(list) != 2 || list[0].Name != "CLI" || list[1].Name != "Web" {
		t.Errorf("ListClients = %+v, want CLI, Web", list)
	}

	// Deleting a client stops its tokens at once.
	mustNil(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, "at-1", newRequest(c, newSession("olga", ""))))
	mustNil(t, "DeleteClient", s.DeleteClient(ctx, "web-app"))
	_, err = s.ClientByID(ctx, "web-app")
	mustIs(t, "ClientByID(deleted)", err, store.ErrNotFound)
	_, err = s.GetAccessTokenSession(ctx, "at-1", store.NewSession())
	mustIs(t, "token of a deleted client", err, fosite.ErrNotFound)
	mustIs(t, "DeleteClient(again)", s.DeleteClient(ctx, "web-app"), store.ErrNotFound)
}

func testConsents(t *testing.T, s *store.Store) {
	ctx := t.Context()
	u := NewUser(t, s, NewTenant(t, s).ID)
	c1, c2 := mustClient(t, s), mustClient(t, s)

	got, err := s.ConsentedScopes(ctx, u.ID, c1.ID)
	mustNil(t, "ConsentedScopes(none)", err)
	if len(got) != 0 {
		t.Errorf("ConsentedScopes(none) = %q", got)
	}
	mustNil(t, "SaveConsent", s.SaveConsent(ctx, u.ID, c1.ID, []string{"openid", "profile"}))
	mustNil(t, "SaveConsent", s.SaveConsent(ctx, u.ID, c1.ID, []string{"profile", "email"}))
	mustNil(t, "SaveConsent(c2)", s.SaveConsent(ctx, u.ID, c2.ID, []string{"openid"}))

	got, err = s.ConsentedScopes(ctx, u.ID, c1.ID)
	mustNil(t, "ConsentedScopes", err)
	if !slices.Equal(got, []string{"openid", "profile", "email"}) {
		t.Errorf("merged consent = %q, want openid profile email", got)
	}
	got, err = s.ConsentedScopes(ctx, u.ID, c2.ID)
	mustNil(t, "ConsentedScopes(c2)", err)
	if !slices.Equal(got, []string{"openid"}) {
		t.Errorf("consent of c2 = %q, want openid", got)
	}

	// The consents of a deleted client go with it (ON DELETE CASCADE, which
	// on SQLite also proves foreign keys are enforced).
	mustNil(t, "DeleteClient", s.DeleteClient(ctx, c1.ID))
	got, err = s.ConsentedScopes(ctx, u.ID, c1.ID)
	mustNil(t, "ConsentedScopes(deleted client)", err)
	if len(got) != 0 {
		t.Errorf("consent outlived its client: %q", got)
	}
}

func testAudit(t *testing.T, s *store.Store) {
	ctx := t.Context()
	base := now()
	for i, ev := range []store.AuditEvent{
		{TenantID: "t1", SubjectID: "u1", Event: audit.LoginPassword, CreatedAt: base.Add(-2 * time.Minute)},
		{TenantID: "t1", SubjectID: "u2", Event: audit.LoginPassword, CreatedAt: base.Add(-time.Minute)},
		{TenantID: "t1", SubjectID: "u1", Event: audit.Logout, Detail: `{"reason":"user"}`},
		{TenantID: "t2", SubjectID: "u9", Event: audit.LoginPassword},
	} {
		mustNil(t, "Audit", s.Audit(ctx, &ev))
		if ev.ID == 0 {
			t.Errorf("event %d: no ID assigned", i)
		}
	}
	list, err := s.ListAudit(ctx, store.AuditFilter{TenantID: "t1"})
	mustNil(t, "ListAudit", err)
	var got []string
	for _, e := range list {
		got = append(got, e.SubjectID+":"+string(e.Event))
	}
	if !slices.Equal(got, []string{"u1:logout", "u2:login.password", "u1:login.password"}) {
		t.Errorf("ListAudit = %q, want newest first, tenant t1 only", got)
	}
	if list[0].Detail != `{"reason":"user"}` || list[1].Detail != "{}" {
		t.Errorf("details = %q, %q", list[0].Detail, list[1].Detail)
	}
	list, err = s.ListAudit(ctx, store.AuditFilter{TenantID: "t1", SubjectID: "u1", Event: audit.LoginPassword, Limit: 5})
	mustNil(t, "ListAudit(filtered)", err)
	if len(list) != 1 || list[0].SubjectID != "u1" || list[0].Event != audit.LoginPassword {
		t.Errorf("ListAudit(filtered) = %+v", list)
	}
}
