-- +goose Up
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    require_tfa BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'member',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL,
    last_login_at DATETIME
);
CREATE INDEX users_tenant_idx ON users (tenant_id);

CREATE TABLE clients (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    secret_hash               BLOB,
    public                    BOOLEAN NOT NULL DEFAULT FALSE,
    redirect_uris             TEXT NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
    backchannel_logout_uri    TEXT NOT NULL DEFAULT '',
    skip_consent              BOOLEAN NOT NULL DEFAULT FALSE,
    require_pkce              BOOLEAN NOT NULL DEFAULT TRUE,
    tenant_id                 TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    scopes                    TEXT NOT NULL DEFAULT '[]',
    grant_types               TEXT NOT NULL DEFAULT '[]',
    created_at                DATETIME NOT NULL
);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL DEFAULT '[]',
    granted_at DATETIME NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE browser_sessions (
    id           TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL,
    auth_time    DATETIME NOT NULL,
    amr          TEXT NOT NULL DEFAULT '[]',
    acr          TEXT NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    last_seen_at DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT '',
    ended_at     DATETIME,
    end_reason   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX browser_sessions_user_idx ON browser_sessions (user_id);
CREATE INDEX browser_sessions_tenant_idx ON browser_sessions (tenant_id);

CREATE TABLE session_clients (
    session_id TEXT NOT NULL REFERENCES browser_sessions (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (session_id, client_id)
);

CREATE TABLE auth_requests (
    id          TEXT PRIMARY KEY,
    browser_id  TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    form        TEXT NOT NULL,
    user_id     TEXT NOT NULL DEFAULT '',
    session_id  TEXT NOT NULL DEFAULT '',
    stage       TEXT NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL
);
CREATE INDEX auth_requests_expires_idx ON auth_requests (expires_at);

CREATE TABLE oauth_tokens (
    kind               TEXT NOT NULL,
    signature          TEXT NOT NULL,
    request_id         TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    subject            TEXT NOT NULL DEFAULT '',
    session_id         TEXT NOT NULL DEFAULT '',
    active             BOOLEAN NOT NULL DEFAULT TRUE,
    requested_at       DATETIME NOT NULL,
    expires_at         DATETIME NOT NULL,
    requested_scopes   TEXT NOT NULL DEFAULT '',
    granted_scopes     TEXT NOT NULL DEFAULT '',
    requested_audience TEXT NOT NULL DEFAULT '',
    granted_audience   TEXT NOT NULL DEFAULT '',
    form               TEXT NOT NULL DEFAULT '',
    session_data       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (kind, signature)
);
CREATE INDEX oauth_tokens_request_idx ON oauth_tokens (request_id);
CREATE INDEX oauth_tokens_session_idx ON oauth_tokens (session_id);
CREATE INDEX oauth_tokens_expires_idx ON oauth_tokens (expires_at);

CREATE TABLE client_assertion_jtis (
    jti        TEXT PRIMARY KEY,
    expires_at DATETIME NOT NULL
);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  DATETIME NOT NULL,
    retired_at  DATETIME
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL DEFAULT '',
    actor_id   TEXT NOT NULL DEFAULT '',
    subject_id TEXT NOT NULL DEFAULT '',
    event      TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '{}',
    ip         TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL
);
CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, created_at);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE settings;
DROP TABLE signing_keys;
DROP TABLE client_assertion_jtis;
DROP TABLE oauth_tokens;
DROP TABLE auth_requests;
DROP TABLE session_clients;
DROP TABLE browser_sessions;
DROP TABLE consents;
DROP TABLE clients;
DROP TABLE users;
DROP TABLE tenants;
