//! The Wyoming server, driven by the official `wyoming` Python package as Home Assistant's
//! integration drives it (`wyoming_client.py`): describe, synthesis (whole and streamed by
//! sentence, the audio checked against the HTTP synthesis of the same text), transcription of
//! espeak-ng speech by a trained assistant's recogniser, bad frames answered with `error`
//! events, the allowlist, and built voices offered only when configured.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use speech::wav::{ReadLimits, read_wav};
use testkit::{Binary, TestServer, free_port, python};
use voicegate::config::{Config, Exposure};

use crate::assistants_asr::{assistant_with_models, commands_dataset, speak};
use crate::support::{client, tokens};
use crate::voices::recording;

const SENTENCE: &str = "The quick brown fox jumps over the lazy dog near the river bank.";

/// A server with Wyoming on a free port of 127.0.0.1, and that port.
async fn wyoming_server(adjust: impl FnOnce(&mut Config)) -> (TestServer, u16) {
    let port = free_port();
    let server = TestServer::start_with(|c| {
        c.wyoming.enabled = true;
        c.wyoming.listen = format!("127.0.0.1:{port}").parse().unwrap();
        adjust(c);
    })
    .await;
    (server, port)
}

/// Runs `wyoming_client.py` against `port` and answers what it printed.
async fn wyoming(port: u16, args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/wyoming_client.py");
    let run = tokio::process::Command::new(python())
        .arg(script)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the client ends within 300 s")
        .expect("python runs (the test command sets up .venv with wyoming)");
    assert!(
        output.status.success(),
        "wyoming_client.py {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the client prints JSON")
}

