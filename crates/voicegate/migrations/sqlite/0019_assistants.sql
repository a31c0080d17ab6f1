-- The Snips console's assistants: a dataset each, and the NLU model last trained from it.

CREATE TABLE assistants (
    id                TEXT    PRIMARY KEY,
    owner_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title             TEXT    NOT NULL,
    language          TEXT    NOT NULL,
    -- the Snips NLU dataset, JSON as stored after validation
    dataset           TEXT    NOT NULL,
    -- grows by one at every dataset change; a model records the version it was trained from
    dataset_version   INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    -- the latest NLU training job (queued, running or ended)
    nlu_job_id        TEXT,
    -- the model in use: the dataset version it was trained from, its file's SHA-256, when
    nlu_model_version INTEGER,
    nlu_model_sha256  TEXT,
    nlu_trained_at    INTEGER
);
CREATE INDEX assistants_owner ON assistants (owner_id, created_at);
