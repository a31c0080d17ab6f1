-- Named long-lived tokens (Snips console alias tokens, Home-Assistant-style long-lived tokens)
-- and user e-mail addresses (the Snips console logs in by e-mail).

ALTER TABLE users ADD COLUMN email TEXT;
CREATE UNIQUE INDEX users_email ON users (email) WHERE email IS NOT NULL;

CREATE TABLE named_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    alias        TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    scope        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    UNIQUE (user_id, alias)
);
