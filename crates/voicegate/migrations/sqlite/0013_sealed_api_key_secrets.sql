-- API keys' HMAC keys (SHA-256 of the secret, which is what HMAC keys with) sealed under a key
-- file beside the signing key: a copy of the database alone cannot sign requests. The server
-- seals the rows written before this migration at start and empties their secret_hash.

ALTER TABLE api_keys ADD COLUMN secret_sealed BLOB;
