//! SQL for users and refresh tokens.

use std::sync::Arc;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::UnixTime;
use crate::identity::error::IdentityError;
use crate::identity::model::{Role, User, UserSource};
use crate::identity::sealed::Sealer;
use crate::ids::UserId;
use crate::store::{Db, flag, get_flag};

/// The columns [`user_from_row`] reads, as a literal for `concat!`.
macro_rules! user_columns {
    () => {
        "id, name, email, password_hash, imported_hash, role, active, source, tokens_valid_after_ms, created_at"
    };
}

fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: UserId::new(row.try_get("id")?),
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        role: Role::parse(row.try_get::<&str, _>("role")?).unwrap_or(Role::User),
        active: get_flag(row, "active")?,
        source: UserSource::parse(row.try_get::<&str, _>("source")?),
        imported_hash: row.try_get("imported_hash")?,
        email: row.try_get("email")?,
        tokens_valid_after_ms: row.try_get("tokens_valid_after_ms")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A new user row.
pub struct NewUser<'a> {
    /// Unique name.
    pub name: &'a str,
    /// Unique e-mail address, if any.
    pub email: Option<&'a str>,
    /// Argon2id or bcrypt hash.
    pub password_hash: &'a str,
    /// The users file's hash, for imported users.
    pub imported_hash: Option<&'a str>,
    /// Role.
    pub role: Role,
    /// Whether the user may log in.
    pub active: bool,
    /// Where the user comes from.
    pub source: UserSource,
}

async fn revoke_user_refresh(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: UserId,
    now: UnixTime,
) -> Result<(), IdentityError> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND user_id = $2",
    )
    .bind(now)
    .bind(user_id.get())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A stored refresh token.
#[derive(Debug)]
pub struct RefreshRow {
    /// Row id.
    pub id: i64,
    /// The rotation family it belongs to.
    pub family: Vec<u8>,
    /// Its user's name.
    pub user_name: String,
    /// Its user may log in.
    pub user_active: bool,
    /// Expiry.
    pub expires_at: UnixTime,
    /// When it was exchanged, if it was.
    pub spent_at: Option<UnixTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixTime>,
    /// The OAuth client it was issued to (none: the ovos-api login).
    pub client_id: Option<String>,
    /// The scopes it may ask for (none: the role's).
    pub scope: Option<String>,
    /// The absolute end of its rotation family, if any.
    pub family_expires_at: Option<UnixTime>,
    /// When it was issued.
    pub issued_at: UnixTime,
}

/// A refresh token to store.
pub struct NewRefresh<'a> {
    /// SHA-256 of the token.
    pub token_hash: &'a [u8],
    /// Its rotation family.
    pub family: &'a [u8],
    /// Its user.
    pub user_id: UserId,
    /// The OAuth client, if any.
    pub client_id: Option<&'a str>,
    /// The scopes it may ask for, if not the role's.
    pub scope: Option<&'a str>,
    /// Expiry of this token.
    pub expires_at: UnixTime,
    /// The absolute end of the family.
    pub family_expires_at: Option<UnixTime>,
    /// The user's token cut-off (milliseconds) when the grant was checked: the token is stored
    /// only if the user is still active with that cut-off, so a password change or a disable
    /// committed while a login was being checked stops it.
    pub user_valid_after_ms: i64,
}

/// The identity tables: users and refresh tokens here; named tokens and API keys in
/// `credentials_repo`; OAuth clients, codes and revoked access tokens in `oauth_repo`. One
/// struct over the store, so that a second backend changes these files only.
#[derive(Debug, Clone)]
pub struct IdentityRepo {
    pub(super) db: Db,
    /// Seals the API keys' HMAC keys at rest.
    pub(super) sealer: Arc<Sealer>,
}

impl IdentityRepo {
    /// The repository over `db`, sealing stored secrets with `sealer`.
    pub fn new(db: Db, sealer: Arc<Sealer>) -> Self {
        Self { db, sealer }
    }

