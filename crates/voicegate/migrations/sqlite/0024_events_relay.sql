-- Events one instance published, for the other instances sharing the database to pass on to
-- their own subscribers. Only PostgreSQL deployments relay (SQLite serves one instance); the
-- table is here too so that both schemas stay the same. Rows live about a minute.

CREATE TABLE events_relay (
    id         INTEGER PRIMARY KEY,
    instance   TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    owner_id   INTEGER,
    data       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX events_relay_created ON events_relay (created_at);
