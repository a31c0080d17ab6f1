//! SQL for OAuth2 clients and revoked access tokens.

use sqlx::Row;

use crate::clock::UnixTime;
use crate::identity::error::IdentityError;
use crate::identity::pkce::PkcePolicy;
use crate::identity::repo::IdentityRepo;
use crate::ids::UserId;
use crate::store::sql_integer;

/// A stored OAuth2 client.
#[derive(Clone)]
pub struct ClientRow {
    /// Public client id.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// The user client_credentials tokens act for.
    pub owner_id: UserId,
    /// That user's name.
    pub owner: String,
    /// Grant types, space-separated.
    pub grants: String,
    /// Redirect URIs, newline-separated.
    pub redirect_uris: String,
    /// Scopes, space-separated.
    pub scope: String,
    /// Whether its authorization requests must carry a PKCE challenge.
    pub pkce: PkcePolicy,
}

impl std::fmt::Debug for ClientRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRow")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("owner", &self.owner)
            .field("grants", &self.grants)
            .field("pkce", &self.pkce)
            .finish_non_exhaustive()
    }
}

const CLIENT_SELECT: &str = "SELECT c.client_id, c.name, c.secret_hash, c.owner_id, u.name, c.grants, c.redirect_uris, c.scope, c.pkce
     FROM oauth_clients c JOIN users u ON u.id = c.owner_id";

fn client_from_row(row: &sqlx::any::AnyRow) -> Result<ClientRow, sqlx::Error> {
    Ok(ClientRow {
        client_id: row.try_get(0)?,
        name: row.try_get(1)?,
        secret_hash: row.try_get(2)?,
        owner_id: UserId::new(row.try_get(3)?),
        owner: row.try_get(4)?,
        grants: row.try_get(5)?,
        redirect_uris: row.try_get(6)?,
        scope: row.try_get(7)?,
        pkce: PkcePolicy::from_stored(row.try_get(8)?),
    })
}

/// A stored authorization code.
#[derive(Debug, Clone)]
pub struct CodeRow {
    /// The client it was issued to.
    pub client_id: String,
    /// The user who approved it.
    pub user_id: UserId,
    /// The redirect URI it was issued for.
    pub redirect_uri: String,
    /// Granted scopes.
    pub scope: String,
    /// PKCE S256 challenge; `None` for a code issued without PKCE (to a client allowed that).
    pub code_challenge: Option<String>,
    /// Expiry.
    pub expires_at: UnixTime,
    /// When it was redeemed, if it was.
    pub used_at: Option<UnixTime>,
    /// The refresh family its redemption issued.
    pub issued_family: Option<Vec<u8>>,
    /// The access token id its redemption issued, and that token's expiry.
    pub issued_jti: Option<(String, UnixTime)>,
}

impl IdentityRepo {
    /// Stores a client unless its owner has `max` clients already (counted and inserted in one
    /// statement); `false` when refused.
    pub async fn insert_client(
        &self,
        client: &ClientRow,
        now: UnixTime,
        max: u64,
    ) -> Result<bool, IdentityError> {
        let done = self.db.insert_below_quota(client.owner_id.get(), sqlx::query(
            "INSERT INTO oauth_clients (client_id, name, secret_hash, owner_id, grants, redirect_uris, scope, created_at, pkce)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $10
             WHERE (SELECT COUNT(*) FROM oauth_clients WHERE owner_id = $4) < $9",
        )
        .bind(&client.client_id)
        .bind(&client.name)
        .bind(&client.secret_hash)
        .bind(client.owner_id.get())
        .bind(&client.grants)
        .bind(&client.redirect_uris)
        .bind(&client.scope)
        .bind(now)
        .bind(sql_integer(max))
        .bind(client.pkce.as_str()))
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The client with this id, if any.
    pub async fn find_client(&self, client_id: &str) -> Result<Option<ClientRow>, IdentityError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CLIENT_SELECT} WHERE c.client_id = $1"
        )))
        .bind(client_id)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(client_from_row).transpose()?)
    }

    /// Every client.
    pub async fn list_clients(&self) -> Result<Vec<ClientRow>, IdentityError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CLIENT_SELECT} ORDER BY c.name"
        )))
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(client_from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes a client and revokes its refresh tokens; `false` when there is none of that id.
    pub async fn delete_client(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> Result<bool, IdentityError> {
        let mut tx = self.db.pool().begin().await?;
        let done = sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a revoked access token until it would have expired anyway.
    pub async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: UnixTime,
    ) -> Result<(), IdentityError> {
        sqlx::query("INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The revoked access tokens that have not expired yet.
    pub async fn revoked_access_tokens(
        &self,
        now: UnixTime,
    ) -> Result<Vec<(String, UnixTime)>, IdentityError> {
        sqlx::query("DELETE FROM revoked_access_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        let rows = sqlx::query("SELECT jti, expires_at FROM revoked_access_tokens")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Stores a new code.
    pub async fn insert_code(&self, code_hash: &[u8], code: &CodeRow) -> Result<(), IdentityError> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(code_hash)
        .bind(&code.client_id)
        .bind(code.user_id.get())
        .bind(&code.redirect_uri)
        .bind(&code.scope)
        .bind(&code.code_challenge)
        .bind(code.expires_at)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The code with this hash, if any.
    pub async fn find_code(&self, code_hash: &[u8]) -> Result<Option<CodeRow>, IdentityError> {
        let row = sqlx::query(
            "SELECT client_id, user_id, redirect_uri, scope, code_challenge, expires_at, used_at, issued_family, issued_jti, issued_exp
             FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let jti: Option<String> = row.try_get(8)?;
        let exp: Option<i64> = row.try_get(9)?;
        Ok(Some(CodeRow {
            client_id: row.try_get(0)?,
            user_id: UserId::new(row.try_get(1)?),
            redirect_uri: row.try_get(2)?,
            scope: row.try_get(3)?,
            code_challenge: row.try_get(4)?,
            expires_at: row.try_get(5)?,
            used_at: row.try_get(6)?,
            issued_family: row.try_get(7)?,
            issued_jti: jti.zip(exp),
        }))
    }

    /// Marks a code used, once: `false` when it already was.
    pub async fn spend_code(&self, code_hash: &[u8], now: UnixTime) -> Result<bool, IdentityError> {
        let done = sqlx::query(
            "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(code_hash)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records what a code's redemption issued, so a second redemption can revoke it.
    pub async fn record_code_issue(
        &self,
        code_hash: &[u8],
        family: &[u8],
        jti: &str,
        exp: UnixTime,
    ) -> Result<(), IdentityError> {
        sqlx::query("UPDATE authorization_codes SET issued_family = $1, issued_jti = $2, issued_exp = $3 WHERE code_hash = $4")
            .bind(family)
            .bind(jti)
            .bind(exp)
            .bind(code_hash)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}
