-- OAuth2 authorization codes (single use, PKCE S256). A second redemption revokes what the first
-- one issued: the refresh family and the access token's jti.

CREATE TABLE authorization_codes (
    code_hash      BLOB    PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    issued_family  BLOB,
    issued_jti     TEXT,
    issued_exp     INTEGER
);
