package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
)

// The administrative operations of policy.go: tenant Require TFA, 2FA
// reset, session revocation and per-tenant session lifetimes. Each one
// changes, ends sessions and audits in one transaction.

var adminActor = store.Actor{UserID: "admin-1", IP: "198.51.100.7", UserAgent: "storetest-admin", Via: "admin page"}

// policyTenant creates a tenant with Require TFA off.
func policyTenant(t testing.TB, s *store.Store) *store.Tenant {
	t.Helper()
	tn := &store.Tenant{Slug: "lax-" + store.NewID()[:10], Name: "Lax", RequireTFA: false}
	mustNil(t, "CreateTenant", s.CreateTenant(t.Context(), tn))
	return tn
}

// auditOf returns the tenant's audit events named event, newest first.
func auditOf(t testing.TB, s *store.Store, tenantID string, event audit.Event) []store.AuditEvent {
	t.Helper()
	es, err := s.ListAudit(t.Context(), store.AuditFilter{TenantID: tenantID, Event: event})
	mustNil(t, "ListAudit", err)
	return es
}

// checkAudit asserts that the tenant has exactly one event named event, by
// actor about subject, with detail.
func checkAudit(t testing.TB, s *store.Store, tenantID string, event audit.Event, subjectID string, actor store.Actor, detail string) {
	t.Helper()
	es := auditOf(t, s, tenantID, event)
	if len(es) != 1 {
		t.Fatalf("%d %s events for tenant %s, want 1: %+v", len(es), event, tenantID, es)
	}
	e := es[0]
	if e.TenantID != tenantID || e.SubjectID != subjectID || e.ActorID != actor.UserID || e.IP != actor.IP ||
		e.UserAgent != actor.UserAgent || e.Detail != detail || e.CreatedAt.IsZero() {
		t.Errorf("%s event = %+v\nwant tenant %s, subject %s, actor %+v, detail %s", event, e, tenantID, subjectID, actor, detail)
	}
	// The catalogue describes the detail written.
	spec, ok := audit.Lookup(event)
	var keys map[string]json.RawMessage
	if !ok || json.Unmarshal([]byte(e.Detail), &keys) != nil {
		t.Fatalf("%s: not in the catalogue, or detail %q is not a JSON object", event, e.Detail)
	}
	for k := range keys {
		if !slices.Contains(spec.Detail, k) {
			t.Errorf("%s: detail key %q is not in the catalogue's %v", event, k, spec.Detail)
		}
	}
}

// checkLive asserts which sessions are live, and that the tokens issued
// through each (sessionTokens) work exactly when it is.
func checkLive(t testing.TB, s *store.Store, want map[*store.BrowserSession]bool) {
	t.Helper()
	for bs, live := range want {
		if active(t, s, bs.SecretHash) != live {
			t.Errorf("session %s: active = %v, want %v", bs.ID, !live, live)
		}
		checkTokens(t, s, bs.ID, live)
	}
}

func checkEndReason(t testing.TB, s *store.Store, reason string, sessions ...*store.BrowserSession) {
	t.Helper()
	for _, bs := range sessions {
		got, err := s.SessionByID(t.Context(), bs.ID)
		mustNil(t, "SessionByID", err)
		if got.EndedAt == nil || got.EndReason != reason {
			t.Errorf("session %s: ended %v, reason %q; want ended, %q", bs.ID, got.EndedAt, got.EndReason, reason)
		}
	}
}

func requireTFA(t testing.TB, s *store.Store, tenantID string) bool {
	t.Helper()
	tn, err := s.TenantByID(t.Context(), tenantID)
	mustNil(t, "TenantByID", err)
	return tn.RequireTFA
}

// policyWorld is two tenants: acme with an admin (sessions keep and a2), a
// member (a3) and lax with one user (b1); every session has tokens.
type policyWorld struct {
	acme, lax            *store.Tenant
	admin, member, other *store.User
	keep, a2, a3, b1     *store.BrowserSession
	client               *store.Client
}

