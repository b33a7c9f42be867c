package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"gorm.io/gorm"
)

// User management by a tenant admin (the admin page and API) or the
// operator's CLI: creating users with a one-time set-password link,
// disabling, enabling and deleting them, and password reset links. Like
// the other administrative operations (policy.go), each makes its change,
// ends the sessions it has to end and appends one audit event in one
// transaction.

// Purposes of a password link.
const (
	LinkNewUser = "new_user"
	LinkReset   = "reset"
)

// Lifetimes of a password link: a new user gets three days to take up the
// account, a reset link one day.
const (
	NewUserLinkLifetime = 72 * time.Hour
	ResetLinkLifetime   = 24 * time.Hour
)

// Reasons recorded on the sessions user management ends (end_reason).
const (
	EndReasonUserDisabled = "user_disabled"
	EndReasonUserDeleted  = "user_deleted"
	EndReasonPasswordSet  = "password_set"
)

// Why a password link cannot be used. Each is also ErrNotFound, for
// callers that only care that nothing was done.
var (
	ErrLinkUsed    = linkError("store: the link was already used")
	ErrLinkExpired = linkError("store: the link has expired")
)

type linkError string

func (e linkError) Error() string        { return string(e) }
func (e linkError) Is(target error) bool { return target == ErrNotFound }

// PasswordLink is a one-time set-password link, stored under the digest of
// its token (secrets.HashToken).
type PasswordLink struct {
	TokenHash string `gorm:"primaryKey"`
	UserID    string
	TenantID  string
	Purpose   string // LinkNewUser or LinkReset
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

func (PasswordLink) TableName() string { return "password_links" }

// IssuedLink is a link just issued: the token, shown once and never
// stored, and when it expires.
type IssuedLink struct {
	Token     string
	ExpiresAt time.Time
}

// issueLink replaces the user's earlier links by a new one of purpose.
func (s *Store) issueLink(ctx context.Context, u *User, purpose string, ttl time.Duration) (*IssuedLink, error) {
	db := s.conn(ctx)
	if err := db.Where("user_id = ?", u.ID).Delete(&PasswordLink{}).Error; err != nil {
		return nil, err
	}
	token := secrets.RandomToken()
	now := s.now()
	link := &PasswordLink{TokenHash: secrets.HashToken(token), UserID: u.ID, TenantID: u.TenantID, Purpose: purpose,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := db.Create(link).Error; err != nil {
		return nil, translate(err)
	}
	return &IssuedLink{Token: token, ExpiresAt: link.ExpiresAt}, nil
}

// CreateUserWithLink inserts u (email normalized, no usable password, so
// nobody can sign in as u until the link is used) with a set-password link
// living ttl, and the audit event "user.created" (detail {"email",
// "admin", "expires_at", "via"}), in one transaction. A taken email is
// ErrConflict.
func (s *Store) CreateUserWithLink(ctx context.Context, u *User, ttl time.Duration, actor Actor) (*IssuedLink, error) {
	var link *IssuedLink
	err := s.InTx(ctx, func(ctx context.Context) error {
		u.PasswordHash = ""
		if err := s.CreateUser(ctx, u); err != nil {
			return err
		}
		var err error
		if link, err = s.issueLink(ctx, u, LinkNewUser, ttl); err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.UserCreated, TenantID: u.TenantID, SubjectID: u.ID}, struct {
			Email     string `json:"email"`
			Admin     bool   `json:"admin"`
			ExpiresAt string `json:"expires_at"`
			Via       string `json:"via,omitempty"`
		}{u.Email, u.IsAdmin(), link.ExpiresAt.UTC().Format(time.RFC3339), actor.Via})
	})
	if err != nil {
		return nil, err
	}
	return link, nil
}

