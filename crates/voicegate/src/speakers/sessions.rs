//! Playback sessions: the contract's `SessionToken`, owned by the user who made it, with the
//! devices it plays on. Kept in the database (`speaker_sessions`) so that every instance sharing
//! it knows them: a session is stored under its key, the SHA-256 of its token (the token itself
//! is never stored), with the instance that owns its playback (the one that opened it, or took it
//! over) and the lease that instance renews while it runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::{Clock, SystemClock};
use crate::ids::{UserId, new_token};
use crate::speakers::error::SpeakerError;
use crate::store::{Db, sql_integer};

/// The contract's session tokens start so (its example: `r:abciKaTbUgdpQFuvYtgMm0FRh`).
const TOKEN_PREFIX: &str = "r:";

/// One session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its key: the SHA-256 of its token, hex.
    pub key: String,
    /// Its user.
    pub owner: UserId,
    /// The backend ids of its devices, in the order they were added.
    pub devices: Vec<String>,
    /// The instance that owns its playback (`Db::instance_id`).
    pub instance: String,
    /// Until when that instance is known to be alive, Unix milliseconds.
    pub lease_until: i64,
}

impl Session {
    /// Whether the instance owning the playback renewed its lease in time (a dead instance's
    /// sessions are stopped). The one place that decides "is the owner alive": an instance
    /// registry can answer here instead of the lease column.
    pub fn owner_alive(&self, now_ms: i64) -> bool {
        owner_alive(self.lease_until, now_ms)
    }
}

/// Whether an owner whose lease ends at `lease_until` is alive at `now_ms`.
pub fn owner_alive(lease_until: i64, now_ms: i64) -> bool {
    lease_until > now_ms
}

