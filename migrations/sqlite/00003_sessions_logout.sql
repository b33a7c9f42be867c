-- +goose Up
-- Sessions and logout: per-tenant session lifetimes, the idle limit each
-- session was started with, the enrollment data of a pending sign-in, and
-- the back-channel logout outbox.

-- 0 means "the deployment's setting" (sessions.absolute / sessions.idle).
ALTER TABLE tenants ADD COLUMN session_absolute_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN session_idle_seconds INTEGER NOT NULL DEFAULT 0;

-- The idle limit that applied when the session started (seconds; 0 means
-- the deployment's setting), so the check needs no tenant lookup.
ALTER TABLE browser_sessions ADD COLUMN idle_seconds INTEGER NOT NULL DEFAULT 0;
CREATE INDEX browser_sessions_live_idx ON browser_sessions (tenant_id, ended_at);
-- The expiry sweep looks only at live sessions past one of their limits.
CREATE INDEX browser_sessions_expiry_idx ON browser_sessions (expires_at) WHERE ended_at IS NULL;
CREATE INDEX browser_sessions_idle_idx ON browser_sessions (last_seen_at) WHERE ended_at IS NULL;

-- secret_data holds, sealed with the at-rest cipher under the AAD
-- auth_requests|secret_data|id, the recovery key shown during enrollment
-- until the confirming code stores its hash.
ALTER TABLE auth_requests ADD COLUMN secret_data TEXT NOT NULL DEFAULT '';

-- One row per (ended session, relying app with a back-channel logout URI).
-- Written in the transaction that ends the session, so no ending is lost;
-- delivered by any replica, retried with backoff until delivered_at is set
-- or attempts run out (failed_at).
CREATE TABLE logout_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id      TEXT NOT NULL,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    tenant_id       TEXT NOT NULL DEFAULT '',
    uri             TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    DATETIME,
    failed_at       DATETIME,
    created_at      DATETIME NOT NULL
);
CREATE INDEX logout_deliveries_due_idx ON logout_deliveries (next_attempt_at);
CREATE INDEX logout_deliveries_tenant_idx ON logout_deliveries (tenant_id, created_at);

-- The password step's attempt counter (mfa.Attempts, compare-and-swap on
-- version), separate from the second factor's so neither can exhaust the
-- other's allowance.
CREATE TABLE password_attempts (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failures     INTEGER NOT NULL DEFAULT 0,
    lockouts     INTEGER NOT NULL DEFAULT 0,
    locked_until DATETIME,
    version      BIGINT NOT NULL
);

-- +goose Down
DROP TABLE password_attempts;
DROP TABLE logout_deliveries;
ALTER TABLE auth_requests DROP COLUMN secret_data;
DROP INDEX browser_sessions_idle_idx;
DROP INDEX browser_sessions_expiry_idx;
DROP INDEX browser_sessions_live_idx;
ALTER TABLE browser_sessions DROP COLUMN idle_seconds;
ALTER TABLE tenants DROP COLUMN session_idle_seconds;
ALTER TABLE tenants DROP COLUMN session_absolute_seconds;
