//! The job queue: background work (voice builds, training) kept in the `jobs` table so that it
//! survives restarts.
//!
//! A worker claims a job by setting it `running` with a lease and renews the lease while the job
//! runs. A job whose lease lapses (the worker crashed or was killed) is claimed again, its
//! attempts counted, until `max_attempts`; after that it is failed. Claims are one `UPDATE …
//! RETURNING`, so two workers (or two processes) never take the same job, and every write made on
//! behalf of a run names its attempt, so a run that lost its lease cannot overwrite the next one.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clock::{SharedClock, SystemClock};
use crate::config::JobsConfig;
use crate::identity::opaque::new_id;
use crate::store::{Db, StoreError};

/// Shortest pause between two progress writes of one run.
const PROGRESS_WRITE_GAP: Duration = Duration::from_millis(250);

/// Pause before retrying a lease renewal that failed (database busy or unreachable).
const RENEWAL_RETRY: Duration = Duration::from_secs(1);

/// The columns of a [`Job`], in the order [`job_from_row`] reads them.
macro_rules! job_columns {
    () => {
        "id, kind, payload, status, progress, attempts, max_attempts, lease_until, error, result, \
         created_at, updated_at"
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
    /// Where it is in its life.
    pub status: JobStatus,
    /// Progress of the current run, from 0 to 1.
    pub progress: f64,
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
    /// The job is not running under this run any more: it finished, or its lease lapsed and it
    /// was claimed again.
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
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    clock: SharedClock,
    wake: Notify,
    lease: Duration,
    poll: Duration,
    max_attempts: u32,
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
    /// The queue in `db`, with leases, polling and attempts from `config`.
    pub fn new(db: Db, config: &JobsConfig) -> Self {
        Self::with_clock(db, config, Arc::new(SystemClock))
    }

    /// As [`Jobs::new`], reading time from `clock` (tests let leases lapse without sleeping).
    pub fn with_clock(db: Db, config: &JobsConfig, clock: SharedClock) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                clock,
                wake: Notify::new(),
                lease: Duration::from_millis(config.lease_ms.max(1)),
                poll: Duration::from_millis(config.poll_ms.max(1)),
                max_attempts: config.max_attempts.max(1),
            }),
        }
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Queues a job of `kind` and wakes this process's idle workers.
    pub async fn enqueue(&self, kind: &str, payload: Value) -> Result<JobId, JobError> {
        let id = JobId(new_id());
        let now = self.now_ms();
        sqlx::query(
            "INSERT INTO jobs (id, kind, payload, max_attempts, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )
        .bind(id.as_str())
        .bind(kind)
        .bind(payload.to_string())
        .bind(i64::from(self.inner.max_attempts))
        .bind(now)
        .execute(self.inner.db.sqlite())
        .await?;
        self.inner.wake.notify_waiters();
        Ok(id)
    }

    /// Takes the oldest job of one of `kinds` that is queued, or running with a lapsed lease, and
    /// leases it for `lease`; its attempts grow by one. Jobs whose lease lapsed on their last
    /// allowed attempt are failed ("abandoned after N attempts") instead.
    pub async fn claim(&self, kinds: &[&str], lease: Duration) -> Result<Option<Job>, JobError> {
        let now = self.now_ms();
        let pool = self.inner.db.sqlite();
        sqlx::query(
            "UPDATE jobs SET status = 'failed', lease_until = NULL, updated_at = ?1,
                 error = 'abandoned after ' || attempts || ' attempts'
             WHERE status = 'running' AND lease_until <= ?1 AND attempts >= max_attempts",
        )
        .bind(now)
        .execute(pool)
        .await?;
        let kinds = serde_json::to_string(kinds).expect("a list of strings serializes");
        let lease_until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let row = sqlx::query(concat!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, progress = 0,
                 lease_until = ?1, updated_at = ?2
             WHERE id = (
                 SELECT id FROM jobs
                 WHERE kind IN (SELECT value FROM json_each(?3))
                   AND (status = 'queued'
                        OR (status = 'running' AND lease_until <= ?2 AND attempts < max_attempts))
                 ORDER BY created_at, rowid
                 LIMIT 1)
             RETURNING ",
            job_columns!()
        ))
        .bind(lease_until)
        .bind(now)
        .bind(kinds)
        .fetch_optional(pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Records the progress (clamped to 0..1) of a running job and extends its lease by the
    /// configured lease.
    pub async fn heartbeat(&self, id: &JobId, progress: f64) -> Result<(), JobError> {
        self.renew(id, None, progress).await
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
            " FROM jobs WHERE id = ?1"
        ))
        .bind(id.as_str())
        .fetch_optional(self.inner.db.sqlite())
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Heartbeat of a running job; with `attempt`, only while that run holds it.
    async fn renew(&self, id: &JobId, attempt: Option<u32>, progress: f64) -> Result<(), JobError> {
        let now = self.now_ms();
        let lease = i64::try_from(self.inner.lease.as_millis()).unwrap_or(i64::MAX);
        let updated = sqlx::query(
            "UPDATE jobs SET progress = ?1, lease_until = ?2, updated_at = ?3
             WHERE id = ?4 AND status = 'running' AND (?5 IS NULL OR attempts = ?5)",
        )
        .bind(clamp_progress(progress))
        .bind(now.saturating_add(lease))
        .bind(now)
        .bind(id.as_str())
        .bind(attempt.map(i64::from))
        .execute(self.inner.db.sqlite())
        .await?
        .rows_affected();
        self.changed_one(id, updated).await
    }

    /// Ends a running job (done with a result, or failed with an error); with `attempt`, only
    /// while that run holds it.
    async fn finish(
        &self,
        id: &JobId,
        attempt: Option<u32>,
        outcome: Result<Value, &str>,
    ) -> Result<(), JobError> {
        let (status, result, error, progress) = match outcome {
            Ok(value) => ("done", Some(value.to_string()), None, Some(1.0)),
            Err(message) => ("failed", None, Some(message.to_string()), None),
        };
        let updated = sqlx::query(
            "UPDATE jobs SET status = ?1, result = ?2, error = ?3,
                 progress = COALESCE(?4, progress), lease_until = NULL, updated_at = ?5
             WHERE id = ?6 AND status = 'running' AND (?7 IS NULL OR attempts = ?7)",
        )
        .bind(status)
        .bind(result)
        .bind(error)
        .bind(progress)
        .bind(self.now_ms())
        .bind(id.as_str())
        .bind(attempt.map(i64::from))
        .execute(self.inner.db.sqlite())
        .await?
        .rows_affected();
        self.changed_one(id, updated).await
    }

    /// Puts a run's job back in the queue without counting the attempt (shutdown).
    async fn release(&self, id: &JobId, attempt: u32) -> Result<(), JobError> {
        let updated = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = attempts - 1, progress = 0,
                 lease_until = NULL, updated_at = ?1
             WHERE id = ?2 AND status = 'running' AND attempts = ?3",
        )
        .bind(self.now_ms())
        .bind(id.as_str())
        .bind(i64::from(attempt))
        .execute(self.inner.db.sqlite())
        .await?
        .rows_affected();
        self.changed_one(id, updated).await
    }

    /// Turns "no row changed" into the reason.
    async fn changed_one(&self, id: &JobId, updated: u64) -> Result<(), JobError> {
        if updated > 0 {
            return Ok(());
        }
        match self.get(id).await? {
            None => Err(JobError::NotFound(id.clone())),
            Some(_) => Err(JobError::NotRunning(id.clone())),
        }
    }
}

