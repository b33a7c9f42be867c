-- +goose Up
-- One-time set-password links that a tenant admin hands to a user (no mail
-- is sent): issued when the admin creates the user or resets the password.
-- token_hash is secrets.HashToken of the link's random token (256 bits), so
-- a database leak reveals no usable link. A link is live while used_at is
-- NULL and expires_at is ahead; it is spent by one conditional UPDATE
-- (... WHERE used_at IS NULL AND expires_at > now), so of two replicas
-- only one can use it. purpose is 'new_user' or 'reset'. Issuing a new link
-- removes the user's earlier ones; the links follow the user.
CREATE TABLE password_links (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX password_links_user_idx ON password_links (user_id);

-- +goose Down
DROP TABLE password_links;
