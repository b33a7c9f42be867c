-- +goose Up
-- The replay guard moves onto the user's code-entry counter, so accepting a
-- code is one conditional UPDATE of one row: it burns the step, clears the
-- counter and is refused by the same row's lock (mfa.StepAcceptor). The
-- counter is per user, so last_step stays monotonic across a new
-- authenticator as well.
ALTER TABLE mfa_attempts ADD COLUMN last_step BIGINT NOT NULL DEFAULT 0;

-- Every confirmed authenticator gets a counter row carrying its last step.
INSERT INTO mfa_attempts (user_id, failures, lockouts, locked_until, version, last_step)
SELECT user_id, 0, 0, NULL, 1, last_step
  FROM mfa_authenticators
 WHERE confirmed_at IS NOT NULL
    ON CONFLICT (user_id) DO UPDATE SET last_step = excluded.last_step, version = mfa_attempts.version + 1;

ALTER TABLE mfa_authenticators DROP COLUMN last_step;

-- +goose Down
ALTER TABLE mfa_authenticators ADD COLUMN last_step BIGINT NOT NULL DEFAULT 0;
UPDATE mfa_authenticators
   SET last_step = (SELECT t.last_step FROM mfa_attempts t WHERE t.user_id = mfa_authenticators.user_id)
 WHERE confirmed_at IS NOT NULL
   AND EXISTS (SELECT 1 FROM mfa_attempts t WHERE t.user_id = mfa_authenticators.user_id);
ALTER TABLE mfa_attempts DROP COLUMN last_step;