func newPolicyWorld(t testing.TB, s *store.Store) *policyWorld {
	t.Helper()
	w := &policyWorld{acme: policyTenant(t, s), lax: policyTenant(t, s)}
	w.admin, w.member, w.other = NewUser(t, s, w.acme.ID), NewUser(t, s, w.acme.ID), NewUser(t, s, w.lax.ID)
	w.keep, w.a2 = mustBrowserSession(t, s, w.admin, nil), mustBrowserSession(t, s, w.admin, nil)
	w.a3, w.b1 = mustBrowserSession(t, s, w.member, nil), mustBrowserSession(t, s, w.other, nil)
	// A client with a back-channel logout URI that every session signed
	// into, so that ending a session owes it a logout delivery.
	w.client = mustClient(t, s)
	bc := &store.Client{
		Name: "BCL " + store.NewID()[:6], SecretHash: []byte("$2a$10$stub"),
		RedirectURIs:         store.StringList{"https://bcl.example/cb"},
		BackchannelLogoutURI: "https://bcl.example/backchannel",
		Scopes:               store.StringList{"openid"}, GrantTypes: store.StringList{"authorization_code"},
	}
	mustNil(t, "CreateClient", s.CreateClient(t.Context(), bc))
	for _, bs := range []*store.BrowserSession{w.keep, w.a2, w.a3, w.b1} {
		sessionTokens(t, s, w.client, bs.ID)
		mustNil(t, "RecordSessionClient", s.RecordSessionClient(t.Context(), bs.ID, w.client.ID))
		mustNil(t, "RecordSessionClient", s.RecordSessionClient(t.Context(), bs.ID, bc.ID))
	}
	return w
}

func testRequireTFAClearSessions(t *testing.T, s *store.Store) {
	ctx := t.Context()
	w := newPolicyWorld(t, s)
	actor := adminActor
	actor.UserID = w.admin.ID

	ended, err := s.SetRequireTFA(ctx, w.acme.ID, true, true, w.keep.ID, actor)
	mustNil(t, "SetRequireTFA", err)
	if got := endedIDs(ended); !slices.Equal(got, sorted(w.a2.ID, w.a3.ID)) {
		t.Errorf("SetRequireTFA ended %q, want %q (not the admin's current one)", got, sorted(w.a2.ID, w.a3.ID))
	}
	for _, e := range ended {
		if len(e.ClientIDs) != 2 {
			t.Errorf("ended %+v: want both clients for back-channel logout", e)
		}
	}
	if !requireTFA(t, s, w.acme.ID) {
		t.Error("Require TFA is not on")
	}
	if requireTFA(t, s, w.lax.ID) {
		t.Error("another tenant's policy changed")
	}
	checkLive(t, s, map[*store.BrowserSession]bool{w.keep: true, w.a2: false, w.a3: false, w.b1: true})
	checkEndReason(t, s, store.EndReasonRequireTFA, w.a2, w.a3)
	checkAudit(t, s, w.acme.ID, audit.TenantRequireTFA, w.acme.ID, actor,
		`{"require_tfa":true,"option":"clear_sessions","sessions_ended":2,"via":"admin page"}`)
	if es := auditOf(t, s, w.lax.ID, ""); len(es) != 0 {
		t.Errorf("another tenant got audit events: %+v", es)
	}

	// Again, with no session to keep: the admin's own ends too.
	ended, err = s.SetRequireTFA(ctx, w.acme.ID, true, true, "", actor)
	mustNil(t, "SetRequireTFA(again)", err)
	if got := endedIDs(ended); !slices.Equal(got, []string{w.keep.ID}) {
		t.Errorf("SetRequireTFA without a session to keep ended %q, want %s", got, w.keep.ID)
	}
	if es := auditOf(t, s, w.acme.ID, audit.TenantRequireTFA); len(es) != 2 ||
		es[0].Detail != `{"require_tfa":true,"option":"clear_sessions","sessions_ended":1,"via":"admin page"}` {
		t.Errorf("audit after the second change: %+v", es)
	}
}

