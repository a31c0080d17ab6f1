-- The nonce log is purged by id (rows are appended in time order), so it needs no index on
-- expiry: one index less to update per signed request.

DROP INDEX signature_nonces_expiry;
