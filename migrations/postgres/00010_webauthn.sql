-- +goose Up
-- Passkeys and security keys (WebAuthn) as second factors: any number per
-- user, beside at most one TOTP authenticator. id is the credential id
-- (base64url, unique across users: an authenticator makes a new one per
-- registration); public_key is the COSE key. sign_count only moves forward
-- (a conditional UPDATE; a counter that does not is a cloned-authenticator
-- signal and the assertion is refused). backup_eligible is fixed at
-- registration, backup_state (a synced passkey) is refreshed at each use.
CREATE TABLE webauthn_credentials (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    public_key       BYTEA NOT NULL,
    attestation_type TEXT NOT NULL DEFAULT '',
    aaguid           BYTEA,
    sign_count       BIGINT NOT NULL DEFAULT 0,
    backup_eligible  BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state     BOOLEAN NOT NULL DEFAULT FALSE,
    user_verified    BOOLEAN NOT NULL DEFAULT FALSE,
    discoverable     BOOLEAN NOT NULL DEFAULT FALSE,
    transports       TEXT NOT NULL DEFAULT '[]',
    created_at       TIMESTAMPTZ NOT NULL,
    last_used_at     TIMESTAMPTZ
);
CREATE INDEX webauthn_credentials_user_idx ON webauthn_credentials (user_id);

-- The TOTP authenticator gets a name like every factor.
ALTER TABLE mfa_authenticators ADD COLUMN name TEXT NOT NULL DEFAULT 'Authenticator app';

-- A pending request remembers the second factor being enrolled (factor:
-- '', 'totp' or 'webauthn') and the WebAuthn ceremony in progress
-- (ceremony: the challenge and what it was issued for, JSON; single use,
-- cleared by the move that completes it).
ALTER TABLE auth_requests ADD COLUMN factor TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN ceremony TEXT NOT NULL DEFAULT '';
-- proved: this request passed one of the user's existing second factors,
-- the condition for enrolling another one (a user who has a factor never
-- adds one on the password alone).
ALTER TABLE auth_requests ADD COLUMN proved BOOLEAN NOT NULL DEFAULT FALSE;

-- A tenant's choice of second factors: 'any' (an authenticator app or a
-- passkey), 'totp' (apps only) or 'webauthn' (passkeys and security keys
-- only: phishing-resistant required). enrollment_deadline, with Require
-- TFA, lets users without a second factor sign in with the password alone
-- (reminded each time) until then.
ALTER TABLE tenants ADD COLUMN second_factors TEXT NOT NULL DEFAULT 'any';
ALTER TABLE tenants ADD COLUMN enrollment_deadline TIMESTAMPTZ;

-- passwordless: the tenant's users may sign in with a discoverable
-- passkey that verifies them (PIN or biometrics), without a password.
ALTER TABLE tenants ADD COLUMN passwordless BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE tenants DROP COLUMN passwordless;
ALTER TABLE tenants DROP COLUMN enrollment_deadline;
ALTER TABLE tenants DROP COLUMN second_factors;
ALTER TABLE auth_requests DROP COLUMN proved;
ALTER TABLE auth_requests DROP COLUMN ceremony;
ALTER TABLE auth_requests DROP COLUMN factor;
ALTER TABLE mfa_authenticators DROP COLUMN name;
DROP TABLE webauthn_credentials;
