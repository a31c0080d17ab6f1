-- The token cut-off of a user (set by a password change or a disable) and the creation time of
-- named tokens in milliseconds: with whole seconds, tokens issued earlier in the same second as a
-- password change stayed valid.

ALTER TABLE users ADD COLUMN tokens_valid_after_ms INTEGER NOT NULL DEFAULT 0;
UPDATE users SET tokens_valid_after_ms = tokens_valid_after * 1000;

ALTER TABLE named_tokens ADD COLUMN created_at_ms INTEGER NOT NULL DEFAULT 0;
UPDATE named_tokens SET created_at_ms = created_at * 1000;
