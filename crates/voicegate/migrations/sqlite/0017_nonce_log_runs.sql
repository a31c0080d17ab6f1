-- A row of the nonce log now holds every nonce one key spent in one write: their 16-byte hashes
-- end to end, kept until the latest of their expiries. One row per key per write instead of one
-- per signed request (rows written before hold a single hash, which reads the same).

ALTER TABLE signature_nonces RENAME COLUMN nonce_hash TO nonce_hashes;