fn clamp_progress(progress: f64) -> f64 {
    if progress.is_nan() {
        0.0
    } else {
        progress.clamp(0.0, 1.0)
    }
}

fn job_from_row(row: &SqliteRow) -> Result<Job, JobError> {
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
        status: JobStatus::parse(&status)
            .ok_or_else(|| corrupt("status", format!("unknown status {status:?}")))?,
        progress: row.try_get("progress")?,
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

/// Where a running job reports its progress. Cheap to clone and synchronous, so CPU work on the
/// blocking pool can report too; the worker writes the latest value with its next lease renewal,
/// within a fraction of a second.
#[derive(Debug, Clone)]
pub struct ProgressReporter {
    shared: Arc<ProgressCell>,
}

#[derive(Debug)]
struct ProgressCell {
    bits: AtomicU64,
    changed: Notify,
}

impl ProgressReporter {
    fn new() -> Self {
        Self {
            shared: Arc::new(ProgressCell {
                bits: AtomicU64::new(0f64.to_bits()),
                changed: Notify::new(),
            }),
        }
    }

    /// Records the progress of the run, from 0 to 1 (clamped).
    pub fn set(&self, progress: f64) {
        let progress = clamp_progress(progress);
        self.shared
            .bits
            .store(progress.to_bits(), Ordering::Relaxed);
        self.shared.changed.notify_one();
    }

    /// The progress last recorded.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.shared.bits.load(Ordering::Relaxed))
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

/// Running workers. Keep it: dropping it stops them like [`Workers::shutdown`] does, without
/// waiting.
#[derive(Debug)]
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Stops the workers and waits for them. A job being run is dropped and put back in the
    /// queue, its attempt not counted, for the next start.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

/// Starts `concurrency` workers (at least one) that claim jobs of `kind` and run them with
/// `handler`. Idle workers wake when this process queues a job and every `poll_ms` otherwise;
/// the lease is renewed every third of `lease_ms` while a job runs.
pub fn spawn_workers(
    jobs: &Jobs,
    kind: &str,
    concurrency: usize,
    handler: Arc<dyn JobHandler>,
) -> Workers {
    let (stop, stopped) = watch::channel(false);
    let tasks = (0..concurrency.max(1))
        .map(|_| {
            tokio::spawn(work(
                jobs.clone(),
                kind.to_string(),
                handler.clone(),
                stopped.clone(),
            ))
        })
        .collect();
    Workers { stop, tasks }
}

/// True once a stop was asked for or the [`Workers`] handle is gone.
fn stopping(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

async fn work(
    jobs: Jobs,
    kind: String,
    handler: Arc<dyn JobHandler>,
    mut stop: watch::Receiver<bool>,
) {
    let kinds = [kind.as_str()];
    while !stopping(&stop) {
        // Listen before looking, so a job queued between the look and the wait still wakes us.
        let wake = jobs.inner.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        match jobs.claim(&kinds, jobs.inner.lease).await {
            Ok(Some(job)) => {
                run_one(&jobs, job, handler.as_ref(), &mut stop).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(kind, error = %e, "claiming a job failed"),
        }
        tokio::select! {
            () = &mut wake => {}
            () = tokio::time::sleep(jobs.inner.poll) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Runs one claimed job, renewing its lease (and writing progress) until the handler answers.
async fn run_one(
    jobs: &Jobs,
    job: Job,
    handler: &dyn JobHandler,
    stop: &mut watch::Receiver<bool>,
) {
    let id = job.id.clone();
    let attempt = job.attempts;
    let kind = job.kind.clone();
    let reporter = ProgressReporter::new();
    let mut run = handler.run(job, reporter.clone());
    let renew_every = jobs.inner.lease / 3;
    let mut last_write = Instant::now();
    let mut next_renewal = last_write + renew_every;
    loop {
        tokio::select! {
            outcome = &mut run => {
                let finished = match &outcome {
                    Ok(result) => jobs.finish(&id, Some(attempt), Ok(result.clone())).await,
                    Err(message) => jobs.finish(&id, Some(attempt), Err(message)).await,
                };
                match finished {
                    Ok(()) => tracing::debug!(%id, kind, ok = outcome.is_ok(), "job finished"),
                    Err(e) => tracing::warn!(%id, kind, error = %e, "recording a job's end failed"),
                }
                return;
            }
            () = tokio::time::sleep_until(next_renewal) => {
                match jobs.renew(&id, Some(attempt), reporter.get()).await {
                    Ok(()) => {
                        last_write = Instant::now();
                        next_renewal = last_write + renew_every;
                    }
                    Err(e @ (JobError::NotRunning(_) | JobError::NotFound(_))) => {
                        tracing::warn!(%id, kind, error = %e, "job lease lost: run dropped");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(%id, kind, error = %e, "renewing a job lease failed");
                        next_renewal = Instant::now() + RENEWAL_RETRY.min(renew_every);
                    }
                }
            }
            () = reporter.shared.changed.notified() => {
                next_renewal = next_renewal.min(last_write + PROGRESS_WRITE_GAP);
            }
            _ = stop.changed() => {
                drop(run);
                if let Err(e) = jobs.release(&id, attempt).await {
                    tracing::warn!(%id, kind, error = %e, "putting a job back failed");
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use serde_json::json;
    use std::collections::HashMap;

    const KIND: &str = "test.kind";
    const LEASE: Duration = Duration::from_secs(30);

    async fn queue(config: JobsConfig) -> (Jobs, ManualClock, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(dir.path()).await.unwrap();
        let clock = ManualClock::new();
        let jobs = Jobs::with_clock(db, &config, Arc::new(clock.clone()));
        (jobs, clock, dir)
    }

    async fn system_queue(config: JobsConfig) -> (Jobs, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(dir.path()).await.unwrap();
        (Jobs::new(db, &config), dir)
    }

    /// Polls until the job leaves `queued`/`running` (or `until` says so), at most 10 s.
    async fn wait_for(jobs: &Jobs, id: &JobId, until: impl Fn(&Job) -> bool) -> Job {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let job = jobs.get(id).await.unwrap().unwrap();
            if until(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "job never got there: {job:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_job_is_claimed_once_and_not_again_while_leased() {
        let (jobs, _clock, _dir) = queue(JobsConfig::default()).await;
        let id = jobs.enqueue(KIND, json!({"voice": 7})).await.unwrap();
        let queued = jobs.get(&id).await.unwrap().unwrap();
        assert_eq!(queued.status, JobStatus::Queued);
        assert_eq!(queued.attempts, 0);
        assert_eq!(jobs.claim(&["other.kind"], LEASE).await.unwrap(), None);
        let job = jobs.claim(&[KIND], LEASE).await.unwrap().unwrap();
        assert_eq!(job.id, id);
        assert_eq!(job.payload, json!({"voice": 7}));
        assert_eq!(job.status, JobStatus::Running);
        assert_eq!(job.attempts, 1);
        assert!(job.lease_until.is_some());
        assert_eq!(jobs.claim(&[KIND], LEASE).await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_oldest_job_is_claimed_first() {
        let (jobs, clock, _dir) = queue(JobsConfig::default()).await;
        let first = jobs.enqueue(KIND, json!(1)).await.unwrap();
        clock.advance(1);
        let second = jobs.enqueue(KIND, json!(2)).await.unwrap();
        let third = jobs.enqueue(KIND, json!(3)).await.unwrap();
        for expected in [first, second, third] {
            let job = jobs.claim(&[KIND], LEASE).await.unwrap().unwrap();
            assert_eq!(job.id, expected);
        }
    }

    #[tokio::test]
    async fn concurrent_claimers_never_share_a_job() {
        let (jobs, _clock, _dir) = queue(JobsConfig::default()).await;
        let mut queued = Vec::new();
        for n in 0..20 {
            queued.push(jobs.enqueue(KIND, json!(n)).await.unwrap());
        }
        let claimers: Vec<_> = (0..4)
            .map(|_| {
                let jobs = jobs.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Some(job) = jobs.claim(&[KIND], LEASE).await.unwrap() {
                        got.push(job.id);
                        tokio::task::yield_now().await;
                    }
                    got
                })
            })
            .collect();
        let mut seen: HashMap<JobId, usize> = HashMap::new();
        for claimer in claimers {
            for id in claimer.await.unwrap() {
                *seen.entry(id).or_default() += 1;
            }
        }
        assert_eq!(seen.len(), 20);
        for id in &queued {
            assert_eq!(seen.get(id), Some(&1), "{id}");
        }
    }

    #[tokio::test]
    async fn a_lapsed_lease_puts_the_job_back_with_one_more_attempt() {
        let (jobs, clock, _dir) = queue(JobsConfig::default()).await;
        let id = jobs.enqueue(KIND, json!({})).await.unwrap();
        let first = jobs.claim(&[KIND], LEASE).await.unwrap().unwrap();
        clock.advance(29);
        assert_eq!(jobs.claim(&[KIND], LEASE).await.unwrap(), None);
        clock.advance(2);
        let again = jobs.claim(&[KIND], LEASE).await.unwrap().unwrap();
        assert_eq!(again.id, id);
        assert_eq!(again.attempts, first.attempts + 1);
        // The first run lost its lease: its writes are refused, the second run's are not.
        assert!(matches!(
            jobs.finish(&id, Some(first.attempts), Ok(json!("stale")))
                .await,
            Err(JobError::NotRunning(_))
        ));
        jobs.renew(&id, Some(again.attempts), 0.5).await.unwrap();
        assert_eq!(jobs.get(&id).await.unwrap().unwrap().progress, 0.5);
    }

    #[tokio::test]
    async fn past_max_attempts_the_job_is_failed() {
        let config = JobsConfig {
            max_attempts: 2,
            ..JobsConfig::default()
        };
        let (jobs, clock, _dir) = queue(config).await;
        let id = jobs.enqueue(KIND, json!({})).await.unwrap();
        for attempt in 1..=2 {
            let job = jobs.claim(&[KIND], LEASE).await.unwrap().unwrap();
            assert_eq!(job.attempts, attempt);
            clock.advance(31);
        }
        assert_eq!(jobs.claim(&[KIND], LEASE).await.unwrap(), None);
        let job = jobs.get(&id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_deref(), Some("abandoned after 2 attempts"));
        assert_eq!(job.lease_until, None);
    }

    #[tokio::test]
    async fn heartbeat_complete_and_fail_need_a_running_job() {
        let (jobs, _clock, _dir) = queue(JobsConfig::default()).await;
        let unknown = JobId::new("nope");
        assert!(matches!(
            jobs.heartbeat(&unknown, 0.1).await,
            Err(JobError::NotFound(_))
        ));
        let id = jobs.enqueue(KIND, json!({})).await.unwrap();
        assert!(matches!(
            jobs.complete(&id, json!(1)).await,
            Err(JobError::NotRunning(_))
        ));
        jobs.claim(&[KIND], LEASE).await.unwrap().unwrap();
        jobs.heartbeat(&id, 7.0).await.unwrap();
        assert_eq!(jobs.get(&id).await.unwrap().unwrap().progress, 1.0);
        jobs.fail(&id, "no audio").await.unwrap();
        let job = jobs.get(&id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_deref(), Some("no audio"));
        assert!(matches!(
            jobs.complete(&id, json!(1)).await,
            Err(JobError::NotRunning(_))
        ));
    }

    #[tokio::test]
    async fn a_worker_runs_the_handler_and_records_progress_and_result() {
        let (jobs, _dir) = system_queue(JobsConfig::default()).await;
        let (go, gate) = watch::channel(false);
        let handler = move |job: Job, progress: ProgressReporter| {
            let mut gate = gate.clone();
            async move {
                progress.set(0.5);
                gate.wait_for(|open| *open)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(json!({"echo": job.payload}))
            }
        };
        let workers = spawn_workers(&jobs, KIND, 2, Arc::new(handler));
        let id = jobs.enqueue(KIND, json!("hello")).await.unwrap();
        let running = wait_for(&jobs, &id, |job| job.progress == 0.5).await;
        assert_eq!(running.status, JobStatus::Running);
        go.send(true).unwrap();
        let done = wait_for(&jobs, &id, |job| job.status != JobStatus::Running).await;
        assert_eq!(done.status, JobStatus::Done);
        assert_eq!(done.result, Some(json!({"echo": "hello"})));
        assert_eq!(done.progress, 1.0);
        assert_eq!(done.attempts, 1);
        workers.shutdown().await;
    }

    #[tokio::test]
    async fn a_handler_error_fails_the_job_with_its_message() {
        let (jobs, _dir) = system_queue(JobsConfig::default()).await;
        let handler = |_job: Job, _progress: ProgressReporter| async {
            Err::<Value, _>("the recording is silent".to_string())
        };
        let workers = spawn_workers(&jobs, KIND, 1, Arc::new(handler));
        let id = jobs.enqueue(KIND, json!({})).await.unwrap();
        let job = wait_for(&jobs, &id, |job| {
            !matches!(job.status, JobStatus::Queued | JobStatus::Running)
        })
        .await;
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_deref(), Some("the recording is silent"));
        assert_eq!(job.result, None);
        workers.shutdown().await;
    }

    #[tokio::test]
    async fn a_running_job_keeps_its_lease_and_goes_back_on_shutdown() {
        let config = JobsConfig {
            lease_ms: 600,
            poll_ms: 50,
            ..JobsConfig::default()
        };
        let (jobs, _dir) = system_queue(config).await;
        let handler = |_job: Job, _progress: ProgressReporter| std::future::pending();
        let workers = spawn_workers(&jobs, KIND, 1, Arc::new(handler));
        let id = jobs.enqueue(KIND, json!({})).await.unwrap();
        wait_for(&jobs, &id, |job| job.status == JobStatus::Running).await;
        // Well past the lease: renewals keep it from being claimed again.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(jobs.claim(&[KIND], LEASE).await.unwrap(), None);
        workers.shutdown().await;
        let job = jobs.get(&id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.attempts, 0);
        assert_eq!(job.lease_until, None);
    }

    #[tokio::test]
    async fn workers_poll_for_jobs_queued_elsewhere() {
        let config = JobsConfig {
            poll_ms: 50,
            ..JobsConfig::default()
        };
        let (jobs, dir) = system_queue(config.clone()).await;
        let handler = |_job: Job, _progress: ProgressReporter| async { Ok(json!(true)) };
        let workers = spawn_workers(&jobs, KIND, 1, Arc::new(handler));
        // Another process: its own handle, so no wake-up reaches the worker.
        let other = Jobs::new(Db::open_sqlite(dir.path()).await.unwrap(), &config);
        let id = other.enqueue(KIND, json!({})).await.unwrap();
        let job = wait_for(&jobs, &id, |job| job.status == JobStatus::Done).await;
        assert_eq!(job.result, Some(json!(true)));
        workers.shutdown().await;
    }
}
