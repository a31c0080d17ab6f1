//! Commands for a session that reach an instance other than the one playing it travel through
//! the database: a row of `speaker_commands` addressed to the owner, which picks it up, runs
//! it and writes its answer there; the sender polls the row until the answer, the owner's lease
//! lapsing, or its time limit. The commands and answers are JSON text here (their types are the
//! service's).

use std::time::Duration;

use sqlx::Row;

use crate::ids::UserId;
use crate::speakers::error::SpeakerError;
use crate::speakers::sessions::{now_ms, owner_alive, store_failed};
use crate::store::Db;

/// A command this instance is to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// Its row.
    pub id: i64,
    /// The session's key.
    pub session: String,
    /// The user who sent it.
    pub user: UserId,
    /// The command, JSON.
    pub command: String,
}

/// How waiting for a forwarded command's answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// The owner answered (JSON).
    Answered(String),
    /// The owner's lease lapsed (or the session was closed) before it answered.
    OwnerGone,
    /// The owner is alive but did not answer in time.
    TimedOut,
}

/// Forwarded commands (`speaker_commands`).
pub struct Commands {
    db: Db,
}

impl Commands {
    /// The commands in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Sends `command` (JSON) for the session `session` of `user` to the instance `owner`; its
    /// row's id.
    pub async fn send(
        &self,
        session: &str,
        user: UserId,
        owner: &str,
        command: &str,
    ) -> Result<i64, SpeakerError> {
        sqlx::query_scalar(
            "INSERT INTO speaker_commands (session_id, user_id, owner_instance, command, status, created_at)
             VALUES ($1, $2, $3, $4, 'queued', $5) RETURNING id",
        )
        .bind(session)
        .bind(user.get())
        .bind(owner)
        .bind(command)
        .bind(now_ms())
        .fetch_one(self.db.pool())
        .await
        .map_err(|e| store_failed(&e))
    }

    /// Waits for the answer to command `id`, looking every `poll`, at most `timeout`; the row
    /// is removed whatever the end.
    pub async fn wait(
        &self,
        id: i64,
        timeout: Duration,
        poll: Duration,
    ) -> Result<Waited, SpeakerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let waited = loop {
            let row = sqlx::query(
                "SELECT c.status, c.result, s.owner_lease_until
                 FROM speaker_commands c LEFT JOIN speaker_sessions s ON s.id = c.session_id
                 WHERE c.id = $1",
            )
            .bind(id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(|e| store_failed(&e))?;
            let Some(row) = row else {
                break Waited::OwnerGone;
            };
            let status: String = row.try_get("status").map_err(|e| store_failed(&e))?;
            let result: Option<String> = row.try_get("result").map_err(|e| store_failed(&e))?;
            let lease: Option<i64> = row
                .try_get("owner_lease_until")
                .map_err(|e| store_failed(&e))?;
            if let (true, Some(result)) = (status == "done", result) {
                break Waited::Answered(result);
            }
            if !lease.is_some_and(|lease| owner_alive(lease, now_ms())) {
                break Waited::OwnerGone;
            }
            if tokio::time::Instant::now() + poll > deadline {
                break Waited::TimedOut;
            }
            tokio::time::sleep(poll).await;
        };
        sqlx::query("DELETE FROM speaker_commands WHERE id = $1")
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(|e| store_failed(&e))?;
        Ok(waited)
    }

    /// Takes the commands waiting for this instance (they are then running).
    pub async fn claim(&self) -> Result<Vec<Claimed>, SpeakerError> {
        let rows = sqlx::query(
            "UPDATE speaker_commands SET status = 'running'
             WHERE owner_instance = $1 AND status = 'queued'
             RETURNING id, session_id, user_id, command",
        )
        .bind(self.db.instance_id())
        .fetch_all(self.db.pool())
        .await
        .map_err(|e| store_failed(&e))?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    id: row.try_get("id")?,
                    session: row.try_get("session_id")?,
                    user: UserId::new(row.try_get("user_id")?),
                    command: row.try_get("command")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| store_failed(&e))
    }

    /// Writes the answer (JSON) to command `id` (gone when its sender stopped waiting).
    pub async fn answer(&self, id: i64, result: &str) -> Result<(), SpeakerError> {
        sqlx::query("UPDATE speaker_commands SET status = 'done', result = $1 WHERE id = $2")
            .bind(result)
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(|e| store_failed(&e))?;
        Ok(())
    }

    /// Removes commands older than `age` (their senders stopped waiting long ago and could not
    /// remove them).
    pub async fn sweep(&self, age: Duration) -> Result<(), SpeakerError> {
        let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
        sqlx::query("DELETE FROM speaker_commands WHERE created_at < $1")
            .bind(now_ms().saturating_sub(age))
            .execute(self.db.pool())
            .await
            .map_err(|e| store_failed(&e))?;
        Ok(())
    }
}
