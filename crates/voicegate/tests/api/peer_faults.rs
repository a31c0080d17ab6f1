//! The real peers killed (SIGKILL) and started again while clients keep calling: the routes
//! that need the peer answer 503 at once while it is gone, nothing hangs, and the same
//! voicegate serves them again once the peer is back.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use testkit::{Responder, Snapclient, Snapserver};
use tokio::time::Instant;

use crate::ovos::{API_KEY, setup, setup_with};
use crate::peer_load::{
    Load, Phase, Probe, check_down, check_every_answer, check_up_and_recovered, slowest_503s,
};
use crate::speakers_support::{HkSession, devices_ready};

/// Clients calling at once.
const CLIENTS: usize = 6;
/// Longest a 503 may take while the peer is gone (they take milliseconds; a request queued
/// behind others must not wait for them to end one by one).
const FAIL_FAST: Duration = Duration::from_millis(500);
/// How long the clients call before the peer is killed, and while it is gone.
const UP: Duration = Duration::from_millis(1500);
const DOWN: Duration = Duration::from_millis(2500);
/// How long the clients call after the peer is back.
const AFTER: Duration = Duration::from_millis(1500);
/// The longest wait between reconnection attempts the tests configure.
const RECONNECT_MAX: Duration = Duration::from_millis(500);

#[tokio::test]
async fn the_ovos_bus_killed_under_load_answers_503_at_once_and_recovers_without_a_restart() {
    let mut s = setup().await;
    let request_timeout = Duration::from_millis(5000);
    let (url, token) = (s.server.url(""), s.token.clone());
    let probe = |name, ok, method: &'static str, path: &'static str| {
        let (url, token) = (url.clone(), token.clone());
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        Probe::new(name, ok, move |http| {
            let request = http
                .request(method.clone(), format!("{url}{path}"))
                .bearer_auth(&token);
            if path == "/v1/voice/speech" && method == reqwest::Method::POST {
                request.json(&json!({"utterance": "still there?"}))
            } else {
                request
            }
        })
    };
    let probes = vec![
        probe("speak", StatusCode::OK, "POST", "/v1/voice/speech"),
        probe("stop", StatusCode::NO_CONTENT, "DELETE", "/v1/voice/speech"),
        probe("mic", StatusCode::OK, "GET", "/v1/voice/microphone"),
        probe("info", StatusCode::OK, "GET", "/v1/system/info"),
        probe("skills", StatusCode::OK, "GET", "/v1/skills"),
    ];
    let names: Vec<&str> = probes.iter().map(|p| p.name).collect();
    let load = Load::start(CLIENTS, probes, Duration::from_secs(25));

    tokio::time::sleep(UP).await;
    // SIGKILL: the bus has no chance to say goodbye.
    let killed = load.enter(Phase::Down);
    s.bus.stop().await;
    let gone = Instant::now();
    tokio::time::sleep(DOWN).await;

    load.enter(Phase::Paused);
    s._responder = None;
    s.bus.restart().await;
    let back = Instant::now();
    s.wait_connected().await;
    let reconnected = back.elapsed();
    // The stand-in for ovos-core connects to the new bus; then the clients go on.
    s._responder = Some(Responder::start(&s.bus, API_KEY).await);
    let recovered = load.enter(Phase::Recovered);
    tokio::time::sleep(AFTER).await;
    let outcomes = load.finish().await;

    let slowest = check_every_answer(
        &outcomes,
        "bus_unavailable",
        killed,
        FAIL_FAST,
        request_timeout,
    );
    let down = check_down(&outcomes, gone, &[], 30);
    let after = check_up_and_recovered(&outcomes, &names);
    let first_503 = first_failure_after(&outcomes, killed);
    eprintln!(
        "ovos bus killed: {} requests, {down} while down, {after} after; first 503 {first_503:?} \
         after the kill, longest wait for a 503 {slowest:?} ({:?}); voicegate reconnected {reconnected:?} after \
         the bus listened again; recovered at {:?}",
        outcomes.len(),
        slowest_503s(&outcomes, killed),
        recovered - killed,
    );
    assert!(
        reconnected <= RECONNECT_MAX + Duration::from_secs(1),
        "{reconnected:?}"
    );
}

