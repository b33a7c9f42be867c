package store

import (
	"context"
	"time"
)

// A sign-in needs a user together with their tenant (its policy and
// session lifetimes), and every page of a signed-in browser needs the
// session with its user and tenant. These reads fetch them in one
// statement each instead of one per table.

// userTenantColumns are the users and tenants columns, aliased for
// userTenantRow's embedded prefixes.
const userTenantColumns = `u.id AS u_id, u.tenant_id AS u_tenant_id, u.email AS u_email, u.name AS u_name,
	u.password_hash AS u_password_hash, u.role AS u_role, u.disabled AS u_disabled,
	u.created_at AS u_created_at, u.updated_at AS u_updated_at, u.last_login_at AS u_last_login_at,
	t.id AS t_id, t.slug AS t_slug, t.name AS t_name, t.require_tfa AS t_require_tfa,
	t.session_absolute_seconds AS t_session_absolute_seconds, t.session_idle_seconds AS t_session_idle_seconds,
	t.second_factors AS t_second_factors, t.enrollment_deadline AS t_enrollment_deadline, t.passwordless AS t_passwordless,
	t.created_at AS t_created_at, t.updated_at AS t_updated_at`

type userTenantRow struct {
	User   User   `gorm:"embedded;embeddedPrefix:u_"`
	Tenant Tenant `gorm:"embedded;embeddedPrefix:t_"`
}

// userWithTenant reads the user matching where (on table alias u) with
// their tenant.
func (s *Store) userWithTenant(ctx context.Context, where string, arg any) (*User, *Tenant, error) {
	var rows []userTenantRow
	err := s.conn(ctx).Raw(`SELECT `+userTenantColumns+`
		   FROM users u JOIN tenants t ON t.id = u.tenant_id
		  WHERE `+where+` LIMIT 1`, arg).Scan(&rows).Error
	if err != nil {
		return nil, nil, err
	}
	if len(rows) == 0 {
		return nil, nil, ErrNotFound
	}
	return &rows[0].User, &rows[0].Tenant, nil
}

// UserAndTenantByEmail finds a user by email, with their tenant.
func (s *Store) UserAndTenantByEmail(ctx context.Context, email string) (*User, *Tenant, error) {
	return s.userWithTenant(ctx, "u.email = ?", NormalizeEmail(email))
}

// UserAndTenantByID finds a user by id, with their tenant.
func (s *Store) UserAndTenantByID(ctx context.Context, id string) (*User, *Tenant, error) {
	return s.userWithTenant(ctx, "u.id = ?", id)
}

// LiveSession is a live browser session with its user and tenant.
type LiveSession struct {
	Session *BrowserSession
	User    *User
	Tenant  *Tenant
}

type liveSessionRow struct {
	BrowserSession `gorm:"embedded"`
	User           User   `gorm:"embedded;embeddedPrefix:u_"`
	Tenant         Tenant `gorm:"embedded;embeddedPrefix:t_"`
}

// ActiveSessionWithUser is ActiveSession with the session's user and
// tenant, in one statement: what every page of a signed-in browser reads.
func (s *Store) ActiveSessionWithUser(ctx context.Context, secretHash string, defaultIdle time.Duration) (*LiveSession, error) {
	now := s.now()
	var rows []liveSessionRow
	err := s.conn(ctx).Raw(`SELECT bs.*, `+userTenantColumns+`
		   FROM browser_sessions bs
		   JOIN users u ON u.id = bs.user_id
		   JOIN tenants t ON t.id = u.tenant_id
		  WHERE bs.secret_hash = ? AND bs.ended_at IS NULL AND bs.expires_at > ? LIMIT 1`, secretHash, now).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || rows[0].BrowserSession.idleAt(now, defaultIdle) {
		return nil, ErrNotFound
	}
	r := rows[0]
	return &LiveSession{Session: &r.BrowserSession, User: &r.User, Tenant: &r.Tenant}, nil
}
