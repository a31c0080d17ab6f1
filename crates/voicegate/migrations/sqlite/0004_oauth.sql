-- OAuth2 clients, client-bound refresh tokens, revoked access tokens.

CREATE TABLE oauth_clients (
    id            INTEGER PRIMARY KEY,
    client_id     TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    secret_hash   BLOB    NOT NULL,
    -- the user client_credentials tokens act for
    owner_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- space-separated grant types
    grants        TEXT    NOT NULL,
    -- newline-separated, matched exactly
    redirect_uris TEXT    NOT NULL DEFAULT '',
    scope         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- NULL client_id: an ovos-api login; NULL scope: the role's scopes.
ALTER TABLE refresh_tokens ADD COLUMN client_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN scope TEXT;
-- the absolute end of the rotation family (refresh tokens also expire when unused for a while)
ALTER TABLE refresh_tokens ADD COLUMN family_expires_at INTEGER;

CREATE TABLE revoked_access_tokens (
    jti        TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
