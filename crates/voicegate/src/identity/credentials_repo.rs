//! SQL for named tokens and API keys: the credentials a user makes for scripts and devices.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::UnixTime;
use crate::identity::error::IdentityError;
use crate::identity::repo::IdentityRepo;
use crate::ids::UserId;
use crate::store::{Backend, sql_integer};

/// A stored named token with its user's name.
#[derive(Debug, Clone)]
pub struct NamedTokenRow {
    /// Its user.
    pub user_id: UserId,
    /// Its user's name.
    pub user_name: String,
    /// Its name.
    pub alias: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Creation time in milliseconds, compared with the user's token cut-off.
    pub created_at_ms: i64,
    /// Expiry, if any.
    pub expires_at: Option<UnixTime>,
}

fn named_token_from_row(row: &AnyRow) -> Result<NamedTokenRow, sqlx::Error> {
    Ok(NamedTokenRow {
        user_id: UserId::new(row.try_get("user_id")?),
        user_name: row.try_get("name")?,
        alias: row.try_get("alias")?,
        scope: row.try_get("scope")?,
        created_at: row.try_get("created_at")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// A stored API key with its user.
#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    /// Public key id.
    pub key_id: String,
    /// Its user's id.
    pub user_id: UserId,
    /// Its user's name.
    pub user_name: String,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// Space-separated scopes.
    pub scope: String,
    /// Creation time.
    pub created_at: UnixTime,
}

impl IdentityRepo {
    /// Stores a named token's hash unless the user has `max` named tokens already (counted and
    /// inserted in one statement); `false` when refused. A taken alias is
    /// [`IdentityError::AliasExists`].
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_named_token(
        &self,
        user_id: UserId,
        alias: &str,
        token_hash: &[u8],
        scope: &str,
        now_ms: i64,
        expires_at: Option<UnixTime>,
        max: u64,
    ) -> Result<bool, IdentityError> {
        let result = self.db.insert_below_quota(user_id.get(), sqlx::query(
            "INSERT INTO named_tokens (user_id, alias, token_hash, scope, created_at, created_at_ms, expires_at)
             SELECT $1, $2, $3, $4, $5, $6, $7
             WHERE (SELECT COUNT(*) FROM named_tokens WHERE user_id = $1) < $8",
        )
        .bind(user_id.get())
        .bind(alias)
        .bind(token_hash)
        .bind(scope)
        .bind(now_ms.div_euclid(1000))
        .bind(now_ms)
        .bind(expires_at)
        .bind(sql_integer(max)))
        .await;
        match result {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(IdentityError::AliasExists(alias.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The named token with this hash, if any.
    pub async fn find_named_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<NamedTokenRow>, IdentityError> {
        let row = sqlx::query(
            "SELECT t.user_id, u.name, t.alias, t.scope, t.created_at, t.created_at_ms, t.expires_at
             FROM named_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(named_token_from_row).transpose()?)
    }

    /// The named tokens of one user, or of everyone, by user and alias.
    pub async fn list_named_tokens(
        &self,
        user_id: Option<UserId>,
    ) -> Result<Vec<NamedTokenRow>, IdentityError> {
        let rows = sqlx::query(
            "SELECT t.user_id, u.name, t.alias, t.scope, t.created_at, t.created_at_ms, t.expires_at
             FROM named_tokens t JOIN users u ON u.id = t.user_id
             WHERE $1 IS NULL OR t.user_id = $1 ORDER BY u.name, t.alias",
        )
        .bind(user_id.map(UserId::get))
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .map(named_token_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Deletes a user's named token; `false` when there is none of that alias.
    pub async fn delete_named_token(
        &self,
        user_id: UserId,
        alias: &str,
    ) -> Result<bool, IdentityError> {
        let done = sqlx::query("DELETE FROM named_tokens WHERE user_id = $1 AND alias = $2")
            .bind(user_id.get())
            .bind(alias)
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores an API key unless the user has `max` already (counted and inserted in one
    /// statement); `false` when refused.
    pub async fn insert_api_key(
        &self,
        key_id: &str,
        user_id: UserId,
        secret_hash: &[u8],
        scope: &str,
        now: UnixTime,
        max: u64,
    ) -> Result<bool, IdentityError> {
        let sealed = self.sealer.seal(key_id.as_bytes(), secret_hash);
        let done = self.db.insert_below_quota(user_id.get(), sqlx::query(
            "INSERT INTO api_keys (key_id, user_id, secret_hash, secret_sealed, scope, created_at)
             SELECT $1, $2, $7, $3, $4, $5
             WHERE (SELECT COUNT(*) FROM api_keys WHERE user_id = $2) < $6",
        )
        .bind(key_id)
        .bind(user_id.get())
        .bind(sealed)
        .bind(scope)
        .bind(now)
        .bind(sql_integer(max))
        // The clear value is never stored: an empty one in its column.
        .bind(&[][..]))
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Seals the HMAC keys stored in the clear before sealing existed; returns how many.
    pub async fn seal_legacy_api_keys(&self) -> Result<usize, IdentityError> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT key_id, secret_hash FROM api_keys WHERE secret_sealed IS NULL")
                .fetch_all(self.db.pool())
                .await?;
        for (key_id, secret_hash) in &rows {
            let sealed = self.sealer.seal(key_id.as_bytes(), secret_hash);
            sqlx::query(
                "UPDATE api_keys SET secret_sealed = $1, secret_hash = $3
                 WHERE key_id = $2 AND secret_sealed IS NULL",
            )
            .bind(sealed)
            .bind(key_id)
            .bind(&[][..])
            .execute(self.db.pool())
            .await?;
        }
        // Clear values exist only in SQLite databases from before sealing; they must not linger
        // in freed pages or in the write-ahead log.
        if !rows.is_empty() && self.db.backend() == Backend::Sqlite {
            sqlx::query("VACUUM").execute(self.db.pool()).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(self.db.pool())
                .await?;
        }
        Ok(rows.len())
    }

    /// Every API key, with its HMAC key opened. A key whose sealed value does not open (the
    /// database was copied without `secrets.key`) is left out, with a warning.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, IdentityError> {
        let rows = sqlx::query(
            "SELECT k.key_id, k.user_id, u.name, k.secret_hash, k.scope, k.created_at, k.secret_sealed
             FROM api_keys k JOIN users u ON u.id = k.user_id ORDER BY u.name, k.created_at",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            let key_id: String = row.try_get(0)?;
            let sealed: Option<Vec<u8>> = row.try_get(6)?;
            let secret_hash = match sealed {
                Some(sealed) => match self.sealer.open(key_id.as_bytes(), &sealed) {
                    Some(secret_hash) => secret_hash,
                    None => {
                        tracing::warn!(key = %key_id, "an API key does not open with secrets.key; it is ignored");
                        continue;
                    }
                },
                None => row.try_get(3)?,
            };
            keys.push(ApiKeyRow {
                key_id,
                user_id: UserId::new(row.try_get(1)?),
                user_name: row.try_get(2)?,
                secret_hash,
                scope: row.try_get(4)?,
                created_at: row.try_get(5)?,
            });
        }
        Ok(keys)
    }

    /// Deletes an API key; `false` when there is none of that id.
    pub async fn delete_api_key(&self, key_id: &str) -> Result<bool, IdentityError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE key_id = $1")
            .bind(key_id)
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
