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

-- An authorization code's OpenID Connect session is kept under the code's
-- signature (the part after the dot), like the code and its PKCE row, not
-- under the code itself: no usable code is stored, and a code issued just
-- before the upgrade still gets its ID token.
UPDATE oauth_tokens SET signature = substr(signature, instr(signature, '.') + 1)
 WHERE kind = 'oidc' AND instr(signature, '.') > 0;

-- +goose Down
-- (OpenID Connect sessions stay keyed by signature: the codes they were
-- keyed by before are not stored anywhere to go back to.)
UPDATE auth_requests SET stage = 'consent' WHERE stage = 'signed_in';
ALTER TABLE auth_requests DROP COLUMN kind;
