//! The Snapcast control client against the real snapserver and snapclients (Debian's 0.26), on
//! 127.0.0.1: status, volume, groups, notifications, audio that reaches the clients, and a
//! server that goes away and comes back.

use std::time::Duration;

use testkit::{PCM_BYTES_PER_SECOND, Snapclient, Snapserver, sine_pcm};
use tokio::sync::broadcast;
use voicegate::speakers::snapcast::{
    ControlSettings, Notification, ServerStatus, SnapcastControl, SnapcastError,
};

/// Waits (at most `seconds`) until `check` holds for the server's status; returns that status.
async fn status_until(
    control: &SnapcastControl,
    seconds: u64,
    check: impl Fn(&ServerStatus) -> bool,
) -> ServerStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Ok(status) = control.status().await
            && check(&status)
        {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "snapserver's status did not get there within {seconds} s: {:?}",
            control.status().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The next notification named `method` (others are skipped), within `seconds`.
async fn notification(
    notifications: &mut broadcast::Receiver<Notification>,
    method: &str,
    seconds: u64,
) -> serde_json::Value {
    let wait = async {
        loop {
            match notifications.recv().await {
                Ok(Notification::Event { method: m, params }) if m == method => return params,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("notifications ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(seconds), wait)
        .await
        .unwrap_or_else(|_| panic!("no {method} within {seconds} s"))
}

fn connected(status: &ServerStatus, ids: &[&str]) -> bool {
    ids.iter()
        .all(|id| status.client(id).is_some_and(|(_, c)| c.connected))
}

#[tokio::test]
async fn the_control_client_reads_the_status_and_sets_volumes_groups_and_names() {
    let server = Snapserver::start(2, 300).await;
    let _a = Snapclient::start(&server, "vg-a").await;
    let _b = Snapclient::start(&server, "vg-b").await;
    let control = SnapcastControl::start(ControlSettings::new(server.control_address()));
    let mut notifications = control.notifications();
    let status = status_until(&control, 10, |s| connected(s, &["vg-a", "vg-b"])).await;
    let streams: Vec<&str> = status.streams.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(streams, ["S1", "S2"]);

    // Volume: set, read back, announced on the listening connection; clamped at 100.
    control.set_volume("vg-a", 40, false).await.unwrap();
    let params = notification(&mut notifications, "Client.OnVolumeChanged", 5).await;
    assert_eq!(params["id"], "vg-a");
    assert_eq!(params["volume"]["percent"], 40);
    control.set_volume("vg-b", 140, false).await.unwrap();
    let status = control.status().await.unwrap();
    assert_eq!(status.client("vg-a").unwrap().1.config.volume.percent, 40);
    assert_eq!(status.client("vg-b").unwrap().1.config.volume.percent, 100);

    // One group with both clients, on the second stream, muted; a name.
    let (group, _) = status.client("vg-a").unwrap();
    let group = group.id.clone();
    let status = control
        .set_group_clients(&group, &["vg-a", "vg-b"])
        .await
        .unwrap();
    assert_eq!(status.client("vg-b").unwrap().0.id, group);
    control.set_group_stream(&group, "S2").await.unwrap();
    control.set_group_mute(&group, true).await.unwrap();
    control.set_client_name("vg-b", "Kitchen").await.unwrap();
    let status = control.status().await.unwrap();
    let (group_now, b) = status.client("vg-b").unwrap();
    assert_eq!(
        (group_now.stream_id.as_str(), group_now.muted),
        ("S2", true)
    );
    assert_eq!(b.config.name, "Kitchen");

    // snapserver's refusals say what it said.
    let refused = control.set_volume("nobody", 10, false).await.unwrap_err();
    assert!(
        matches!(&refused, SnapcastError::Refused { message, .. } if message.contains("not found")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_status_read_is_reused_until_anything_changes() {
    let server = Snapserver::start(1, 300).await;
    let _a = Snapclient::start(&server, "vg-c").await;
    let control = SnapcastControl::start(ControlSettings::new(server.control_address()));
    status_until(&control, 10, |s| connected(s, &["vg-c"])).await;
    // Quiet: reads are reused (the listening connection saw nothing since).
    tokio::time::sleep(Duration::from_millis(300)).await;
    control.status().await.unwrap();
    let reads = control.status_reads();
    for _ in 0..20 {
        control.status().await.unwrap();
    }
    assert_eq!(
        control.status_reads(),
        reads,
        "20 reads while nothing changed"
    );

    // Its own change: the next read is new and shows it.
    control.set_volume("vg-c", 30, false).await.unwrap();
    let status = control.status().await.unwrap();
    assert_eq!(status.client("vg-c").unwrap().1.config.volume.percent, 30);
    assert_eq!(control.status_reads(), reads + 1);

    // Another client's change, announced to the listening connection: seen within a second.
    let other = SnapcastControl::start(ControlSettings::new(server.control_address()));
    status_until(&other, 10, |s| connected(s, &["vg-c"])).await;
    other.set_volume("vg-c", 70, false).await.unwrap();
    status_until(&control, 1, |s| {
        s.client("vg-c").unwrap().1.config.volume.percent == 70
    })
    .await;
}

#[tokio::test]
async fn audio_written_into_a_source_reaches_the_clients_on_it_at_their_volume() {
    let server = Snapserver::start(1, 300).await;
    let loud = Snapclient::start(&server, "vg-loud").await;
    let quiet = Snapclient::start(&server, "vg-quiet").await;
    let control = SnapcastControl::start(ControlSettings::new(server.control_address()));
    status_until(&control, 10, |s| connected(s, &["vg-loud", "vg-quiet"])).await;
    control.set_volume("vg-loud", 100, false).await.unwrap();
    control.set_volume("vg-quiet", 25, false).await.unwrap();
    let before = (loud.samples().len(), quiet.samples().len());
    let tone = sine_pcm(440.0, 1.0, 16_000.0);
    assert_eq!(tone.len(), PCM_BYTES_PER_SECOND);
    server
        .write_pcm("S1", &tone, Duration::from_millis(1800))
        .await;
    let (loud_peak, quiet_peak) = (loud.peak_after(before.0), quiet.peak_after(before.1));
    // The software mixer's curve: about 16,000 at 100 %, about 1,400 at 25 %.
    assert!(
        loud_peak > 12_000,
        "the tone at 100 % peaked at {loud_peak}"
    );
    assert!(
        (300..loud_peak / 4).contains(&quiet_peak),
        "the tone at 25 % peaked at {quiet_peak} (at 100 %: {loud_peak})"
    );
}

#[tokio::test]
async fn a_stopped_snapserver_fails_requests_at_once_and_is_found_again() {
    let mut server = Snapserver::start(1, 300).await;
    let mut settings = ControlSettings::new(server.control_address());
    settings.reconnect_max = Duration::from_millis(400);
    let control = SnapcastControl::start(settings);
    let mut notifications = control.notifications();
    status_until(&control, 10, |_| true).await;
    // The first connection's announcement is not the one this test waits for.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while notifications.try_recv().is_ok() {}

    server.stop().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while control.is_connected() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the loss went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = tokio::time::Instant::now();
    assert_eq!(control.status().await, Err(SnapcastError::Unavailable));
    // Far below any timeout (a call waiting for an answer would take seconds), with room for
    // a loaded machine: 100 ms was once exceeded while the whole suite ran.
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );

    server.restart().await;
    status_until(&control, 10, |_| true).await;
    // The listener reconnected too, and says so (whatever happened meanwhile was missed).
    let wait = async {
        loop {
            if let Ok(Notification::Connected) = notifications.recv().await {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the listening connection came back");
}

#[tokio::test]
async fn the_feeder_paces_audio_into_a_source_and_holds_its_place_while_paused() {
    use voicegate::speakers::audio::{Audio, Pcm};
    use voicegate::speakers::feeder::sink::SinkSpec;
    use voicegate::speakers::feeder::{FeedState, Feeder, FeederSettings};

    let server = Snapserver::start(1, 300).await;
    let client = Snapclient::start(&server, "vg-feed").await;
    let control = SnapcastControl::start(ControlSettings::new(server.control_address()));
    status_until(&control, 10, |s| connected(s, &["vg-feed"])).await;
    let before = client.samples().len();
    let tone: Vec<i16> = sine_pcm(440.0, 1.5, 16_000.0)
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    // No latency: what is written counts as heard (less the chunks ahead).
    let sink = SinkSpec::Tcp(format!("127.0.0.1:{}", server.sources[0].1));
    let feeder = Feeder::start(FeederSettings::new(sink, Duration::ZERO));
    let started = tokio::time::Instant::now();
    feeder.play(Audio::Clip(Pcm(tone.into()))).await;

    // Paced: after 0.5 s, about 0.5 s written (a couple of chunks ahead at most).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_pause = feeder.status();
    assert_eq!(at_pause.state, FeedState::Playing);
    assert!(
        (0.4..0.65).contains(&at_pause.seconds()),
        "{} s written after 0.5 s",
        at_pause.seconds()
    );
    feeder.pause().await;
    let paused = feeder.status().frames;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = feeder.status();
    assert_eq!((status.state, status.frames), (FeedState::Paused, paused));

    // Resumed from its place, it finishes the rest and stops, the whole tone written.
    feeder.resume().await;
    let mut watch = feeder.watch();
    tokio::time::timeout(Duration::from_secs(3), async {
        while watch.borrow_and_update().state != FeedState::Stopped {
            watch.changed().await.unwrap();
        }
    })
    .await
    .expect("the tone ends");
    let done = feeder.status();
    assert_eq!((done.frames, done.error), (72_000, None));
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "1.5 s of audio and a 0.5 s pause took {:?}",
        started.elapsed()
    );

    // The speaker played it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let peak = client.peak_after(before);
    assert!(peak > 12_000, "the fed tone peaked at {peak}");
}

#[tokio::test]
async fn the_snapcast_backend_lists_devices_sets_volumes_and_plays_a_stream_on_chosen_ones() {
    use voicegate::speakers::backend::SpeakerBackend;
    use voicegate::speakers::device::wire_to_percent;
    use voicegate::speakers::snapcast::SnapcastBackend;

    let server = Snapserver::start(2, 300).await;
    let clients = [
        Snapclient::start(&server, "vg-1").await,
        Snapclient::start(&server, "vg-2").await,
        Snapclient::start(&server, "vg-3").await,
    ];
    let control = SnapcastControl::start(ControlSettings::new(server.control_address()));
    status_until(&control, 10, |s| connected(s, &["vg-1", "vg-2", "vg-3"])).await;
    let backend = SnapcastBackend::new(control, 60, vec!["S2".into()]);

    let devices = backend.devices().await.unwrap();
    let ids: Vec<&str> = devices.iter().map(|d| d.backend_id.as_str()).collect();
    assert_eq!(ids, ["vg-1", "vg-2", "vg-3"]);
    for device in &devices {
        assert!(
            device.active && device.ip.as_deref() == Some("127.0.0.1"),
            "{device:?}"
        );
        assert!(
            device.device_id.bytes().all(|b| b.is_ascii_digit()),
            "{device:?}"
        );
        assert!(
            device.group_id.is_some() && device.version.is_some(),
            "{device:?}"
        );
    }
    let again = backend.devices().await.unwrap();
    assert_eq!(
        devices[0].device_id, again[0].device_id,
        "DeviceIDs are stable"
    );

    // The contract's 25 is 50 % in snapserver; the configured cap holds (60 %).
    backend
        .set_volume(&devices[0], wire_to_percent(25))
        .await
        .unwrap();
    backend.set_volume(&devices[1], 100).await.unwrap();
    backend.set_volume(&devices[2], 100).await.unwrap();
    let devices = backend.devices().await.unwrap();
    let percents: Vec<u8> = devices.iter().map(|d| d.percent).collect();
    assert_eq!(percents, [50, 60, 60]);
    assert_eq!(devices[0].wire_volume(), 25);

    // Two of three on stream S2: the tone written into S2 reaches exactly those two.
    backend.join("S2", &devices[..2]).await.unwrap();
    let status = backend.control().status().await.unwrap();
    let (g1, _) = status.client("vg-1").unwrap();
    let (g2, _) = status.client("vg-2").unwrap();
    let (g3, _) = status.client("vg-3").unwrap();
    assert_eq!((g1.id == g2.id, g1.stream_id.as_str()), (true, "S2"));
    assert_ne!(g3.stream_id, "S2");
    // A group switch restarts the players; let them settle before the tone.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before: Vec<usize> = clients.iter().map(|c| c.samples().len()).collect();
    let tone = sine_pcm(440.0, 1.0, 16_000.0);
    server
        .write_pcm("S2", &tone, Duration::from_millis(1800))
        .await;
    let peaks: Vec<i32> = clients
        .iter()
        .zip(&before)
        .map(|(c, skip)| c.peak_after(*skip))
        .collect();
    assert!(peaks[0] > 1_000 && peaks[1] > 1_000, "{peaks:?}");
    assert_eq!(peaks[2], 0, "{peaks:?}");

    // Muting the stream mutes its group; a stream that does not exist is refused.
    backend.mute("S2", true).await.unwrap();
    let devices = backend.devices().await.unwrap();
    assert!(devices[0].muted && devices[1].muted && !devices[2].muted);
    assert_eq!(devices[0].wire_volume(), 0);
    assert!(backend.join("S9", &devices[2..]).await.is_err());
}
