-- API keys for HMAC-signed requests (the VocaliD scheme). The secret is longer than SHA-256's
-- block, so HMAC itself keys with SHA-256(secret): storing that hash is enough to verify, and the
-- secret is never stored.

CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    key_id      TEXT    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash BLOB    NOT NULL,
    scope       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TRIGGER api_keys_insert_epoch AFTER INSERT ON api_keys
BEGIN UPDATE identity_epoch SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER api_keys_delete_epoch AFTER DELETE ON api_keys
BEGIN UPDATE identity_epoch SET value = value + 1 WHERE id = 1; END;
