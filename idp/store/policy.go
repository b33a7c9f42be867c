package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"gorm.io/gorm"
)

// Administrative operations on tenant policy and sessions. Each one makes
// its change, ends the sessions it has to end (revoking their tokens, see
// endSessions) and appends one audit event, all in one transaction: a
// failure anywhere, the audit insert included, leaves nothing done. When
// ctx already carries a transaction they join it, and the caller decides.

// Actor says who did an administrative action and from where, for the
// audit log.
type Actor struct {
	UserID    string // the acting user; empty for the operator's CLI
	IP        string
	UserAgent string
	Via       string // "admin page", "admin api" or "cli"
}

// Reasons recorded on the sessions these operations end (end_reason).
const (
	EndReasonRequireTFA = "require_tfa"
	EndReasonMFAReset   = "mfa_reset"
	EndReasonRevoked    = "revoked"
	// The user gained a second factor, or spent the recovery key: their
	// password-only sessions end (EndUserSessionsBelow).
	EndReasonMFAGained    = "mfa_gained"
	EndReasonRecoveryUsed = "recovery_used"
)

// Options of SetRequireTFA as the audit detail names them.
const (
	RequireTFAClearSessions = "clear_sessions"
	RequireTFAKeepSessions  = "keep_sessions"
)

// MaxSessionLifetime is the longest per-tenant session lifetime
// SetTenantSessionLifetimes accepts.
const MaxSessionLifetime = 366 * 24 * time.Hour

// ErrInvalidArgument is returned, before anything is changed, for a request
// that makes no sense: clearing sessions while turning Require TFA off, or
// a session lifetime that is negative, not whole seconds, above
// MaxSessionLifetime, or an idle limit above the absolute one.
var ErrInvalidArgument = errors.New("store: invalid argument")

