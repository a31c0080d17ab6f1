//! The real binary killed with SIGKILL in the middle of its work (recording uploads, one of them
//! trickling in; a voice build), then started again on the same data directory: nothing it
//! acknowledged is missing, no half-written file is visible, the database passes its integrity
//! check, and the interrupted job runs again to completion. (The NLU training killed the same
//! way: `assistants::a_training_killed_with_the_process_finishes_after_a_restart`.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::faults_support::{
    Api, assert_blobs_whole, integrity, kill, read_only, recording_rows, sentence, sha256_hex,
    temporaries,
};
use crate::support::binary_with_user;
use crate::voices::recording;

const ENV: [(&str, &str); 2] = [
    ("VOICEGATE_JOBS__LEASE_MS", "1000"),
    ("VOICEGATE_JOBS__POLL_MS", "100"),
];

/// A recording upload as raw HTTP: the head, and the multipart body.
fn raw_upload(api: &Api, account: &str, sentence: &str, wav: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let boundary = "fault-test-boundary-7d1e";
    let data = json!({"account_id": account, "sentence": sentence}).to_string();
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{data}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.wav\"\r\n\
         Content-Type: audio/wav\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(wav);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let head = format!(
        "POST /api/v1/external/recording/save/ HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {}\r\n\r\n",
        api.base.trim_start_matches("http://"),
        api.token,
        body.len()
    );
    (head.into_bytes(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_killed_with_the_process_lose_nothing_acknowledged() {
    let bin = binary_with_user("ann", "ann-password-1").await;
    let mut server = bin.serve(&ENV).await;
    let api = Api::login(&server.base, "ann", "ann-password-1").await;
    let account = api.account().await;
    let files: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| (sentence(i), recording(&sentence(i), 30 + 5 * i as u32, 0.0)))
        .collect();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    for (text, wav) in &files[..4] {
        let response = api.upload(&account, text, wav.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        acknowledged
            .lock()
            .unwrap()
            .push((text.clone(), sha256_hex(wav)));
    }
    // One upload trickles in: its head and half its body, in parts.
    let (trickled_text, trickled_wav) = files[11].clone();
    let (head, body) = raw_upload(&api, &account, &trickled_text, &trickled_wav);
    let mut slow = tokio::net::TcpStream::connect(api.base.trim_start_matches("http://"))
        .await
        .unwrap();
    slow.write_all(&head).await.unwrap();
    for part in body[..body.len() / 2].chunks(body.len() / 8) {
        slow.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // Others keep coming while the process is killed.
    let loop_api = Api {
        base: api.base.clone(),
        token: api.token.clone(),
    };
    let (loop_account, loop_files, loop_acks) =
        (account.clone(), files[4..11].to_vec(), acknowledged.clone());
    let uploads = tokio::spawn(async move {
        for (text, wav) in loop_files {
            match loop_api.upload(&loop_account, &text, wav.clone()).await {
                Ok(response) if response.status() == StatusCode::OK => {
                    loop_acks.lock().unwrap().push((text, sha256_hex(&wav)));
                }
                _ => break,
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() < 6 {
        assert!(Instant::now() < deadline, "uploads stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = kill(&mut server).await;
    uploads.await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), slow.read_to_end(&mut rest)).await;
    assert!(
        !String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 200"),
        "the trickled upload was not acknowledged"
    );
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() < 11, "killed before every upload ended");

    // On disk, before any restart: the database is sound and has what was acknowledged.
    let data = bin.data_dir.clone();
    assert_eq!(integrity(&data), "ok");
    let rows = recording_rows(&data);
    for ack in &acknowledged {
        assert!(rows.contains(ack), "acknowledged {ack:?} is missing");
    }
    assert!(rows.iter().all(|(text, _)| *text != trickled_text));
    // A write cut short by the kill leaves a temporary file named by the dead process.
    let orphan = data.join("blobs/00").join(format!(".tmp-{pid}-cut-short"));
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, &trickled_wav[..1000]).unwrap();

    let server = bin.serve(&ENV).await;
    let api = Api::login(&server.base, "ann", "ann-password-1").await;
    assert_eq!(temporaries(&data), Vec::<std::path::PathBuf>::new());
    let listed = api.sentences(&account).await;
    assert_eq!(
        listed,
        rows.len() as i64,
        "every stored recording is listed"
    );
    assert!(listed >= acknowledged.len() as i64);
    // Every row's file is there and whole, and is the bytes acknowledged.
    assert_eq!(assert_blobs_whole(&data), rows.len());
    for (_, blob) in &rows {
        let file = data.join("blobs").join(&blob[..2]).join(blob);
        assert_eq!(sha256_hex(&std::fs::read(file).unwrap()), *blob);
    }
    // The server takes the upload that was cut short, whole this time.
    let again = api
        .upload(&account, &trickled_text, trickled_wav.clone())
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(api.sentences(&account).await, listed + 1);
    let (clean, _) = server.terminate().await;
    assert!(clean);
    assert_eq!(integrity(&data), "ok");
}

/// The build's status in the database, and its job's (status, attempts).
fn build_state(data: &std::path::Path) -> (String, Option<(String, i64)>) {
    let db = read_only(data);
    let status: String = db
        .query_row("SELECT status FROM voice_builds", [], |row| row.get(0))
        .unwrap();
    let job = db
        .query_row(
            "SELECT status, attempts FROM jobs WHERE kind = 'voice_build'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .ok();
    (status, job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_killed_with_the_process_completes_after_a_restart() {
    let bin = binary_with_user("ann", "ann-password-1").await;
    let mut server = bin.serve(&ENV).await;
    let api = Api::login(&server.base, "ann", "ann-password-1").await;
    let account = api.account().await;
    for i in 0..6 {
        let text = sentence(i);
        let response = api
            .upload(&account, &text, recording(&text, 60, 0.0))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let body: Value = api
        .post_json(
            "/api/v1/external/build/new/",
            json!({"account_id": account}),
        )
        .await
        .json()
        .await
        .unwrap();
    let build = body["build_id"].as_str().unwrap().to_string();
    let data = bin.data_dir.clone();
    // Killed once a worker runs the build.
    let deadline = Instant::now() + Duration::from_secs(20);
    while build_state(&data)
        .1
        .is_none_or(|(status, _)| status != "running")
    {
        assert!(Instant::now() < deadline, "the build never ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill(&mut server).await;
    assert_eq!(integrity(&data), "ok");
    let (status, job) = build_state(&data);
    assert_eq!(status, "PENDING", "killed while the build ran");
    assert_eq!(job, Some(("running".to_string(), 1)));

    let server = bin.serve(&ENV).await;
    let api = Api::login(&server.base, "ann", "ann-password-1").await;
    let deadline = Instant::now() + Duration::from_secs(40);
    let entry = loop {
        let list = api
            .json(&format!("/api/v1/external/build/status/?build_id={build}"))
            .await;
        if list[0]["status"] != "PENDING" {
            break list[0].clone();
        }
        assert!(Instant::now() < deadline, "the build stayed pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(entry["status"], "COMPLETE", "{entry}");
    // One voice: the killed run stored none, the second run one.
    let voices = api.json("/api/v1/external/voices/list/").await;
    let built: Vec<&Value> = voices["voices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["account_id"] == account.as_str())
        .collect();
    assert_eq!(built.len(), 1, "{voices}");
    let (status, job) = build_state(&data);
    assert_eq!(status, "COMPLETE");
    assert_eq!(job, Some(("done".to_string(), 2)));
    let (clean, _) = server.terminate().await;
    assert!(clean);
    assert_eq!(integrity(&data), "ok");
    assert_eq!(temporaries(&data), Vec::<std::path::PathBuf>::new());
}
