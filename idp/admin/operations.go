package admin

// The operations the admin page and the admin API share.

import (
	"context"
	"errors"
	"net/http"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

// adminOverviewData is a tenant's users with their second factor and
// their password locks, counted. locked counts users with either lock.
type adminOverviewData struct {
	users                    []store.User
	mfa                      map[string]store.MFAState
	passwordLocks            map[string][]store.SignInCounter
	active, toEnroll, locked int
}

func (a *Admin) adminOverview(ctx context.Context, tenantID string) (*adminOverviewData, error) {
	users, err := a.Store.ListUsers(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	status, err := a.Store.MFAStatus(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	passwordLocks, err := a.Store.TenantPasswordLocks(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	ov := &adminOverviewData{users: users, mfa: status, passwordLocks: passwordLocks}
	for _, u := range users {
		st := status[u.ID]
		switch {
		case st.Active:
			ov.active++
		case !u.Disabled:
			ov.toEnroll++
		}
		if st.LockedUntil != nil || len(passwordLocks[u.ID]) > 0 {
			ov.locked++
		}
	}
	return ov, nil
}

// tenantUser returns the user with id when they belong to tenantID, and
// ErrNotFound otherwise: another tenant's user is as unknown as a made-up
// id.
func (a *Admin) tenantUser(ctx context.Context, tenantID, id string) (*store.User, error) {
	if id == "" || len(id) > 100 {
		return nil, store.ErrNotFound
	}
	u, err := a.Store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.TenantID != tenantID {
		return nil, store.ErrNotFound
	}
	return u, nil
}

// auditFilter checks the audit log filters: user is the id of a user of
// the tenant (ErrNotFound otherwise), event a name in the catalogue.
func (a *Admin) auditFilter(ctx context.Context, tenantID, user, event string) (store.AuditFilter, error) {
	f := store.AuditFilter{TenantID: tenantID, Limit: adminAuditLimit}
	if user != "" {
		u, err := a.tenantUser(ctx, tenantID, user)
		if errors.Is(err, store.ErrNotFound) {
			return f, errAdminUserNotFound
		}
		if err != nil {
			return f, err
		}
		f.SubjectID = u.ID
	}
	if event != "" {
		if !audit.Known(audit.Event(event)) {
			return f, web.BadRequest("The event filter is not an event name.")
		}
		f.Event = audit.Event(event)
	}
	return f, nil
}

func adminActor(r *http.Request, admin *store.User, via string) store.Actor {
	return store.Actor{UserID: admin.ID, IP: web.ClientIP(r), UserAgent: web.Truncate(r.UserAgent(), 300), Via: via}
}

// adminSetRequireTFA turns the tenant's Require TFA policy on or off in one
// store call (policy, session endings and the audit event in one
// transaction). Turning it on needs the acting admin's own active
// authenticator (errAdminNeeds2FA); clearing sessions keeps keepSessionID,
// the admin's own.
func (a *Admin) adminSetRequireTFA(r *http.Request, admin *store.User, keepSessionID string, on, clearSessions bool, via string) ([]store.EndedSession, error) {
	ctx := r.Context()
	if on {
		active, err := a.Store.HasActiveAuthenticator(ctx, admin.ID)
		if err != nil {
			return nil, err
		}
		if !active {
			return nil, errAdminNeeds2FA
		}
	}
	return a.Sessions.End(r, store.EndReasonRequireTFA, func() ([]store.EndedSession, error) {
		return a.Store.SetRequireTFA(ctx, admin.TenantID, on, clearSessions, keepSessionID, adminActor(r, admin, via))
	})
}

// adminResetUser2FA removes the target's authenticator and recovery key and
// ends all their sessions.
func (a *Admin) adminResetUser2FA(r *http.Request, admin, target *store.User, via string) ([]store.EndedSession, error) {
	return a.Sessions.End(r, store.EndReasonMFAReset, func() ([]store.EndedSession, error) {
		return a.Store.ResetUserMFA(r.Context(), target.ID, adminActor(r, admin, via))
	})
}

// adminEndUserSessions ends the target's sessions, except keepSessionID
// (the admin's own, when the target is the admin).
func (a *Admin) adminEndUserSessions(r *http.Request, admin, target *store.User, keepSessionID, via string) ([]store.EndedSession, error) {
	if target.ID != admin.ID {
		keepSessionID = ""
	}
	return a.Sessions.End(r, store.EndReasonRevoked, func() ([]store.EndedSession, error) {
		return a.Store.RevokeUserSessions(r.Context(), target.ID, keepSessionID, adminActor(r, admin, via))
	})
}

// adminUnlock clears the target's password and code locks, audited.
func (a *Admin) adminUnlock(r *http.Request, admin, target *store.User, via string) (*store.UserLocks, error) {
	return a.Store.Unlock(r.Context(), target.ID, adminActor(r, admin, via))
}

// deliveryOutcome is where a back-channel logout delivery stands, for the
// admin page and the admin API alike.
func deliveryOutcome(d *store.LogoutDelivery) string {
	switch {
	case d.DeliveredAt != nil:
		return templates.AdminLogoutDelivered
	case d.FailedAt != nil:
		return templates.AdminLogoutFailed
	default:
		return templates.AdminLogoutPending
	}
}
