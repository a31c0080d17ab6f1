-- The vocalid-api voices surface: accounts, recordings, builds, voices, devices.

CREATE TABLE voice_accounts (
    id         TEXT    PRIMARY KEY,
    owner_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    gender     TEXT    NOT NULL CHECK (gender IN ('male', 'female', 'other')),
    age        INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX voice_accounts_owner ON voice_accounts (owner_id);

CREATE TABLE voice_recordings (
    id          INTEGER PRIMARY KEY,
    account_id  TEXT    NOT NULL REFERENCES voice_accounts (id) ON DELETE CASCADE,
    sentence    TEXT    NOT NULL,
    -- the uploaded WAV file, in the blob store
    blob        TEXT    NOT NULL,
    sample_rate INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    -- OK, OVERDRIVEN or UNDERDRIVEN
    level       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX voice_recordings_account ON voice_recordings (account_id);

CREATE TABLE voice_builds (
    id         TEXT    PRIMARY KEY,
    account_id TEXT    NOT NULL REFERENCES voice_accounts (id) ON DELETE CASCADE,
    owner_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- PENDING, COMPLETE or ERROR
    status     TEXT    NOT NULL,
    job_id     TEXT,
    error      TEXT,
    voice_id   TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- One pending build per account, enforced by the database.
CREATE UNIQUE INDEX voice_builds_one_pending ON voice_builds (account_id) WHERE status = 'PENDING';
CREATE INDEX voice_builds_owner ON voice_builds (owner_id);

CREATE TABLE voices (
    id              TEXT    PRIMARY KEY,
    owner_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id      TEXT    REFERENCES voice_accounts (id) ON DELETE SET NULL,
    build_id        TEXT,
    name            TEXT    NOT NULL,
    base_voice      TEXT    NOT NULL,
    -- the prosody profile, JSON
    profile         TEXT    NOT NULL,
    download_token  TEXT    NOT NULL UNIQUE,
    synthesis_count INTEGER NOT NULL DEFAULT 0,
    can_download    INTEGER NOT NULL DEFAULT 1,
    can_stream      INTEGER NOT NULL DEFAULT 1,
    expires_at      INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE INDEX voices_owner ON voices (owner_id);

-- Synthesis counts of the engines' built-in voices, per user.
CREATE TABLE builtin_voice_usage (
    owner_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    voice_id        TEXT    NOT NULL,
    synthesis_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (owner_id, voice_id)
);

CREATE TABLE voice_devices (
    id         TEXT    PRIMARY KEY,
    owner_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT,
    created_at INTEGER NOT NULL
);
