//! Memory the real binary gives back: password hashing must not leave an idle server holding its
//! working memory (7 MiB per Argon2id verification) after a burst of logins.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{binary_with_user, client, login};

/// The server's resident memory, in KiB, from /proc.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

#[tokio::test]
async fn password_hashing_memory_goes_back_to_the_system_after_a_login_burst() {
    let bin = binary_with_user("ovos", "change-me-now").await;
    let server = bin
        .serve(&[
            ("VOICEGATE_AUTH__MAX_ATTEMPTS_PER_IP", "1000"),
            ("VOICEGATE_AUTH__MAX_FAILURES_PER_IP", "1000"),
            ("VOICEGATE_AUTH__MAX_FAILURES_PER_USER", "1000"),
        ])
        .await;
    let pid = server.child.id().expect("running");
    let health = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = resident_kib(pid);

    let logins = (0..8).map(|_| login(&server.base, "ovos", "change-me-now"));
    for response in futures_util::future::join_all(logins).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = resident_kib(pid);

    // One verification's working memory is 7168 KiB; what stays must be well below it.
    let kept = after.saturating_sub(before);
    assert!(
        kept < 3 * 1024,
        "the server kept {kept} KiB after 8 logins ({before} KiB before, {after} KiB after)"
    );
    let (clean, _) = server.terminate().await;
    assert!(clean);
}
