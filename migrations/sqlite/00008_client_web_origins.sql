-- +goose Up
-- The web origins (scheme://host[:port]) whose pages may call the token,
-- revocation and userinfo endpoints for a client (CORS): a JSON array.
-- `client create` fills it from the redirect URIs when not given; clients
-- registered before keep none until one is set.
ALTER TABLE clients ADD COLUMN web_origins TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE clients DROP COLUMN web_origins;
