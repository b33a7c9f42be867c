package store

import (
	"context"
	"errors"
	"time"
)

// WebAuthn storage: a user's passkeys and security keys. Credential ids
// are unique across users (the primary key); a public key is not a secret,
// so rows are stored as they are. The one rule enforced here is the sign
// counter's: it only moves forward (UseWebAuthnCredential).

// ErrCounterWentBack is UseWebAuthnCredential's answer when the presented
// sign counter is not above the stored one: a cloned authenticator, or the
// same assertion presented twice. The assertion is refused.
var ErrCounterWentBack = errors.New("store: the authenticator's sign counter did not advance (possible clone)")

// WebAuthnCredential is one registered passkey or security key.
type WebAuthnCredential struct {
	ID              string `gorm:"primaryKey"` // credential id, base64url without padding
	UserID          string
	Name            string
	PublicKey       []byte
	AttestationType string
	AAGUID          []byte `gorm:"column:aaguid"`
	SignCount       int64
	BackupEligible  bool
	BackupState     bool // a synced passkey, as the authenticator last said
	UserVerified    bool
	Discoverable    bool
	Transports      StringList `gorm:"serializer:json"`
	CreatedAt       time.Time
	LastUsedAt      *time.Time
}

func (WebAuthnCredential) TableName() string { return "webauthn_credentials" }

// WebAuthnCredentials lists the user's credentials, oldest first.
func (s *Store) WebAuthnCredentials(ctx context.Context, userID string) ([]WebAuthnCredential, error) {
	var creds []WebAuthnCredential
	err := s.conn(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&creds).Error
	return creds, err
}

// WebAuthnCredentialByID returns one credential, or ErrNotFound.
func (s *Store) WebAuthnCredentialByID(ctx context.Context, id string) (*WebAuthnCredential, error) {
	var c WebAuthnCredential
	if err := s.conn(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// AddWebAuthnCredential stores a newly registered credential and, when
// recoveryHash is given (a first second factor, or one enrolled after the
// recovery key was spent), makes it the user's recovery key, in one
// transaction. A credential id already registered (to anyone) is
// ErrConflict.
func (s *Store) AddWebAuthnCredential(ctx context.Context, c *WebAuthnCredential, recoveryHash []byte) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	c.Transports = c.Transports.orEmpty()
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := translate(s.conn(ctx).Create(c).Error); err != nil {
			return err
		}
		if recoveryHash == nil {
			return nil
		}
		return s.ReplaceRecoveryKey(ctx, c.UserID, recoveryHash)
	})
}

// UseWebAuthnCredential records an accepted assertion of the user's
// credential id: the new sign counter, the backup state and the time. One
// conditional UPDATE: the counter must be above the stored one, unless
// both are 0 (an authenticator that keeps no counter, as synced passkeys
// do; their assertions are single use through the ceremony's challenge).
// So of two replicas accepting assertions with the same counter, one wins;
// the other, and a counter that went back, get ErrCounterWentBack. An
// unknown credential (removed meanwhile) is ErrNotFound.
func (s *Store) UseWebAuthnCredential(ctx context.Context, userID, id string, signCount uint32, backupState bool) error {
	res := s.conn(ctx).Exec(
		`UPDATE webauthn_credentials SET sign_count = ?, backup_state = ?, last_used_at = ?
		  WHERE id = ? AND user_id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))`,
		int64(signCount), backupState, s.now(), id, userID, int64(signCount), int64(signCount))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 1 {
		return nil
	}
	if c, err := s.WebAuthnCredentialByID(ctx, id); err != nil {
		return err
	} else if c.UserID != userID {
		return ErrNotFound
	}
	return ErrCounterWentBack
}

