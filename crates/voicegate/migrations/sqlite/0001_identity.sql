-- Users, refresh tokens and the identity epoch.

CREATE TABLE users (
    id                 INTEGER PRIMARY KEY,
    name               TEXT    NOT NULL UNIQUE,
    password_hash      TEXT    NOT NULL,
    -- the hash as the users file had it (ovos-api bcrypt), kept after password_hash is upgraded
    -- to Argon2id at the first login, so that a USERS_DB sync can tell whether the file changed
    imported_hash      TEXT,
    role               TEXT    NOT NULL DEFAULT 'user',
    active             INTEGER NOT NULL DEFAULT 1,
    -- 'local' (CLI, import-users) or 'users_db' (synced from USERS_DB at every start)
    source             TEXT    NOT NULL DEFAULT 'local',
    -- access tokens issued before this time are refused (password change)
    tokens_valid_after INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE refresh_tokens (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB    NOT NULL UNIQUE,
    family     BLOB    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    spent_at   INTEGER,
    revoked_at INTEGER
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- A counter that every change to users bumps, so a running server notices changes made by
-- another process (the CLI) with one cheap read.
CREATE TABLE identity_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO identity_epoch (id, value) VALUES (1, 0);

CREATE TRIGGER users_insert_epoch AFTER INSERT ON users
BEGIN UPDATE identity_epoch SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER users_update_epoch AFTER UPDATE ON users
BEGIN UPDATE identity_epoch SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER users_delete_epoch AFTER DELETE ON users
BEGIN UPDATE identity_epoch SET value = value + 1 WHERE id = 1; END;
