//! Per-user quotas (voice accounts, recordings by count and bytes, devices, API keys, named
//! tokens, OAuth clients) and the bound on WAV decodes at once: what is refused, with which
//! status and error, and that a refusal stores nothing.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use speech::Audio;
use speech::wav::encode_wav;
use testkit::TestServer;

use crate::support::{client, tokens};

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
