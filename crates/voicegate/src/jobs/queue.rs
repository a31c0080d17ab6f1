//! The queue: background work kept in the `jobs` table so that it survives restarts.
//!
//! A worker claims a job by setting it `running` with a lease and renews the lease while the job
//! runs. A job whose lease lapses (the worker crashed or was killed) is claimed again, its
//! attempts counted, until `max_attempts`; after that it is failed. Claims are one `UPDATE …
//! RETURNING`, so two workers (or two processes) never take the same job, and every write made on
//! behalf of a run names its attempt, so a run that lost its lease cannot overwrite the next one.
//! Each change of a job's life is published on the events hub (`jobs.<kind>.<change>`) for the
//! user it works for.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::sync::Notify;

use crate::clock::{SharedClock, SystemClock};
use crate::config::JobsConfig;
use crate::events::{Event, EventHub};
use crate::identity::scopes::Scope;
use crate::ids::{UserId, new_id};
use crate::jobs::progress::{Progress, ProgressReporter};
use crate::store::{Backend, Db, StoreError};

/// The columns of a [`Job`], in the order [`job_from_row`] reads them.
macro_rules! job_columns {
    () => {
        "id, kind, payload, owner_id, status, progress, phase, attempts, max_attempts, lease_until, \
         error, result, created_at, updated_at"
    };
}

/// A job's identifier: random URL-safe text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// An id as received (from a path or a stored row). Whether such a job exists is up to
    /// [`Jobs::get`].
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// Leased to a worker.
    Running,
    /// Finished; `result` holds its answer.
    Done,
    /// Failed or abandoned; `error` says why.
    Failed,
}

impl JobStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// What kind of work it is; workers claim by kind.
    pub kind: String,
    /// The work's input.
    pub payload: Value,
    /// The user it works for (its events are theirs), if any.
    pub owner: Option<UserId>,
    /// Where it is in its life.
    pub status: JobStatus,
    /// Progress of the current run, in percent.
    pub progress: u8,
    /// What the current run is doing.
    pub phase: Option<String>,
    /// Runs started so far (a claim counts one).
    pub attempts: u32,
    /// Runs allowed before the job is failed.
    pub max_attempts: u32,
    /// End of the current lease, in Unix milliseconds, while running.
    pub lease_until: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The work's answer, once done.
    pub result: Option<Value>,
    /// When it was queued, in Unix milliseconds.
    pub created_at: i64,
    /// Its last change, in Unix milliseconds.
    pub updated_at: i64,
}

/// A job-queue failure.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No job has this id.
    #[error("no job {0}")]
    NotFound(JobId),
    /// The job is no longer held by this run: finished, or claimed again after a lapsed lease.
    #[error("job {0} is not running (finished, or its lease lapsed and it was claimed again)")]
    NotRunning(JobId),
    /// A stored row does not read back (edited by hand, or a newer schema).
    #[error("job {id}: stored {column} is not valid: {reason}")]
    Corrupt {
        /// The job.
        id: String,
        /// The column.
        column: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Database(e))
    }
}

/// The queue. Cheap to clone; clones share the wake-up signal that [`Jobs::enqueue`] gives this
/// process's workers.
#[derive(Clone)]
pub struct Jobs {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) db: Db,
    clock: SharedClock,
    pub(super) wake: Notify,
    pub(super) lease: Duration,
    pub(super) poll: Duration,
    max_attempts: u32,
    pub(super) events: EventHub,
    /// The kinds registered in this process.
    kinds: RwLock<HashMap<String, RegisteredKind>>,
    /// How this process's runs went.
    pub(super) measures: crate::jobs::measures::JobMeasures,
}

/// A job kind registered in this process.
struct RegisteredKind {
    /// The scope that sees its events.
    scope: Scope,
    /// What runs its jobs.
    handler: Arc<dyn JobHandler>,
}

impl fmt::Debug for Jobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jobs")
            .field("lease", &self.inner.lease)
            .field("poll", &self.inner.poll)
            .field("max_attempts", &self.inner.max_attempts)
            .finish_non_exhaustive()
    }
}

impl Jobs {
    /// The queue in `db`, with leases, polling and attempts from `config`, publishing on
    /// `events`.
    pub fn new(db: Db, config: &JobsConfig, events: EventHub) -> Self {
        Self::with_clock(db, config, events, Arc::new(SystemClock))
    }

