//! SQL of recordings: storing one within its quotas (the check and the insert under one write
//! lock), what a user's recordings count and weigh, what a build reads, and the sizes of
//! recordings stored before sizes were kept.

use sqlx::{Any, Row, Transaction};

use crate::clock::UnixTime;
use crate::ids::UserId;
use crate::store::sql_integer;
use crate::voices::error::VoicesError;
use crate::voices::model::AccountId;
use crate::voices::repo::VoicesRepo;

/// A recording to build from.
#[derive(Debug, Clone)]
pub struct RecordingRow {
    /// What was said.
    pub sentence: String,
    /// The WAV file's blob id.
    pub blob: String,
}

/// A voice account as its owner lists it.
#[derive(Debug, Clone)]
pub struct AccountRow {
    /// Its id.
    pub id: AccountId,
    /// `male`, `female` or `other`.
    pub gender: String,
    /// The speaker's age.
    pub age: i64,
    /// Creation time.
    pub created_at: UnixTime,
    /// Distinct sentences recorded at a good level.
    pub sentences_recorded: i64,
}

/// A recording to store: its row, the file being in the blob store by the time it is committed.
#[derive(Debug, Clone)]
pub struct NewRecording<'a> {
    /// The user that owns the account.
    pub owner: UserId,
    /// The voice account.
    pub account: &'a AccountId,
    /// What was said.
    pub sentence: &'a str,
    /// The WAV file's blob id.
    pub blob: &'a str,
    /// The file's size.
    pub bytes: u64,
    /// Its sample rate.
    pub sample_rate: u32,
    /// Its length.
    pub duration_ms: i64,
    /// OK, OVERDRIVEN or UNDERDRIVEN.
    pub level: &'a str,
    /// When it was uploaded.
    pub now: UnixTime,
}

/// What counts against the recording quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingUsage {
    /// Recordings of the account.
    pub in_account: u64,
    /// Bytes of all of the user's recordings.
    pub user_bytes: u64,
}

/// A recording's row inserted in a write transaction that is still open: committed once its
/// file is stored, rolled back when dropped.
pub struct PendingRecording {
    tx: Transaction<'static, Any>,
}

impl PendingRecording {
    /// Keeps the row.
    pub async fn commit(self) -> Result<(), VoicesError> {
        self.tx.commit().await?;
        Ok(())
    }
}

const USAGE: &str = "SELECT \
     (SELECT COUNT(*) FROM voice_recordings WHERE account_id = $1) AS in_account, \
     (SELECT CAST(COALESCE(SUM(r.bytes), 0) AS BIGINT) FROM voice_recordings r \
      JOIN voice_accounts a ON a.id = r.account_id WHERE a.owner_id = $2) AS user_bytes";

fn usage_of(row: &sqlx::any::AnyRow) -> RecordingUsage {
    let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
    RecordingUsage {
        in_account: unsigned(row.get("in_account")),
        user_bytes: unsigned(row.get("user_bytes")),
    }
}

impl VoicesRepo {
    /// What the account's recordings count and the user's weigh now.
    pub async fn recording_usage(
        &self,
        owner: UserId,
        account: &AccountId,
    ) -> Result<RecordingUsage, VoicesError> {
        let row = sqlx::query(USAGE)
            .bind(account.as_str())
            .bind(owner.get())
            .fetch_one(self.db.pool())
            .await?;
        Ok(usage_of(&row))
    }

    /// Inserts a recording's row once `admit` accepts the usage, in a write transaction taken
    /// before the usage is read: no other writer (another upload, another process) stores a
    /// recording between the check and the insert. The row stays only when the answer is
    /// committed.
    pub async fn begin_recording(
        &self,
        new: &NewRecording<'_>,
        admit: impl FnOnce(RecordingUsage) -> Result<(), VoicesError>,
    ) -> Result<PendingRecording, VoicesError> {
        let mut tx = self.db.begin_write().await?;
        // Uploads of one user at the same time count and insert one after the other.
        self.db.lock_quota(&mut tx, new.owner.get()).await?;
        let row = sqlx::query(USAGE)
            .bind(new.account.as_str())
            .bind(new.owner.get())
            .fetch_one(&mut *tx)
            .await?;
        admit(usage_of(&row))?;
        sqlx::query(
            "INSERT INTO voice_recordings \
             (account_id, sentence, blob, bytes, sample_rate, duration_ms, level, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new.account.as_str())
        .bind(new.sentence)
        .bind(new.blob)
        .bind(sql_integer(new.bytes))
        .bind(i64::from(new.sample_rate))
        .bind(new.duration_ms)
        .bind(new.level)
        .bind(new.now)
        .execute(&mut *tx)
        .await?;
        Ok(PendingRecording { tx })
    }

    /// Whether a committed recording uses the blob.
    pub async fn blob_in_use(&self, blob: &str) -> Result<bool, VoicesError> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM voice_recordings WHERE blob = $1 LIMIT 1")
                .bind(blob)
                .fetch_optional(self.db.pool())
                .await?
                .is_some(),
        )
    }

    /// Distinct sentences with a recording at a good level.
    pub async fn sentences_recorded(&self, account: &AccountId) -> Result<i64, VoicesError> {
        Ok(sqlx::query(
            "SELECT COUNT(DISTINCT sentence) AS n FROM voice_recordings WHERE account_id = $1 AND level = 'OK'",
        )
        .bind(account.as_str())
        .fetch_one(self.db.pool())
        .await?
        .get("n"))
    }

    /// The owner's accounts, oldest first, each with its distinct sentences recorded at a good
    /// level.
    pub async fn accounts(&self, owner: UserId) -> Result<Vec<AccountRow>, VoicesError> {
        let rows = sqlx::query(
            "SELECT a.id, a.gender, a.age, a.created_at,
                    (SELECT COUNT(DISTINCT r.sentence) FROM voice_recordings r
                     WHERE r.account_id = a.id AND r.level = 'OK') AS sentences
             FROM voice_accounts a WHERE a.owner_id = $1 ORDER BY a.created_at, a.id",
        )
        .bind(owner.get())
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|row| AccountRow {
                id: AccountId::new(row.get::<String, _>("id")),
                gender: row.get("gender"),
                age: row.get("age"),
                created_at: row.get("created_at"),
                sentences_recorded: row.get("sentences"),
            })
            .collect())
    }

    /// The recordings at a good level, oldest first.
    pub async fn usable_recordings(
        &self,
        account: &AccountId,
    ) -> Result<Vec<RecordingRow>, VoicesError> {
        Ok(sqlx::query(
            "SELECT sentence, blob FROM voice_recordings WHERE account_id = $1 AND level = 'OK' ORDER BY id",
        )
        .bind(account.as_str())
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|row| RecordingRow {
            sentence: row.get("sentence"),
            blob: row.get("blob"),
        })
        .collect())
    }

    /// The files of recordings stored without a size (before sizes were kept).
    pub async fn blobs_without_size(&self) -> Result<Vec<String>, VoicesError> {
        Ok(
            sqlx::query("SELECT DISTINCT blob FROM voice_recordings WHERE bytes IS NULL")
                .fetch_all(self.db.pool())
                .await?
                .iter()
                .map(|row| row.get("blob"))
                .collect(),
        )
    }

    /// Records the size of a file for the recordings that have none.
    pub async fn set_blob_size(&self, blob: &str, bytes: u64) -> Result<(), VoicesError> {
        sqlx::query("UPDATE voice_recordings SET bytes = $1 WHERE blob = $2 AND bytes IS NULL")
            .bind(sql_integer(bytes))
            .bind(blob)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}
