package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/mfa"
)

// The secrets the store keeps sealed with Config.Cipher, each bound by its
// AAD to table|column|row, so a value copied to another row, column or
// table does not open. The AADs are part of the stored format: databases
// written since the secrets were first sealed (by the HTTP layer, with the
// same strings) still open.
//
//	mfa_authenticators.secret   a user's TOTP secret          AAD mfa_authenticators|secret|<user id>
//	auth_requests.secret_data   a pending enrollment's key    AAD auth_requests|secret_data|<request id>
//	settings.value              the token HMAC secret         AAD settings|value|oauth_hmac_secret
//
// Private signing keys are sealed by secrets.GenerateSigningKey and opened
// by secrets.OpenSigningKey; the store keeps them as given.

// ErrNoCipher is returned by the methods that seal or open a secret when
// the store was opened without Config.Cipher.
var ErrNoCipher = errors.New("store: no cipher for secrets at rest (store.Config.Cipher)")

// oauthHMACSetting names the settings row of the token HMAC secret.
const oauthHMACSetting = "oauth_hmac_secret"

func totpSecretAAD(userID string) []byte {
	return secrets.AAD("mfa_authenticators", "secret", userID)
}

func recoveryKeyAAD(requestID string) []byte {
	return secrets.AAD("auth_requests", "secret_data", requestID)
}

func oauthHMACAAD() []byte { return secrets.AAD("settings", "value", oauthHMACSetting) }

func (s *Store) seal(plain, aad []byte) (string, error) {
	if s.cipher == nil {
		return "", ErrNoCipher
	}
	return s.cipher.Seal(plain, aad)
}

func (s *Store) open(sealed string, aad []byte) ([]byte, error) {
	if s.cipher == nil {
		return nil, ErrNoCipher
	}
	return s.cipher.Open(sealed, aad)
}

// sealTOTPSecret and openTOTPSecret are a user's TOTP secret as stored.
func (s *Store) sealTOTPSecret(userID string, secret mfa.Secret) (string, error) {
	return s.seal([]byte(secret), totpSecretAAD(userID))
}

func (s *Store) openTOTPSecret(userID, sealed string) (mfa.Secret, error) {
	plain, err := s.open(sealed, totpSecretAAD(userID))
	if err != nil {
		return "", fmt.Errorf("store: TOTP secret of user %s: %w", userID, err)
	}
	return mfa.Secret(plain), nil
}

// OAuthHMACSecret returns the secret fosite's opaque tokens are made with:
// 32 random bytes generated on first use and kept sealed in settings, so
// every replica shares it (a new one per start would void every
// outstanding code and token).
func (s *Store) OAuthHMACSecret(ctx context.Context) ([]byte, error) {
	sealed, err := s.SettingOrCreate(ctx, oauthHMACSetting, func() (string, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return s.seal(b, oauthHMACAAD())
	})
	if err != nil {
		return nil, err
	}
	return s.open(sealed, oauthHMACAAD())
}

// SealRecoveryKey seals key, the recovery key shown during the enrollment
// of pending request requestID, for its secret_data (moved with
// MoveAuthRequest) until the confirming code stores its hash. Read it
// back with AuthRequestRecoveryKey.
func (s *Store) SealRecoveryKey(requestID string, key mfa.RecoveryKey) (string, error) {
	return s.seal([]byte(key), recoveryKeyAAD(requestID))
}

// AuthRequestRecoveryKey opens the recovery key kept in ar by
// SealRecoveryKey; it returns ErrNotFound when ar keeps
// none.
func (s *Store) AuthRequestRecoveryKey(ar *AuthRequest) (mfa.RecoveryKey, error) {
	if ar.SecretData == "" {
		return "", ErrNotFound
	}
	plain, err := s.open(ar.SecretData, recoveryKeyAAD(ar.ID))
	if err != nil {
		return "", fmt.Errorf("store: recovery key of request %s: %w", ar.ID, err)
	}
	return mfa.RecoveryKey(plain), nil
}
