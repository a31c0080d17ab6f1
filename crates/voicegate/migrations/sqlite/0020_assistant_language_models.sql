-- The ASR language model of an assistant: its latest build job, and the model in use (the
-- dataset version it was built from, the SHA-256 naming its folder, when).

ALTER TABLE assistants ADD COLUMN asr_job_id        TEXT;
ALTER TABLE assistants ADD COLUMN asr_model_version INTEGER;
ALTER TABLE assistants ADD COLUMN asr_model_sha256  TEXT;
ALTER TABLE assistants ADD COLUMN asr_built_at      INTEGER;
