//! Web console sessions: a browser signs in with a user's password and holds an opaque session
//! token in an HttpOnly cookie; the store keeps only its SHA-256. A session ends when signed
//! out, when unused for the idle time, past its absolute lifetime, or when the user's tokens are
//! cut off (password change, disable). Every request a session makes also carries a CSRF token
//! derived one way from the session token, which a page of another site cannot know.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use crate::clock::UnixTime;
use crate::config::WebConfig;
use crate::identity::error::IdentityError;
use crate::identity::model::{Credential, Principal};
use crate::identity::opaque::token_hash;
use crate::identity::repo::IdentityRepo;
use crate::identity::service::IdentityService;
use crate::ids::{UserId, new_token};
use crate::secret::Secret;
use crate::store::sql_integer;

/// Prefix of web session tokens.
pub const WEB_SESSION_PREFIX: &str = "vgs_";

/// How stale `last_seen_at` may get before a request moves it, in seconds: a page's calls do not
/// each write to the store.
const SEEN_GRANULARITY_SECS: i64 = 60;

/// A session just opened: the token for the cookie, shown once.
#[derive(Debug)]
pub struct NewWebSession {
    /// The session token (the cookie's value).
    pub token: Secret,
    /// When the session ends at the latest, Unix seconds.
    pub expires_at: UnixTime,
}

/// The CSRF token of a session: base64url of SHA-256 over a label and the session token. Pages
/// carry it; every request the session makes must send it back in `X-CSRF-Token`.
pub fn csrf_token(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"voicegate web csrf\0");
    hasher.update(session_token.as_bytes());
    B64.encode(hasher.finalize())
}

/// Whether `presented` is the CSRF token of `session_token` (compared in constant time).
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    csrf_token(session_token)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

/// A stored session with its user's name.
struct SessionRow {
    user_id: UserId,
    user_name: String,
    created_at: UnixTime,
    created_at_ms: i64,
    last_seen_at: UnixTime,
    expires_at: UnixTime,
}

impl IdentityService {
    /// Checks a user name and password (with the login rate limits) and opens a session for the
    /// user; past `max_sessions_per_user`, the user's oldest sessions end.
    pub async fn sign_in_web(
        &self,
        ip: IpAddr,
        user: &str,
        password: &str,
        web: &WebConfig,
    ) -> Result<NewWebSession, IdentityError> {
        let found = self.verify_credentials(ip, user, password, false).await?;
        let now_ms = self.clock.now_ms();
        let now = now_ms.div_euclid(1000);
        let token = new_token(WEB_SESSION_PREFIX);
        let expires_at = now + web.session_max_secs;
        self.repo
            .purge_web_sessions(now, web.session_idle_secs)
            .await?;
        let ended = self
            .repo
            .keep_newest_web_sessions(found.id, web.max_sessions_per_user.saturating_sub(1))
            .await?;
        if ended {
            self.states.announce_change();
        }
        self.repo
            .insert_web_session(&token_hash(&token), found.id, now_ms, expires_at)
            .await?;
        Ok(NewWebSession {
            token: Secret::new(token),
            expires_at,
        })
    }

    /// The principal of a session token: the user with the scopes of its role. Unknown, expired,
    /// idle and cut-off sessions are [`IdentityError::InvalidToken`].
    pub async fn authenticate_web(
        &self,
        token: &str,
        web: &WebConfig,
    ) -> Result<Principal, IdentityError> {
        if !token.starts_with(WEB_SESSION_PREFIX) {
            return Err(IdentityError::InvalidToken);
        }
        let hash = token_hash(token);
        let row = self
            .repo
            .find_web_session(&hash)
            .await?
            .ok_or(IdentityError::InvalidToken)?;
        let now = self.clock.now();
        if now >= row.expires_at || now >= row.last_seen_at + web.session_idle_secs {
            return Err(IdentityError::InvalidToken);
        }
        let state = self
            .user_state(&row.user_name)
            .await
            .filter(|s| s.active && s.id == row.user_id)
            .ok_or(IdentityError::InvalidToken)?;
        if row.created_at_ms < state.tokens_valid_after_ms {
            return Err(IdentityError::InvalidToken);
        }
        if now - row.last_seen_at >= SEEN_GRANULARITY_SECS {
            self.repo.touch_web_session(&hash, now).await?;
        }
        Ok(Principal {
            user_id: row.user_id,
            user: row.user_name,
            role: state.role,
            scopes: state.role.scopes(),
            issued_at: row.created_at,
            issued_at_ms: row.created_at_ms,
            expires_at: Some(row.expires_at),
            credential: Credential::WebSession { hash },
        })
    }