// SetRequireTFA sets the tenant's Require TFA policy. When turning it on
// with clearSessions, it ends every live session of the tenant except
// keepSessionID (the acting admin's own), reason EndReasonRequireTFA, and
// revokes their tokens; without clearSessions, sessions run to their normal
// end and users enroll at their next interactive sign-in. clearSessions
// with on false is ErrInvalidArgument. An unknown tenant is ErrNotFound.
//
// The policy change, the session endings and one audit event
// "tenant.require_tfa" (detail {"require_tfa":true,"option":
// "clear_sessions"|"keep_sessions","sessions_ended":N,"via":"cli"}, no
// option when turning the policy off) happen in one transaction.
func (s *Store) SetRequireTFA(ctx context.Context, tenantID string, on, clearSessions bool, keepSessionID string, actor Actor) ([]EndedSession, error) {
	if clearSessions && !on {
		return nil, fmt.Errorf("%w: sessions are cleared only when Require TFA is turned on", ErrInvalidArgument)
	}
	var ended []EndedSession
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.SetTenantRequireTFA(ctx, tenantID, on); err != nil {
			return err
		}
		detail := struct {
			RequireTFA    bool   `json:"require_tfa"`
			Option        string `json:"option,omitempty"`
			SessionsEnded int    `json:"sessions_ended"`
			Via           string `json:"via,omitempty"`
		}{RequireTFA: on, Via: actor.Via}
		if on {
			detail.Option = RequireTFAKeepSessions
			if clearSessions {
				detail.Option = RequireTFAClearSessions
				var err error
				if ended, err = s.EndTenantSessions(ctx, tenantID, keepSessionID, EndReasonRequireTFA); err != nil {
					return err
				}
			}
		}
		detail.SessionsEnded = len(ended)
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.TenantRequireTFA, TenantID: tenantID, SubjectID: tenantID}, detail)
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// ResetUserMFA removes the user's authenticator, recovery key and attempt
// counter (ResetMFA) and ends all the user's sessions, reason
// EndReasonMFAReset, with the audit event "mfa.reset" (subject the user,
// tenant the user's; detail {"sessions_ended":N,"via":...}), in one
// transaction. The user enrolls again at the next sign-in. An unknown user
// is ErrNotFound.
func (s *Store) ResetUserMFA(ctx context.Context, userID string, actor Actor) ([]EndedSession, error) {
	var ended []EndedSession
	err := s.InTx(ctx, func(ctx context.Context) error {
		u, err := s.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if err := s.ResetMFA(ctx, userID); err != nil {
			return err
		}
		if ended, err = s.EndUserSessions(ctx, userID, "", EndReasonMFAReset); err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.MFAReset, TenantID: u.TenantID, SubjectID: u.ID}, sessionsDetail(len(ended), actor))
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// RevokeUserSessions ends every live session of the user except
// keepSessionID, reason EndReasonRevoked, with the audit event
// "sessions.revoked" (subject the user; detail {"sessions_ended":N,
// "via":...}), in one transaction. An unknown user is ErrNotFound.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, keepSessionID string, actor Actor) ([]EndedSession, error) {
	var ended []EndedSession
	err := s.InTx(ctx, func(ctx context.Context) error {
		u, err := s.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if ended, err = s.EndUserSessions(ctx, userID, keepSessionID, EndReasonRevoked); err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.SessionsRevoked, TenantID: u.TenantID, SubjectID: u.ID}, sessionsDetail(len(ended), actor))
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// RevokeTenantSessions ends every live session of the tenant except
// keepSessionID, reason EndReasonRevoked, with the audit event
// "sessions.revoked" (subject the tenant; detail {"sessions_ended":N,
// "via":...}), in one transaction. An unknown tenant is ErrNotFound.
func (s *Store) RevokeTenantSessions(ctx context.Context, tenantID, keepSessionID string, actor Actor) ([]EndedSession, error) {
	var ended []EndedSession
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.TenantByID(ctx, tenantID); err != nil {
			return err
		}
		var err error
		if ended, err = s.EndTenantSessions(ctx, tenantID, keepSessionID, EndReasonRevoked); err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.SessionsRevoked, TenantID: tenantID, SubjectID: tenantID}, sessionsDetail(len(ended), actor))
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// SetTenantSessionLifetimes sets the tenant's session lifetimes, overriding
// the deployment's (sessions.absolute, sessions.idle); 0 returns to the
// deployment's setting. Each must be whole seconds, at most
// MaxSessionLifetime, and idle not above absolute when both are set;
// anything else is ErrInvalidArgument. They apply to sessions started from
// now on. The change and the audit event "tenant.sessions" (detail
// {"absolute_seconds":N,"idle_seconds":M,"via":...}) happen in one
// transaction. An unknown tenant is ErrNotFound.
func (s *Store) SetTenantSessionLifetimes(ctx context.Context, tenantID string, absolute, idle time.Duration, actor Actor) error {
	if err := checkLifetime("absolute", absolute); err != nil {
		return err
	}
	if err := checkLifetime("idle", idle); err != nil {
		return err
	}
	if absolute > 0 && idle > absolute {
		return fmt.Errorf("%w: the idle limit (%s) exceeds the absolute lifetime (%s)", ErrInvalidArgument, idle, absolute)
	}
	abs, idl := int(absolute/time.Second), int(idle/time.Second)
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.updateTenant(ctx, tenantID, map[string]any{"session_absolute_seconds": abs, "session_idle_seconds": idl}); err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.TenantSessions, TenantID: tenantID, SubjectID: tenantID}, struct {
			AbsoluteSeconds int    `json:"absolute_seconds"`
			IdleSeconds     int    `json:"idle_seconds"`
			Via             string `json:"via,omitempty"`
		}{abs, idl, actor.Via})
	})
}

// SessionLifetimeProblem says what is wrong with a tenant's session
// lifetime (absolute or idle), or "" when nothing is: the rule
// SetTenantSessionLifetimes enforces, for front ends that report every
// problem before they open the database.
func SessionLifetimeProblem(d time.Duration) string {
	switch {
	case d < 0:
		return "must not be negative (0 returns to the deployment's setting)"
	case d%time.Second != 0:
		return "must be a whole number of seconds"
	case d > MaxSessionLifetime:
		return fmt.Sprintf("must not exceed %d days (%dh)", int(MaxSessionLifetime.Hours()/24), int(MaxSessionLifetime.Hours()))
	}
	return ""
}

func checkLifetime(name string, d time.Duration) error {
	if problem := SessionLifetimeProblem(d); problem != "" {
		return fmt.Errorf("%w: the %s session lifetime %s %s", ErrInvalidArgument, name, d, problem)
	}
	return nil
}

// sessionsDetail is the audit detail of an action that ended sessions.
func sessionsDetail(n int, actor Actor) any {
	return struct {
		SessionsEnded int    `json:"sessions_ended"`
		Via           string `json:"via,omitempty"`
	}{n, actor.Via}
}

