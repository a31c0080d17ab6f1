//! What the fault tests share: a user's API session on the voices surface, and the data
//! directory read as it lies on disk (the database opened read-only, the blob files hashed).

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{client, login};

/// A logged-in user of a server.
pub struct Api {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The user's access token.
    pub token: String,
}

impl Api {
    /// Logs `user` in.
    pub async fn login(base: &str, user: &str, password: &str) -> Self {
        let response = login(base, user, password).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        Self {
            base: base.to_string(),
            token: body["access_token"].as_str().unwrap().to_string(),
        }
    }

    /// POSTs JSON.
    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        client()
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// GETs, asserting 200, and answers the JSON.
    pub async fn json(&self, path: &str) -> Value {
        let response = client()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.unwrap()
    }

    /// Registers a voice account and answers its id.
    pub async fn account(&self) -> String {
        let response = self
            .post_json(
                "/api/v1/external/account/register/",
                json!({"gender": "female", "age": "30"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["account_id"].as_str().unwrap().to_string()
    }

    /// Uploads a recording; the raw answer (an error when the connection fails).
    pub async fn upload(
        &self,
        account: &str,
        sentence: &str,
        wav: Vec<u8>,
    ) -> reqwest::Result<reqwest::Response> {
        let form = Form::new()
            .text(
                "data",
                json!({"account_id": account, "sentence": sentence}).to_string(),
            )
            .part(
                "file",
                Part::bytes(wav)
                    .file_name("r.wav")
                    .mime_str("audio/wav")
                    .unwrap(),
            );
        client()
            .post(format!("{}/api/v1/external/recording/save/", self.base))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
    }

    /// `account/info`'s count of sentences recorded.
    pub async fn sentences(&self, account: &str) -> i64 {
        self.json(&format!(
            "/api/v1/external/account/info/?account_id={account}"
        ))
        .await["sentences_recorded"]
            .as_i64()
            .unwrap()
    }
}

/// The `i`th test sentence (each different, each long enough for a level check).
pub fn sentence(i: usize) -> String {
    const WORDS: [&str; 8] = [
        "river", "morning", "garden", "window", "yellow", "quiet", "number", "travel",
    ];
    format!(
        "Recording number {i} is about the {} {} near the {} today.",
        WORDS[i % 8],
        WORDS[(i / 8 + 3) % 8],
        WORDS[(i + 5) % 8]
    )
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The database of `data_dir`, opened read-only.
pub fn read_only(data_dir: &Path) -> Connection {
    Connection::open_with_flags(
        data_dir.join("voicegate.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap()
}

/// `PRAGMA integrity_check` of the database of `data_dir`, opened read-only.
pub fn integrity(data_dir: &Path) -> String {
    read_only(data_dir)
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// The recordings' rows: (sentence, blob), in insertion order.
pub fn recording_rows(data_dir: &Path) -> Vec<(String, String)> {
    let db = read_only(data_dir);
    let mut statement = db
        .prepare("SELECT sentence, blob FROM voice_recordings ORDER BY id")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(files_under(&path));
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The temporary files and folders (`.tmp-…`) anywhere under `dir`.
pub fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                found.push(path);
            } else if path.is_dir() {
                found.extend(temporaries(&path));
            }
        }
    }
    found
}

/// Asserts that every blob file is whole: its content hashes to its name.
pub fn assert_blobs_whole(data_dir: &Path) -> usize {
    let blobs = files_under(&data_dir.join("blobs"));
    for file in &blobs {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            sha256_hex(&std::fs::read(file).unwrap()),
            name,
            "{} is not whole",
            file.display()
        );
    }
    blobs.len()
}

/// Kills the server with SIGKILL and waits for it; answers its pid.
pub async fn kill(server: &mut testkit::ServeProcess) -> u32 {
    let pid = server.child.id().expect("a running server");
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    pid
}