    /// Whether the session behind a principal is still open (a long-lived events stream asks).
    pub(super) async fn web_session_open(&self, hash: &[u8; 32]) -> Result<bool, IdentityError> {
        Ok(self.repo.find_web_session(hash).await?.is_some())
    }

    /// Ends a session (sign-out); ending one that is already gone is no error. Its open event
    /// streams are told to check their credential again, and end.
    pub async fn sign_out_web(&self, token: &str) -> Result<(), IdentityError> {
        self.repo.delete_web_session(&token_hash(token)).await?;
        self.states.announce_change();
        Ok(())
    }
}

impl IdentityRepo {
    async fn insert_web_session(
        &self,
        hash: &[u8; 32],
        user_id: UserId,
        now_ms: i64,
        expires_at: UnixTime,
    ) -> Result<(), IdentityError> {
        let now = now_ms.div_euclid(1000);
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, user_id, created_at, created_at_ms, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&hash[..])
        .bind(user_id.get())
        .bind(now)
        .bind(now_ms)
        .bind(now)
        .bind(expires_at)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    async fn find_web_session(&self, hash: &[u8; 32]) -> Result<Option<SessionRow>, IdentityError> {
        let row = sqlx::query(
            "SELECT s.user_id, u.name, s.created_at, s.created_at_ms, s.last_seen_at, s.expires_at
             FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(&hash[..])
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRow {
            user_id: UserId::new(row.try_get("user_id")?),
            user_name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
            created_at_ms: row.try_get("created_at_ms")?,
            last_seen_at: row.try_get("last_seen_at")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    async fn touch_web_session(&self, hash: &[u8; 32], now: UnixTime) -> Result<(), IdentityError> {
        sqlx::query("UPDATE web_sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(&hash[..])
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn delete_web_session(&self, hash: &[u8; 32]) -> Result<(), IdentityError> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(&hash[..])
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Deletes every session past its lifetime or idle time.
    async fn purge_web_sessions(&self, now: UnixTime, idle_secs: i64) -> Result<(), IdentityError> {
        sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now)
            .bind(now - idle_secs)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Ends all but the user's `keep` newest sessions; whether any ended.
    async fn keep_newest_web_sessions(
        &self,
        user_id: UserId,
        keep: u64,
    ) -> Result<bool, IdentityError> {
        let done = sqlx::query(
            "DELETE FROM web_sessions WHERE user_id = $1 AND id NOT IN
             (SELECT id FROM web_sessions WHERE user_id = $1 ORDER BY id DESC LIMIT $2)",
        )
        .bind(user_id.get())
        .bind(sql_integer(keep))
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_bound_to_its_session() {
        let (a, b) = (new_token(WEB_SESSION_PREFIX), new_token(WEB_SESSION_PREFIX));
        let token_a = csrf_token(&a);
        assert!(csrf_matches(&a, &token_a));
        assert!(!csrf_matches(&b, &token_a));
        assert!(!csrf_matches(&a, ""));
        assert!(!token_a.contains(&a[WEB_SESSION_PREFIX.len()..]));
        assert_eq!(token_a.len(), 43);
    }
}
