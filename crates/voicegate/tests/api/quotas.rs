//! Per-user quotas (voice accounts, recordings by count and bytes, devices, API keys, named
//! tokens, OAuth clients) and the bound on WAV decodes at once: what is refused, with which
//! status and error, and that a refusal stores nothing.

use std::path::Path;

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use speech::Audio;
use speech::wav::encode_wav;
use testkit::{Binary, CliOutput, TestServer};

use crate::support::{client, error_body, tokens};

/// A WAV file of `seconds` of a tone at `hz` (16 kHz, 16-bit): distinct bytes for each tone.
fn tone(seconds: f32, hz: f32) -> Vec<u8> {
    let rate = 16_000;
    let samples = (0..(seconds * rate as f32) as usize)
        .map(|i| 0.3 * (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin())
        .collect();
    encode_wav(&Audio {
        sample_rate: rate,
        samples,
    })
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Asserts a quota refusal: `status`, `code`, and a detail naming the quota's key.
async fn refused(response: reqwest::Response, status: StatusCode, code: &str, key: &str) -> Value {
    let (error, body) = error_body(response, status).await;
    assert_eq!(error, code, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(key), "{detail}");
    body
}

/// A server with the user alice logged in.
struct Quotas {
    server: TestServer,
    token: String,
}

impl Quotas {
    async fn start(adjust: impl FnOnce(&mut voicegate::config::Config)) -> Self {
        let server = TestServer::start_with(adjust).await;
        server.add_user("alice", "alice-password-1").await;
        let (token, _) = tokens(&server, "alice", "alice-password-1").await;
        Self { server, token }
    }

    async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        client()
            .post(self.server.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A new voice account of alice's.
    async fn account(&self) -> String {
        let response = self
            .post_json(
                "/api/v1/external/account/register/",
                json!({"gender": "female", "age": 30}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["account_id"].as_str().unwrap().to_string()
    }

    async fn device(&self) -> reqwest::Response {
        self.post_json("/api/v1/external/device/register/", json!({}))
            .await
    }

    /// Rows of `table` (a table name of this file's own).
    async fn rows(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(self.server.state.db.pool())
            .await
            .unwrap()
    }

    /// Files in the blob store.
    fn blob_files(&self) -> usize {
        walk(&self.server.data_dir.path().join("blobs"))
    }

    async fn upload(&self, account: &str, wav: Vec<u8>) -> reqwest::Response {
        let data = json!({"account_id": account, "sentence": "a tone"});
        let form = Form::new().text("data", data.to_string()).part(
            "file",
            Part::bytes(wav)
                .file_name("r.wav")
                .mime_str("audio/wav")
                .unwrap(),
        );
        client()
            .post(self.server.url("/api/v1/external/recording/save/"))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_arriving_together_are_decoded_one_at_a_time_with_one_slot() {
    let q = Quotas::start(|c| c.voices.max_concurrent_decodes = 1).await;
    let account = q.account().await;
    let uploads = (0..4).map(|i| q.upload(&account, tone(20.0, 200.0 + 10.0 * i as f32)));
    for response in futures_util::future::join_all(uploads).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(q.server.state.voices.decode_peak(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_accounts_and_devices_stop_at_the_users_quota_with_429() {
    let q = Quotas::start(|c| {
        c.quotas.voice_accounts_per_user = 2;
        c.quotas.devices_per_user = 2;
    })
    .await;
    q.account().await;
    q.account().await;
    let response = q
        .post_json(
            "/api/v1/external/account/register/",
            json!({"gender": "male", "age": 40}),
        )
        .await;
    refused(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
        "quotas.voice_accounts_per_user",
    )
    .await;
    for _ in 0..2 {
        assert_eq!(q.device().await.status(), StatusCode::OK);
    }
    refused(
        q.device().await,
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
        "quotas.devices_per_user",
    )
    .await;
    assert_eq!(q.rows("voice_accounts").await, 2);
    assert_eq!(q.rows("voice_devices").await, 2);
    // The quota is the user's: another user starts from nothing.
    q.server.add_user("bob", "bob-password-12").await;
    let bob = Quotas {
        token: tokens(&q.server, "bob", "bob-password-12").await.0,
        server: q.server,
    };
    bob.account().await;
    assert_eq!(bob.device().await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_stop_at_the_accounts_quota_and_a_refused_one_leaves_nothing() {
    let q = Quotas::start(|c| c.quotas.recordings_per_account = 2).await;
    let (first, second) = (q.account().await, q.account().await);
    for hz in [300.0, 310.0] {
        assert_eq!(
            q.upload(&first, tone(1.0, hz)).await.status(),
            StatusCode::OK
        );
    }
    let body = refused(
        q.upload(&first, tone(1.0, 320.0)).await,
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
        "quotas.recordings_per_account",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("has 2 recordings"),
        "{body}"
    );
    assert_eq!(q.rows("voice_recordings").await, 2);
    assert_eq!(q.blob_files(), 2);
    // Another account of the same user has its own count.
    assert_eq!(
        q.upload(&second, tone(1.0, 320.0)).await.status(),
        StatusCode::OK
    );
    assert_eq!(q.rows("voice_recordings").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_at_the_same_time_do_not_pass_the_quota() {
    let q = Quotas::start(|c| {
        c.quotas.recordings_per_account = 3;
        c.voices.max_concurrent_decodes = 4;
    })
    .await;
    let account = q.account().await;
    let uploads = (0..8).map(|i| q.upload(&account, tone(2.0, 400.0 + 10.0 * i as f32)));
    let mut statuses: Vec<u16> = futures_util::future::join_all(uploads)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429, 429, 429]);
    assert_eq!(q.rows("voice_recordings").await, 3);
    assert_eq!(q.blob_files(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_past_the_users_bytes_get_507_and_earlier_ones_are_measured_at_start() {
    let one_second = tone(1.0, 500.0).len() as u64;
    let mut q = Quotas::start(|c| c.quotas.recording_bytes_per_user = 3 * one_second + 10).await;
    let (first, second) = (q.account().await, q.account().await);
    // The bytes are the user's, over its accounts.
    assert_eq!(
        q.upload(&first, tone(1.0, 500.0)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        q.upload(&second, tone(1.0, 510.0)).await.status(),
        StatusCode::OK
    );
    refused(
        q.upload(&second, tone(2.0, 520.0)).await,
        StatusCode::INSUFFICIENT_STORAGE,
        "insufficient_storage",
        "quotas.recording_bytes_per_user",
    )
    .await;
    assert_eq!((q.rows("voice_recordings").await, q.blob_files()), (2, 2));
    // A smaller file still fits.
    assert_eq!(
        q.upload(&first, tone(1.0, 530.0)).await.status(),
        StatusCode::OK
    );
    refused(
        q.upload(&first, tone(1.0, 540.0)).await,
        StatusCode::INSUFFICIENT_STORAGE,
        "insufficient_storage",
        "quotas.recording_bytes_per_user",
    )
    .await;
    assert_eq!((q.rows("voice_recordings").await, q.blob_files()), (3, 3));
    // Recordings stored before sizes were kept count too, once the server has measured them.
    sqlx::query("UPDATE voice_recordings SET bytes = NULL")
        .execute(q.server.state.db.pool())
        .await
        .unwrap();
    q.server.restart().await;
    q.token = tokens(&q.server, "alice", "alice-password-1").await.0;
    let without_size: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM voice_recordings WHERE bytes IS NULL")
            .fetch_one(q.server.state.db.pool())
            .await
            .unwrap();
    assert_eq!(without_size, 0);
    refused(
        q.upload(&first, tone(1.0, 540.0)).await,
        StatusCode::INSUFFICIENT_STORAGE,
        "insufficient_storage",
        "quotas.recording_bytes_per_user",
    )
    .await;
    assert_eq!(q.rows("voice_recordings").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alias_tokens_stop_at_the_users_quota_in_the_consoles_error_shape() {
    let server = TestServer::start_with(|c| c.quotas.named_tokens_per_user = 2).await;
    server.add_user("alice", "alice-password-1").await;
    let login = client()
        .post(server.url("/v1/user/auth"))
        .json(&json!({"email": "alice", "password": "alice-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let pre_auth = login.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = login.json().await.unwrap();
    let path = format!(
        "/v1/user/{}/accesstoken",
        body["user"]["id"].as_str().unwrap()
    );
    let create = |alias: String| {
        client()
            .post(server.url(&path))
            .header("authorization", &pre_auth)
            .json(&json!({ "alias": alias }))
            .send()
    };
    // Six at once: the count and the insert are one statement, so exactly two are made.
    let answers =
        futures_util::future::join_all((0..6).map(|i| create(format!("alias-{i}")))).await;
    let mut statuses = Vec::new();
    let mut refusal = None;
    for answer in answers {
        let answer = answer.unwrap();
        statuses.push(answer.status().as_u16());
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            refusal = Some(answer);
        }
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 429, 429, 429, 429]);
    let body = refused(
        refusal.unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
        "quotas.named_tokens_per_user",
    )
    .await;
    assert_eq!(
        body["message"], body["detail"],
        "the console's shape: {body}"
    );
    let made = server
        .state
        .identity
        .list_named_tokens(Some("alice"))
        .await
        .unwrap();
    assert_eq!(made.len(), 2);
    // Revoking one makes room for another.
    let revoked = client()
        .delete(server.url(&format!("{path}/{}", made[0].alias)))
        .header("authorization", &pre_auth)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        create("alias-again".into()).await.unwrap().status(),
        StatusCode::CREATED
    );
}

/// Runs the CLI with the configuration file `config`.
async fn cli(bin: &Binary, config: &Path, args: &[&str], stdin: &str) -> CliOutput {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    bin.run(&all, stdin).await
}

#[tokio::test]
async fn the_cli_is_held_to_the_credential_quotas_too() {
    let bin = Binary::new(env!("CARGO_BIN_EXE_voicegate"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("voicegate.toml");
    std::fs::write(
        &config,
        "[quotas]\napi_keys_per_user = 1\nnamed_tokens_per_user = 1\noauth_clients_per_user = 1\n",
    )
    .unwrap();
    let add_user = ["user", "add", "ovos", "--password-stdin"];
    let out = cli(&bin, &config, &add_user, "change-me-now\n").await;
    assert!(out.success, "{}", out.stderr);
    let add_client = [
        "client",
        "add",
        "--name",
        "Home Assistant",
        "--owner",
        "ovos",
        "--grant",
        "client_credentials",
    ];
    // One of each is made...
    let key = cli(
        &bin,
        &config,
        &["apikey", "add", "--user", "ovos", "--json"],
        "",
    )
    .await;
    assert!(key.success, "{}", key.stderr);
    for args in [&["token", "create", "ovos", "kitchen"][..], &add_client] {
        let out = cli(&bin, &config, args, "").await;
        assert!(out.success, "{}", out.stderr);
    }
    // ...and a second one of each is refused, naming its quota.
    for (args, quota) in [
        (
            &["apikey", "add", "--user", "ovos"][..],
            "quotas.api_keys_per_user",
        ),
        (
            &["token", "create", "ovos", "garage"],
            "quotas.named_tokens_per_user",
        ),
        (&add_client, "quotas.oauth_clients_per_user"),
    ] {
        let out = cli(&bin, &config, args, "").await;
        assert!(!out.success, "{quota}: {}", out.stdout);
        assert!(out.stderr.contains(quota), "{}", out.stderr);
    }
    // Removing a key makes room for another; nothing else was made.
    let key: Value = serde_json::from_str(&key.stdout).unwrap();
    let remove = ["apikey", "remove", key["api_key"].as_str().unwrap()];
    let out = cli(&bin, &config, &remove, "").await;
    assert!(out.success, "{}", out.stderr);
    let out = cli(&bin, &config, &["apikey", "add", "--user", "ovos"], "").await;
    assert!(out.success, "{}", out.stderr);
    let listed = cli(&bin, &config, &["client", "list", "--json"], "").await;
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

/// Speakers sessions and assistants stop at their limits: the sessions one user may have open
/// (429 `too_many_sessions`), the assistants one user may have (429 `quota_exceeded`), the body
/// a dataset may take (413); nothing is created past them, and a closed session makes room.
#[tokio::test]
async fn sessions_and_assistants_stop_at_their_limits() {
    let server = TestServer::start_with(|c| {
        c.speakers.max_sessions_per_user = 2;
        c.assistants.max_per_user = 1;
        c.assistants.body_limit = 4096;
    })
    .await;
    server.add_user("ann", "ann-password-1").await;
    let (token, _) = tokens(&server, "ann", "ann-password-1").await;
    let http = client();
    let init = || {
        http.get(server.url("/api/v1/init_session"))
            .bearer_auth(&token)
            .send()
    };
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let opened = init().await.unwrap();
        assert_eq!(opened.status(), StatusCode::OK);
        let body: Value = opened.json().await.unwrap();
        sessions.push(body["SessionToken"].as_str().unwrap().to_owned());
    }
    let refused = init().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many_sessions", "{body}");
    assert_eq!(body["Result"], "false", "{body}");
    let closed = http
        .get(server.url(&format!(
            "/api/v1/close_session?SessionToken={}",
            sessions[0]
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), StatusCode::OK);
    assert_eq!(init().await.unwrap().status(), StatusCode::OK);

    let create = |body: Vec<u8>| {
        http.post(server.url("/v3/assistant"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let dataset = |title: &str| {
        serde_json::to_vec(&json!({"title": title, "dataset": crate::assistants::home_dataset()}))
            .unwrap()
    };
    let mut big = dataset("big");
    assert!(big.len() < 4096, "the dataset alone fits the limit");
    big.splice(
        1..1,
        format!("\"padding\":\"{}\",", "x".repeat(4096)).into_bytes(),
    );
    let too_large = create(big).await.unwrap();
    let (_, body) = error_body(too_large, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(body["error"], "payload_too_large", "{body}");
    assert_eq!(
        create(dataset("first")).await.unwrap().status(),
        StatusCode::CREATED
    );
    let over = create(dataset("second")).await.unwrap();
    let (_, body) = error_body(over, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["error"], "quota_exceeded", "{body}");
    let listed: Value = http
        .get(server.url("/v3/assistant"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let titles: Vec<&str> = listed["assistants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["first"]);
}