    /// As [`Jobs::new`], reading time from `clock` (tests let leases lapse without sleeping).
    pub fn with_clock(db: Db, config: &JobsConfig, events: EventHub, clock: SharedClock) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                clock,
                wake: Notify::new(),
                lease: Duration::from_millis(config.lease_ms.max(1)),
                poll: Duration::from_millis(config.poll_ms.max(1)),
                max_attempts: config.max_attempts.max(1),
                events,
                kinds: RwLock::default(),
                measures: Default::default(),
            }),
        }
    }

    /// Registers a job kind: its events are seen with `scope`, `handler` runs its jobs (in this
    /// process's workers, once [`Jobs::start_workers`] runs).
    pub fn register(&self, kind: &str, scope: Scope, handler: Arc<dyn JobHandler>) {
        self.inner
            .kinds
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kind.to_string(), RegisteredKind { scope, handler });
    }

    /// The registered kinds and their handlers, for the workers.
    pub(super) fn registered(&self) -> Vec<(String, Arc<dyn JobHandler>)> {
        self.inner
            .kinds
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(kind, registered)| (kind.clone(), registered.handler.clone()))
            .collect()
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Publishes `jobs.<kind>.<change>` for the job's owner. A kind nobody registered here (a
    /// job queued by another version) is seen with the `admin` scope only.
    fn publish(&self, change: JobChange<'_>) {
        let events = &self.inner.events;
        if !events.has_subscribers() {
            return;
        }
        let scope = self
            .inner
            .kinds
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(change.kind)
            .map_or(Scope::Admin, |registered| registered.scope);
        let topic = format!("jobs.{}.{}", change.kind, change.change);
        events.publish(Event::new(topic, scope, change.owner, &change));
    }

    /// Queues a job of `kind` for `owner` and wakes this process's idle workers.
    pub async fn enqueue(
        &self,
        kind: &str,
        owner: Option<UserId>,
        payload: Value,
    ) -> Result<JobId, JobError> {
        let id = JobId(new_id());
        let now = self.now_ms();
        sqlx::query(
            "INSERT INTO jobs (id, kind, payload, owner_id, max_attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(id.as_str())
        .bind(kind)
        .bind(payload.to_string())
        .bind(owner.map(UserId::get))
        .bind(i64::from(self.inner.max_attempts))
        .bind(now)
        .execute(self.inner.db.pool())
        .await?;
        self.inner.wake.notify_waiters();
        self.publish(JobChange {
            job_id: &id,
            kind,
            owner,
            change: "queued",
            progress: 0,
            phase: None,
            error: None,
        });
        Ok(id)
    }

    /// Takes the oldest job of one of `kinds` that is queued, or running with a lapsed lease, and
    /// leases it for `lease`; its attempts grow by one. Jobs whose lease lapsed on their last
    /// allowed attempt are failed ("abandoned after N attempts") instead.
    pub async fn claim(&self, kinds: &[&str], lease: Duration) -> Result<Option<Job>, JobError> {
        let now = self.now_ms();
        let pool = self.inner.db.pool();
        sqlx::query(
            "UPDATE jobs SET status = 'failed', lease_until = NULL, updated_at = $1,
                 error = 'abandoned after ' || attempts || ' attempts'
             WHERE status = 'running' AND lease_until <= $1 AND attempts >= max_attempts",
        )
        .bind(now)
        .execute(pool)
        .await?;
        let kinds = serde_json::to_string(kinds).expect("a list of strings serializes");
        let lease_until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        // SQLite has one writer at a time; on PostgreSQL the row is locked as it is chosen and
        // rows other instances are claiming are skipped, so each job is claimed once.
        let sql = match self.inner.db.backend() {
            Backend::Sqlite => concat!(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, progress = 0,
                     lease_until = $1, updated_at = $2, claimed_by = $4
                 WHERE id = (
                     SELECT id FROM jobs
                     WHERE kind IN (SELECT value FROM json_each($3))
                       AND (status = 'queued'
                            OR (status = 'running' AND lease_until <= $2 AND attempts < max_attempts))
                     ORDER BY created_at, rowid
                     LIMIT 1)
                 RETURNING ",
                job_columns!()
            ),
            Backend::Postgres => concat!(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, progress = 0,
                     lease_until = $1, updated_at = $2, claimed_by = $4
                 WHERE id = (
                     SELECT id FROM jobs
                     WHERE kind IN (SELECT json_array_elements_text($3::json))
                       AND (status = 'queued'
                            OR (status = 'running' AND lease_until <= $2 AND attempts < max_attempts))
                     ORDER BY created_at, rowid
                     LIMIT 1
                     FOR UPDATE SKIP LOCKED)
                 RETURNING ",
                job_columns!()
            ),
        };
        let row = sqlx::query(sql)
            .bind(lease_until)
            .bind(now)
            .bind(kinds)
            .bind(self.inner.db.instance_id())
            .fetch_optional(pool)
            .await?;
        let job = row.as_ref().map(job_from_row).transpose()?;
        if let Some(job) = &job {
            self.publish(JobChange {
                job_id: &job.id,
                kind: &job.kind,
                owner: job.owner,
                change: "started",
                progress: 0,
                phase: None,
                error: None,
            });
        }
        Ok(job)
    }

    /// Records the progress of a running job and extends its lease by the configured lease.
    pub async fn heartbeat(&self, id: &JobId, progress: &Progress) -> Result<(), JobError> {
        self.renew(id, None, progress, true).await
    }

    /// Ends a running job as done with its `result`.
    pub async fn complete(&self, id: &JobId, result: Value) -> Result<(), JobError> {
        self.finish(id, None, Ok(result)).await
    }

    /// Ends a running job as failed with `error`.
    pub async fn fail(&self, id: &JobId, error: &str) -> Result<(), JobError> {
        self.finish(id, None, Err(error)).await
    }

    /// The job, if it exists.
    pub async fn get(&self, id: &JobId) -> Result<Option<Job>, JobError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(self.inner.db.pool())
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Heartbeat of a running job; with `attempt`, only while that run holds it. With
    /// `publish`, the progress is published too (the worker says so when it changed).
    pub(super) async fn renew(
        &self,
        id: &JobId,
        attempt: Option<u32>,
        progress: &Progress,
        publish: bool,
    ) -> Result<(), JobError> {
        let now = self.now_ms();
        let lease = i64::try_from(self.inner.lease.as_millis()).unwrap_or(i64::MAX);
        let row = sqlx::query(
            "UPDATE jobs SET progress = $1, phase = $2, lease_until = $3, updated_at = $4
             WHERE id = $5 AND status = 'running' AND ($6 IS NULL OR attempts = $6)
             RETURNING kind, owner_id",
        )
        .bind(i64::from(progress.percent))
        .bind(progress.phase.as_deref())
        .bind(now.saturating_add(lease))
        .bind(now)
        .bind(id.as_str())
        .bind(attempt.map(i64::from))
        .fetch_optional(self.inner.db.pool())
        .await?;
        let Some(row) = row else {
            return self.why_unchanged(id).await;
        };
        if publish {
            let kind: String = row.try_get("kind")?;
            self.publish(JobChange {
                job_id: id,
                kind: &kind,
                owner: owner_of(&row)?,
                change: "progress",
                progress: progress.percent,
                phase: progress.phase.as_deref(),
                error: None,
            });
        }
        Ok(())
    }

    /// Ends a running job (done with a result, or failed with an error); with `attempt`, only
    /// while that run holds it.
    pub(super) async fn finish(
        &self,
        id: &JobId,
        attempt: Option<u32>,
        outcome: Result<Value, &str>,
    ) -> Result<(), JobError> {
        let (status, result, error, progress) = match &outcome {
            Ok(value) => ("done", Some(value.to_string()), None, Some(100)),
            Err(message) => ("failed", None, Some(message.to_string()), None),
        };
        let row = sqlx::query(
            "UPDATE jobs SET status = $1, result = $2, error = $3,
                 progress = COALESCE($4, progress), lease_until = NULL, updated_at = $5
             WHERE id = $6 AND status = 'running' AND ($7 IS NULL OR attempts = $7)
             RETURNING kind, owner_id, progress, phase",
        )
        .bind(status)
        .bind(result)
        .bind(error.as_deref())
        .bind(progress)
        .bind(self.now_ms())
        .bind(id.as_str())
        .bind(attempt.map(i64::from))
        .fetch_optional(self.inner.db.pool())
        .await?;
        let Some(row) = row else {
            return self.why_unchanged(id).await;
        };
        let kind: String = row.try_get("kind")?;
        let phase: Option<String> = row.try_get("phase")?;
        self.publish(JobChange {
            job_id: id,
            kind: &kind,
            owner: owner_of(&row)?,
            change: status,
            progress: percent_of(row.try_get("progress")?),
            phase: phase.as_deref(),
            error: error.as_deref(),
        });
        Ok(())
    }

    /// Puts a run's job back in the queue without counting the attempt (shutdown).
    pub(super) async fn release(&self, id: &JobId, attempt: u32) -> Result<(), JobError> {
        let updated = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = attempts - 1, progress = 0,
                 lease_until = NULL, updated_at = $1
             WHERE id = $2 AND status = 'running' AND attempts = $3",
        )
        .bind(self.now_ms())
        .bind(id.as_str())
        .bind(i64::from(attempt))
        .execute(self.inner.db.pool())
        .await?
        .rows_affected();
        if updated > 0 {
            return Ok(());
        }
        self.why_unchanged(id).await
    }

    /// Why a write on behalf of a run changed no row.
    async fn why_unchanged(&self, id: &JobId) -> Result<(), JobError> {
        match self.get(id).await? {
            None => Err(JobError::NotFound(id.clone())),
            Some(_) => Err(JobError::NotRunning(id.clone())),
        }
    }
}

