//! SQL of the voices surface. Every read by a user is scoped to its owner, so another user's ids
//! look exactly like unknown ones.

use sqlx::Row;

use crate::clock::UnixTime;
use crate::ids::UserId;
use crate::store::{Db, sql_integer};
use crate::voices::error::VoicesError;
use crate::voices::model::{AccountId, BuildId, BuildStatus, DeviceId, Gender, VoiceId};

/// A user voice as stored.
#[derive(Debug, Clone)]
pub struct VoiceRow {
    /// voice_id.
    pub id: VoiceId,
    /// The account it was built for.
    pub account_id: Option<AccountId>,
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
    pub id: BuildId,
    /// The account.
    pub account_id: AccountId,
    /// Where it is.
    pub status: BuildStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// The voice it made.
    pub voice_id: Option<VoiceId>,
}

/// An account's PENDING build.
#[derive(Debug, Clone)]
pub struct PendingBuild {
    /// The build.
    pub id: BuildId,
    /// Its job, once queued.
    pub job_id: Option<String>,
    /// When it was asked for.
    pub created_at: UnixTime,
}

/// The voices tables: one struct over the store, so that a second backend changes this file
/// only.
#[derive(Debug, Clone)]
pub struct VoicesRepo {
    pub(super) db: Db,
}

