//! Real `voicegate serve` processes on one PostgreSQL database and one data directory, behind a
//! real nginx: voice builds submitted through the balancer each run exactly once while both
//! instances' workers take jobs, and a build whose instance is killed with SIGKILL is finished by
//! the other one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{Binary, Cluster, Nginx, ServeProcess};

use crate::faults_support::{Api, kill, sentence};
use crate::voices::recording;

/// Instances behind one balancer, on one database.
struct Deployment {
    cluster: &'static Cluster,
    database: String,
    bin: Binary,
    servers: Vec<ServeProcess>,
    nginx: Nginx,
}

/// Short leases so that a dead instance's job is taken over within seconds; two workers per
/// instance; room for fifty voice accounts.
const ENV: [(&str, &str); 5] = [
    ("VOICEGATE_JOBS__LEASE_MS", "1500"),
    ("VOICEGATE_JOBS__POLL_MS", "100"),
    ("VOICEGATE_JOBS__WORKERS", "2"),
    ("VOICEGATE_QUOTAS__VOICE_ACCOUNTS_PER_USER", "100"),
    ("VOICEGATE_AUTH__STATE_POLL_MS", "200"),
];

impl Deployment {
    /// `count` instances with a user `ann` made by the CLI, or `None` (with a line) without
    /// PostgreSQL or nginx.
    async fn start(count: usize) -> Option<Self> {
        if testkit::on_postgres() {
            eprintln!("skipped: the instance tests ran in the default pass");
            return None;
        }
        let cluster = Cluster::shared().await?;
        let url = cluster.database().await;
        let database = url.rsplit('/').next().expect("a database name").to_string();
        let mut bin = Binary::new(env!("CARGO_BIN_EXE_voicegate"));
        bin.env.push(("VOICEGATE_DATABASE_URL".into(), url));
        let out = bin
            .run(
                &["user", "add", "ann", "--password-stdin"],
                "ann-password-1\n",
            )
            .await;
        assert!(out.success, "{}", out.stderr);
        let mut servers = Vec::new();
        for _ in 0..count {
            servers.push(bin.serve(&ENV).await);
        }
        let upstreams: Vec<std::net::SocketAddr> = servers
            .iter()
            .map(|s| {
                s.base
                    .trim_start_matches("http://")
                    .parse()
                    .expect("an address")
            })
            .collect();
        let nginx = Nginx::start(&upstreams).await?;
        Some(Self {
            cluster,
            database,
            bin,
            servers,
            nginx,
        })
    }

    /// Rows of `sql` in the deployment's database, fields split at `|`.
    async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let out = self
            .cluster
            .psql(&self.database, sql)
            .await
            .expect("psql answers");
        out.lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect()
    }

    /// The instance ids of the running servers, by asking each which instance it is: the jobs'
    /// `claimed_by` names them.
    async fn job_counts(&self) -> BTreeMap<String, (String, i64)> {
        self.rows("SELECT id, status, attempts, COALESCE(claimed_by, '') FROM jobs")
            .await
            .into_iter()
            .map(|r| (r[0].clone(), (r[3].clone(), r[2].parse().unwrap_or(-1))))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_builds_through_the_balancer_each_run_exactly_once_on_both_instances() {
    let Some(deployment) = Deployment::start(2).await else {
        return;
    };
    let api = Api::login(&deployment.nginx.base(), "ann", "ann-password-1").await;
    let mut builds = Vec::new();
    for _ in 0..50 {
        // One pending build per account: fifty accounts, each built once (with no recordings
        // each build ends in ERROR, after its job ran).
        let account = api.account().await;
        let response = api
            .post_json(
                "/api/v1/external/build/new/",
                json!({"account_id": account}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        builds.push(body["build_id"].as_str().unwrap().to_string());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open = deployment
            .rows("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")
            .await;
        if open[0][0] == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "jobs still open: {open:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let jobs = deployment.job_counts().await;
    assert_eq!(jobs.len(), 50, "one job a build");
    let once: Vec<_> = jobs
        .values()
        .filter(|(_, attempts)| *attempts == 1)
        .collect();
    assert_eq!(once.len(), 50, "each job ran exactly once: {jobs:?}");
    let instances: std::collections::BTreeSet<&String> =
        jobs.values().map(|(instance, _)| instance).collect();
    assert_eq!(instances.len(), 2, "both instances took jobs: {jobs:?}");
    // Every build ended, through either instance.
    for build in &builds {
        let status = api
            .json(&format!("/api/v1/external/build/status/?build_id={build}"))
            .await;
        assert_eq!(status[0]["status"], "ERROR", "{status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_whose_instance_is_killed_is_finished_by_the_other() {
    let Some(mut deployment) = Deployment::start(2).await else {
        return;
    };
    let api = Api::login(&deployment.nginx.base(), "ann", "ann-password-1").await;
    let account = api.account().await;
    for i in 0..6 {
        let text = sentence(i);
        let response = api
            .upload(&account, &text, recording(&text, 60, 0.0))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = api
        .post_json(
            "/api/v1/external/build/new/",
            json!({"account_id": account}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let build = response.json::<Value>().await.unwrap()["build_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Which instance runs it: the one whose jobs claim it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let runner = loop {
        let rows = deployment
            .rows("SELECT status, claimed_by FROM jobs WHERE kind = 'voice_build'")
            .await;
        if let Some(row) = rows.first()
            && row[0] == "running"
        {
            break row[1].clone();
        }
        assert!(Instant::now() < deadline, "the build never ran: {rows:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // Kill that instance: the one whose log names the instance id.
    let position = deployment
        .servers
        .iter()
        .position(|s| s.startup_log.iter().any(|line| line.contains(&runner)))
        .expect("an instance's start-up log names its id");
    let mut dead = deployment.servers.remove(position);
    kill(&mut dead).await;

    let deadline = Instant::now() + Duration::from_secs(45);
    let survivor = deployment.servers[0].base.clone();
    let api = Api::login(&survivor, "ann", "ann-password-1").await;
    loop {
        let status = api
            .json(&format!("/api/v1/external/build/status/?build_id={build}"))
            .await;
        if status[0]["status"] == "COMPLETE" {
            break;
        }
        assert_ne!(status[0]["status"], "ERROR", "{status}");
        assert!(Instant::now() < deadline, "not finished: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows = deployment
        .rows("SELECT status, attempts, claimed_by FROM jobs WHERE kind = 'voice_build'")
        .await;
    assert_eq!(rows[0][0], "done");
    assert_eq!(rows[0][1], "2", "run again once, by the other instance");
    assert_ne!(rows[0][2], runner);
    drop(deployment.bin);
}
