-- +goose Up
-- A pending request says which flow it serves (idp/flow.Kind): a relying
-- app's authorization, a sign-in or enrollment for Portcullis' own pages,
-- or a logout waiting for confirmation. Before, the three were told apart
-- by an empty client_id and the logout stage. The stage after a completed
-- sign-in is called what it is, signed_in (it was "consent").
ALTER TABLE auth_requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'authorize';
UPDATE auth_requests SET kind = 'logout' WHERE stage = 'logout';
UPDATE auth_requests SET kind = 'account' WHERE client_id = '' AND stage <> 'logout';
UPDATE auth_requests SET stage = 'signed_in' WHERE stage = 'consent';

-- +goose Down
UPDATE auth_requests SET stage = 'consent' WHERE stage = 'signed_in';
ALTER TABLE auth_requests DROP COLUMN kind;