/// The 16-bit samples of a cycle's base64 PCM.
fn samples(cycle: &Value) -> Vec<i16> {
    let bytes = B64.decode(cycle["pcm"].as_str().unwrap()).unwrap();
    assert_eq!(bytes.len() % 2, 0, "whole 16-bit samples");
    bytes
        .chunks_exact(2)
        .map(|p| i16::from_le_bytes([p[0], p[1]]))
        .collect()
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// One audio cycle's format, checked consistent (start and every chunk), and its samples.
fn audio_of(cycle: &Value) -> (u32, Vec<i16>) {
    let start = &cycle["start"];
    assert_eq!(start[1], 2, "width: {start}");
    assert_eq!(start[2], 1, "channels: {start}");
    assert_eq!(
        cycle["chunk_formats"],
        json!([start]),
        "every chunk as audio-start says"
    );
    let rate = start[0].as_u64().unwrap() as u32;
    let samples = samples(cycle);
    assert!(rms(&samples) > 500.0, "not silent: rms {}", rms(&samples));
    (rate, samples)
}

fn voice_names(info: &Value) -> Vec<String> {
    info["info"]["tts"][0]["voices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_lists_the_voices_and_synthesis_speaks_like_the_http_route() {
    let (server, port) = wyoming_server(|_| {}).await;
    server.add_user("ann", "ann-password-1").await;
    let (token, _) = tokens(&server, "ann", "ann-password-1").await;

    assert_eq!(
        wyoming(port, &["ping", "hello"]).await,
        json!({"pong": "hello"})
    );

    let info = wyoming(port, &["describe"]).await;
    let tts = &info["info"]["tts"][0];
    assert_eq!(tts["name"], "voicegate", "{info}");
    assert_eq!(tts["installed"], true);
    assert_eq!(tts["supports_synthesize_streaming"], true);
    for field in ["attribution", "description", "version"] {
        assert!(!tts[field].is_null(), "{field}: {tts}");
    }
    let voices = tts["voices"].as_array().unwrap();
    let by_name = |name: &str| voices.iter().find(|v| v["name"] == name).cloned();
    let espeak = by_name("espeak:en-us").expect("espeak:en-us offered");
    assert_eq!(espeak["languages"], json!(["en-us"]));
    assert_eq!(espeak["attribution"]["name"], "eSpeak NG");
    assert_eq!(espeak["installed"], true);
    let flite = by_name("flite:slt").expect("flite:slt offered");
    assert_eq!(flite["languages"].as_array().unwrap().len(), 1);
    assert!(voices.iter().all(|v| v["languages"][0].is_string()));
    // No assistant has a language model yet: the speech-to-text program has no model.
    assert_eq!(info["info"]["asr"][0]["models"], json!([]));

    // The same text, spoken over Wyoming and by the HTTP route at the voice's own rate.
    let spoken = wyoming(port, &["synthesize", SENTENCE, "espeak:en-us"]).await;
    let cycles = spoken["cycles"].as_array().unwrap();
    assert_eq!(cycles.len(), 1, "{}", spoken["order"]);
    assert_eq!(spoken["order"][0], "audio-start");
    let (rate, audio) = audio_of(&cycles[0]);
    assert_eq!(rate, speech::espeak::SAMPLE_RATE);
    let query = serde_urlencoded::to_string([
        ("download_token", "espeak:en-us"),
        ("script", SENTENCE),
        ("sample_rate", &rate.to_string()),
    ])
    .unwrap();
    let http = client()
        .get(server.url(&format!("/api/v1/external/synthesis/?{query}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(http.status(), StatusCode::OK);
    let wav = read_wav(
        &http.bytes().await.unwrap(),
        ReadLimits { max_seconds: 60.0 },
    )
    .unwrap();
    let seconds = audio.len() as f64 / f64::from(rate);
    let http_seconds = wav.duration_secs();
    assert!(seconds > 2.0, "{seconds} s");
    assert!(
        (seconds - http_seconds).abs() < 0.05 * http_seconds,
        "Wyoming {seconds} s, HTTP {http_seconds} s"
    );

    // The default voice (`wyoming.default_voice`) when none is named, and a Flite voice at its rate.
    let by_default = wyoming(port, &["synthesize", "Good morning."]).await;
    assert_eq!(
        by_default["cycles"][0]["start"][0],
        speech::espeak::SAMPLE_RATE
    );
    let flite_spoken = wyoming(port, &["synthesize", "Good morning.", "flite:slt"]).await;
    let (flite_rate, _) = audio_of(&flite_spoken["cycles"][0]);
    assert_eq!(flite_rate, speech::flite::SAMPLE_RATE);

    // Refusals: an unknown voice, text over wyoming.max_text_chars (2000), nothing to speak.
    let unknown = wyoming(port, &["synthesize", "Hello.", "espeak:xx-nowhere"]).await;
    assert_eq!(unknown["error"]["code"], "unknown-voice", "{unknown}");
    let long = "word ".repeat(401);
    let too_long = wyoming(port, &["synthesize", &long, "espeak:en-us"]).await;
    assert_eq!(too_long["error"]["code"], "text-too-long", "{too_long}");
    let empty = wyoming(port, &["synthesize", "   ", "espeak:en-us"]).await;
    assert_eq!(empty["error"]["code"], "nothing-to-speak", "{empty}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_synthesis_speaks_each_sentence_then_stops() {
    let (_server, port) = wyoming_server(|_| {}).await;
    let sentences = [
        "Hello there.",
        "This is the second sentence, a little longer than the first.",
        "And a third one!",
    ];
    let mut args = vec!["stream", "espeak:en-us"];
    args.extend(sentences);
    let streamed = wyoming(port, &args).await;
    assert!(streamed.get("error").is_none(), "{streamed}");
    let cycles = streamed["cycles"].as_array().unwrap();
    // One cycle per sentence (the whole text sent again as `synthesize` is not spoken twice).
    assert_eq!(cycles.len(), sentences.len(), "{}", streamed["order"]);
    let order = streamed["order"].as_array().unwrap();
    assert_eq!(order.last().unwrap(), "synthesize-stopped");
    let mut durations = Vec::new();
    for cycle in cycles {
        let (rate, audio) = audio_of(cycle);
        durations.push(audio.len() as f64 / f64::from(rate));
    }
    // The longest sentence is the longest audio.
    assert!(
        durations[1] > durations[0] && durations[1] > durations[2],
        "{durations:?}"
    );
}

/// Builds a voice for `token`'s user from three espeak-ng recordings; its voice id.
async fn built_voice(server: &TestServer, token: &str) -> String {
    let post = |path: &str| client().post(server.url(path)).bearer_auth(token);
    let account: Value = post("/api/v1/external/account/register/")
        .json(&json!({"gender": "male", "age": "25"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = account["account_id"].as_str().unwrap().to_string();
    for sentence in [
        "This is my vocal identity, and I am reading a sentence for the test.",
        "The weather is lovely today, so we are going to walk along the river.",
        "Please remember to buy some bread, some milk and a few apples on the way home.",
    ] {
        let data = json!({"account_id": account, "sentence": sentence});
        let file = Part::bytes(recording(sentence, 90, 0.0))
            .file_name("r.wav")
            .mime_str("audio/wav")
            .unwrap();
        let form = Form::new()
            .text("data", data.to_string())
            .part("file", file);
        let saved = post("/api/v1/external/recording/save/")
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status(), StatusCode::OK);
    }
    let build: Value = post("/api/v1/external/build/new/")
        .json(&json!({"account_id": account}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let build = build["build_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status: Value = client()
            .get(server.url(&format!("/api/v1/external/build/status/?build_id={build}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status[0]["status"] == "COMPLETE" {
            return status[0]["voice_id"].as_str().unwrap().to_string();
        }
        assert_ne!(status[0]["status"], "ERROR", "{status}");
        assert!(Instant::now() < deadline, "the build ends: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_voices_are_offered_only_when_configured() {
    let (server, port) = wyoming_server(|_| {}).await;
    server.add_user("ann", "ann-password-1").await;
    let (token, _) = tokens(&server, "ann", "ann-password-1").await;
    let voice_id = built_voice(&server, &token).await;

    // By default a user's built voice is not offered, nor spoken.
    let hidden = wyoming(port, &["describe"]).await;
    assert!(!voice_names(&hidden).contains(&voice_id), "{hidden}");
    assert!(voice_names(&hidden).contains(&"espeak:en-us".to_string()));
    let refused = wyoming(port, &["synthesize", "Hello there.", &voice_id]).await;
    assert_eq!(refused["error"]["code"], "unknown-voice", "{refused}");

    // An instance beside it that exposes this voice offers it, with its base voice's language.
    let other_port = free_port();
    let exposing = TestServer::start_beside(&server, |c| {
        c.wyoming.listen = format!("127.0.0.1:{other_port}").parse().unwrap();
        c.wyoming.expose_built_voices = Exposure::Listed(vec![voice_id.clone()]);
    })
    .await;
    let shown = wyoming(other_port, &["describe"]).await;
    let voices = shown["info"]["tts"][0]["voices"].as_array().unwrap();
    let built = voices
        .iter()
        .find(|v| v["name"] == voice_id.as_str())
        .unwrap_or_else(|| panic!("{voice_id} offered: {shown}"));
    assert_eq!(built["languages"], json!(["en-us"]), "{built}");
    let spoken = wyoming(other_port, &["synthesize", "Hello there.", &voice_id]).await;
    audio_of(&spoken["cycles"][0]);
    drop(exposing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trained_assistant_transcribes_spoken_commands() {
    let (server, port) = wyoming_server(|_| {}).await;
    server.add_user("ann", "ann-password-1").await;
    let (token, _) = tokens(&server, "ann", "ann-password-1").await;
    let (id, status) = assistant_with_models(&server, &token, commands_dataset()).await;
    assert_eq!(status["progress"], 100, "{status}");

    let info = wyoming(port, &["describe"]).await;
    let models = &info["info"]["asr"][0]["models"];
    assert_eq!(models.as_array().unwrap().len(), 1, "{info}");
    assert_eq!(models[0]["name"], id.as_str());
    assert_eq!(models[0]["languages"], json!(["en"]));
    assert_eq!(info["info"]["asr"][0]["installed"], true);

    // espeak-ng's speech at 22050 Hz (resampled to the recogniser's 16 kHz), asked for by the
    // model's name, and by language alone as Home Assistant asks.
    let espeak = speech::espeak::Espeak::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (text, name, language) in [
        ("turn on the kitchen lights", id.as_str(), ""),
        ("what is the weather tomorrow", "", "en"),
        ("set the bedroom lights to blue", "", "en-US"),
    ] {
        let samples = speak(&espeak, "en-us", Some(150.0), text);
        let rate = speech::espeak::SAMPLE_RATE;
        let wav = speech::wav::encode_wav(&speech::Audio::from_i16(rate, &samples));
        let path = dir.path().join("command.wav");
        std::fs::write(&path, wav).unwrap();
        let heard = wyoming(
            port,
            &["transcribe", path.to_str().unwrap(), name, language],
        )
        .await;
        assert_eq!(heard, json!({"text": text, "language": "en"}), "{text}");
    }

    // A model that is not offered, and one for a language none speaks.
    let path = dir.path().join("command.wav");
    let path = path.to_str().unwrap();
    let unknown = wyoming(port, &["transcribe", path, "no-such-assistant", ""]).await;
    assert_eq!(unknown["error"]["code"], "unknown-model", "{unknown}");
    let german = wyoming(port, &["transcribe", path, "", "de"]).await;
    assert_eq!(german["error"]["code"], "unknown-model", "{german}");
}

/// The events `raw` saw after sending `bytes` (hex-encoded for the client).
async fn raw(port: u16, bytes: &[u8], then_ping: bool) -> Value {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut args = vec!["raw", hex.as_str()];
    if then_ping {
        args.push("then-ping");
    }
    wyoming(port, &args).await["events"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_an_error_event() {
    let (_server, port) = wyoming_server(|c| {
        c.wyoming.max_header_bytes = 1024;
        c.wyoming.max_data_bytes = 2048;
        c.wyoming.max_payload_bytes = 4096;
        c.wyoming.idle_timeout_secs = 2;
    })
    .await;
    let error_then_closed = |events: &Value, code: &str| {
        assert_eq!(events[0]["type"], "error", "{events}");
        assert_eq!(events[0]["data"]["code"], code, "{events}");
        assert!(events[0]["data"]["text"].as_str().unwrap().len() > 5);
        assert_eq!(events[1], json!({"closed": true}), "{events}");
    };
    let long = format!(
        "{{\"type\":\"ping\",\"data\":{{\"text\":\"{}\"}}}}\n",
        "x".repeat(2000)
    );
    error_then_closed(&raw(port, long.as_bytes(), false).await, "header-too-long");
    error_then_closed(&raw(port, b"{\"type\": ping}\n", false).await, "bad-json");
    error_then_closed(&raw(port, b"{\"data\": {}}\n", false).await, "bad-header");
    let big_data = b"{\"type\":\"ping\",\"data_length\":3000}\n";
    error_then_closed(&raw(port, big_data, false).await, "data-too-large");
    let big_payload = b"{\"type\":\"audio-chunk\",\"payload_length\":5000}\n";
    error_then_closed(&raw(port, big_payload, false).await, "payload-too-large");

    // An unknown event is refused and the connection goes on; data may sit in the header.
    let unknown = raw(port, b"{\"type\":\"dance\"}\n", true).await;
    assert_eq!(unknown[0]["data"]["code"], "unknown-event", "{unknown}");
    assert_eq!(
        unknown[1],
        json!({"type": "pong", "data": {"text": "again"}})
    );
    let inline = raw(
        port,
        b"{\"type\":\"ping\",\"data\":{\"text\":\"inline\"}}\n",
        true,
    )
    .await;
    assert_eq!(
        inline[0],
        json!({"type": "pong", "data": {"text": "inline"}})
    );
    let merged =
        b"{\"type\":\"ping\",\"data\":{\"text\":\"a\"},\"data_length\":15}\n{\"text\":\"both\"}";
    assert_eq!(raw(port, merged, true).await[0]["data"]["text"], "both");

    // Audio out of order, and audio in a format the recogniser cannot take.
    let chunk = b"{\"type\":\"audio-chunk\",\"data\":{\"rate\":16000,\"width\":2,\"channels\":1},\"payload_length\":2}\n\x00\x00";
    assert_eq!(
        raw(port, chunk, true).await[0]["data"]["code"],
        "out-of-order"
    );
    let start =
        b"{\"type\":\"audio-start\",\"data\":{\"rate\":16000,\"width\":4,\"channels\":1}}\n";
    assert_eq!(raw(port, start, true).await[0]["data"]["code"], "bad-audio");

    // A connection that sends nothing is told so and closed after wyoming.idle_timeout_secs.
    let started = Instant::now();
    error_then_closed(&raw(port, b"", false).await, "idle-timeout");
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_outside_the_allowlist_is_refused() {
    let (_server, port) = wyoming_server(|c| c.wyoming.allow = vec!["10.9.8.7".into()]).await;
    let events = raw(port, b"{\"type\":\"describe\"}\n", false).await;
    assert_eq!(events[0]["type"], "error", "{events}");
    assert_eq!(events[0]["data"]["code"], "not-allowed", "{events}");
    assert_eq!(events[1], json!({"closed": true}), "{events}");
    // A server whose allowlist names loopback lets the same client in.
    let (_open, open_port) = wyoming_server(|c| c.wyoming.allow = vec!["127.0.0.1".into()]).await;
    assert_eq!(
        wyoming(open_port, &["ping", "in"]).await,
        json!({"pong": "in"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_past_the_connection_cap_is_told_busy() {
    let (_server, port) = wyoming_server(|c| c.wyoming.max_connections = 1).await;
    let held = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let events = raw(port, b"{\"type\":\"describe\"}\n", false).await;
    assert_eq!(events[0]["data"]["code"], "busy", "{events}");
    assert_eq!(events[1], json!({"closed": true}), "{events}");
    // Once the held connection ends, its place is free again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = raw(
            port,
            b"{\"type\":\"ping\",\"data\":{\"text\":\"x\"}}\n",
            true,
        )
        .await;
        if events[0]["type"] == "pong" {
            break;
        }
        assert!(Instant::now() < deadline, "still busy: {events}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn doctor_sees_the_running_server_and_a_port_held_by_another_program() {
    let (_server, port) = wyoming_server(|_| {}).await;
    let mut bin = Binary::new(env!("CARGO_BIN_EXE_voicegate"));
    bin.env
        .push(("VOICEGATE_WYOMING__ENABLED".into(), "true".into()));
    bin.env.push((
        "VOICEGATE_WYOMING__LISTEN".into(),
        format!("127.0.0.1:{port}"),
    ));
    let out = bin.run(&["doctor"], "").await;
    let served = format!("ok    Wyoming port 127.0.0.1:{port} is served by voicegate");
    assert!(out.stdout.contains(&served), "{}", out.stdout);

    // A port held by something that does not speak Wyoming: a failure naming the key.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = other.local_addr().unwrap().port();
    bin.env.pop();
    bin.env.push((
        "VOICEGATE_WYOMING__LISTEN".into(),
        format!("127.0.0.1:{held}"),
    ));
    let out = bin.run(&["doctor"], "").await;
    assert!(!out.success, "{}", out.stdout);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{held}")))
        .unwrap_or_else(|| panic!("no Wyoming line in:\n{}", out.stdout));
    assert!(line.starts_with("fail  "), "{line}");
    assert!(out.stdout.contains("wyoming.listen"), "{}", out.stdout);
}
