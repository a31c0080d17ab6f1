-- Sessions of the web console: a browser holds the token in an HttpOnly cookie; only its
-- SHA-256 is stored. A session ends at expires_at, or when unused for the configured idle time
-- (last_seen_at moves at most once a minute).

CREATE TABLE web_sessions (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    -- milliseconds, compared with the user's token cut-off (a password change ends the session)
    created_at_ms INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