// auditAction appends e, the audit event of an administrative action by
// actor, with detail.
func (s *Store) auditAction(ctx context.Context, actor Actor, e *AuditEvent, detail any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	e.ActorID, e.IP, e.UserAgent = actor.UserID, actor.IP, actor.UserAgent
	e.Detail = string(b)
	return s.Audit(ctx, e)
}

// EndReasonPhishingResistant is recorded on sessions ended because the
// tenant now requires passkeys.
const EndReasonPhishingResistant = "phishing_resistant_required"

// SetSecondFactors sets which second factors the tenant's users may set up
// and use: FactorsAny, FactorTOTP or FactorWebAuthn (phishing-resistant
// only). Switching to FactorWebAuthn decides, as Require TFA does, what
// happens to sessions that did not pass a passkey: with clearSessions they
// end now (except keepSessionID, the acting admin's), else they run to
// their end and the next sign-in asks for a passkey. clearSessions with
// another choice is ErrInvalidArgument. The change, the endings and one
// audit event "tenant.second_factors" happen in one transaction.
func (s *Store) SetSecondFactors(ctx context.Context, tenantID, factors string, clearSessions bool, keepSessionID string, actor Actor) ([]EndedSession, error) {
	switch factors {
	case FactorsAny, FactorTOTP, FactorWebAuthn:
	default:
		return nil, fmt.Errorf("%w: second factors are %q, %q or %q", ErrInvalidArgument, FactorsAny, FactorTOTP, FactorWebAuthn)
	}
	if clearSessions && factors != FactorWebAuthn {
		return nil, fmt.Errorf("%w: sessions are cleared only when passkeys become required", ErrInvalidArgument)
	}
	var ended []EndedSession
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.updateTenant(ctx, tenantID, map[string]any{"second_factors": factors}); err != nil {
			return err
		}
		detail := struct {
			Factors       string `json:"second_factors"`
			Option        string `json:"option,omitempty"`
			SessionsEnded int    `json:"sessions_ended"`
			Via           string `json:"via,omitempty"`
		}{Factors: factors, Via: actor.Via}
		if factors == FactorWebAuthn {
			detail.Option = RequireTFAKeepSessions
			if clearSessions {
				detail.Option = RequireTFAClearSessions
				var err error
				ended, err = s.endSessions(ctx, EndReasonPhishingResistant, func(q *gorm.DB) *gorm.DB {
					// amr is a JSON array; a passkey sign-in holds "hwk" or "swk".
					return q.Where(`tenant_id = ? AND id <> ? AND amr NOT LIKE '%"hwk"%' AND amr NOT LIKE '%"swk"%'`, tenantID, keepSessionID)
				})
				if err != nil {
					return err
				}
			}
		}
		detail.SessionsEnded = len(ended)
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.TenantFactors, TenantID: tenantID, SubjectID: tenantID}, detail)
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// SetEnrollmentDeadline sets (or, with nil, removes) the date until which
// users without a second factor may put off enrollment under Require TFA,
// audited as "tenant.enrollment_deadline" in the same transaction.
func (s *Store) SetEnrollmentDeadline(ctx context.Context, tenantID string, deadline *time.Time, actor Actor) error {
	var at any
	detail := struct {
		Deadline string `json:"deadline,omitempty"`
		Via      string `json:"via,omitempty"`
	}{Via: actor.Via}
	if deadline != nil {
		d := deadline.UTC()
		at = d
		detail.Deadline = d.Format(time.RFC3339)
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.updateTenant(ctx, tenantID, map[string]any{"enrollment_deadline": at}); err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.TenantDeadline, TenantID: tenantID, SubjectID: tenantID}, detail)
	})
}

// SetPasswordless turns passwordless sign-in (a discoverable passkey that
// verifies its user, no password) on or off for the tenant, audited as
// "tenant.passwordless" in the same transaction.
func (s *Store) SetPasswordless(ctx context.Context, tenantID string, on bool, actor Actor) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.updateTenant(ctx, tenantID, map[string]any{"passwordless": on}); err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.TenantPasswordless, TenantID: tenantID, SubjectID: tenantID},
			struct {
				Passwordless bool   `json:"passwordless"`
				Via          string `json:"via,omitempty"`
			}{on, actor.Via})
	})
}

// AnyPasswordless reports whether some tenant allows passwordless
// sign-in: only then does the sign-in page offer a passkey before the
// email.
func (s *Store) AnyPasswordless(ctx context.Context) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&Tenant{}).Where("passwordless = ?", true).Limit(1).Count(&n).Error
	return n > 0, err
}