/// The key a session is stored and played under: the SHA-256 of its token, hex.
pub fn session_key(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Now, Unix milliseconds (sessions and leases are real time: instances compare them).
pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// A millisecond count as the store keeps it.
fn millis(duration: Duration) -> i64 {
    sql_integer(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

/// The store's failure, logged; the request gets a 503 without the store's words.
pub fn store_failed(e: &sqlx::Error) -> SpeakerError {
    tracing::error!(error = %e, "the speakers' sessions could not be read or written");
    SpeakerError::Unavailable("the sessions' store failed".into())
}

/// The open sessions.
pub struct Sessions {
    db: Db,
    idle: Duration,
    max_per_user: usize,
    lease: Duration,
    /// Set when this instance opens or takes over a session (its owner loop then looks for
    /// commands before its next lease renewal counts the sessions).
    opened: AtomicBool,
}

fn read(row: &AnyRow) -> Result<Session, sqlx::Error> {
    let devices: String = row.try_get("devices")?;
    Ok(Session {
        key: row.try_get("id")?,
        owner: UserId::new(row.try_get("user_id")?),
        devices: serde_json::from_str(&devices).unwrap_or_default(),
        instance: row.try_get("owner_instance")?,
        lease_until: row.try_get("owner_lease_until")?,
    })
}

impl Sessions {
    /// The sessions in `db`; each ends after `idle` unused; `max_per_user` open per user at
    /// most; this instance's leases on its sessions last `lease` from each renewal.
    pub fn new(db: Db, idle: Duration, max_per_user: usize, lease: Duration) -> Self {
        Self {
            db,
            idle,
            max_per_user,
            lease,
            opened: AtomicBool::new(false),
        }
    }

    /// Whether this instance opened or took over a session since the last call.
    pub fn take_opened(&self) -> bool {
        self.opened.swap(false, Ordering::SeqCst)
    }

    /// This instance's id.
    pub fn instance(&self) -> &str {
        self.db.instance_id()
    }

    /// The store.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// How long a lease lasts from its renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    fn idle_since(&self, now: i64) -> i64 {
        now.saturating_sub(millis(self.idle))
    }

    /// Opens a session for `owner`, played by this instance, and returns its token.
    pub async fn open(&self, owner: UserId) -> Result<String, SpeakerError> {
        let now = now_ms();
        let token = new_token(TOKEN_PREFIX);
        let mut tx = self.db.begin_write().await.map_err(|e| store_failed(&e))?;
        sqlx::query("DELETE FROM speaker_sessions WHERE used_at <= $1")
            .bind(self.idle_since(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| store_failed(&e))?;
        let open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM speaker_sessions WHERE user_id = $1")
                .bind(owner.get())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| store_failed(&e))?;
        if usize::try_from(open).unwrap_or(usize::MAX) >= self.max_per_user {
            return Err(SpeakerError::TooManySessions(self.max_per_user));
        }
        sqlx::query(
            "INSERT INTO speaker_sessions (id, user_id, owner_instance, owner_lease_until, devices, created_at, used_at)
             VALUES ($1, $2, $3, $4, '[]', $5, $5)",
        )
        .bind(session_key(&token))
        .bind(owner.get())
        .bind(self.instance())
        .bind(now.saturating_add(millis(self.lease)))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| store_failed(&e))?;
        tx.commit().await.map_err(|e| store_failed(&e))?;
        self.opened.store(true, Ordering::SeqCst);
        Ok(token)
    }

    /// The session `key` of `owner` (marked used), or unknown (another user's, closed or idle).
    pub async fn get(&self, owner: UserId, key: &str) -> Result<Session, SpeakerError> {
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE speaker_sessions SET used_at = $1
             WHERE id = $2 AND user_id = $3 AND used_at > $4
             RETURNING id, user_id, owner_instance, owner_lease_until, devices",
        )
        .bind(now)
        .bind(key)
        .bind(owner.get())
        .bind(self.idle_since(now))
        .fetch_optional(self.db.pool())
        .await
        .map_err(|e| store_failed(&e))?
        .ok_or(SpeakerError::UnknownSession)?;
        read(&row).map_err(|e| store_failed(&e))
    }

    /// Sets the devices of the session `key` of `owner`.
    pub async fn set_devices(
        &self,
        owner: UserId,
        key: &str,
        devices: &[String],
    ) -> Result<(), SpeakerError> {
        let json = serde_json::to_string(devices).unwrap_or_else(|_| "[]".into());
        let done = sqlx::query(
            "UPDATE speaker_sessions SET devices = $1, used_at = $2 WHERE id = $3 AND user_id = $4",
        )
        .bind(json)
        .bind(now_ms())
        .bind(key)
        .bind(owner.get())
        .execute(self.db.pool())
        .await
        .map_err(|e| store_failed(&e))?;
        if done.rows_affected() == 0 {
            return Err(SpeakerError::UnknownSession);
        }
        Ok(())
    }

    /// The devices of session `key`, whoever owns it (for what every user may see, such as
    /// which speakers are playing); none when it is unknown.
    pub async fn devices_of(&self, key: &str) -> Vec<String> {
        let found: Result<Option<String>, _> =
            sqlx::query_scalar("SELECT devices FROM speaker_sessions WHERE id = $1")
                .bind(key)
                .fetch_optional(self.db.pool())
                .await;
        match found {
            Ok(devices) => devices
                .and_then(|d| serde_json::from_str(&d).ok())
                .unwrap_or_default(),
            Err(e) => {
                store_failed(&e);
                Vec::new()
            }
        }
    }

    /// Ends the session `key` of `owner`.
    pub async fn close(&self, owner: UserId, key: &str) -> Result<(), SpeakerError> {
        let done = sqlx::query("DELETE FROM speaker_sessions WHERE id = $1 AND user_id = $2")
            .bind(key)
            .bind(owner.get())
            .execute(self.db.pool())
            .await
            .map_err(|e| store_failed(&e))?;
        if done.rows_affected() == 0 {
            return Err(SpeakerError::UnknownSession);
        }
        Ok(())
    }

    /// Makes this instance the owner of `session`, whose owner is gone: false when another
    /// instance took it over first (or its owner came back).
    pub async fn take_over(&self, session: &Session) -> Result<bool, SpeakerError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE speaker_sessions SET owner_instance = $1, owner_lease_until = $2
             WHERE id = $3 AND owner_instance = $4 AND owner_lease_until <= $5",
        )
        .bind(self.instance())
        .bind(now.saturating_add(millis(self.lease)))
        .bind(&session.key)
        .bind(&session.instance)
        .bind(now)
        .execute(self.db.pool())
        .await
        .map_err(|e| store_failed(&e))?;
        let mine = done.rows_affected() == 1;
        if mine {
            self.opened.store(true, Ordering::SeqCst);
        }
        Ok(mine)
    }

    /// Renews this instance's lease on the sessions it plays; how many there are.
    pub async fn renew(&self) -> Result<u64, SpeakerError> {
        let done = sqlx::query(
            "UPDATE speaker_sessions SET owner_lease_until = $1 WHERE owner_instance = $2",
        )
        .bind(now_ms().saturating_add(millis(self.lease)))
        .bind(self.instance())
        .execute(self.db.pool())
        .await
        .map_err(|e| store_failed(&e))?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_is_its_owners_alone_and_ends_when_closed_or_idle() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(dir.path()).await.unwrap();
        for name in ["ana", "bob"] {
            sqlx::query("INSERT INTO users (name, password_hash, created_at, updated_at) VALUES ($1, 'x', 0, 0)")
                .bind(name)
                .execute(db.pool())
                .await
                .unwrap();
        }
        let sessions = Sessions::new(db, Duration::from_millis(200), 2, Duration::from_secs(5));
        let (ana, bob) = (UserId::new(1), UserId::new(2));
        let token = sessions.open(ana).await.unwrap();
        assert!(token.starts_with("r:") && token.len() > 40, "{token}");
        let key = session_key(&token);
        sessions
            .set_devices(ana, &key, &["kitchen".into()])
            .await
            .unwrap();
        let session = sessions.get(ana, &key).await.unwrap();
        assert_eq!(session.devices, ["kitchen"]);
        assert_eq!(session.instance, sessions.instance());
        assert!(session.owner_alive(now_ms()));
        assert_eq!(
            sessions.get(bob, &key).await,
            Err(SpeakerError::UnknownSession)
        );
        assert_eq!(
            sessions.close(bob, &key).await,
            Err(SpeakerError::UnknownSession)
        );
        sessions.open(ana).await.unwrap();
        assert_eq!(
            sessions.open(ana).await,
            Err(SpeakerError::TooManySessions(2))
        );
        sessions.close(ana, &key).await.unwrap();
        assert_eq!(
            sessions.get(ana, &key).await,
            Err(SpeakerError::UnknownSession)
        );
        let idle = session_key(&sessions.open(ana).await.unwrap());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            sessions.get(ana, &idle).await,
            Err(SpeakerError::UnknownSession)
        );
    }
}
