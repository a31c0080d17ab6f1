//! `voicegate backup FILE` taken from a server under write load, and `voicegate restore FILE`
//! into a fresh data directory: a server started on it serves everything acknowledged before
//! the backup started (recordings whole by their hash, the trained assistant, the keys: a token
//! of the first server still works), and the database passes its integrity check. A restore
//! refuses a running server's directory, and one that holds data, unless told.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::assistants::{home_dataset, train_and_wait};
use crate::faults_support::{
    Api, assert_blobs_whole, integrity, recording_rows, sentence, sha256_hex, temporaries,
};
use crate::support::binary_with_user;
use crate::voices::recording;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_everything_acknowledged_before_it() {
    let bin = binary_with_user("ann", "ann-password-1").await;
    let server = bin.serve(&[]).await;
    let api = Api::login(&server.base, "ann", "ann-password-1").await;
    let account = api.account().await;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    for i in 0..4 {
        let (text, wav) = (
            sentence(i),
            recording(&sentence(i), 30 + 10 * i as u32, 0.0),
        );
        let response = api.upload(&account, &text, wav.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        acknowledged.lock().unwrap().push((text, sha256_hex(&wav)));
    }
    let created = api
        .post_json("/v3/assistant", json!({"dataset": home_dataset()}))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let assistant = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let trained = train_and_wait(&api.base, &api.token, &assistant, Duration::from_secs(60)).await;
    assert_eq!(trained["nluStatus"]["needTraining"], false, "{trained}");

    let inside = bin.data_dir.join("blobs/in.backup");
    let out = bin.run(&["backup", inside.to_str().unwrap()], "").await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("inside the data directory"),
        "{}",
        out.stderr
    );
    assert!(!inside.exists());

    // Writes keep coming (recordings, voice accounts) while the backup runs.
    let files: Vec<(String, Vec<u8>)> = (10..40)
        .map(|i| (sentence(i), recording(&sentence(i), 20 + i as u32, 0.0)))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (load_api, load_account, load_acks, load_stop) = (
        Api {
            base: api.base.clone(),
            token: api.token.clone(),
        },
        account.clone(),
        acknowledged.clone(),
        stop.clone(),
    );
    let load = tokio::spawn(async move {
        let mut writes = 0;
        for (text, wav) in files {
            if load_stop.load(Ordering::SeqCst) {
                break;
            }
            let response = load_api.upload(&load_account, &text, wav.clone()).await;
            assert_eq!(response.unwrap().status(), StatusCode::OK);
            load_acks.lock().unwrap().push((text, sha256_hex(&wav)));
            load_api.account().await;
            writes += 2;
        }
        writes
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_backup = acknowledged.lock().unwrap().clone();
    let file = bin.work_dir.path().join("voicegate.backup");
    let started = Instant::now();
    let out = bin.run(&["backup", file.to_str().unwrap()], "").await;
    let took = started.elapsed();
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.starts_with("backed up "), "{}", out.stdout);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let writes = load.await.unwrap();
    let during = acknowledged.lock().unwrap().len() - before_backup.len();
    assert!(during > 0, "writes went on during the backup ({took:?})");
    assert!(writes > 0);
    assert_eq!(temporaries(&bin.data_dir), Vec::<std::path::PathBuf>::new());

    // A running server's directory, and one that holds data, are refused.
    let out = bin.run(&["restore", file.to_str().unwrap()], "").await;
    assert!(!out.success);
    assert!(out.stderr.contains("server is running"), "{}", out.stderr);
    let token = api.token.clone();
    let (clean, _) = server.terminate().await;
    assert!(clean);
    let out = bin.run(&["restore", file.to_str().unwrap()], "").await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("holds a database already"),
        "{}",
        out.stderr
    );

    let fresh = testkit::Binary::new(env!("CARGO_BIN_EXE_voicegate"));
    let out = fresh.run(&["restore", file.to_str().unwrap()], "").await;
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.starts_with("restored "), "{}", out.stdout);
    let data = fresh.data_dir.clone();
    assert_eq!(integrity(&data), "ok");
    let rows = recording_rows(&data);
    for ack in &before_backup {
        assert!(
            rows.contains(ack),
            "{ack:?} acknowledged before the backup is missing"
        );
    }
    // Every row has its file, whole. (Files may be more: a recording's file is written before
    // its row commits, so one whose row came after the snapshot can be in the backup, unnamed.)
    let whole = assert_blobs_whole(&data);
    for (_, blob) in &rows {
        assert!(data.join("blobs").join(&blob[..2]).join(blob).is_file());
    }
    assert!(whole >= rows.len());

    let server = fresh.serve(&[]).await;
    // The keys came back: the first server's token works here.
    let api = Api {
        base: server.base.clone(),
        token,
    };
    assert_eq!(api.sentences(&account).await, rows.len() as i64);
    let parsed = api
        .post_json(
            &format!("/v3/assistant/{assistant}/parse"),
            json!({"text": "turn on the lights in the kitchen"}),
        )
        .await;
    assert_eq!(parsed.status(), StatusCode::OK);
    let parsed: Value = parsed.json().await.unwrap();
    assert_eq!(parsed["intent"]["intentName"], "turnLightOn", "{parsed}");
    let more = sentence(99);
    let response = api
        .upload(&account, &more, recording(&more, 50, 0.0))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.sentences(&account).await, rows.len() as i64 + 1);
    // Told to, a restore goes under the running server: the database is the backup's again
    // (the recording since is gone from it) once the server starts again.
    let out = fresh
        .run(&["restore", file.to_str().unwrap(), "--force"], "")
        .await;
    assert!(out.success, "{}", out.stderr);
    let (clean, _) = server.terminate().await;
    assert!(clean);
    assert_eq!(integrity(&data), "ok");
    assert_eq!(recording_rows(&data), rows);
    let server = fresh.serve(&[]).await;
    let api = Api::login(&server.base, "ann", "ann-password-1").await;
    assert_eq!(api.sentences(&account).await, rows.len() as i64);
    let (clean, _) = server.terminate().await;
    assert!(clean);
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr(),
        format_args!(
            "backup under load: {took:?}, {} recordings before it, {during} during or after\n",
            before_backup.len()
        ),
    );
}