/// The work behind one job kind. The answer becomes the job's `result`; an error message fails
/// the job with it. Closures `Fn(Job, ProgressReporter) -> impl Future<…>` are handlers too.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one job. Dropping the future (shutdown, lost lease) must be safe: the job is run
    /// again later.
    fn run(
        &self,
        job: Job,
        progress: ProgressReporter,
    ) -> BoxFuture<'static, Result<Value, String>>;
}

impl<F, Fut> JobHandler for F
where
    F: Fn(Job, ProgressReporter) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, String>> + Send + 'static,
{
    fn run(
        &self,
        job: Job,
        progress: ProgressReporter,
    ) -> BoxFuture<'static, Result<Value, String>> {
        Box::pin(self(job, progress))
    }
}

/// A change in a job's life, as published: `jobs.<kind>.<change>`.
#[derive(Debug, Serialize)]
struct JobChange<'a> {
    job_id: &'a JobId,
    kind: &'a str,
    #[serde(skip)]
    owner: Option<UserId>,
    /// queued, started, progress, done or failed.
    #[serde(rename = "status")]
    change: &'a str,
    progress: u8,
    phase: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

fn owner_of(row: &AnyRow) -> Result<Option<UserId>, JobError> {
    Ok(row.try_get::<Option<i64>, _>("owner_id")?.map(UserId::new))
}