func testRequireTFAKeepSessions(t *testing.T, s *store.Store) {
	ctx := t.Context()
	w := newPolicyWorld(t, s)
	cli := store.Actor{Via: "cli"}

	ended, err := s.SetRequireTFA(ctx, w.acme.ID, true, false, "", cli)
	mustNil(t, "SetRequireTFA(keep)", err)
	if len(ended) != 0 {
		t.Errorf("keeping sessions ended %+v", ended)
	}
	if !requireTFA(t, s, w.acme.ID) {
		t.Error("Require TFA is not on")
	}
	checkLive(t, s, map[*store.BrowserSession]bool{w.keep: true, w.a2: true, w.a3: true, w.b1: true})
	checkAudit(t, s, w.acme.ID, audit.TenantRequireTFA, w.acme.ID, cli,
		`{"require_tfa":true,"option":"keep_sessions","sessions_ended":0,"via":"cli"}`)

	// Clearing sessions while turning the policy off makes no sense.
	_, err = s.SetRequireTFA(ctx, w.acme.ID, false, true, "", cli)
	mustIs(t, "SetRequireTFA(off, clear)", err, store.ErrInvalidArgument)
	if !requireTFA(t, s, w.acme.ID) || len(auditOf(t, s, w.acme.ID, "")) != 1 {
		t.Error("a refused change changed something")
	}

	ended, err = s.SetRequireTFA(ctx, w.acme.ID, false, false, "", cli)
	mustNil(t, "SetRequireTFA(off)", err)
	if len(ended) != 0 || requireTFA(t, s, w.acme.ID) {
		t.Errorf("turning off: ended %+v, require TFA %v", ended, requireTFA(t, s, w.acme.ID))
	}
	checkLive(t, s, map[*store.BrowserSession]bool{w.keep: true, w.a2: true, w.a3: true, w.b1: true})
	if es := auditOf(t, s, w.acme.ID, audit.TenantRequireTFA); len(es) != 2 ||
		es[0].Detail != `{"require_tfa":false,"sessions_ended":0,"via":"cli"}` {
		t.Errorf("audit after turning off: %+v", es)
	}

	_, err = s.SetRequireTFA(ctx, "missing", true, true, "", cli)
	mustIs(t, "SetRequireTFA(missing)", err, store.ErrNotFound)
	if es := auditOf(t, s, "missing", ""); len(es) != 0 {
		t.Errorf("a missing tenant was audited: %+v", es)
	}
}

// enrollMFA gives u a confirmed authenticator, a recovery key and an
// attempt counter.
func enrollMFA(t testing.TB, s *store.Store, u *store.User) {
	t.Helper()
	ctx := t.Context()
	mustNil(t, "BeginEnrollment", s.BeginEnrollment(ctx, u.ID, mfa.Secret("secret-"+u.ID)))
	mustNil(t, "ConfirmEnrollment", s.ConfirmEnrollment(ctx, u.ID, mfa.Secret("secret-"+u.ID), 1000, []byte("recovery-hash-"+u.ID)))
	ok, err := s.SaveAttempts(ctx, u.ID, 0, mfa.Attempts{Failures: 2, Version: 1})
	mustNil(t, "SaveAttempts", err)
	if !ok {
		t.Fatal("SaveAttempts lost on a fresh user")
	}
}

// mfaRows counts u's authenticator, recovery key and attempt counter rows.
func mfaRows(t testing.TB, s *store.Store, u *store.User) [3]int64 {
	t.Helper()
	var n [3]int64
	for i, table := range []string{"mfa_authenticators", "mfa_recovery_keys", "mfa_attempts"} {
		mustNil(t, "count "+table, s.DB().WithContext(t.Context()).Table(table).Where("user_id = ?", u.ID).Count(&n[i]).Error)
	}
	return n
}

