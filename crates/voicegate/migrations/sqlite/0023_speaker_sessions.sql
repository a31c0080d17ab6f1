-- Speakers sessions shared by every instance: the instance that opened a session owns its
-- playback (its feeder) and renews a lease on it; commands for it that reach another instance
-- are rows of speaker_commands that the owner picks up and answers.

CREATE TABLE speaker_sessions (
    -- the SHA-256 of the SessionToken, hex (the token itself is never stored)
    id                TEXT    PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- the instance playing it (Db::instance_id) and until when it is known alive (Unix ms)
    owner_instance    TEXT    NOT NULL,
    owner_lease_until INTEGER NOT NULL,
    -- the speaker system's ids of the session's devices, a JSON array in the order added
    devices           TEXT    NOT NULL DEFAULT '[]',
    created_at        INTEGER NOT NULL,
    used_at           INTEGER NOT NULL
);
CREATE INDEX speaker_sessions_user ON speaker_sessions (user_id);
CREATE INDEX speaker_sessions_owner ON speaker_sessions (owner_instance);

CREATE TABLE speaker_commands (
    id             INTEGER PRIMARY KEY,
    session_id     TEXT    NOT NULL REFERENCES speaker_sessions (id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL,
    -- the instance that is to run it (the session's owner when it was sent)
    owner_instance TEXT    NOT NULL,
    -- the command, JSON; its answer, JSON, once done
    command        TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'done')),
    result         TEXT,
    created_at     INTEGER NOT NULL
);
CREATE INDEX speaker_commands_queued ON speaker_commands (owner_instance, status);