fn percent_of(stored: i64) -> u8 {
    u8::try_from(stored.clamp(0, 100)).unwrap_or(100)
}

fn job_from_row(row: &AnyRow) -> Result<Job, JobError> {
    let id: String = row.try_get("id")?;
    let corrupt = |column, reason: String| JobError::Corrupt {
        id: id.clone(),
        column,
        reason,
    };
    let json = |column, text: String| {
        serde_json::from_str::<Value>(&text).map_err(|e| corrupt(column, e.to_string()))
    };
    let count =
        |column, value: i64| u32::try_from(value).map_err(|e| corrupt(column, e.to_string()));
    let status: String = row.try_get("status")?;
    Ok(Job {
        kind: row.try_get("kind")?,
        payload: json("payload", row.try_get("payload")?)?,
        owner: owner_of(row)?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| corrupt("status", format!("unknown status {status:?}")))?,
        progress: percent_of(row.try_get("progress")?),
        phase: row.try_get("phase")?,
        attempts: count("attempts", row.try_get("attempts")?)?,
        max_attempts: count("max_attempts", row.try_get("max_attempts")?)?,
        lease_until: row.try_get("lease_until")?,
        error: row.try_get("error")?,
        result: row
            .try_get::<Option<String>, _>("result")?
            .map(|text| json("result", text))
            .transpose()?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        id: JobId(id.clone()),
    })
}

#[cfg(test)]
mod tests;
