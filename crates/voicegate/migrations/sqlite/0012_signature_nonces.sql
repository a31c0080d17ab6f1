-- Nonces of signed requests, kept until their timestamp leaves the acceptance window, so that a
-- captured request cannot be replayed after a restart or against a second server on the store.

CREATE TABLE signature_nonces (
    key_id     TEXT    NOT NULL,
    nonce_hash BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce_hash)
) WITHOUT ROWID;

CREATE INDEX signature_nonces_expiry ON signature_nonces (expires_at);
