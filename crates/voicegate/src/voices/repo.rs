//! SQL of the voices surface. Every read by a user is scoped to its owner, so another user's ids
//! look exactly like unknown ones.

use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use crate::clock::UnixTime;
use crate::ids::UserId;
use crate::voices::error::VoicesError;

/// A user voice as stored.
#[derive(Debug, Clone)]
pub struct VoiceRow {
    /// voice_id.
    pub id: String,
    /// The account it was built for.
    pub account_id: Option<String>,
    /// Display name.
    pub name: String,
    /// The engine voice it speaks with.
    pub base_voice: String,
    /// The prosody profile, JSON.
    pub profile: String,
    /// Token for synthesis and downloads.
    pub download_token: String,
    /// Syntheses so far.
    pub synthesis_count: i64,
    /// Whether it may be downloaded.
    pub can_download: bool,
    /// Whether it may be used for synthesis.
    pub can_stream: bool,
    /// When it stops being available.
    pub expires_at: Option<UnixTime>,
}

/// A build as stored.
#[derive(Debug, Clone)]
pub struct BuildRow {
    /// build_id.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// PENDING, COMPLETE or ERROR.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The voice it made.
    pub voice_id: Option<String>,
}

/// A recording to build from.
#[derive(Debug, Clone)]
pub struct RecordingRow {
    /// What was said.
    pub sentence: String,
    /// The WAV file's blob id.
    pub blob: String,
}

/// The voices tables.
#[derive(Debug, Clone)]
pub struct VoicesRepo {
    pool: SqlitePool,
}

fn voice_row(row: &sqlx::sqlite::SqliteRow) -> VoiceRow {
    VoiceRow {
        id: row.get("id"),
        account_id: row.get("account_id"),
        name: row.get("name"),
        base_voice: row.get("base_voice"),
        profile: row.get("profile"),
        download_token: row.get("download_token"),
        synthesis_count: row.get("synthesis_count"),
        can_download: row.get::<i64, _>("can_download") != 0,
        can_stream: row.get::<i64, _>("can_stream") != 0,
        expires_at: row.get("expires_at"),
    }
}

fn build_row(row: &sqlx::sqlite::SqliteRow) -> BuildRow {
    BuildRow {
        id: row.get("id"),
        account_id: row.get("account_id"),
        status: row.get("status"),
        error: row.get("error"),
        voice_id: row.get("voice_id"),
    }
}

const VOICE_COLUMNS: &str = "id, account_id, name, base_voice, profile, download_token, \
     synthesis_count, can_download, can_stream, expires_at";