func testResetUserMFA(t *testing.T, s *store.Store) {
	ctx := t.Context()
	w := newPolicyWorld(t, s)
	enrollMFA(t, s, w.admin)
	enrollMFA(t, s, w.member)

	ended, err := s.ResetUserMFA(ctx, w.admin.ID, adminActor)
	mustNil(t, "ResetUserMFA", err)
	if got := endedIDs(ended); !slices.Equal(got, sorted(w.keep.ID, w.a2.ID)) {
		t.Errorf("ResetUserMFA ended %q, want every session of the user %q", got, sorted(w.keep.ID, w.a2.ID))
	}
	if got := mfaRows(t, s, w.admin); got != [3]int64{} {
		t.Errorf("after ResetUserMFA: authenticator, recovery key, attempts rows = %v, want none", got)
	}
	if has, err := s.HasActiveAuthenticator(ctx, w.admin.ID); err != nil || has {
		t.Errorf("HasActiveAuthenticator = %v, %v; want false", has, err)
	}
	if got := mfaRows(t, s, w.member); got != [3]int64{1, 1, 1} {
		t.Errorf("another user's 2FA changed: %v", got)
	}
	checkLive(t, s, map[*store.BrowserSession]bool{w.keep: false, w.a2: false, w.a3: true, w.b1: true})
	checkEndReason(t, s, store.EndReasonMFAReset, w.keep, w.a2)
	checkAudit(t, s, w.acme.ID, audit.MFAReset, w.admin.ID, adminActor, `{"sessions_ended":2,"via":"admin page"}`)

	// A user with nothing to reset: not an error, still audited.
	ended, err = s.ResetUserMFA(ctx, w.other.ID, store.Actor{Via: "cli"})
	mustNil(t, "ResetUserMFA(not enrolled)", err)
	if got := endedIDs(ended); !slices.Equal(got, []string{w.b1.ID}) {
		t.Errorf("ResetUserMFA(not enrolled) ended %q", got)
	}
	checkAudit(t, s, w.lax.ID, audit.MFAReset, w.other.ID, store.Actor{Via: "cli"}, `{"sessions_ended":1,"via":"cli"}`)

	_, err = s.ResetUserMFA(ctx, "missing", adminActor)
	mustIs(t, "ResetUserMFA(missing)", err, store.ErrNotFound)
}

func testRevokeSessions(t *testing.T, s *store.Store) {
	ctx := t.Context()
	w := newPolicyWorld(t, s)
	extra := mustBrowserSession(t, s, w.member, nil)
	sessionTokens(t, s, w.client, extra.ID)

	ended, err := s.RevokeUserSessions(ctx, w.member.ID, extra.ID, adminActor)
	mustNil(t, "RevokeUserSessions", err)
	if got := endedIDs(ended); !slices.Equal(got, []string{w.a3.ID}) {
		t.Errorf("RevokeUserSessions ended %q, want %s", got, w.a3.ID)
	}
	checkLive(t, s, map[*store.BrowserSession]bool{w.keep: true, w.a2: true, w.a3: false, extra: true, w.b1: true})
	checkEndReason(t, s, store.EndReasonRevoked, w.a3)
	checkAudit(t, s, w.acme.ID, audit.SessionsRevoked, w.member.ID, adminActor, `{"sessions_ended":1,"via":"admin page"}`)

	cli := store.Actor{Via: "cli"}
	ended, err = s.RevokeTenantSessions(ctx, w.acme.ID, w.keep.ID, cli)
	mustNil(t, "RevokeTenantSessions", err)
	if got := endedIDs(ended); !slices.Equal(got, sorted(w.a2.ID, extra.ID)) {
		t.Errorf("RevokeTenantSessions ended %q, want %q", got, sorted(w.a2.ID, extra.ID))
	}
	checkLive(t, s, map[*store.BrowserSession]bool{w.keep: true, w.a2: false, w.a3: false, extra: false, w.b1: true})
	if es := auditOf(t, s, w.acme.ID, audit.SessionsRevoked); len(es) != 2 || es[0].SubjectID != w.acme.ID ||
		es[0].Detail != `{"sessions_ended":2,"via":"cli"}` || es[0].ActorID != "" {
		t.Errorf("audit of RevokeTenantSessions: %+v", es)
	}

	// Nothing left to end: not an error, and still on the record.
	ended, err = s.RevokeUserSessions(ctx, w.member.ID, "", cli)
	if err != nil || len(ended) != 0 {
		t.Errorf("RevokeUserSessions(nothing live) = %+v, %v", ended, err)
	}
	if es := auditOf(t, s, w.acme.ID, audit.SessionsRevoked); len(es) != 3 || es[0].Detail != `{"sessions_ended":0,"via":"cli"}` {
		t.Errorf("audit of an empty revocation: %+v", es)
	}

	_, err = s.RevokeUserSessions(ctx, "missing", "", cli)
	mustIs(t, "RevokeUserSessions(missing)", err, store.ErrNotFound)
	_, err = s.RevokeTenantSessions(ctx, "missing", "", cli)
	mustIs(t, "RevokeTenantSessions(missing)", err, store.ErrNotFound)
}

