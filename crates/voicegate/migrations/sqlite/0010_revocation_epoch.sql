-- A revocation made by any process (a refresh-token family revoked, an OAuth access token
-- revoked, a client removed) bumps the identity epoch, so that every server reloads what it
-- refuses before the next request that could use the revoked token.

CREATE TRIGGER refresh_tokens_revoke_epoch AFTER UPDATE OF revoked_at ON refresh_tokens
WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN UPDATE identity_epoch SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER revoked_access_tokens_epoch AFTER INSERT ON revoked_access_tokens
BEGIN UPDATE identity_epoch SET value = value + 1 WHERE id = 1; END;
