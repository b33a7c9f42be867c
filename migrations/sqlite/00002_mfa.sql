-- +goose Up
-- Second factor: one TOTP authenticator per user, its recovery paper key and
-- the user's code-entry attempt counter. All three follow the user.

-- secret is the base32 TOTP secret sealed with mfa.Cipher under the AAD
-- mfa.AAD('mfa_authenticators', 'secret', user_id). confirmed_at is NULL
-- while enrollment is pending; only a confirmed row is active. last_step is
-- the replay guard: the last accepted time step, only ever raised by a
-- conditional UPDATE (... WHERE last_step < ?).
CREATE TABLE mfa_authenticators (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    confirmed_at DATETIME,
    last_step    BIGINT NOT NULL DEFAULT 0,
    created_at   DATETIME NOT NULL
);

-- key_hash is mfa.HashRecoveryKey of the paper key (SHA-256); used_at is
-- set when the key is spent, and a spent key never works again.
CREATE TABLE mfa_recovery_keys (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    key_hash   BLOB NOT NULL,
    created_at DATETIME NOT NULL,
    used_at    DATETIME
);

-- mfa.Attempts, written by compare-and-swap on version.
CREATE TABLE mfa_attempts (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failures     INTEGER NOT NULL DEFAULT 0,
    lockouts     INTEGER NOT NULL DEFAULT 0,
    locked_until DATETIME,
    version      BIGINT NOT NULL
);

-- +goose Down
DROP TABLE mfa_attempts;
DROP TABLE mfa_recovery_keys;
DROP TABLE mfa_authenticators;