func testSessionLifetimes(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tn, other := policyTenant(t, s), policyTenant(t, s)
	lifetimes := func(id string) [2]int {
		t.Helper()
		got, err := s.TenantByID(ctx, id)
		mustNil(t, "TenantByID", err)
		return [2]int{got.SessionAbsoluteSeconds, got.SessionIdleSeconds}
	}
	if got := lifetimes(tn.ID); got != [2]int{} {
		t.Fatalf("a new tenant has lifetimes %v, want the deployment's (0, 0)", got)
	}

	mustNil(t, "SetTenantSessionLifetimes", s.SetTenantSessionLifetimes(ctx, tn.ID, 12*time.Hour, 30*time.Minute, adminActor))
	if got := lifetimes(tn.ID); got != [2]int{43200, 1800} {
		t.Errorf("lifetimes = %v, want [43200 1800]", got)
	}
	if got := lifetimes(other.ID); got != [2]int{} {
		t.Errorf("another tenant's lifetimes changed: %v", got)
	}
	checkAudit(t, s, tn.ID, audit.TenantSessions, tn.ID, adminActor, `{"absolute_seconds":43200,"idle_seconds":1800,"via":"admin page"}`)

	// Only an idle limit, with the deployment's absolute lifetime.
	mustNil(t, "SetTenantSessionLifetimes(idle only)", s.SetTenantSessionLifetimes(ctx, tn.ID, 0, time.Hour, adminActor))
	if got := lifetimes(tn.ID); got != [2]int{0, 3600} {
		t.Errorf("lifetimes = %v, want [0 3600]", got)
	}

	for _, bad := range [][2]time.Duration{
		{-time.Hour, 0},
		{0, -time.Second},
		{time.Hour, 2 * time.Hour},
		{1500 * time.Millisecond, 0},
		{store.MaxSessionLifetime + time.Hour, 0},
	} {
		err := s.SetTenantSessionLifetimes(ctx, tn.ID, bad[0], bad[1], adminActor)
		mustIs(t, "SetTenantSessionLifetimes("+bad[0].String()+", "+bad[1].String()+")", err, store.ErrInvalidArgument)
	}
	if got := lifetimes(tn.ID); got != [2]int{0, 3600} {
		t.Errorf("refused changes changed the lifetimes to %v", got)
	}

	mustNil(t, "SetTenantSessionLifetimes(defaults)", s.SetTenantSessionLifetimes(ctx, tn.ID, 0, 0, store.Actor{Via: "cli"}))
	if got := lifetimes(tn.ID); got != [2]int{} {
		t.Errorf("lifetimes = %v, want the deployment's (0, 0)", got)
	}
	if es := auditOf(t, s, tn.ID, audit.TenantSessions); len(es) != 3 || es[0].Detail != `{"absolute_seconds":0,"idle_seconds":0,"via":"cli"}` {
		t.Errorf("audit: %+v", es)
	}
	mustIs(t, "SetTenantSessionLifetimes(missing)", s.SetTenantSessionLifetimes(ctx, "missing", time.Hour, 0, adminActor), store.ErrNotFound)
}

var errAuditDown = errors.New("storetest: audit log unavailable")

