//! What the speakers tests share: the HK Omni requests, waiting for the speakers to be
//! listed and for a playback to end, and the loudness each speaker wrote since a point.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use testkit::{Snapclient, Snapserver, TestServer};
use voicegate::config::{Config, SpeakerBackendKind};

use crate::support::{client, tokens};

/// A server whose speakers are a snapserver's clients, a user's token, and a session of hers
/// with the speakers listed.
pub struct HkSession {
    /// The server.
    pub server: TestServer,
    /// Ana's token.
    pub token: String,
    /// Her session.
    pub session: String,
    /// The DeviceIDs, in the server's order.
    pub ids: Vec<String>,
}

impl HkSession {
    /// A server over `snap` playing into its first source only (buffer 300 ms), with `adjust`
    /// applied, once it lists `count` active devices.
    pub async fn start(snap: &Snapserver, count: usize, adjust: impl FnOnce(&mut Config)) -> Self {
        let address = snap.control_address();
        let stream = format!("S1=tcp://127.0.0.1:{}", snap.sources[0].1);
        let server = TestServer::start_with(|config| {
            config.speakers.backend = SpeakerBackendKind::Snapcast;
            config.speakers.snapcast_control = address;
            config.speakers.snapcast_streams = vec![stream];
            config.speakers.buffer_ms = 300;
            adjust(config);
        })
        .await;
        server.add_user("ana", "ana-password-1").await;
        let (token, _) = tokens(&server, "ana", "ana-password-1").await;
        let (_, opened) = hk(&server, &token, "init_session", &[]).await;
        let session = opened["SessionToken"].as_str().unwrap().to_string();
        let devices = devices_ready(&server, &token, &session, count).await;
        let ids = devices
            .iter()
            .map(|d| d["DeviceID"].as_str().unwrap().to_string())
            .collect();
        Self {
            server,
            token,
            session,
            ids,
        }
    }

    /// `verb` with the session and `more` parameters.
    pub async fn call(&self, verb: &str, more: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut query = vec![("SessionToken", self.session.as_str())];
        query.extend_from_slice(more);
        hk(&self.server, &self.token, verb, &query).await
    }
}

/// GET `/api/v1/<verb>?<query>` with `token`: the status and the JSON body.
pub async fn hk(
    server: &TestServer,
    token: &str,
    verb: &str,
    query: &[(&str, &str)],
) -> (StatusCode, Value) {
    let query = serde_urlencoded::to_string(query).expect("a query");
    let response = client()
        .get(server.url(&format!("/api/v1/{verb}?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("a JSON body"))
}

/// Waits (at most 10 s) until the server lists `count` devices, all active.
pub async fn devices_ready(
    server: &TestServer,
    token: &str,
    session: &str,
    count: usize,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = hk(server, token, "device_list", &[("SessionToken", session)]).await;
        if status == StatusCode::OK
            && let Some(list) = body["DeviceList"].as_array()
            && list.len() == count
            && list.iter().all(|d| d["Active"] == true)
        {
            return list.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "devices not ready: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (at most 20 s) until the session's playback has stopped.
pub async fn until_stopped(server: &TestServer, token: &str, session: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, status) = hk(
            server,
            token,
            "playback_status",
            &[("SessionToken", session)],
        )
        .await;
        if status["PlaybackState"] == "PlayerStateStopped" {
            assert_eq!(status["TimeElapsed"], "-1");
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many samples each client has written so far (a point to measure from).
pub fn written(clients: &[Snapclient]) -> Vec<usize> {
    clients.iter().map(|c| c.samples().len()).collect()
}

/// The loudest sample each client wrote after its point in `since`.
pub fn peaks_since(clients: &[Snapclient], since: &[usize]) -> Vec<i32> {
    clients
        .iter()
        .zip(since)
        .map(|(c, skip)| c.peak_after(*skip))
        .collect()
}