// IssueResetLink gives the user a set-password link living ttl (their
// earlier links stop working), with the audit event
// "user.password_reset_link" (detail {"expires_at","via"}), in one
// transaction. The current password keeps working until the link is used.
// For a user who never set a password the link is a LinkNewUser one.
// An unknown user is ErrNotFound; a disabled one ErrInvalidArgument.
func (s *Store) IssueResetLink(ctx context.Context, userID string, ttl time.Duration, actor Actor) (*IssuedLink, error) {
	var link *IssuedLink
	err := s.InTx(ctx, func(ctx context.Context) error {
		u, err := s.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if u.Disabled {
			return fmt.Errorf("%w: the user is disabled", ErrInvalidArgument)
		}
		purpose := LinkReset
		if u.PasswordHash == "" {
			// Never had a password (a new user whose link ran out): the
			// page greets them as a new user.
			purpose = LinkNewUser
		}
		if link, err = s.issueLink(ctx, u, purpose, ttl); err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.UserPasswordResetLink, TenantID: u.TenantID, SubjectID: u.ID}, struct {
			ExpiresAt string `json:"expires_at"`
			Via       string `json:"via,omitempty"`
		}{link.ExpiresAt.UTC().Format(time.RFC3339), actor.Via})
	})
	if err != nil {
		return nil, err
	}
	return link, nil
}

// PasswordLinkFor returns the live link with token and its user, without
// using it: ErrLinkUsed, ErrLinkExpired, or ErrNotFound for a token that
// matches no link (or the link of a user who is now disabled).
func (s *Store) PasswordLinkFor(ctx context.Context, token string) (*PasswordLink, *User, error) {
	if token == "" || len(token) > 100 {
		return nil, nil, ErrNotFound
	}
	var l PasswordLink
	if err := s.conn(ctx).Where("token_hash = ?", secrets.HashToken(token)).Take(&l).Error; err != nil {
		return nil, nil, translate(err)
	}
	switch {
	case l.UsedAt != nil:
		return nil, nil, ErrLinkUsed
	case !l.ExpiresAt.After(s.now()):
		return nil, nil, ErrLinkExpired
	}
	u, err := s.UserByID(ctx, l.UserID)
	if err != nil {
		return nil, nil, err
	}
	if u.Disabled || u.TenantID != l.TenantID {
		return nil, nil, ErrNotFound
	}
	return &l, u, nil
}

// SetPasswordByLink spends the link with token and sets its user's
// password hash, ends every session of the user (reason
// EndReasonPasswordSet: their tokens are revoked and back-channel logouts
// queued) and appends "password.set_by_link" (detail {"purpose",
// "sessions_ended"}), in one transaction. The link is spent by one
// conditional UPDATE, so of two requests (or replicas) using it at once
// exactly one succeeds; the other gets ErrLinkUsed and changes nothing.
// actor carries the request's address; its UserID is ignored (the user
// acts).
func (s *Store) SetPasswordByLink(ctx context.Context, token, hash string, actor Actor) (*User, []EndedSession, error) {
	var (
		user  *User
		ended []EndedSession
	)
	err := s.InTx(ctx, func(ctx context.Context) error {
		l, u, err := s.PasswordLinkFor(ctx, token)
		if err != nil {
			return err
		}
		res := s.conn(ctx).Model(&PasswordLink{}).
			Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", l.TokenHash, s.now()).
			Update("used_at", s.now())
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrLinkUsed
		}
		if err := s.SetPasswordHash(ctx, u.ID, hash); err != nil {
			return err
		}
		if ended, err = s.EndUserSessions(ctx, u.ID, "", EndReasonPasswordSet); err != nil {
			return err
		}
		user = u
		actor.UserID = u.ID
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.PasswordSetByLink, TenantID: u.TenantID, SubjectID: u.ID}, struct {
			Purpose       string `json:"purpose"`
			SessionsEnded int    `json:"sessions_ended"`
		}{l.Purpose, len(ended)})
	})
	if err != nil {
		return nil, nil, err
	}
	return user, ended, nil
}