    /// The user named `name`, if any.
    pub async fn find_user(&self, name: &str) -> Result<Option<User>, IdentityError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    /// The user whose e-mail address or name is `login`, if any.
    pub async fn find_user_by_login(&self, login: &str) -> Result<Option<User>, IdentityError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = $1 OR (name = $1 AND NOT EXISTS (SELECT 1 FROM users WHERE email = $1))"
        ))
        .bind(login)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<User>, IdentityError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY name"
        ))
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    /// How many users exist.
    pub async fn count_users(&self) -> Result<i64, IdentityError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.db.pool())
            .await?)
    }

    /// Inserts a user; a taken name is [`IdentityError::UserExists`].
    pub async fn insert_user(
        &self,
        user: &NewUser<'_>,
        now: UnixTime,
    ) -> Result<i64, IdentityError> {
        let result = sqlx::query(
            "INSERT INTO users (name, email, password_hash, imported_hash, role, active, source, tokens_valid_after, tokens_valid_after_ms, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8 * 1000, $8, $8) RETURNING id",
        )
        .bind(user.name)
        .bind(user.email)
        .bind(user.password_hash)
        .bind(user.imported_hash)
        .bind(user.role.as_str())
        .bind(flag(user.active))
        .bind(user.source.as_str())
        .bind(now)
        .fetch_one(self.db.pool())
        .await;
        match result {
            Ok(row) => Ok(row.try_get(0)?),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(IdentityError::UserExists(user.name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Enables or disables user `id` at `now_ms` (milliseconds). Disabling also refuses the
    /// tokens issued before `now_ms` and revokes the user's refresh tokens, in one transaction,
    /// so enabling again revives nothing.
    pub async fn set_active(
        &self,
        id: UserId,
        active: bool,
        now_ms: i64,
    ) -> Result<(), IdentityError> {
        let now = now_ms.div_euclid(1000);
        let mut tx = self.db.pool().begin().await?;
        if active {
            sqlx::query("UPDATE users SET active = 1, updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "UPDATE users SET active = 0, tokens_valid_after = $1,
                 tokens_valid_after_ms = CASE WHEN $2 > tokens_valid_after_ms THEN $2 ELSE tokens_valid_after_ms + 1 END, updated_at = $1
                 WHERE id = $3",
            )
            .bind(now)
            .bind(now_ms)
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
            revoke_user_refresh(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces user `id`'s password hash (and the users file's hash, for imports), refuses the
    /// tokens issued before `now_ms` (milliseconds) and revokes the user's refresh tokens, in
    /// one transaction. The cut-off always moves, even twice in one millisecond, so a login
    /// being checked meanwhile sees the change.
    pub async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        imported_hash: Option<&str>,
        now_ms: i64,
    ) -> Result<(), IdentityError> {
        let now = now_ms.div_euclid(1000);
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "UPDATE users SET password_hash = $1, imported_hash = $2, tokens_valid_after = $3,
             tokens_valid_after_ms = CASE WHEN $4 > tokens_valid_after_ms THEN $4 ELSE tokens_valid_after_ms + 1 END, updated_at = $3
             WHERE id = $5",
        )
        .bind(password_hash)
        .bind(imported_hash)
        .bind(now)
        .bind(now_ms)
        .bind(id.get())
        .execute(&mut *tx)
        .await?;
        revoke_user_refresh(&mut tx, id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Swaps a verified bcrypt hash for an Argon2id one of the same password; sessions stay valid.
    /// Does nothing if the hash changed meanwhile.
    pub async fn upgrade_password_hash(
        &self,
        id: UserId,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<(), IdentityError> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
            .bind(new_hash)
            .bind(id.get())
            .bind(old_hash)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The identity epoch: it changes whenever any user row changes, from any process.
    pub async fn identity_epoch(&self) -> Result<i64, IdentityError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM identity_epoch WHERE id = 1")
                .fetch_one(self.db.pool())
                .await?,
        )
    }

    /// Stores a refresh token's hash if its user is still active with the cut-off the grant
    /// saw; `false` when the user changed meanwhile (nothing stored).
    pub async fn insert_refresh(
        &self,
        token: &NewRefresh<'_>,
        now: UnixTime,
    ) -> Result<bool, IdentityError> {
        let done = sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family, user_id, issued_at, expires_at, client_id, scope, family_expires_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM users
             WHERE id = $3 AND active = 1 AND tokens_valid_after_ms = $9",
        )
        .bind(token.token_hash)
        .bind(token.family)
        .bind(token.user_id.get())
        .bind(now)
        .bind(token.expires_at)
        .bind(token.client_id)
        .bind(token.scope)
        .bind(token.family_expires_at)
        .bind(token.user_valid_after_ms)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The refresh token with this hash, if any.
    pub async fn find_refresh(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<RefreshRow>, IdentityError> {
        let row = sqlx::query(
            "SELECT r.id, r.family, u.name, u.active, r.expires_at, r.spent_at, r.revoked_at,
                    r.client_id, r.scope, r.family_expires_at, r.issued_at
             FROM refresh_tokens r JOIN users u ON u.id = r.user_id WHERE r.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(RefreshRow {
            id: row.try_get(0)?,
            family: row.try_get(1)?,
            user_name: row.try_get(2)?,
            user_active: row.try_get::<i64, _>(3)? != 0,
            expires_at: row.try_get(4)?,
            spent_at: row.try_get(5)?,
            revoked_at: row.try_get(6)?,
            client_id: row.try_get(7)?,
            scope: row.try_get(8)?,
            family_expires_at: row.try_get(9)?,
            issued_at: row.try_get(10)?,
        }))
    }

    /// Spends refresh token `id` and stores its successor (with `scope`) in the same family,
    /// atomically. `false` when the token was spent or revoked meanwhile (a concurrent reuse): nothing
    /// is stored then.
    pub async fn rotate_refresh(
        &self,
        id: i64,
        new_hash: &[u8],
        scope: Option<&str>,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<bool, IdentityError> {
        let mut tx = self.db.pool().begin().await?;
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET spent_at = $1 WHERE id = $2 AND spent_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family, user_id, issued_at, expires_at, client_id, scope, family_expires_at)
             SELECT $1, family, user_id, $2, $3, client_id, $4, family_expires_at FROM refresh_tokens WHERE id = $5",
        )
        .bind(new_hash)
        .bind(now)
        .bind(expires_at)
        .bind(scope)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The refresh-token families revoked since `since`, with when.
    pub async fn revoked_families(
        &self,
        since: UnixTime,
    ) -> Result<Vec<(Vec<u8>, UnixTime)>, IdentityError> {
        let rows = sqlx::query(
            "SELECT family, MAX(revoked_at) FROM refresh_tokens WHERE revoked_at >= $1 GROUP BY family",
        )
        .bind(since)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(IdentityError::from)
    }

    /// Revokes every token of a rotation family.
    pub async fn revoke_family(&self, family: &[u8], now: UnixTime) -> Result<u64, IdentityError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes refresh tokens that expired more than a day ago.
    pub async fn purge_expired_refresh(&self, now: UnixTime) -> Result<u64, IdentityError> {
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now - 86_400)
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