#[tokio::test]
async fn a_skill_list_asked_while_nobody_answered_does_not_take_a_later_requests_answer() {
    // The bus is back but ovos-core is not on it yet (it starts again after the bus): a skill
    // list asked now gets no answer of its own.
    let s = setup_with(None, |config| config.ovos.request_timeout_ms = 15_000).await;
    let early = {
        let request = s.call("GET", "/v1/skills");
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _responder = Responder::start(&s.bus, API_KEY).await;
    assert!(!early.is_finished(), "the early request still waits");

    // ovos-core's list answers the request asked now at once, and the early one with it.
    let started = Instant::now();
    let later = s.json("GET", "/v1/skills", StatusCode::OK).await;
    assert!(later["count"].as_u64().unwrap() > 0, "{later}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(early.await.unwrap(), StatusCode::OK);
    // And the next one has its own answer, not one owed down the line.
    let started = Instant::now();
    s.json("GET", "/v1/skills", StatusCode::OK).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_snapserver_killed_under_load_answers_503_at_once_and_recovers_without_a_restart() {
    let mut snap = Snapserver::start(2, 300).await;
    let _speaker = Snapclient::start(&snap, "load-1").await;
    let request_timeout = Duration::from_millis(2000);
    let hk = HkSession::start(&snap, 1, |config| {
        config.speakers.snapcast_timeout_ms = request_timeout.as_millis() as u64;
        config.speakers.snapcast_reconnect_max_ms = RECONNECT_MAX.as_millis() as u64;
        // Announcements from several clients at once do not wait for a synthesis slot.
        config.voices.max_concurrent_syntheses = CLIENTS;
    })
    .await;
    let (url, token, session) = (hk.server.url(""), hk.token.clone(), hk.session.clone());
    let probe = |name, more: &'static [(&'static str, &'static str)]| {
        let (url, token) = (url.clone(), token.clone());
        let mut query = vec![("SessionToken".to_string(), session.clone())];
        query.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let query = serde_urlencoded::to_string(&query).unwrap();
        Probe::new(name, StatusCode::OK, move |http| {
            http.get(format!("{url}/api/v1/{name}?{query}"))
                .bearer_auth(&token)
        })
    };
    let probes = vec![
        probe("device_list", &[]),
        probe("get_volume", &[]),
        probe("set_volume", &[("Volume", "10")]),
        probe("play_tts_party_mode", &[("Text", "Hello there.")]),
        probe("playback_status", &[]),
        probe("is_playing", &[]),
    ];
    let names: Vec<&str> = probes.iter().map(|p| p.name).collect();
    let load = Load::start(CLIENTS, probes, Duration::from_secs(25));

    tokio::time::sleep(UP).await;
    // SIGKILL, in the middle of the announcements.
    let killed = load.enter(Phase::Down);
    snap.stop().await;
    let gone = Instant::now();
    tokio::time::sleep(DOWN).await;

    load.enter(Phase::Paused);
    snap.restart().await;
    let back = Instant::now();
    // The speaker (a snapclient, reconnecting on its own) is listed again.
    devices_ready(&hk.server, &hk.token, &hk.session, 1).await;
    let reconnected = back.elapsed();
    let recovered = load.enter(Phase::Recovered);
    tokio::time::sleep(AFTER).await;
    let outcomes = load.finish().await;

    let slowest = check_every_answer(
        &outcomes,
        "speakers_unavailable",
        killed,
        FAIL_FAST,
        request_timeout,
    );
    // The playback state is voicegate's own: it answers without snapserver.
    let down = check_down(&outcomes, gone, &["playback_status", "is_playing"], 30);
    let after = check_up_and_recovered(&outcomes, &names);
    let first_503 = first_failure_after(&outcomes, killed);
    eprintln!(
        "snapserver killed: {} requests, {down} while down, {after} after; first 503 \
         {first_503:?} after the kill, longest wait for a 503 {slowest:?} ({:?}); speakers listed again \
         {reconnected:?} after snapserver listened again; recovered at {:?}",
        outcomes.len(),
        slowest_503s(&outcomes, killed),
        recovered - killed,
    );
    assert!(
        reconnected <= RECONNECT_MAX + Duration::from_secs(2),
        "{reconnected:?}"
    );
}

/// How long after `since` the first failure was answered.
fn first_failure_after(outcomes: &[crate::peer_load::Outcome], since: Instant) -> Duration {
    outcomes
        .iter()
        .filter(|o| !o.ok && o.started + o.latency >= since)
        .map(|o| (o.started + o.latency) - since)
        .min()
        .unwrap_or_default()
}
