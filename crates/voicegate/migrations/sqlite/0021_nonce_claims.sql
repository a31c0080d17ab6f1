-- Nothing on SQLite: one machine uses a SQLite store, so its nonces are checked in memory and
-- logged behind the answers (signature_nonces). PostgreSQL's 0021 adds the table in which
-- instances sharing the database claim each nonce.
SELECT 1;
