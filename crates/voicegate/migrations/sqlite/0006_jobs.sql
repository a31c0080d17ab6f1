-- The job queue (voice builds, training). A worker claims a job by setting it running with a
-- lease (unix ms); a job whose lease lapses (crash, kill -9) is claimed again, until max_attempts.
-- Claims take the oldest job first: created_at, then rowid.

CREATE TABLE jobs (
    id           TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress     REAL    NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    lease_until  INTEGER,
    error        TEXT,
    result       TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE INDEX jobs_claim ON jobs (status, kind, created_at);
