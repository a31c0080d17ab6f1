//! Tests of the queue: claims, leases, attempts, progress and the events of each change.

use super::*;
use crate::clock::ManualClock;
use crate::jobs::progress::ProgressReporter;
use serde_json::json;
use std::collections::HashMap;

const KIND: &str = "test.kind";
const LEASE: Duration = Duration::from_secs(30);

fn half() -> Progress {
    Progress {
        percent: 50,
        phase: Some("halfway".into()),
    }
}

async fn queue(config: JobsConfig) -> (Jobs, ManualClock, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_sqlite(dir.path()).await.unwrap();
    let clock = ManualClock::new();
    let jobs = Jobs::with_clock(db, &config, EventHub::new(64), Arc::new(clock.clone()));
    (jobs, clock, dir)
}

#[tokio::test]
async fn a_job_is_claimed_once_and_not_again_while_leased() {
    let (jobs, _clock, _dir) = queue(JobsConfig::default()).await;
    let id = jobs.enqueue(KIND, None, json!({"voice": 7})).await.unwrap();
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
    let first = jobs.enqueue(KIND, None, json!(1)).await.unwrap();
    clock.advance(1);
    let second = jobs.enqueue(KIND, None, json!(2)).await.unwrap();
    let third = jobs.enqueue(KIND, None, json!(3)).await.unwrap();
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
        queued.push(jobs.enqueue(KIND, None, json!(n)).await.unwrap());
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
    let id = jobs.enqueue(KIND, None, json!({})).await.unwrap();
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
    jobs.renew(&id, Some(again.attempts), &half(), false)
        .await
        .unwrap();
    assert_eq!(jobs.get(&id).await.unwrap().unwrap().progress, 50);
}

#[tokio::test]
async fn past_max_attempts_the_job_is_failed() {
    let config = JobsConfig {
        max_attempts: 2,
        ..JobsConfig::default()
    };
    let (jobs, clock, _dir) = queue(config).await;
    let id = jobs.enqueue(KIND, None, json!({})).await.unwrap();
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
        jobs.heartbeat(&unknown, &half()).await,
        Err(JobError::NotFound(_))
    ));
    let id = jobs.enqueue(KIND, None, json!({})).await.unwrap();
    assert!(matches!(
        jobs.complete(&id, json!(1)).await,
        Err(JobError::NotRunning(_))
    ));
    jobs.claim(&[KIND], LEASE).await.unwrap().unwrap();
    jobs.heartbeat(&id, &half()).await.unwrap();
    let job = jobs.get(&id).await.unwrap().unwrap();
    assert_eq!((job.progress, job.phase.as_deref()), (50, Some("halfway")));
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
async fn each_change_is_published_for_the_owner_with_the_kind_scope() {
    let (jobs, _clock, _dir) = queue(JobsConfig::default()).await;
    let handler = |_job: Job, _progress: ProgressReporter| async { Ok(json!(null)) };
    jobs.register(KIND, Scope::VoiceBuild, Arc::new(handler));
    let hub = jobs.inner.events.clone();
    let mut events = hub.subscribe();
    sqlx::query(
        "INSERT INTO users (id, name, password_hash, created_at, updated_at) VALUES (7, 'ann', 'x', 0, 0)",
    )
    .execute(jobs.inner.db.pool())
    .await
    .unwrap();
    let owner = Some(UserId::new(7));
    let id = jobs.enqueue(KIND, owner, json!({})).await.unwrap();
    jobs.claim(&[KIND], LEASE).await.unwrap().unwrap();
    jobs.renew(&id, None, &half(), true).await.unwrap();
    jobs.complete(&id, json!({"voice": 1})).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        assert_eq!(event.scope, Scope::VoiceBuild);
        assert_eq!(event.owner, owner);
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["job_id"], id.as_str());
        seen.push((event.topic.clone(), data["progress"].as_u64().unwrap()));
    }
    let topic = |change: &str| format!("jobs.{KIND}.{change}");
    assert_eq!(
        seen,
        [
            (topic("queued"), 0),
            (topic("started"), 0),
            (topic("progress"), 50),
            (topic("done"), 100)
        ]
    );
}
