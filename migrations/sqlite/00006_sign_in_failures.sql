-- +goose Up
-- Password failures are counted per (account, client address), per account
-- from any address and per address for any account, so that guessing from
-- one address locks only that address out of the account (idp/credentials
-- has the rules). account is the user's id, or for an email that matches no
-- user a keyed digest of it, so an unknown email is throttled exactly like
-- a known one and the limits tell nobody which emails exist; '*' means any
-- account. address is the client address (an IPv6 address's /64), '*' any
-- address. succeeded_at marks an address the account signed in from: the
-- account-wide slow-down does not apply to it.
CREATE TABLE sign_in_failures (
    account      TEXT NOT NULL,
    address      TEXT NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    lockouts     INTEGER NOT NULL DEFAULT 0,
    locked_until DATETIME,
    succeeded_at DATETIME,
    updated_at   DATETIME NOT NULL,
    PRIMARY KEY (account, address)
);
CREATE INDEX sign_in_failures_updated_idx ON sign_in_failures (updated_at);

-- The per-user counter it replaces locked the account for everyone.
DROP TABLE password_attempts;

-- +goose Down
CREATE TABLE password_attempts (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failures     INTEGER NOT NULL DEFAULT 0,
    lockouts     INTEGER NOT NULL DEFAULT 0,
    locked_until DATETIME,
    version      BIGINT NOT NULL
);
DROP TABLE sign_in_failures;
