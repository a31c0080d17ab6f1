//! The disk filling up under the server: the data directory on a small tmpfs (mounted when the
//! test runs as root; skipped with the reason otherwise), filled through the API until writes
//! fail. A write that does not fit answers 507 `insufficient_storage` (never 500 or 503), what
//! was stored before stays listed and whole, and once space is freed writes succeed again with
//! no restart.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::assistants::home_dataset;
use crate::faults_support::{
    Api, assert_blobs_whole, integrity, recording_rows, sentence, sha256_hex, temporaries,
};
use crate::support::error_body;
use crate::voices::recording;

/// A tmpfs mounted on a fresh folder, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount` reads it: `8m`); the reason when it cannot.
    fn mount(size: &str) -> Result<Self, String> {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
            })
            .unwrap_or_default();
        if uid != "0" {
            return Err(format!("not running as root (uid {uid:?})"));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the disk is full (at most `limit` bytes); answers the bytes written.
fn fill(path: &Path, limit: usize) -> usize {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut written = 0;
    while written < limit {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
                break;
            }
        }
    }
    written
}

/// A valid dataset of about `rooms` × 60 bytes.
fn big_dataset(rooms: usize) -> Value {
    let mut dataset = home_dataset();
    let values: Vec<Value> = (0..rooms)
        .map(|i| json!({"value": format!("room number {i} of the long east wing"), "synonyms": []}))
        .collect();
    dataset["entities"]["room"]["data"] = Value::Array(values);
    dataset
}

async fn assert_disk_full(response: reqwest::Response) {
    let (code, body) = error_body(response, StatusCode::INSUFFICIENT_STORAGE).await;
    assert_eq!(code, "insufficient_storage");
    assert!(
        body["detail"].as_str().unwrap().contains("disk is full"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_507_keeps_what_was_stored_and_recovers() {
    let mount = match Tmpfs::mount("8m") {
        Ok(mount) => mount,
        Err(reason) => {
            let _ = writeln!(std::io::stderr(), "disk-full test skipped: {reason}");
            return;
        }
    };
    let mut bin = testkit::Binary::new(env!("CARGO_BIN_EXE_voicegate"));
    bin.data_dir = mount.path().join("data");
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
    // Room to give back later, then recordings until one does not fit.
    let filler: PathBuf = mount.path().join("filler");
    fill(&filler, 3 * 1024 * 1024);
    let mut stored = Vec::new();
    let refused = loop {
        assert!(stored.len() < 60, "the disk never filled");
        let text = sentence(stored.len());
        let wav = recording(&text, 20 + stored.len() as u32, 0.0);
        let response = api.upload(&account, &text, wav.clone()).await.unwrap();
        if response.status() != StatusCode::OK {
            break response;
        }
        stored.push((text, sha256_hex(&wav)));
    };
    assert!(stored.len() >= 3, "{} recordings fitted", stored.len());
    assert_disk_full(refused).await;
    // The last bytes taken too: now the database cannot grow either.
    let rest = mount.path().join("rest");
    fill(&rest, 8 * 1024 * 1024);
    let mut created = 0;
    let refused = loop {
        assert!(created < 20, "the database never filled");
        let response = api
            .post_json(
                "/v3/assistant",
                json!({"title": format!("big {created}"), "dataset": big_dataset(4000)}),
            )
            .await;
        if response.status() != StatusCode::CREATED {
            break response;
        }
        created += 1;
    };
    assert_disk_full(refused).await;
    // Other writes (a login stores its refresh token, a voice account its row) fit or answer
    // 507, nothing else.
    let writes = [
        crate::support::login(&api.base, "ann", "ann-password-1").await,
        api.post_json(
            "/api/v1/external/account/register/",
            json!({"gender": "male", "age": "40"}),
        )
        .await,
    ];
    let statuses: Vec<u16> = writes.iter().map(|r| r.status().as_u16()).collect();
    let _ = writeln!(
        std::io::stderr(),
        "disk full after {} recordings and {created} assistants; then login and account: \
         {statuses:?}",
        stored.len()
    );
    for response in writes {
        if response.status() != StatusCode::OK {
            assert_disk_full(response).await;
        }
    }
    // What was stored before is listed and whole; reads work on the full disk.
    assert_eq!(api.sentences(&account).await, stored.len() as i64);
    let data = bin.data_dir.clone();
    assert_eq!(recording_rows(&data), stored);
    assert_eq!(assert_blobs_whole(&data), stored.len());
    assert_eq!(integrity(&data), "ok");
    assert_eq!(temporaries(&data), Vec::<PathBuf>::new());

    // Space comes back: writes work again, with no restart.
    std::fs::remove_file(&rest).unwrap();
    std::fs::remove_file(&filler).unwrap();
    let text = sentence(stored.len());
    let response = api
        .upload(&account, &text, recording(&text, 80, 0.0))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = api
        .post_json(
            "/v3/assistant",
            json!({"title": "after", "dataset": big_dataset(100)}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(api.sentences(&account).await, stored.len() as i64 + 1);
    let (clean, _) = server.terminate().await;
    assert!(clean);
    assert_eq!(integrity(&data), "ok");
}
