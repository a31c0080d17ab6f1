//! Hub media and web media over a real snapserver and three snapclients on 127.0.0.1: the
//! media list of a folder of files tagged here, files and downloads (mp3 and flac made by sox,
//! served by a server in the test) heard in exactly the chosen speakers, and every bad input
//! answered in the HK dialect with the session still usable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode as Status, header};
use axum::routing::get;
use lofty::config::WriteOptions;
use lofty::file::TaggedFileExt;
use lofty::tag::{Accessor, Tag, TagExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{Snapclient, Snapserver, TestServer};
use voicegate::config::Config;

use crate::speakers_support::{HkSession, hk, peaks_since, until_stopped, written};
use crate::support::{keys, tokens};

/// A 44.1 kHz mono 440 Hz sine of `seconds` by sox, in the format of `path`'s extension.
fn sox(path: &Path, seconds: f64) {
    let status = Command::new("sox")
        .args(["-n", "-r", "44100", "-c", "1"])
        .arg(path)
        .args(["synth", &seconds.to_string(), "sine", "440", "vol", "0.5"])
        .status()
        .expect("sox runs (scripts/test installs it, with libsox-fmt-mp3)");
    assert!(status.success(), "sox made {}", path.display());
}

/// Writes the file's tags.
fn tag(path: &Path, title: &str, artist: &str, album: &str) {
    let tagged = lofty::read_from_path(path).expect("a tagged file");
    let mut tag = Tag::new(tagged.primary_tag_type());
    tag.set_title(title.into());
    tag.set_artist(artist.into());
    tag.set_album(album.into());
    tag.save_to_path(path, WriteOptions::default())
        .expect("tags written");
}

/// A server of `dir`'s files at `/media/NAME` (404 for others).
async fn file_server(dir: PathBuf) -> SocketAddr {
    async fn file(State(dir): State<PathBuf>, UrlPath(name): UrlPath<String>) -> Response {
        let kind = match name.rsplit_once('.').map(|(_, e)| e) {
            Some("mp3") => "audio/mpeg",
            Some("flac") => "audio/flac",
            _ => "application/octet-stream",
        };
        match std::fs::read(dir.join(&name)) {
            Ok(bytes) if !name.contains('/') => (Status::OK, [(header::CONTENT_TYPE, kind)], bytes),
            _ => (
                Status::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain")],
                b"no such file".to_vec(),
            ),
        }
    }
    type Response = (Status, [(header::HeaderName, &'static str); 1], Vec<u8>);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/media/{name}", get(file))
        .with_state(dir);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Three speakers, a server over them with `adjust` applied, a user's token and a session
/// whose devices are ready (the session's fields through `Deref`).
struct Setup {
    _snap: Snapserver,
    clients: [Snapclient; 3],
    hk: HkSession,
}

impl std::ops::Deref for Setup {
    type Target = HkSession;
    fn deref(&self) -> &HkSession {
        &self.hk
    }
}

impl Setup {
    async fn start(prefix: &str, adjust: impl FnOnce(&mut Config)) -> Self {
        // S1 for the session; S2 where speakers outside a session wait.
        let snap = Snapserver::start(2, 300).await;
        let clients = [
            Snapclient::start(&snap, &format!("{prefix}-1")).await,
            Snapclient::start(&snap, &format!("{prefix}-2")).await,
            Snapclient::start(&snap, &format!("{prefix}-3")).await,
        ];
        let hk = HkSession::start(&snap, 3, adjust).await;
        Self {
            _snap: snap,
            clients,
            hk,
        }
    }

    /// Waits until the playback has ended and the speakers have played it out, then answers
    /// the loudest sample each speaker wrote after `before`.
    async fn peaks_after_playing(&self, before: &[usize]) -> Vec<i32> {
        until_stopped(&self.server, &self.token, &self.session).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        peaks_since(&self.clients, before)
    }
}

#[tokio::test]
async fn the_media_list_and_hub_media_on_exactly_the_chosen_speakers() {
    let media = tempfile::tempdir().unwrap();
    let root = media.path();
    std::fs::create_dir(root.join("Hillsong")).unwrap();
    let song = root.join("Hillsong/I Will Run To You.flac");
    sox(&song, 2.0);
    tag(&song, "I Will Run To You", "Hillsong", "Simply Worship");
    let demo = root.join("demo.mp3");
    sox(&demo, 1.5);
    tag(
        &demo,
        "I'm Yours [ORIGINAL DEMO]",
        "Jason Mraz",
        "Wordplay [SINGLE EP]",
    );
    sox(&root.join("plain.wav"), 1.0);
    std::fs::write(root.join("cover.jpg"), b"not audio").unwrap();
    let dir = root.to_string_lossy().into_owned();
    let setup = Setup::start("hub", |config| config.speakers.media_dir = Some(dir)).await;

    let (status, list) = setup.call("media_list", &[]).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(keys(&list), ["MediaList"]);
    let items = list["MediaList"].as_array().unwrap();
    let summary: Vec<Value> = items
        .iter()
        .map(|item| {
            assert_eq!(
                keys(item),
                ["AlbumTitle", "Artist", "Duration", "PersistentID", "Title"]
            );
            let id = item["PersistentID"].as_str().expect("a string");
            assert!(id.parse::<u64>().is_ok(), "{id}");
            json!([
                item["Title"],
                item["Artist"],
                item["AlbumTitle"],
                item["Duration"]
            ])
        })
        .collect();
    assert_eq!(
        summary,
        [
            json!(["I Will Run To You", "Hillsong", "Simply Worship", 2]),
            json!([
                "I'm Yours [ORIGINAL DEMO]",
                "Jason Mraz",
                "Wordplay [SINGLE EP]",
                2
            ]),
            json!(["plain", "", "", 1]),
        ]
    );
    let song_id = items[0]["PersistentID"].as_str().unwrap();

    // Nothing to play on yet; an unknown id.
    let (status, body) = setup
        .call("play_hub_media", &[("PersistentID", song_id)])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("no_speakers")),
        "{body}"
    );
    let (status, body) = setup
        .call("play_hub_media_party_mode", &[("PersistentID", "12345")])
        .await;
    assert_eq!(
        (status, body["Result"].as_str(), body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("false"), Some("unknown_media")),
        "{body}"
    );
    let (status, body) = setup.call("play_hub_media_party_mode", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The first and third speakers: audio in exactly their files.
    let before = written(&setup.clients);
    let selected = format!("{},{}", setup.ids[0], setup.ids[2]);
    let (status, done) = setup
        .call(
            "play_hub_media_selected_speakers",
            &[("PersistentID", song_id), ("DeviceIDList", &selected)],
        )
        .await;
    assert_eq!((status, done), (StatusCode::OK, json!({"Result": "true"})));
    let (_, playing) = setup.call("is_playing", &[]).await;
    assert_eq!(playing, json!({"IsPlaying": "true"}));
    let peaks = setup.peaks_after_playing(&before).await;
    assert!(
        peaks[0] > 1_000 && peaks[1] == 0 && peaks[2] > 1_000,
        "{peaks:?}"
    );

    // The session's speakers are now those two: play_hub_media plays the mp3 on them.
    let before = written(&setup.clients);
    let demo_id = items[1]["PersistentID"].as_str().unwrap();
    let (status, _) = setup
        .call("play_hub_media", &[("PersistentID", demo_id)])
        .await;
    assert_eq!(status, StatusCode::OK);
    let peaks = setup.peaks_after_playing(&before).await;
    assert!(
        peaks[0] > 1_000 && peaks[1] == 0 && peaks[2] > 1_000,
        "{peaks:?}"
    );
}

#[tokio::test]
async fn web_media_plays_while_it_downloads_and_bad_urls_are_clear_errors() {
    let files = tempfile::tempdir().unwrap();
    sox(&files.path().join("tone.mp3"), 2.0);
    sox(&files.path().join("tone.flac"), 2.0);
    sox(&files.path().join("long.flac"), 8.0);
    std::fs::write(
        files.path().join("page.mp3"),
        "<html><body>This is not a song</body></html>".repeat(50),
    )
    .unwrap();
    let web = file_server(files.path().to_path_buf()).await;
    let setup = Setup::start("web", |config| {
        config.speakers.web_media_allow = vec!["127.0.0.1".into()];
    })
    .await;
    let url = |name: &str| format!("http://{web}/media/{name}");

    // An mp3 to two of the three speakers.
    let before = written(&setup.clients);
    let selected = format!("{},{}", setup.ids[0], setup.ids[1]);
    let (status, done) = setup
        .call(
            "play_web_media_selected_speakers",
            &[("MediaUrl", &url("tone.mp3")), ("DeviceIDList", &selected)],
        )
        .await;
    assert_eq!((status, done), (StatusCode::OK, json!({"Result": "true"})));
    let peaks = setup.peaks_after_playing(&before).await;
    assert!(
        peaks[0] > 1_000 && peaks[1] > 1_000 && peaks[2] == 0,
        "{peaks:?}"
    );

    // A flac to all three.
    let before = written(&setup.clients);
    let (status, _) = setup
        .call(
            "play_web_media_party_mode",
            &[("MediaUrl", &url("tone.flac"))],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let peaks = setup.peaks_after_playing(&before).await;
    assert!(peaks.iter().all(|p| *p > 1_000), "{peaks:?}");

    // A play that fails ends what was playing: the session is stopped, and stays usable.
    let (status, _) = setup
        .call("play_web_media", &[("MediaUrl", &url("long.flac"))])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, playing) = setup.call("is_playing", &[]).await;
    assert_eq!(playing, json!({"IsPlaying": "true"}));
    let (status, body) = setup
        .call("play_web_media", &[("MediaUrl", &url("page.mp3"))])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, stopped) = setup.call("playback_status", &[]).await;
    assert_eq!(
        stopped,
        json!({"PlaybackState": "PlayerStateStopped", "TimeElapsed": "-1"})
    );
    tokio::time::sleep(Duration::from_millis(700)).await;

    // Bad inputs, each a 4xx in the HK dialect; none plays anything. localhost is also ::1,
    // which is not allowed.
    let refused = format!("http://localhost:{}/media/tone.mp3", web.port());
    let cases: [(&str, StatusCode, &str); 6] = [
        (
            "rtsp://media.example/live.sdp",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "mms://media.example/song.wma",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        ("not a url", StatusCode::BAD_REQUEST, "bad_request"),
        (&refused, StatusCode::FAILED_DEPENDENCY, "media_unavailable"),
        (
            &url("missing.mp3"),
            StatusCode::FAILED_DEPENDENCY,
            "media_unavailable",
        ),
        (
            &url("page.mp3"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_media",
        ),
    ];
    let before = written(&setup.clients);
    for (media_url, status, code) in cases {
        let (got, body) = setup
            .call("play_web_media", &[("MediaUrl", media_url)])
            .await;
        assert_eq!(
            (got, body["Result"].as_str(), body["error"].as_str()),
            (status, Some("false"), Some(code)),
            "{media_url}: {body}"
        );
        if code == "media_unavailable" {
            let detail = body["detail"].as_str().unwrap();
            assert!(!detail.contains("127.0.0"), "{detail}");
        }
        let (_, stopped) = setup.call("playback_status", &[]).await;
        assert_eq!(
            stopped,
            json!({"PlaybackState": "PlayerStateStopped", "TimeElapsed": "-1"})
        );
    }
    let (status, body) = setup.call("play_web_media", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(peaks_since(&setup.clients, &before), [0, 0, 0]);

    // The session is still usable: the session's speakers (all three) play the flac.
    let before = written(&setup.clients);
    let (status, _) = setup
        .call("play_web_media", &[("MediaUrl", &url("tone.flac"))])
        .await;
    assert_eq!(status, StatusCode::OK);
    let peaks = setup.peaks_after_playing(&before).await;
    assert!(peaks.iter().all(|p| *p > 1_000), "{peaks:?}");
}

#[tokio::test]
async fn loopback_web_media_is_refused_unless_allowed() {
    let files = tempfile::tempdir().unwrap();
    sox(&files.path().join("tone.mp3"), 1.0);
    let web = file_server(files.path().to_path_buf()).await;
    let server =
        TestServer::start_with(|config| config.speakers.local_output = "null".into()).await;
    server.add_user("ana", "ana-password-1").await;
    let (token, _) = tokens(&server, "ana", "ana-password-1").await;
    let (_, opened) = hk(&server, &token, "init_session", &[]).await;
    let session = opened["SessionToken"].as_str().unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let media_url = format!("http://{host}:{}/media/tone.mp3", web.port());
        let (status, body) = hk(
            &server,
            &token,
            "play_web_media_party_mode",
            &[("SessionToken", session), ("MediaUrl", &media_url)],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str(), body["detail"].as_str()),
            (
                StatusCode::FAILED_DEPENDENCY,
                Some("media_unavailable"),
                Some("MediaUrl could not be reached or is not allowed")
            ),
            "{body}"
        );
    }
}

/// Sign changes of the left channel over the last `frames` frames a speaker wrote, and the
/// loudest of them: a 440 Hz tone changes sign 880 times a second.
fn tail(client: &Snapclient, frames: usize) -> (usize, i32) {
    let samples = client.samples();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let tail = &left[left.len().saturating_sub(frames)..];
    let crossings = tail.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    let peak = tail.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0);
    (crossings, peak)
}

async fn elapsed(setup: &Setup) -> u64 {
    let (_, status) = setup.call("playback_status", &[]).await;
    assert_eq!(status["PlaybackState"], "PlayerStatePlaying", "{status}");
    status["TimeElapsed"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn music_continues_where_it_was_after_an_announcement_and_resumes_by_its_id() {
    let media = tempfile::tempdir().unwrap();
    sox(&media.path().join("tone.flac"), 40.0);
    sox(&media.path().join("other.flac"), 3.0);
    let dir = media.path().to_string_lossy().into_owned();
    let setup = Setup::start("duck", |config| config.speakers.media_dir = Some(dir)).await;
    let (_, list) = setup.call("media_list", &[]).await;
    let id_of = |title: &str| {
        list["MediaList"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["Title"] == title)
            .and_then(|item| item["PersistentID"].as_str())
            .unwrap()
            .to_string()
    };
    let (tone, other) = (id_of("tone"), id_of("other"));

    // Music on the first two speakers.
    let music = format!("{},{}", setup.ids[0], setup.ids[1]);
    let (status, body) = setup
        .call(
            "play_hub_media_selected_speakers",
            &[("PersistentID", &tone), ("DeviceIDList", &music)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before_announcement = elapsed(&setup).await;
    let before = written(&setup.clients);

    // An announcement on the third: the music holds its place meanwhile.
    let (status, body) = setup
        .call(
            "play_tts_selected_speakers",
            &[
                ("Text", "The washing machine has finished its programme."),
                ("DeviceIDList", &setup.ids[2]),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let announced = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = elapsed(&setup).await;
    assert!(
        during <= before_announcement + 1,
        "the music held at {before_announcement} s, not {during} s"
    );

    // After it, the music is back on its two speakers, where it was, and the third is quiet.
    tokio::time::sleep_until(announced + Duration::from_secs(7)).await;
    let after = elapsed(&setup).await;
    assert!(
        after > during && after < before_announcement + 7,
        "{before_announcement} s before, {during} s during, {after} s 7 s later"
    );
    let announcement = peaks_since(&setup.clients[2..], &before[2..]);
    assert!(
        announcement[0] > 1_000,
        "the announcement was heard: {announcement:?}"
    );
    for (at, client) in setup.clients.iter().enumerate() {
        let (crossings, peak) = tail(client, 24_000);
        if at < 2 {
            assert!(
                (400..480).contains(&crossings) && peak > 8_000,
                "speaker {at}: {crossings} sign changes, peak {peak} in the last 0.5 s"
            );
        } else {
            assert_eq!(peak, 0, "speaker {at} is quiet again");
        }
    }

    // Paused, resumed by the same id: it continues from its place; another id plays that.
    let (status, _) = setup.call("pause_play", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, paused) = setup.call("playback_status", &[]).await;
    let at_pause: u64 = paused["TimeElapsed"].as_str().unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (status, body) = setup
        .call("resume_hub_media", &[("PersistentID", &tone)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let resumed = elapsed(&setup).await;
    assert!(
        (at_pause..=at_pause + 2).contains(&resumed),
        "paused at {at_pause} s, {resumed} s after resuming"
    );
    let (status, _) = setup.call("pause_play", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = setup
        .call("resume_hub_media", &[("PersistentID", &other)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        elapsed(&setup).await <= 1,
        "the other file plays from its start"
    );
    let (status, body) = setup
        .call("resume_hub_media", &[("PersistentID", "12345")])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn music_played_during_an_announcement_stays_on_its_own_speakers() {
    let media = tempfile::tempdir().unwrap();
    sox(&media.path().join("tone.flac"), 30.0);
    let dir = media.path().to_string_lossy().into_owned();
    let setup = Setup::start("swap", |config| config.speakers.media_dir = Some(dir)).await;
    let (_, list) = setup.call("media_list", &[]).await;
    let tone = list["MediaList"][0]["PersistentID"]
        .as_str()
        .unwrap()
        .to_string();
    let first_two = format!("{},{}", setup.ids[0], setup.ids[1]);
    let play = |speakers: String| {
        let tone = tone.clone();
        let setup = &setup;
        async move {
            let (status, body) = setup
                .call(
                    "play_hub_media_selected_speakers",
                    &[("PersistentID", &tone), ("DeviceIDList", &speakers)],
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    play(first_two).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // An announcement on the third, then (while it speaks) the music again, on the third only:
    // the announcement's end must not move the first two back.
    let (status, body) = setup
        .call(
            "play_tts_selected_speakers",
            &[
                ("Text", "The post has arrived at the front door."),
                ("DeviceIDList", &setup.ids[2]),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    play(setup.ids[2].clone()).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let tails: Vec<(usize, i32)> = setup.clients.iter().map(|c| tail(c, 24_000)).collect();
    assert!(
        tails[0].1 == 0 && tails[1].1 == 0 && (400..480).contains(&tails[2].0),
        "only the third plays the music now: {tails:?}"
    );
}