// SetUserDisabled disables or enables the user. Disabling ends every
// session of the user (reason EndReasonUserDisabled, tokens revoked,
// back-channel logouts queued) and removes their set-password links, with
// "user.disabled" (detail {"sessions_ended","via"}); enabling writes
// "user.enabled" (detail {"via"}); all in one transaction. An unknown user
// is ErrNotFound.
func (s *Store) SetUserDisabled(ctx context.Context, userID string, disabled bool, actor Actor) ([]EndedSession, error) {
	var ended []EndedSession
	err := s.InTx(ctx, func(ctx context.Context) error {
		u, err := s.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		db := s.conn(ctx)
		if err := db.Model(&User{}).Where("id = ?", u.ID).
			Updates(map[string]any{"disabled": disabled, "updated_at": s.now()}).Error; err != nil {
			return err
		}
		if !disabled {
			return s.auditAction(ctx, actor, &AuditEvent{Event: audit.UserEnabled, TenantID: u.TenantID, SubjectID: u.ID}, struct {
				Via string `json:"via,omitempty"`
			}{actor.Via})
		}
		if err := db.Where("user_id = ?", u.ID).Delete(&PasswordLink{}).Error; err != nil {
			return err
		}
		if ended, err = s.EndUserSessions(ctx, u.ID, "", EndReasonUserDisabled); err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.UserDisabled, TenantID: u.TenantID, SubjectID: u.ID}, sessionsDetail(len(ended), actor))
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// DeleteUser ends every session of the user (reason EndReasonUserDeleted,
// tokens revoked, back-channel logouts queued), removes the user's tokens,
// pending sign-ins and password failure counters, then the user (and by
// cascade their authenticator, recovery key, code counter, consents,
// sessions and links), with "user.deleted" (detail {"email",
// "sessions_ended","via"}), in one transaction. The audit log keeps every
// row about the user. An unknown user is ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, userID string, actor Actor) ([]EndedSession, error) {
	var ended []EndedSession
	err := s.InTx(ctx, func(ctx context.Context) error {
		u, err := s.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if ended, err = s.EndUserSessions(ctx, u.ID, "", EndReasonUserDeleted); err != nil {
			return err
		}
		db := s.conn(ctx)
		for _, step := range []struct {
			table, where string
		}{
			{"oauth_tokens", "subject = ?"},
			{"auth_requests", "user_id = ?"},
			{"sign_in_failures", "account = ?"},
			{"users", "id = ?"},
		} {
			if err := db.Exec("DELETE FROM "+step.table+" WHERE "+step.where, u.ID).Error; err != nil {
				return err
			}
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.UserDeleted, TenantID: u.TenantID, SubjectID: u.ID}, struct {
			Email         string `json:"email"`
			SessionsEnded int    `json:"sessions_ended"`
			Via           string `json:"via,omitempty"`
		}{u.Email, len(ended), actor.Via})
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// UserPage narrows and pages SearchUsers.
type UserPage struct {
	TenantID string
	// Search matches a substring of the email or the name, ignoring case
	// (on SQLite, case is ignored for ASCII letters only).
	Search string
	Offset int
	Limit  int // 1 to 500; anything else means 50
}

// SearchUsers returns one page of the tenant's users matching p, ordered
// by email, and how many match in all.
func (s *Store) SearchUsers(ctx context.Context, p UserPage) ([]User, int, error) {
	query := func() *gorm.DB {
		q := s.conn(ctx).Model(&User{}).Where("tenant_id = ?", p.TenantID)
		if term := strings.TrimSpace(p.Search); term != "" {
			escape := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
			like := "%" + escape.Replace(strings.ToLower(term)) + "%"
			q = q.Where(`(LOWER(email) LIKE ? ESCAPE '\' OR LOWER(name) LIKE ? ESCAPE '\')`, like, like)
		}
		return q
	}
	var total int64
	if err := query().Count(&total).Error; err != nil {
		return nil, 0, err
	}
	limit := p.Limit
	if limit < 1 || limit > 500 {
		limit = 50
	}
	var us []User
	err := query().Order("email").Offset(max(p.Offset, 0)).Limit(limit).Find(&us).Error
	return us, int(total), err
}

// ImportUser creates u, brought over from another system (its password
// hash as exported there, or none: "" matches no password until one is
// set through a link), with the audit event "user.created", in one
// transaction. A taken email is ErrConflict.
func (s *Store) ImportUser(ctx context.Context, u *User, actor Actor) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateUser(ctx, u); err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.UserCreated, TenantID: u.TenantID, SubjectID: u.ID}, struct {
			Email string `json:"email"`
			Admin bool   `json:"admin"`
			Via   string `json:"via,omitempty"`
		}{u.Email, u.IsAdmin(), actor.Via})
	})
}
