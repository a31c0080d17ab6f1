-- Jobs report their progress in percent (0 to 100) with a phase, and name the user they work
-- for, whose events they are. SQLite cannot change a CHECK constraint in place, so the table is
-- rebuilt; a voice build's job takes its owner from the build.

CREATE TABLE jobs_new (
    id           TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    owner_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    status       TEXT    NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress     INTEGER NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 100),
    phase        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    lease_until  INTEGER,
    error        TEXT,
    result       TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

INSERT INTO jobs_new (id, kind, payload, owner_id, status, progress, attempts, max_attempts,
                      lease_until, error, result, created_at, updated_at)
SELECT j.id, j.kind, j.payload,
       (SELECT b.owner_id FROM voice_builds b WHERE b.job_id = j.id),
       j.status, CAST(round(j.progress * 100) AS INTEGER), j.attempts, j.max_attempts,
       j.lease_until, j.error, j.result, j.created_at, j.updated_at
FROM jobs j ORDER BY j.rowid;

DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_claim ON jobs (status, kind, created_at);
