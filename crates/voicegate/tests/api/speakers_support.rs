//! What the speakers tests share: the HK Omni requests, waiting for the speakers to be
//! listed and for a playback to end, and the loudness each speaker wrote since a point.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use testkit::{Snapclient, TestServer};

use crate::support::client;

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
