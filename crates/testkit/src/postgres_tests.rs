use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::*;

#[test]
fn the_newest_version_folder_is_chosen_by_number() {
    let root = tempfile::tempdir().unwrap();
    for name in ["9.6", "15", "12", "common", "100x"] {
        std::fs::create_dir(root.path().join(name)).unwrap();
    }
    assert_eq!(newest_version(root.path()), Some(root.path().join("15")));
    assert_eq!(newest_version(&root.path().join("absent")), None);
}

#[tokio::test]
async fn databases_are_fresh_and_apart_on_a_server_run_unprivileged() {
    let Some(cluster) = Cluster::shared().await else {
        return;
    };
    let first = cluster.database().await;
    let second = cluster.database().await;
    assert_ne!(first, second);
    let prefix = format!("postgres://{SUPERUSER}@127.0.0.1:{}/vg_", cluster.port());
    for url in [&first, &second] {
        assert!(url.starts_with(&prefix), "{url}");
    }
    let name = |url: &str| url.rsplit('/').next().unwrap().to_string();
    let (first, second) = (name(&first), name(&second));
    for database in [&first, &second] {
        assert_eq!(cluster.psql(database, "SELECT 1").await.unwrap(), "1");
        assert_eq!(
            &cluster
                .psql(database, "SELECT current_database()")
                .await
                .unwrap(),
            database
        );
    }
    // A table made in one is not in the other.
    cluster
        .psql(
            &first,
            "CREATE TABLE only_here (n int); INSERT INTO only_here VALUES (7)",
        )
        .await
        .unwrap();
    assert_eq!(
        cluster
            .psql(&first, "SELECT n FROM only_here")
            .await
            .unwrap(),
        "7"
    );
    let error = cluster
        .psql(&second, "SELECT n FROM only_here")
        .await
        .unwrap_err();
    assert!(error.contains("does not exist"), "{error}");
    // As root, the server runs as the unprivileged user.
    let uid = tied::uid_of(cluster.pid()).expect("the server runs");
    if tied::is_root() {
        assert_ne!(uid, 0, "postgres runs as root");
    }
    // pg_stat_statements is there whenever the contrib module is, in every new database.
    assert_eq!(
        cluster.has_pg_stat_statements(),
        stat_statements_library(cluster.bin_dir()).is_ok()
    );
    if cluster.has_pg_stat_statements() {
        let calls = cluster
            .psql(
                &second,
                "SELECT count(*) > 0 FROM pg_stat_statements WHERE query LIKE 'SELECT%'",
            )
            .await
            .unwrap();
        assert_eq!(calls, "t");
    }
}

/// The variable that makes [`cluster_in_a_child`] run (it is started by the test below).
const CHILD_VAR: &str = "TESTKIT_PG_CHILD";

/// Run as a child process by `the_server_dies_with_the_test_process`: starts the cluster,
/// opens a session that stays busy, says where things are, and waits to be killed.
#[tokio::test]
#[ignore = "run as a child process by the_server_dies_with_the_test_process"]
async fn cluster_in_a_child() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let cluster = Cluster::shared().await.expect("PostgreSQL is here");
    let database = cluster.database().await;
    let name = database.rsplit('/').next().unwrap().to_string();
    let mut busy = psql_command(
        cluster.bin_dir(),
        cluster.port(),
        &name,
        "SELECT pg_sleep(60)",
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while children_of(cluster.pid()).len() < 2 {
        assert!(Instant::now() < deadline, "no backend for the busy session");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = std::io::stdout();
    writeln!(out, "CLUSTER {} {}", cluster.pid(), cluster.dir().display()).unwrap();
    out.flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
    let _ = busy.kill();
    let _ = busy.wait();
}

#[test]
fn the_server_dies_with_the_test_process() {
    if let Err(why) = available() {
        crate::shared::skip_or_fail(&why);
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "postgres::tests::cluster_in_a_child",
            "--exact",
            "--ignored",
        ])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The harness prints `test NAME ... ` before it, on the same line.
            if let Some((_, rest)) = line.split_once("CLUSTER ") {
                let _ = sender.send(rest.to_string());
            }
        }
    });
    let line = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the child started the cluster within 60 s");
    let (pid, dir) = line.split_once(' ').unwrap();
    let (pid, dir): (u32, PathBuf) = (pid.parse().unwrap(), PathBuf::from(dir));
    let backends = children_of(pid);
    assert!(!tied::is_gone(pid) && dir.is_dir() && !backends.is_empty());
    // SIGKILL: nothing in the test process runs after it.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let all_gone = |pids: &[u32]| pids.iter().all(|p| tied::is_gone(*p));
    while !(tied::is_gone(pid) && all_gone(&backends) && !dir.exists()) {
        assert!(
            Instant::now() < deadline,
            "10 s after the test process was killed: postmaster gone {}, backends gone {}, \
             directory {} still there {}",
            tied::is_gone(pid),
            all_gone(&backends),
            dir.display(),
            dir.exists()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The processes whose parent is `pid` (the server's processes for the postmaster).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    let (_, rest) = stat.rsplit_once(')')?;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}
