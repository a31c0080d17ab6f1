//! The operations commands on PostgreSQL, through the real binary on a database of the
//! throwaway cluster: `migrate` applies the schema and says so; `doctor` reports the backend,
//! the schema, the running `serve` instance (and not a dead one's row, which the heartbeat
//! removes), the LISTEN/NOTIFY delay, and never the password; `backup` and `restore` round trip
//! the database (by `pg_dump`/`pg_restore`) and the shared data directory's files, and a
//! restore refuses to run under a live instance unless forced. Each skips (one line) when
//! PostgreSQL is missing, unless CI=true.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::faults_support::{Api, sentence};
use crate::support::{binary_with_user, login};
use crate::voices::recording;

/// The password put in the URL (the cluster trusts loopback, so it is accepted and ignored):
/// nothing printed may show it.
const PASSWORD: &str = "pw-never-printed-7f3a";

/// A binary whose `voicegate.toml` points at a fresh database of the cluster (with a
/// password in the URL), beats every 200 ms and finds the cluster's `pg_dump`.
async fn binary_on_postgres(cluster: &testkit::Cluster) -> (testkit::Binary, String) {
    let url = cluster.database().await;
    let with_password = url.replacen("://voicegate@", &format!("://voicegate:{PASSWORD}@"), 1);
    assert_ne!(url, with_password, "the cluster's URL names its user");
    let bin = binary_on(&with_password, cluster).await;
    let name = url.rsplit('/').next().unwrap().to_string();
    (bin, name)
}

async fn binary_on(url: &str, cluster: &testkit::Cluster) -> testkit::Binary {
    let bin = testkit::Binary::new(env!("CARGO_BIN_EXE_voicegate"));
    let toml = format!(
        "database_url = {url:?}\n[store]\nheartbeat_ms = 200\npg_bin_dir = {:?}\n",
        cluster.bin_dir().display().to_string()
    );
    std::fs::write(bin.work_dir.path().join("voicegate.toml"), toml).unwrap();
    bin
}

