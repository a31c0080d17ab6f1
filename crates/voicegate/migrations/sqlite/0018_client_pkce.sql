-- PKCE per client: 'required' (every client so far, and the default) or 'optional' (a confidential
-- client the administrator allowed to redeem codes with its secret alone, as the HK contract's
-- clients do).

ALTER TABLE oauth_clients ADD COLUMN pkce TEXT NOT NULL DEFAULT 'required'
    CHECK (pkce IN ('required', 'optional'));

-- A code issued to such a client without a challenge has none: code_challenge becomes nullable.
-- SQLite cannot drop NOT NULL in place, so the table is rebuilt (nothing refers to it).
CREATE TABLE authorization_codes_new (
    code_hash      BLOB    PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    -- NULL: issued without PKCE (never redeemable with a code_verifier)
    code_challenge TEXT,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    issued_family  BLOB,
    issued_jti     TEXT,
    issued_exp     INTEGER
);
INSERT INTO authorization_codes_new
    SELECT code_hash, client_id, user_id, redirect_uri, scope, code_challenge, expires_at, used_at,
           issued_family, issued_jti, issued_exp
    FROM authorization_codes;
DROP TABLE authorization_codes;
ALTER TABLE authorization_codes_new RENAME TO authorization_codes;
