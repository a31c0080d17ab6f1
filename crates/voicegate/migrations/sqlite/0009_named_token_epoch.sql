-- A named token deleted by any process (the CLI beside a running server) bumps the identity
-- epoch, so that the server checks again the streams that the token opened.

CREATE TRIGGER named_tokens_delete_epoch AFTER DELETE ON named_tokens
BEGIN UPDATE identity_epoch SET value = value + 1 WHERE id = 1; END;
