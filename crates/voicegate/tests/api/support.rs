//! Helpers shared by the test modules.

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use testkit::TestServer;

/// A plain HTTP client.
pub fn client() -> Client {
    voicegate::install_tls_provider();
    Client::new()
}

/// The real binary on a fresh data directory with one user made by its CLI.
pub async fn binary_with_user(name: &str, password: &str) -> testkit::Binary {
    let bin = testkit::Binary::new(env!("CARGO_BIN_EXE_voicegate"));
    let out = bin
        .run(
            &["user", "add", name, "--password-stdin"],
            &format!("{password}\n"),
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    bin
}

/// Logs in and returns the raw response.
pub async fn login(server_base: &str, user: &str, password: &str) -> Response {
    client()
        .post(format!("{server_base}/v1/auth/tokens"))
        .json(&json!({"user": user, "password": password}))
        .send()
        .await
        .expect("login request")
}

/// Logs in, asserts 200, and returns (access, refresh).
pub async fn tokens(server: &TestServer, user: &str, password: &str) -> (String, String) {
    let response = login(&server.base, user, password).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    (
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string(),
        body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_string(),
    )
}

/// GET with a bearer token.
pub async fn get_bearer(url: String, token: &str) -> Response {
    client()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// Asserts that `secret` is nowhere in the database files of `data_dir` (the database and its
/// write-ahead log): what is stored is a hash, never the value.
pub fn assert_not_stored(data_dir: &std::path::Path, secret: &str) {
    assert!(secret.len() >= 16, "a secret long enough to search for");
    for file in ["voicegate.db", "voicegate.db-wal"] {
        let bytes = std::fs::read(data_dir.join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is stored in {file}"
        );
    }
}

/// Asserts that `secret` is nowhere in what a test server's database holds, as text or as the
/// hex of its bytes (SQLite's files, or PostgreSQL's dump).
pub async fn assert_not_stored_by(server: &testkit::TestServer, secret: &str) {
    assert!(secret.len() >= 16, "a secret long enough to search for");
    let bytes = server.stored_bytes().await;
    assert!(
        bytes.len() > 1000,
        "the store was read ({} bytes)",
        bytes.len()
    );
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    for needle in [secret.as_bytes(), hex.as_bytes()] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the secret is stored"
        );
    }
}

/// The field names of a JSON object, sorted.
pub fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// Asserts the server's JSON error shape and returns (error code, body).
pub async fn error_body(response: Response, status: StatusCode) -> (String, Value) {
    assert_eq!(response.status(), status);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
    );
    let body: Value = response.json().await.expect("json error body");
    assert!(body["detail"].is_string(), "detail missing in {body}");
    (
        body["error"].as_str().expect("error code").to_string(),
        body,
    )
}
