//! Speakers sessions across instances: two servers on one PostgreSQL database, each with its own
//! local speaker writing a WAV file. A session opened on A is played by A whichever instance a
//! command reaches; once A is gone, its session reads Stopped on B within the lease, pause
//! answers a clear error, and a new play is taken over by B. Skipped (with a line) when
//! PostgreSQL is missing and CI is not true.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use testkit::TestServer;
use voicegate::config::SpeakerBackendKind;
use voicegate::secret::Secret;

use crate::speakers_support::hk;
use crate::support::tokens;

/// The lease the instances hold on their sessions in this test, in milliseconds.
const LEASE_MS: u64 = 600;

/// About ten seconds of speech.
const LONG_TEXT: &str = "One two three four five six seven eight nine ten. Eleven twelve thirteen \
    fourteen fifteen sixteen seventeen eighteen nineteen twenty. Twenty one twenty two twenty \
    three twenty four twenty five twenty six twenty seven twenty eight.";

/// A server on `url` whose one speaker writes `wav`.
async fn instance(url: &str, wav: &Path) -> TestServer {
    let url = url.to_string();
    let output = format!("wav:{}", wav.display());
    TestServer::start_with(move |config| {
        config.database_url = Some(Secret::new(url));
        config.secret = Some(Secret::new(
            "instances-share-this-signing-key-0123456789abcdef",
        ));
        config.speakers.backend = SpeakerBackendKind::Local;
        config.speakers.local_output = output;
        config.speakers.owner_lease_ms = LEASE_MS;
        config.speakers.forward_timeout_ms = 3000;
    })
    .await
}

/// The bytes written to `wav` so far (0 when it does not exist yet).
fn size(wav: &Path) -> u64 {
    std::fs::metadata(wav).map_or(0, |m| m.len())
}

/// Waits (at most 10 s) until `wav` has grown past `from`.
async fn grows(wav: &Path, from: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while size(wav) <= from {
        assert!(Instant::now() < deadline, "{} did not grow", wav.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `verb` on `server` for `session`, with `more` parameters.
async fn call(
    server: &TestServer,
    token: &str,
    session: &str,
    verb: &str,
    more: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut query = vec![("SessionToken", session)];
    query.extend_from_slice(more);
    hk(server, token, verb, &query).await
}

/// The session's `PlaybackState` as `server` reports it.
async fn state(server: &TestServer, token: &str, session: &str) -> String {
    let (status, body) = call(server, token, session, "playback_status", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["PlaybackState"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits (at most `within`) until `server` reports `want`; how long it took.
async fn until_state(
    server: &TestServer,
    token: &str,
    session: &str,
    want: &str,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let now = state(server, token, session).await;
        if now == want {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "still {now}, not {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_is_played_by_its_owner_from_any_instance_and_stops_when_the_owner_is_gone() {
    let Some(cluster) = testkit::Cluster::shared().await else {
        return;
    };
    let url = cluster.database().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (wav_a, wav_b): (PathBuf, PathBuf) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let a = instance(&url, &wav_a).await;
    let b = instance(&url, &wav_b).await;
    a.add_user("ana", "ana-password-1").await;
    let (token, _) = tokens(&b, "ana", "ana-password-1").await;
    let (status, opened) = hk(&a, &token, "init_session", &[]).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    let session = opened["SessionToken"]
        .as_str()
        .expect("a token")
        .to_string();
    let s = session.as_str();

    // Played through B, heard on A: A owns the session's playback.
    let text = [("Text", LONG_TEXT)];
    let (status, body) = call(&b, &token, s, "play_tts_party_mode", &text).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    grows(&wav_a, 0).await;
    until_state(&b, &token, s, "PlayerStatePlaying", Duration::from_secs(5)).await;
    assert_eq!(state(&a, &token, s).await, "PlayerStatePlaying");
    let (_, elapsed) = call(&b, &token, s, "playback_status", &[]).await;
    assert_ne!(elapsed["TimeElapsed"], "-1", "{elapsed}");

    // Pause through B holds A's feeder; resume through B continues it; stop ends it.
    let (status, body) = call(&b, &token, s, "pause_play", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(state(&a, &token, s).await, "PlayerStatePaused");
    assert_eq!(state(&b, &token, s).await, "PlayerStatePaused");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held = size(&wav_a);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(size(&wav_a), held, "nothing is written while paused");
    let (status, body) = call(&b, &token, s, "resume_hub_media", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(state(&a, &token, s).await, "PlayerStatePlaying");
    grows(&wav_a, held).await;
    let (status, body) = call(&b, &token, s, "stop_play", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(state(&a, &token, s).await, "PlayerStateStopped");
    assert_eq!(state(&b, &token, s).await, "PlayerStateStopped");
    assert_eq!(size(&wav_b), 0, "B's own speaker played nothing");

    // A goes while playing: B reports the session stopped within the lease, never hangs.
    let (status, body) = call(&b, &token, s, "play_tts_party_mode", &text).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    until_state(&b, &token, s, "PlayerStatePlaying", Duration::from_secs(5)).await;
    drop(a);
    let bound = Duration::from_millis(LEASE_MS) + Duration::from_secs(3);
    let took = until_state(&b, &token, s, "PlayerStateStopped", bound).await;
    assert!(took < bound, "stopped after {took:?}");
    let asked = Instant::now();
    let (status, body) = call(&b, &token, s, "pause_play", &[]).await;
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        (status, body["error"].as_str(), body["Result"].as_str()),
        (StatusCode::CONFLICT, Some("owner_gone"), Some("false")),
        "{body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("is gone"), "{detail}");
    let (status, _) = call(&b, &token, s, "stop_play", &[]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a gone owner's session is stopped already"
    );

    // A new play is taken over by B and heard on B's speaker.
    let (status, body) = call(
        &b,
        &token,
        s,
        "play_tts_party_mode",
        &[("Text", "Here now.")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    grows(&wav_b, 0).await;
    let (status, body) = call(&b, &token, s, "close_session", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
