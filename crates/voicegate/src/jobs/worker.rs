//! Workers: tokio tasks that claim jobs of the kinds they serve, run them, renew their leases
//! while they run, write (and publish) their progress, and record how they ended.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::jobs::measures::RunOutcome;
use crate::jobs::progress::{Progress, ProgressReporter};
use crate::jobs::queue::{Job, JobError, JobHandler, Jobs};

/// Shortest pause between two progress writes of one run.
const PROGRESS_WRITE_GAP: Duration = Duration::from_millis(250);

/// Pause before retrying a lease renewal that failed (database busy or unreachable).
const RENEWAL_RETRY: Duration = Duration::from_secs(1);

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

impl Jobs {
    /// Starts `per_kind` workers for every registered kind (none for 0: this process only
    /// queues).
    pub fn start_workers(&self, per_kind: usize) -> Vec<Workers> {
        if per_kind == 0 {
            return Vec::new();
        }
        self.registered()
            .into_iter()
            .map(|(kind, handler)| spawn_workers(self, &kind, per_kind, handler))
            .collect()
    }
}

/// Starts `concurrency` workers (at least one) that claim jobs of `kind` and run them with
/// `handler`. Idle workers wake when this process queues a job and every `poll_ms` otherwise;
/// the lease is renewed every third of `lease_ms` while a job runs.
fn spawn_workers(
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
    let started = Instant::now();
    let ended = |outcome| jobs.measures().observe(&kind, outcome, started.elapsed());
    let mut last_write = Instant::now();
    let mut next_renewal = last_write + renew_every;
    let mut written = Progress::default();
    loop {
        tokio::select! {
            outcome = &mut run => {
                ended(if outcome.is_ok() { RunOutcome::Done } else { RunOutcome::Failed });
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
                let progress = reporter.get();
                let changed = progress != written;
                match jobs.renew(&id, Some(attempt), &progress, changed).await {
                    Ok(()) => {
                        written = progress;
                        last_write = Instant::now();
                        next_renewal = last_write + renew_every;
                    }
                    Err(e @ (JobError::NotRunning(_) | JobError::NotFound(_))) => {
                        ended(RunOutcome::Lost);
                        tracing::warn!(%id, kind, error = %e, "job lease lost: run dropped");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(%id, kind, error = %e, "renewing a job lease failed");
                        next_renewal = Instant::now() + RENEWAL_RETRY.min(renew_every);
                    }
                }
            }
            () = reporter.changed() => {
                next_renewal = next_renewal.min(last_write + PROGRESS_WRITE_GAP);
            }
            _ = stop.changed() => {
                drop(run);
                ended(RunOutcome::Released);
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
    use crate::config::JobsConfig;
    use crate::events::EventHub;
    use crate::jobs::queue::{JobId, JobStatus};
    use crate::store::Db;
    use serde_json::json;

    const KIND: &str = "test.kind";
    const LEASE: Duration = Duration::from_secs(30);

    async fn system_queue(config: JobsConfig) -> (Jobs, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(dir.path()).await.unwrap();
        (Jobs::new(db, &config, EventHub::new(64)), dir)
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
    async fn a_worker_runs_the_handler_and_records_progress_and_result() {
        let (jobs, _dir) = system_queue(JobsConfig::default()).await;
        let (go, gate) = watch::channel(false);
        let handler = move |job: Job, progress: ProgressReporter| {
            let mut gate = gate.clone();
            async move {
                progress.set(50, "halfway");
                gate.wait_for(|open| *open)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(json!({"echo": job.payload}))
            }
        };
        let workers = spawn_workers(&jobs, KIND, 2, Arc::new(handler));
        let id = jobs.enqueue(KIND, None, json!("hello")).await.unwrap();
        let running = wait_for(&jobs, &id, |job| job.progress == 50).await;
        assert_eq!(running.status, JobStatus::Running);
        go.send(true).unwrap();
        let done = wait_for(&jobs, &id, |job| job.status != JobStatus::Running).await;
        assert_eq!(done.status, JobStatus::Done);
        assert_eq!(done.result, Some(json!({"echo": "hello"})));
        assert_eq!(done.progress, 100);
        assert_eq!(done.attempts, 1);
        workers.shutdown().await;
    }

    #[tokio::test]
    async fn a_handler_error_fails_the_job_with_its_message() {
        let (jobs, _dir) = system_queue(JobsConfig::default()).await;
        let handler = |_job: Job, _progress: ProgressReporter| async {
            Err::<serde_json::Value, _>("the recording is silent".to_string())
        };
        let workers = spawn_workers(&jobs, KIND, 1, Arc::new(handler));
        let id = jobs.enqueue(KIND, None, json!({})).await.unwrap();
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
        let id = jobs.enqueue(KIND, None, json!({})).await.unwrap();
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
        let other = Jobs::new(
            Db::open_sqlite(dir.path()).await.unwrap(),
            &config,
            EventHub::new(64),
        );
        let id = other.enqueue(KIND, None, json!({})).await.unwrap();
        let job = wait_for(&jobs, &id, |job| job.status == JobStatus::Done).await;
        assert_eq!(job.result, Some(json!(true)));
        workers.shutdown().await;
    }
}