impl VoicesRepo {
    /// The repository over `pool`.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Creates an account.
    pub async fn create_account(
        &self,
        id: &str,
        owner: UserId,
        gender: &str,
        age: i64,
        now: UnixTime,
    ) -> Result<(), VoicesError> {
        sqlx::query(
            "INSERT INTO voice_accounts (id, owner_id, gender, age, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(owner.get())
        .bind(gender)
        .bind(age)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account's gender when `owner` owns it.
    pub async fn account_gender(
        &self,
        owner: UserId,
        id: &str,
    ) -> Result<Option<String>, VoicesError> {
        Ok(
            sqlx::query("SELECT gender FROM voice_accounts WHERE id = ? AND owner_id = ?")
                .bind(id)
                .bind(owner.get())
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.get("gender")),
        )
    }

    /// Stores a recording's row (its bytes are already in the blob store).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_recording(
        &self,
        account: &str,
        sentence: &str,
        blob: &str,
        sample_rate: u32,
        duration_ms: i64,
        level: &str,
        now: UnixTime,
    ) -> Result<(), VoicesError> {
        sqlx::query(
            "INSERT INTO voice_recordings (account_id, sentence, blob, sample_rate, duration_ms, level, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(account)
        .bind(sentence)
        .bind(blob)
        .bind(i64::from(sample_rate))
        .bind(duration_ms)
        .bind(level)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Distinct sentences with a recording at a good level.
    pub async fn sentences_recorded(&self, account: &str) -> Result<i64, VoicesError> {
        Ok(sqlx::query(
            "SELECT COUNT(DISTINCT sentence) AS n FROM voice_recordings WHERE account_id = ? AND level = 'OK'",
        )
        .bind(account)
        .fetch_one(&self.pool)
        .await?
        .get("n"))
    }

    /// The recordings at a good level, oldest first.
    pub async fn usable_recordings(&self, account: &str) -> Result<Vec<RecordingRow>, VoicesError> {
        Ok(sqlx::query(
            "SELECT sentence, blob FROM voice_recordings WHERE account_id = ? AND level = 'OK' ORDER BY id",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| RecordingRow {
            sentence: row.get("sentence"),
            blob: row.get("blob"),
        })
        .collect())
    }

    /// Creates a PENDING build; `false` when the account already has one pending.
    pub async fn create_build(
        &self,
        id: &str,
        owner: UserId,
        account: &str,
        now: UnixTime,
    ) -> Result<bool, VoicesError> {
        let result = sqlx::query(
            "INSERT INTO voice_builds (id, account_id, owner_id, status, created_at, updated_at) \
             VALUES (?, ?, ?, 'PENDING', ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(account)
        .bind(owner.get())
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Records the job that runs a build.
    pub async fn set_build_job(&self, id: &str, job: &str) -> Result<(), VoicesError> {
        sqlx::query("UPDATE voice_builds SET job_id = ? WHERE id = ?")
            .bind(job)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A build by id (any owner: for the build job).
    pub async fn build(&self, id: &str) -> Result<Option<(BuildRow, UserId)>, VoicesError> {
        Ok(sqlx::query(
            "SELECT id, account_id, status, error, voice_id, owner_id FROM voice_builds WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| (build_row(&row), UserId::new(row.get("owner_id")))))
    }

    /// The owner's builds, newest first, filtered.
    pub async fn builds(
        &self,
        owner: UserId,
        account: Option<&str>,
        build: Option<&str>,
        status: Option<&str>,
    ) -> Result<Vec<BuildRow>, VoicesError> {
        Ok(sqlx::query(
            "SELECT id, account_id, status, error, voice_id FROM voice_builds WHERE owner_id = ? \
             AND (?2 IS NULL OR account_id = ?2) AND (?3 IS NULL OR id = ?3) \
             AND (?4 IS NULL OR status = ?4) ORDER BY created_at DESC, rowid DESC",
        )
        .bind(owner.get())
        .bind(account)
        .bind(build)
        .bind(status)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(build_row)
        .collect())
    }

    /// Ends a build: ERROR with a reason.
    pub async fn fail_build(
        &self,
        id: &str,
        error: &str,
        now: UnixTime,
    ) -> Result<(), VoicesError> {
        sqlx::query(
            "UPDATE voice_builds SET status = 'ERROR', error = ?, updated_at = ? WHERE id = ? AND status = 'PENDING'",
        )
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends a build: the build COMPLETE and the voice stored, in one transaction. The build row
    /// is updated first (taking the write lock at once); a build that is no longer PENDING (a
    /// retried job whose first run completed) is left alone.
    pub async fn complete_build(
        &self,
        build: &str,
        owner: UserId,
        voice: &VoiceRow,
        now: UnixTime,
    ) -> Result<(), VoicesError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE voice_builds SET status = 'COMPLETE', voice_id = ?, updated_at = ? \
             WHERE id = ? AND status = 'PENDING'",
        )
        .bind(&voice.id)
        .bind(now)
        .bind(build)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO voices (id, owner_id, account_id, build_id, name, base_voice, profile, download_token, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&voice.id)
        .bind(owner.get())
        .bind(&voice.account_id)
        .bind(build)
        .bind(&voice.name)
        .bind(&voice.base_voice)
        .bind(&voice.profile)
        .bind(&voice.download_token)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account's PENDING build: id, job id, creation time.
    pub async fn pending_build(
        &self,
        account: &str,
    ) -> Result<Option<(String, Option<String>, UnixTime)>, VoicesError> {
        Ok(sqlx::query(
            "SELECT id, job_id, created_at FROM voice_builds WHERE account_id = ? AND status = 'PENDING'",
        )
        .bind(account)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| (row.get("id"), row.get("job_id"), row.get("created_at"))))
    }

    /// The owner's voices, oldest first.
    pub async fn voices(&self, owner: UserId) -> Result<Vec<VoiceRow>, VoicesError> {
        let sql = format!(
            "SELECT {VOICE_COLUMNS} FROM voices WHERE owner_id = ? ORDER BY created_at, id"
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner.get())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(voice_row)
            .collect())
    }

    /// The owner's voice with this download token.
    pub async fn voice_by_token(
        &self,
        owner: UserId,
        token: &str,
    ) -> Result<Option<VoiceRow>, VoicesError> {
        let sql =
            format!("SELECT {VOICE_COLUMNS} FROM voices WHERE owner_id = ? AND download_token = ?");
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner.get())
            .bind(token)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(voice_row))
    }

    /// Counts one synthesis of a user voice.
    pub async fn count_synthesis(&self, voice: &str) -> Result<(), VoicesError> {
        sqlx::query("UPDATE voices SET synthesis_count = synthesis_count + 1 WHERE id = ?")
            .bind(voice)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Counts one synthesis of a built-in voice by `owner`.
    pub async fn count_builtin_synthesis(
        &self,
        owner: UserId,
        voice: &str,
    ) -> Result<(), VoicesError> {
        sqlx::query(
            "INSERT INTO builtin_voice_usage (owner_id, voice_id, synthesis_count) VALUES (?, ?, 1) \
             ON CONFLICT (owner_id, voice_id) DO UPDATE SET synthesis_count = synthesis_count + 1",
        )
        .bind(owner.get())
        .bind(voice)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `owner`'s synthesis counts of built-in voices.
    pub async fn builtin_usage(&self, owner: UserId) -> Result<Vec<(String, i64)>, VoicesError> {
        Ok(sqlx::query(
            "SELECT voice_id, synthesis_count FROM builtin_voice_usage WHERE owner_id = ?",
        )
        .bind(owner.get())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| (row.get("voice_id"), row.get("synthesis_count")))
        .collect())
    }

    /// Registers a device.
    pub async fn create_device(
        &self,
        id: &str,
        owner: UserId,
        name: Option<&str>,
        now: UnixTime,
    ) -> Result<(), VoicesError> {
        sqlx::query(
            "INSERT INTO voice_devices (id, owner_id, name, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(owner.get())
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether `owner` registered the device.
    pub async fn device_owned(&self, owner: UserId, id: &str) -> Result<bool, VoicesError> {
        Ok(
            sqlx::query("SELECT 1 FROM voice_devices WHERE id = ? AND owner_id = ?")
                .bind(id)
                .bind(owner.get())
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }
}

impl VoicesRepo {
    /// The account's gender, whoever owns it (for the build job).
    pub async fn account_gender_any(&self, id: &str) -> Result<Option<String>, VoicesError> {
        Ok(
            sqlx::query("SELECT gender FROM voice_accounts WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.get("gender")),
        )
    }
}