// RemoveWebAuthnCredential deletes the user's credential id; ErrNotFound
// when the user has no such credential.
func (s *Store) RemoveWebAuthnCredential(ctx context.Context, userID, id string) error {
	res := s.conn(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&WebAuthnCredential{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// Factor is one second factor of a user, as the account and admin pages
// list them.
type Factor struct {
	Kind       string // FactorTOTP or FactorWebAuthn
	ID         string // the credential id; "" for the TOTP authenticator
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	Synced     bool // a passkey backed up to a cloud account
}

// Factors lists the user's confirmed second factors: the TOTP
// authenticator first, then passkeys and security keys, oldest first. The
// TOTP authenticator's last use is the time of its last accepted step.
func (s *Store) Factors(ctx context.Context, userID string) ([]Factor, error) {
	var totp []struct {
		Name        string
		ConfirmedAt time.Time
		LastStep    int64
	}
	if err := s.conn(ctx).Raw(
		`SELECT a.name, a.confirmed_at, COALESCE(t.last_step, 0) AS last_step
		   FROM mfa_authenticators a LEFT JOIN mfa_attempts t ON t.user_id = a.user_id
		  WHERE a.user_id = ? AND a.confirmed_at IS NOT NULL`, userID).Scan(&totp).Error; err != nil {
		return nil, err
	}
	var out []Factor
	for _, a := range totp {
		f := Factor{Kind: FactorTOTP, Name: a.Name, CreatedAt: a.ConfirmedAt.UTC()}
		if a.LastStep > 0 {
			used := time.Unix(a.LastStep*30, 0).UTC()
			f.LastUsedAt = &used
		}
		out = append(out, f)
	}
	creds, err := s.WebAuthnCredentials(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, c := range creds {
		out = append(out, Factor{Kind: FactorWebAuthn, ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt.UTC(),
			LastUsedAt: c.LastUsedAt, Synced: c.BackupState})
	}
	return out, nil
}

// SecondFactors says which kinds of confirmed second factor a user has.
type SecondFactors struct {
	TOTP     bool
	WebAuthn bool
}

// Any reports whether the user has a second factor at all.
func (f SecondFactors) Any() bool { return f.TOTP || f.WebAuthn }

// SecondFactorsOf reads which second factors the user has, in one query.
func (s *Store) SecondFactorsOf(ctx context.Context, userID string) (SecondFactors, error) {
	var row struct {
		TOTP     int64 `gorm:"column:totp"`
		WebAuthn int64 `gorm:"column:webauthn"`
	}
	err := s.conn(ctx).Raw(
		`SELECT (SELECT COUNT(*) FROM mfa_authenticators WHERE user_id = ? AND confirmed_at IS NOT NULL) AS totp,
		        (SELECT COUNT(*) FROM webauthn_credentials WHERE user_id = ?) AS webauthn`,
		userID, userID).Scan(&row).Error
	return SecondFactors{TOTP: row.TOTP > 0, WebAuthn: row.WebAuthn > 0}, err
}

// RemoveTOTP deletes the user's TOTP authenticator (pending or
// confirmed); ErrNotFound when there is none.
func (s *Store) RemoveTOTP(ctx context.Context, userID string) error {
	res := s.conn(ctx).Where("user_id = ?", userID).Delete(&mfaAuthenticatorRow{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// NameTOTP names the user's confirmed TOTP authenticator (the name the
// account page shows).
func (s *Store) NameTOTP(ctx context.Context, userID, name string) error {
	res := s.conn(ctx).Model(&mfaAuthenticatorRow{}).Where("user_id = ? AND confirmed_at IS NOT NULL", userID).Update("name", name)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// ErrLastFactor is RemoveFactor's answer when the factor is the user's
// last one: the caller decides (refused under Require TFA, else 2FA is
// turned off with ResetMFA).
var ErrLastFactor = errors.New("store: the user's last second factor")

// RemoveFactor removes one of the user's second factors (kind
// FactorTOTP, or FactorWebAuthn with the credential id), unless it is the
// last one (ErrLastFactor). The user's row is locked for the check and
// the delete, so two removals at once cannot leave the user with none.
func (s *Store) RemoveFactor(ctx context.Context, userID, kind, id string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		var u User
		if err := s.conn(ctx).Clauses(s.lockClause()).Select("id").Where("id = ?", userID).Take(&u).Error; err != nil {
			return translate(err)
		}
		factors, err := s.Factors(ctx, userID)
		if err != nil {
			return err
		}
		if len(factors) <= 1 {
			return ErrLastFactor
		}
		if kind == FactorTOTP {
			return s.RemoveTOTP(ctx, userID)
		}
		return s.RemoveWebAuthnCredential(ctx, userID, id)
	})
}