fn assert_no_password(what: &str, out: &testkit::CliOutput) {
    assert!(
        !out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD),
        "{what} printed the password:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

async fn scalar(cluster: &testkit::Cluster, db: &str, sql: &str) -> String {
    cluster.psql(db, sql).await.unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_doctor_report_backend_schema_instances_and_the_notify_delay() {
    let Some(cluster) = testkit::Cluster::shared().await else {
        return;
    };
    let (bin, db) = binary_on_postgres(cluster).await;
    let out = bin.run(&["migrate"], "").await;
    assert!(out.success, "{}", out.stderr);
    assert_no_password("migrate", &out);
    assert!(
        out.stdout.contains(&format!(
            "(backend postgres), schema version {}",
            voicegate::store::migrations::latest()
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("postgres://voicegate:***@127.0.0.1:"),
        "{}",
        out.stdout
    );
    let sql = "SELECT MAX(version) FROM schema_migrations";
    assert_eq!(
        scalar(cluster, &db, sql).await,
        voicegate::store::migrations::latest().to_string()
    );

    let users = bin
        .run(
            &["user", "add", "ann", "--password-stdin"],
            "ann-password-1\n",
        )
        .await;
    assert!(users.success, "{}", users.stderr);
    // An instance that died an hour ago without removing its row.
    cluster
        .psql(
            &db,
            "INSERT INTO instances (id, host, pid, version, started_at, seen_at)
             VALUES ('deadbeefdeadbeef', 'gone', 1, '0.0.0', 0,
                     CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT) - 3600000)",
        )
        .await
        .unwrap();
    let server = bin.serve(&[]).await;
    let pid = server.child.id().unwrap();
    let out = bin.run(&["doctor"], "").await;
    assert_no_password("doctor", &out);
    let text = &out.stdout;
    assert!(
        text.contains("ok    store: backend postgres, postgres at postgres://voicegate:***@"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "schema version {}",
            voicegate::store::migrations::latest()
        )),
        "{text}"
    );
    assert!(
        text.contains("ok    1 instance(s) seen within 2 s:"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("instance "))
        .unwrap_or_else(|| panic!("no instance line: {text}"));
    assert!(
        line.contains(&format!(" pid {pid} ")) && line.contains(env!("CARGO_PKG_VERSION")),
        "{line}"
    );
    assert!(!text.contains("deadbeefdeadbeef"), "{text}");
    let delay: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("ok    notification channel: LISTEN/NOTIFY delay "))
        .and_then(|rest| rest.strip_suffix(" ms"))
        .unwrap_or_else(|| panic!("no delay line: {text}"))
        .parse()
        .unwrap();
    assert!((0.0..5000.0).contains(&delay), "{delay}");

    // The serving instance's heartbeat removes the dead row (stale after 10 × 200 ms).
    let deadline = Instant::now() + Duration::from_secs(10);
    let dead = "SELECT COUNT(*) FROM instances WHERE id = 'deadbeefdeadbeef'";
    while scalar(cluster, &db, dead).await != "0" {
        assert!(Instant::now() < deadline, "the dead row stays");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (clean, _) = server.terminate().await;
    assert!(clean);
    // A graceful stop removes the row at once.
    assert_eq!(
        scalar(cluster, &db, "SELECT COUNT(*) FROM instances").await,
        "0"
    );
    let out = bin.run(&["doctor"], "").await;
    assert!(
        out.stdout.contains("ok    no instance seen"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_round_trip_the_database_and_the_shared_files() {
    let Some(cluster) = testkit::Cluster::shared().await else {
        return;
    };
    let (bin, db) = binary_on_postgres(cluster).await;
    let out = bin
        .run(
            &["user", "add", "ann", "--password-stdin"],
            "ann-password-1\n",
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    let server = bin.serve(&[]).await;
    let api = Api::login(&server.base, "ann", "ann-password-1").await;
    let account = api.account().await;
    let response = api
        .upload(&account, &sentence(1), recording(&sentence(1), 40, 0.0))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let file = bin.work_dir.path().join("vg.backup");
    let out = bin.run(&["backup", file.to_str().unwrap()], "").await;
    assert!(out.success, "{}", out.stderr);
    assert_no_password("backup", &out);
    assert!(
        out.stdout.contains(&format!(
            "the PostgreSQL database by pg_dump (schema {})",
            voicegate::store::migrations::latest()
        )),
        "{}",
        out.stdout
    );
    // After the backup: a user added, the blobs lost.
    let out = bin
        .run(
            &["user", "add", "bob", "--password-stdin"],
            "bob-password-1\n",
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    std::fs::remove_dir_all(bin.data_dir.join("blobs")).unwrap();

    let out = bin.run(&["restore", file.to_str().unwrap()], "").await;
    assert!(!out.success, "a restore under a live instance");
    assert!(
        out.stderr
            .contains("voicegate servers run on this database"),
        "{}",
        out.stderr
    );
    let users = "SELECT string_agg(name, ',' ORDER BY name) FROM users";
    assert_eq!(scalar(cluster, &db, users).await, "ann,bob");
    let (clean, _) = server.terminate().await;
    assert!(clean);

    let out = bin.run(&["restore", file.to_str().unwrap()], "").await;
    assert!(out.success, "{}", out.stderr);
    assert_no_password("restore", &out);
    assert_eq!(scalar(cluster, &db, users).await, "ann");
    assert_eq!(
        scalar(cluster, &db, "SELECT COUNT(*) FROM voice_accounts").await,
        "1"
    );
    let server = bin.serve(&[]).await;
    let api = Api::login(&server.base, "ann", "ann-password-1").await;
    assert_eq!(api.sentences(&account).await, 1);
    let blobs = crate::faults_support::files_under(&bin.data_dir.join("blobs"));
    assert!(!blobs.is_empty(), "the recording's blob is back");
    let bob = login(&server.base, "bob", "bob-password-1").await;
    assert_eq!(bob.status(), StatusCode::UNAUTHORIZED);
    let (clean, _) = server.terminate().await;
    assert!(clean);
}

#[tokio::test]
async fn a_restore_refuses_a_backup_of_the_other_backend() {
    let Some(cluster) = testkit::Cluster::shared().await else {
        return;
    };
    let sqlite = binary_with_user("ann", "ann-password-1").await;
    let file = sqlite.work_dir.path().join("sqlite.backup");
    let out = sqlite.run(&["backup", file.to_str().unwrap()], "").await;
    assert!(out.success, "{}", out.stderr);
    let (pg, _) = binary_on_postgres(cluster).await;
    let out = pg.run(&["restore", file.to_str().unwrap()], "").await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("is not a PostgreSQL backup"),
        "{}",
        out.stderr
    );
}
