//! The snapserver voicegate runs itself (`speakers.manage_snapserver`), on 127.0.0.1 and free
//! ports: snapclients pointed at voicegate's stream port are its speakers, announcements reach
//! exactly the chosen ones, and a snapserver that dies is started again (and stopped with
//! voicegate).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use testkit::{Snapclient, TestServer, free_port};
use voicegate::speakers::snapcast::{ControlSettings, SnapcastControl};

use crate::speakers_support::{devices_ready, hk, peaks_since, until_stopped, written};
use crate::support::tokens;

/// The managed snapserver's ports.
struct Ports {
    control: u16,
    stream: u16,
}

/// A server running its own snapserver (two session sources, a 300 ms buffer) on free ports, a
/// user, that user's token and an open session.
async fn managed_server() -> (TestServer, Ports, String, String) {
    let ports = Ports {
        control: free_port(),
        stream: free_port(),
    };
    let (control, stream) = (ports.control, ports.stream);
    let sources = vec![free_port(), free_port()];
    let server = TestServer::start_with(|config| {
        let speakers = &mut config.speakers;
        speakers.manage_snapserver = true;
        speakers.snapserver_control_address = ([127, 0, 0, 1], control).into();
        speakers.snapserver_stream_address = ([127, 0, 0, 1], stream).into();
        speakers.snapserver_source_ports = sources;
        speakers.buffer_ms = 300;
    })
    .await;
    server.add_user("ana", "ana-password-1").await;
    let (token, _) = tokens(&server, "ana", "ana-password-1").await;
    let (status, opened) = hk(&server, &token, "init_session", &[]).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    let session = opened["SessionToken"].as_str().unwrap().to_string();
    (server, ports, token, session)
}

/// The managed snapserver's folder in the server's data directory.
fn snap_dir(server: &TestServer) -> PathBuf {
    server.data_dir.path().join("snapserver")
}

/// The managed snapserver's process id, once its pid file holds one other than `not` (within
/// 10 s).
async fn snapserver_pid(dir: &Path, not: Option<u32>) -> u32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let pid = std::fs::read_to_string(dir.join("snapserver.pid"))
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        if let Some(pid) = pid
            && Some(pid) != not
        {
            return pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new snapserver pid (was {not:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether process `pid` is alive (a zombie, killed and not yet reaped, counts as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim()
            .starts_with('Z')
    })
}

#[tokio::test]
async fn a_managed_snapserver_plays_announcements_on_exactly_the_chosen_speakers() {
    let (server, ports, token, session) = managed_server().await;
    let out = tempfile::tempdir().unwrap();
    let clients = [
        Snapclient::start_at(out.path(), ports.stream, "home-1").await,
        Snapclient::start_at(out.path(), ports.stream, "home-2").await,
        Snapclient::start_at(out.path(), ports.stream, "home-3").await,
    ];
    let devices = devices_ready(&server, &token, &session, 3).await;
    let ids: Vec<&str> = devices
        .iter()
        .map(|d| d["DeviceID"].as_str().unwrap())
        .collect();

    // Its configuration and state are in the data directory; its streams are the idle one
    // (first, where new speakers land) and the session sources.
    let dir = snap_dir(&server);
    let conf = std::fs::read_to_string(dir.join("server.conf")).unwrap();
    assert!(conf.contains("send_to_muted = true"), "{conf}");
    assert!(dir.join("state/server.json").exists());
    let control =
        SnapcastControl::start(ControlSettings::new(format!("127.0.0.1:{}", ports.control)));
    let mut status = Err(voicegate::speakers::snapcast::SnapcastError::Unavailable);
    for _ in 0..100 {
        status = control.status().await;
        if status.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = status.expect("the managed snapserver's status");
    let streams: Vec<&str> = status.streams.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(streams, ["idle", "S1", "S2"]);

    // Two selected speakers: audio in exactly their files.
    let before = written(&clients);
    let selected = format!("{},{}", ids[0], ids[1]);
    let (status, done) = hk(
        &server,
        &token,
        "play_tts_selected_speakers",
        &[
            ("SessionToken", &session),
            ("Text", "The kitchen timer is done."),
            ("DeviceIDList", &selected),
        ],
    )
    .await;
    assert_eq!((status, done), (StatusCode::OK, json!({"Result": "true"})));
    until_stopped(&server, &token, &session).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let peaks = peaks_since(&clients, &before);
    assert!(
        peaks[0] > 1_000 && peaks[1] > 1_000 && peaks[2] == 0,
        "{peaks:?}"
    );
}

#[tokio::test]
async fn a_killed_managed_snapserver_is_started_again_and_stops_with_voicegate() {
    let (server, ports, token, session) = managed_server().await;
    let out = tempfile::tempdir().unwrap();
    let _client = Snapclient::start_at(out.path(), ports.stream, "home-k").await;
    devices_ready(&server, &token, &session, 1).await;
    let dir = snap_dir(&server);
    let first = snapserver_pid(&dir, None).await;
    assert!(alive(first));

    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let second = snapserver_pid(&dir, Some(first)).await;
    assert!(alive(second));
    // Within a bounded time the speakers answer again, the speaker reconnected.
    let started = tokio::time::Instant::now();
    devices_ready(&server, &token, &session, 1).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, _) = hk(
        &server,
        &token,
        "device_count",
        &[("SessionToken", &session)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // When voicegate stops, so does its snapserver.
    drop(server);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while alive(second) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "snapserver outlived voicegate"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_snapserver_left_by_a_killed_voicegate_is_ended_at_the_next_start() {
    let bin = crate::support::binary_with_user("ana", "ana-password-1").await;
    let (control, stream) = (free_port(), free_port());
    let control_address = format!("127.0.0.1:{control}");
    let stream_address = format!("127.0.0.1:{stream}");
    let sources = format!("[{}]", free_port());
    let env = [
        ("VOICEGATE_SPEAKERS__MANAGE_SNAPSERVER", "true"),
        (
            "VOICEGATE_SPEAKERS__SNAPSERVER_CONTROL_ADDRESS",
            control_address.as_str(),
        ),
        (
            "VOICEGATE_SPEAKERS__SNAPSERVER_STREAM_ADDRESS",
            stream_address.as_str(),
        ),
        (
            "VOICEGATE_SPEAKERS__SNAPSERVER_SOURCE_PORTS",
            sources.as_str(),
        ),
    ];
    let dir = bin.data_dir.join("snapserver");
    let mut first = bin.serve(&env).await;
    let left = snapserver_pid(&dir, None).await;
    // voicegate killed: nothing stops its snapserver, which keeps its ports.
    first.child.start_kill().unwrap();
    let _ = first.child.wait().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(alive(left), "the snapserver outlived the killed voicegate");

    // The next start ends it (rather than waiting for it to die of its own accord when it next
    // writes to its dead parent's pipe) and runs its own, which answers on the same ports.
    let second = bin.serve(&env).await;
    assert!(
        second
            .startup_log
            .iter()
            .any(|line| line.contains("ending the snapserver an earlier run left behind")),
        "{:?}",
        second.startup_log
    );
    let now = snapserver_pid(&dir, Some(left)).await;
    assert!(!alive(left), "the earlier snapserver was ended");
    assert!(alive(now));
    let control = SnapcastControl::start(ControlSettings::new(control_address.clone()));
    let mut answered = false;
    for _ in 0..100 {
        if control.status().await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "the new snapserver answers");
    let (clean, _) = second.terminate().await;
    assert!(clean);
    assert!(!alive(now), "stopped with voicegate");
}
