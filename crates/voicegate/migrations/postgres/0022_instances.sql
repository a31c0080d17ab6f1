-- The instances serving on this database: each upserts its row at start and at every heartbeat
-- (store.heartbeat_ms), deletes it when it stops; rows not seen for ten heartbeats are removed
-- by any instance. Times are Unix milliseconds of the database's clock.
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    version TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
CREATE INDEX instances_seen_at ON instances (seen_at);