fn voice_row(row: &sqlx::any::AnyRow) -> VoiceRow {
    VoiceRow {
        id: VoiceId::new(row.get::<String, _>("id")),
        account_id: row
            .get::<Option<String>, _>("account_id")
            .map(AccountId::new),
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

fn build_row(row: &sqlx::any::AnyRow) -> Result<BuildRow, VoicesError> {
    let status: String = row.get("status");
    Ok(BuildRow {
        id: BuildId::new(row.get::<String, _>("id")),
        account_id: AccountId::new(row.get::<String, _>("account_id")),
        status: BuildStatus::parse(&status)
            .ok_or_else(|| VoicesError::Store(format!("a build has the status {status:?}")))?,
        error: row.get("error"),
        voice_id: row.get::<Option<String>, _>("voice_id").map(VoiceId::new),
    })
}

const VOICE_COLUMNS: &str = "id, account_id, name, base_voice, profile, download_token, \
     synthesis_count, can_download, can_stream, expires_at";

impl VoicesRepo {
    /// The repository over the store.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Creates an account unless `owner` has `max` already (counted and inserted in one
    /// statement, so creates at the same time cannot pass the quota); `false` when refused.
    pub async fn create_account(
        &self,
        id: &AccountId,
        owner: UserId,
        gender: Gender,
        age: i64,
        now: UnixTime,
        max: u64,
    ) -> Result<bool, VoicesError> {
        let done = self
            .db
            .insert_below_quota(
                owner.get(),
                sqlx::query(
                    "INSERT INTO voice_accounts (id, owner_id, gender, age, created_at) \
             SELECT $1, $2, $3, $4, $5 \
             WHERE (SELECT COUNT(*) FROM voice_accounts WHERE owner_id = $2) < $6",
                )
                .bind(id.as_str())
                .bind(owner.get())
                .bind(gender.as_str())
                .bind(age)
                .bind(now)
                .bind(sql_integer(max)),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The account's gender when `owner` owns it (`None`: any owner, for the build job).
    pub async fn account_gender(
        &self,
        owner: Option<UserId>,
        id: &AccountId,
    ) -> Result<Option<Gender>, VoicesError> {
        Ok(sqlx::query(
            "SELECT gender FROM voice_accounts WHERE id = $1 AND ($2 IS NULL OR owner_id = $2)",
        )
        .bind(id.as_str())
        .bind(owner.map(UserId::get))
        .fetch_optional(self.db.pool())
        .await?
        .map(|row| Gender::parse(row.get("gender")).unwrap_or(Gender::Other)))
    }

    /// Creates a PENDING build; `false` when the account already has one pending.
    pub async fn create_build(
        &self,
        id: &BuildId,
        owner: UserId,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<bool, VoicesError> {
        let result = sqlx::query(
            "INSERT INTO voice_builds (id, account_id, owner_id, status, created_at, updated_at) \
             VALUES ($1, $2, $3, 'PENDING', $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(owner.get())
        .bind(now)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Records the job that runs a build.
    pub async fn set_build_job(&self, id: &BuildId, job: &str) -> Result<(), VoicesError> {
        sqlx::query("UPDATE voice_builds SET job_id = $1 WHERE id = $2")
            .bind(job)
            .bind(id.as_str())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// A build by id (any owner: for the build job).
    pub async fn build(&self, id: &BuildId) -> Result<Option<(BuildRow, UserId)>, VoicesError> {
        sqlx::query(
            "SELECT id, account_id, status, error, voice_id, owner_id FROM voice_builds WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.db.pool())
        .await?
        .map(|row| Ok((build_row(&row)?, UserId::new(row.get("owner_id")))))
        .transpose()
    }

    /// The owner's builds, newest first, filtered.
    pub async fn builds(
        &self,
        owner: UserId,
        account: Option<&AccountId>,
        build: Option<&BuildId>,
        status: Option<BuildStatus>,
    ) -> Result<Vec<BuildRow>, VoicesError> {
        sqlx::query(
            "SELECT id, account_id, status, error, voice_id FROM voice_builds WHERE owner_id = $1 \
             AND ($2 IS NULL OR account_id = $2) AND ($3 IS NULL OR id = $3) \
             AND ($4 IS NULL OR status = $4) ORDER BY created_at DESC, rowid DESC",
        )
        .bind(owner.get())
        .bind(account.map(AccountId::as_str))
        .bind(build.map(BuildId::as_str))
        .bind(status.map(BuildStatus::as_str))
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(build_row)
        .collect()
    }

    /// Ends a build: ERROR with a reason.
    pub async fn fail_build(
        &self,
        id: &BuildId,
        error: &str,
        now: UnixTime,
    ) -> Result<(), VoicesError> {
        sqlx::query(
            "UPDATE voice_builds SET status = 'ERROR', error = $1, updated_at = $2 WHERE id = $3 AND status = 'PENDING'",
        )
        .bind(error)
        .bind(now)
        .bind(id.as_str())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Ends a build: the build COMPLETE and the voice stored, in one transaction. The build row
    /// is updated first (taking the write lock at once); a build that is no longer PENDING (a
    /// retried job whose first run completed) is left alone.
    pub async fn complete_build(
        &self,
        build: &BuildId,
        owner: UserId,
        voice: &VoiceRow,
        now: UnixTime,
    ) -> Result<(), VoicesError> {
        let mut tx = self.db.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE voice_builds SET status = 'COMPLETE', voice_id = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'PENDING'",
        )
        .bind(voice.id.as_str())
        .bind(now)
        .bind(build.as_str())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO voices (id, owner_id, account_id, build_id, name, base_voice, profile, download_token, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(voice.id.as_str())
        .bind(owner.get())
        .bind(voice.account_id.as_ref().map(AccountId::as_str))
        .bind(build.as_str())
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

    /// The account's PENDING build.
    pub async fn pending_build(
        &self,
        account: &AccountId,
    ) -> Result<Option<PendingBuild>, VoicesError> {
        Ok(sqlx::query(
            "SELECT id, job_id, created_at FROM voice_builds WHERE account_id = $1 AND status = 'PENDING'",
        )
        .bind(account.as_str())
        .fetch_optional(self.db.pool())
        .await?
        .map(|row| PendingBuild {
            id: BuildId::new(row.get::<String, _>("id")),
            job_id: row.get("job_id"),
            created_at: row.get("created_at"),
        }))
    }

    /// The owner's voices, oldest first.
    pub async fn voices(&self, owner: UserId) -> Result<Vec<VoiceRow>, VoicesError> {
        let sql = format!(
            "SELECT {VOICE_COLUMNS} FROM voices WHERE owner_id = $1 ORDER BY created_at, id"
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner.get())
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(voice_row)
            .collect())
    }

    /// Voices of every user that may be used for synthesis, oldest first, at most `limit`:
    /// those listed by id, or all of them (`ids` `None`). For a protocol without users
    /// (Wyoming), which offers what the configuration exposes.
    pub async fn streamable_voices(
        &self,
        ids: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<VoiceRow>, VoicesError> {
        let sql = format!(
            "SELECT {VOICE_COLUMNS} FROM voices WHERE can_stream = 1 ORDER BY created_at, id \
             LIMIT $1"
        );
        let Some(ids) = ids else {
            return Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(limit)
                .fetch_all(self.db.pool())
                .await?
                .iter()
                .map(voice_row)
                .collect());
        };
        let sql = format!("SELECT {VOICE_COLUMNS} FROM voices WHERE can_stream = 1 AND id = $1");
        let mut rows = Vec::new();
        for id in ids.iter().take(usize::try_from(limit).unwrap_or(0)) {
            if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id.as_str())
                .fetch_optional(self.db.pool())
                .await?
            {
                rows.push(voice_row(&row));
            }
        }
        Ok(rows)
    }

    /// The owner's voice with this download token.
    pub async fn voice_by_token(
        &self,
        owner: UserId,
        token: &str,
    ) -> Result<Option<VoiceRow>, VoicesError> {
        let sql = format!(
            "SELECT {VOICE_COLUMNS} FROM voices WHERE owner_id = $1 AND download_token = $2"
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner.get())
            .bind(token)
            .fetch_optional(self.db.pool())
            .await?
            .as_ref()
            .map(voice_row))
    }

    /// Counts one synthesis of a user voice.
    pub async fn count_synthesis(&self, voice: &VoiceId) -> Result<(), VoicesError> {
        sqlx::query("UPDATE voices SET synthesis_count = synthesis_count + 1 WHERE id = $1")
            .bind(voice.as_str())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Counts one synthesis of a built-in voice by `owner`.
    pub async fn count_builtin_synthesis(
        &self,
        owner: UserId,
        voice: &VoiceId,
    ) -> Result<(), VoicesError> {
        sqlx::query(
            "INSERT INTO builtin_voice_usage (owner_id, voice_id, synthesis_count) VALUES ($1, $2, 1) \
             ON CONFLICT (owner_id, voice_id) DO UPDATE \
             SET synthesis_count = builtin_voice_usage.synthesis_count + 1",
        )
        .bind(owner.get())
        .bind(voice.as_str())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// `owner`'s synthesis counts of built-in voices.
    pub async fn builtin_usage(&self, owner: UserId) -> Result<Vec<(String, i64)>, VoicesError> {
        Ok(sqlx::query(
            "SELECT voice_id, synthesis_count FROM builtin_voice_usage WHERE owner_id = $1",
        )
        .bind(owner.get())
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|row| (row.get("voice_id"), row.get("synthesis_count")))
        .collect())
    }

    /// Registers a device unless `owner` has `max` already (counted and inserted in one
    /// statement); `false` when refused.
    pub async fn create_device(
        &self,
        id: &DeviceId,
        owner: UserId,
        name: Option<&str>,
        now: UnixTime,
        max: u64,
    ) -> Result<bool, VoicesError> {
        let done = self.db.insert_below_quota(owner.get(), sqlx::query(
            "INSERT INTO voice_devices (id, owner_id, name, created_at) SELECT $1, $2, $3, $4 \
             WHERE (SELECT COUNT(*) FROM voice_devices WHERE owner_id = $2) < $5",
        )
        .bind(id.as_str())
        .bind(owner.get())
        .bind(name)
        .bind(now)
        .bind(sql_integer(max)))
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether `owner` registered the device.
    pub async fn device_owned(&self, owner: UserId, id: &DeviceId) -> Result<bool, VoicesError> {
        Ok(
            sqlx::query("SELECT 1 FROM voice_devices WHERE id = $1 AND owner_id = $2")
                .bind(id.as_str())
                .bind(owner.get())
                .fetch_optional(self.db.pool())
                .await?
                .is_some(),
        )
    }
}
