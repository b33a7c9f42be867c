-- +goose Up
-- Which tokens a client may introspect besides its own (a resource
-- server): a JSON array of client ids, and "tenant" for every token of its
-- own tenant's users. Empty: its own tokens only.
ALTER TABLE clients ADD COLUMN introspect TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE clients DROP COLUMN introspect;
