-- Nonces of signed requests claimed in the database, for several instances on one PostgreSQL:
-- each accepted nonce is inserted before the request is answered (INSERT … ON CONFLICT DO
-- NOTHING), so a request one instance accepted is refused by every other. A row lives until its
-- timestamp has left the acceptance window; expired rows are deleted in bounded batches. The
-- append-only log of SQLite (signature_nonces) is not used on PostgreSQL: the claims are the log.

DROP TABLE signature_nonces;

CREATE TABLE signature_nonce_claims (
    key_id     TEXT COLLATE "C" NOT NULL,
    nonce_hash BYTEA  NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce_hash)
);

CREATE INDEX signature_nonce_claims_expiry ON signature_nonce_claims (expires_at);