// failAudits makes every insert into audit_events fail while the returned
// switch is on. The callback runs inside the operation's transaction, after
// its other writes, as a full disk or a lost connection would.
func failAudits(t testing.TB, s *store.Store) *atomic.Bool {
	t.Helper()
	var on atomic.Bool
	mustNil(t, "register callback", s.DB().Callback().Create().Before("gorm:create").
		Register("storetest:fail_audit", func(db *gorm.DB) {
			if on.Load() && db.Statement.Table == "audit_events" {
				_ = db.AddError(errAuditDown)
			}
		}))
	return &on
}

func logoutDeliveries(t testing.TB, s *store.Store) int64 {
	t.Helper()
	var n int64
	mustNil(t, "count logout_deliveries", s.DB().WithContext(t.Context()).Table("logout_deliveries").Count(&n).Error)
	return n
}

// testPolicyRollback fails the audit insert, the last write of every
// operation, and checks that the writes before it (the policy or lifetime
// change, the session endings, token revocations and logout deliveries, the
// 2FA reset) are all undone.
func testPolicyRollback(t *testing.T, s *store.Store) {
	ctx := t.Context()
	w := newPolicyWorld(t, s)
	enrollMFA(t, s, w.member)
	failing := failAudits(t, s)
	failing.Store(true)
	allLive := map[*store.BrowserSession]bool{w.keep: true, w.a2: true, w.a3: true, w.b1: true}

	_, err := s.SetRequireTFA(ctx, w.acme.ID, true, true, w.keep.ID, adminActor)
	mustIs(t, "SetRequireTFA with the audit failing", err, errAuditDown)
	if requireTFA(t, s, w.acme.ID) {
		t.Error("the policy changed although the audit failed")
	}
	checkLive(t, s, allLive)

	_, err = s.ResetUserMFA(ctx, w.member.ID, adminActor)
	mustIs(t, "ResetUserMFA with the audit failing", err, errAuditDown)
	if got := mfaRows(t, s, w.member); got != [3]int64{1, 1, 1} {
		t.Errorf("2FA was reset although the audit failed: rows %v", got)
	}
	checkLive(t, s, allLive)

	_, err = s.RevokeUserSessions(ctx, w.member.ID, "", adminActor)
	mustIs(t, "RevokeUserSessions with the audit failing", err, errAuditDown)
	_, err = s.RevokeTenantSessions(ctx, w.acme.ID, "", adminActor)
	mustIs(t, "RevokeTenantSessions with the audit failing", err, errAuditDown)
	checkLive(t, s, allLive)

	err = s.SetTenantSessionLifetimes(ctx, w.acme.ID, time.Hour, time.Minute, adminActor)
	mustIs(t, "SetTenantSessionLifetimes with the audit failing", err, errAuditDown)
	if tn, _ := s.TenantByID(ctx, w.acme.ID); tn.SessionAbsoluteSeconds != 0 || tn.SessionIdleSeconds != 0 {
		t.Errorf("the lifetimes changed although the audit failed: %+v", tn)
	}
	if n := logoutDeliveries(t, s); n != 0 {
		t.Errorf("%d back-channel logout deliveries queued by rolled back operations", n)
	}
	if es := auditOf(t, s, w.acme.ID, ""); len(es) != 0 {
		t.Errorf("audit events of failed operations: %+v", es)
	}

	// In a caller's transaction the operation joins it: the caller's
	// rollback undoes it although the operation itself succeeded.
	failing.Store(false)
	err = s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.SetRequireTFA(ctx, w.acme.ID, true, true, "", adminActor); err != nil {
			return err
		}
		return errAbort
	})
	mustIs(t, "SetRequireTFA in an aborted transaction", err, errAbort)
	if requireTFA(t, s, w.acme.ID) || len(auditOf(t, s, w.acme.ID, "")) != 0 {
		t.Error("an aborted outer transaction kept the policy change or its audit")
	}
	checkLive(t, s, allLive)

	// With the audit log back, the same operation goes through.
	ended, err := s.SetRequireTFA(ctx, w.acme.ID, true, true, w.keep.ID, adminActor)
	mustNil(t, "SetRequireTFA", err)
	if len(ended) != 2 || !requireTFA(t, s, w.acme.ID) {
		t.Errorf("SetRequireTFA after recovery: ended %+v", ended)
	}
}
