//! The vocalid-api voices surface: accounts, recordings with their level check, builds, the
//! voice list, synthesis (checked on the audio itself), put_url, devices, downloads, licences.
//! Recordings come from the espeak-ng command-line program, a separate producer from the engine
//! library the server links.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use speech::Audio;
use speech::wav::{ReadLimits, encode_wav, read_wav};
use testkit::{TestServer, run_python};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{client, error_body, tokens};

const SENTENCE: &str = "This is my vocal identity, and I am reading a sentence for the test.";
const LIMITS: ReadLimits = ReadLimits { max_seconds: 120.0 };

/// A WAV recording of `text` by the espeak-ng program at pitch `pitch` (0-99), `gain_db` louder.
pub fn recording(text: &str, pitch: u32, gain_db: f32) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", "en-us", "-p", &pitch.to_string(), "-w"])
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng runs (Debian package espeak-ng)");
    assert!(status.success());
    let bytes = std::fs::read(&path).unwrap();
    if gain_db == 0.0 {
        return bytes;
    }
    encode_wav(&read_wav(&bytes, LIMITS).unwrap().with_gain_db(gain_db))
}

fn median_f0(audio: &Audio) -> f32 {
    speech::pitch::track(audio)
        .unwrap()
        .stats(20)
        .unwrap()
        .median_hz
}

struct Voices {
    server: TestServer,
    token: String,
}

impl Voices {
    async fn start(adjust: impl FnOnce(&mut voicegate::config::Config)) -> Self {
        let server = TestServer::start_with(adjust).await;
        server.add_user("alice", "alice-password-1").await;
        server.add_user("bob", "bob-password-12").await;
        let (token, _) = tokens(&server, "alice", "alice-password-1").await;
        Self { server, token }
    }

    async fn bob(&self) -> String {
        tokens(&self.server, "bob", "bob-password-12").await.0
    }

    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        client()
            .get(self.server.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// GET, asserting 200, and the JSON answer.
    async fn json(&self, path: &str, token: &str) -> Value {
        let response = self.get(path, token).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.unwrap()
    }

    /// The entry of `voice_id` in this user's `voices/list`.
    async fn listed(&self, voice_id: &str) -> Option<Value> {
        let list = self
            .json("/api/v1/external/voices/list/", &self.token)
            .await;
        list["voices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["voice_id"] == voice_id)
            .cloned()
    }

    async fn post_json(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        client()
            .post(self.server.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn account(&self, gender: &str) -> String {
        let response = self
            .post_json(
                "/api/v1/external/account/register/",
                &self.token,
                json!({"gender": gender, "age": "25"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["account_id"].as_str().unwrap().to_string()
    }

    async fn upload(&self, token: &str, data: Value, file: Option<Vec<u8>>) -> reqwest::Response {
        let mut form = Form::new().text("data", data.to_string());
        if let Some(file) = file {
            form = form.part(
                "file",
                Part::bytes(file)
                    .file_name("r.wav")
                    .mime_str("audio/wav")
                    .unwrap(),
            );
        }
        client()
            .post(self.server.url("/api/v1/external/recording/save/"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    async fn sentences(&self, account: &str) -> i64 {
        let response = self
            .get(
                &format!("/api/v1/external/account/info/?account_id={account}"),
                &self.token,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["sentences_recorded"]
            .as_i64()
            .unwrap()
    }

    async fn synthesize(&self, query: &str) -> reqwest::Response {
        self.get(&format!("/api/v1/external/synthesis/?{query}"), &self.token)
            .await
    }

    async fn audio(&self, query: &str) -> Audio {
        let response = self.synthesize(query).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        assert_eq!(response.headers()["content-type"], "audio/wav");
        read_wav(&response.bytes().await.unwrap(), LIMITS).unwrap()
    }

    fn blob_files(&self) -> usize {
        let root = self.server.data_dir.path().join("blobs");
        walk(&root)
    }
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

fn encoded(text: &str) -> String {
    serde_urlencoded::to_string([("script", text)]).unwrap()
}

async fn detail_of(response: reqwest::Response, status: StatusCode) -> String {
    let (_, body) = error_body(response, status).await;
    body["detail"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_register_with_json_or_form_and_validate_fields() {
    let v = Voices::start(|_| {}).await;
    let path = "/api/v1/external/account/register/";
    // The contract's curl example, and the same as form-data with a data field.
    let response = v
        .post_json(path, &v.token, json!({"gender": "male", "age": "25"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let first: Value = response.json().await.unwrap();
    assert!(
        first["account_id"]
            .as_str()
            .is_some_and(|id| id.len() == 32)
    );
    let form = Form::new().text("data", json!({"gender": "other", "age": 40}).to_string());
    let response = client()
        .post(v.server.url(path))
        .bearer_auth(&v.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for (body, named) in [
        (json!({"gender": "robot", "age": 3}), "gender"),
        (json!({"age": 3}), "gender"),
        (json!({"gender": "female", "age": "2.5"}), "age"),
        (json!({"gender": "female", "age": -1}), "age"),
        (json!({"gender": "female"}), "age"),
        (json!({"gender": "female", "age": 1.5}), "age"),
    ] {
        let detail = detail_of(
            v.post_json(path, &v.token, body.clone()).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.starts_with(named), "{body}: {detail}");
    }
    let response = client()
        .post(v.server.url(path))
        .bearer_auth(&v.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    detail_of(response, StatusCode::BAD_REQUEST).await;
    let response = client()
        .post(v.server.url(path))
        .json(&json!({"gender": "male", "age": 1}))
        .send()
        .await
        .unwrap();
    error_body(response, StatusCode::UNAUTHORIZED).await;
}

/// token, data field, file, expected status, the field the error names.
type UploadCase = (String, Value, Option<Vec<u8>>, StatusCode, &'static str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_are_level_checked_and_bad_uploads_store_nothing() {
    let v = Voices::start(|c| c.voices.max_upload_bytes = 600_000).await;
    let account = v.account("female").await;
    let data = json!({"account_id": account, "sentence": SENTENCE});
    for (gain, code) in [(0.0, "OK"), (12.0, "OVERDRIVEN"), (-36.0, "UNDERDRIVEN")] {
        let response = v
            .upload(&v.token, data.clone(), Some(recording(SENTENCE, 50, gain)))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"sentence_status": {"code": code}, "status": 200}),
            "{gain} dB"
        );
    }
    assert_eq!(
        v.sentences(&account).await,
        1,
        "only the good recording counts"
    );
    let stored = v.blob_files();
    assert_eq!(stored, 3);

    let good = recording(SENTENCE, 50, 0.0);
    let long = encode_wav(&Audio {
        sample_rate: 8000,
        samples: vec![0.01; 8000 * 31],
    });
    let empty = encode_wav(&Audio {
        sample_rate: 8000,
        samples: vec![],
    });
    let bob = v.bob().await;
    let cases: Vec<UploadCase> = vec![
        (
            v.token.clone(),
            data.clone(),
            Some(b"RIFF not really a wav".to_vec()),
            StatusCode::BAD_REQUEST,
            "file",
        ),
        (
            v.token.clone(),
            data.clone(),
            Some(Vec::new()),
            StatusCode::BAD_REQUEST,
            "file",
        ),
        (
            v.token.clone(),
            data.clone(),
            Some(empty),
            StatusCode::BAD_REQUEST,
            "file",
        ),
        (
            v.token.clone(),
            data.clone(),
            Some(long),
            StatusCode::BAD_REQUEST,
            "file",
        ),
        (
            v.token.clone(),
            data.clone(),
            None,
            StatusCode::BAD_REQUEST,
            "file",
        ),
        (
            v.token.clone(),
            json!({"account_id": "nope", "sentence": "x"}),
            Some(good.clone()),
            StatusCode::NOT_FOUND,
            "account_id",
        ),
        (
            bob,
            data.clone(),
            Some(good.clone()),
            StatusCode::NOT_FOUND,
            "account_id",
        ),
        (
            v.token.clone(),
            json!({"account_id": account}),
            Some(good.clone()),
            StatusCode::BAD_REQUEST,
            "sentence",
        ),
        (
            v.token.clone(),
            json!({"sentence": "x"}),
            Some(good.clone()),
            StatusCode::BAD_REQUEST,
            "account_id",
        ),
    ];
    for (token, data, file, status, named) in cases {
        let detail = detail_of(v.upload(&token, data.clone(), file).await, status).await;
        assert!(detail.starts_with(named), "{data}: {detail}");
    }
    // Over voices.max_upload_bytes: 413. The server answers as soon as the limit is crossed and
    // does not read the rest, so a client still writing may see the connection close instead.
    let form = Form::new()
        .text("data", data.to_string())
        .part("file", Part::bytes(vec![0u8; 700_000]).file_name("r.wav"));
    match client()
        .post(v.server.url("/api/v1/external/recording/save/"))
        .bearer_auth(&v.token)
        .multipart(form)
        .send()
        .await
    {
        Ok(response) => {
            error_body(response, StatusCode::PAYLOAD_TOO_LARGE).await;
        }
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    // JSON instead of a form.
    let response = v
        .post_json("/api/v1/external/recording/save/", &v.token, data.clone())
        .await;
    error_body(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(v.blob_files(), stored, "refused uploads stored nothing");
    assert_eq!(v.sentences(&account).await, 1);

    let detail = detail_of(
        v.get("/api/v1/external/account/info/", &v.token).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.starts_with("account_id"), "{detail}");
    let response = v
        .get(
            &format!("/api/v1/external/account/info/?account_id={account}"),
            &v.bob().await,
        )
        .await;
    error_body(response, StatusCode::NOT_FOUND).await;
}

async fn wait_for_build(v: &Voices, build: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let response = v
            .get(
                &format!("/api/v1/external/build/status/?build_id={build}"),
                &v.token,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let list: Value = response.json().await.unwrap();
        let entry = list[0].clone();
        if entry["status"] != "PENDING" {
            return entry;
        }
        assert!(Instant::now() < deadline, "build {build} still pending");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_fit_the_recordings_prosody_and_report_errors() {
    // No build workers at first, so that the pending state can be seen. The speakers are
    // this machine's, into a WAV file.
    let speaker = tempfile::tempdir().unwrap();
    let speaker_wav = speaker.path().join("speaker.wav");
    let output = format!("wav:{}", speaker_wav.display());
    let v = Voices::start(|c| {
        c.jobs.workers = 0;
        c.speakers.local_output = output;
    })
    .await;
    let account = v.account("male").await;
    let sentences = [
        SENTENCE,
        "The weather is lovely today, so we are going to walk along the river.",
        "Please remember to buy some bread, some milk and a few apples on the way home.",
    ];
    for sentence in sentences {
        let data = json!({"account_id": account, "sentence": sentence});
        let response = v
            .upload(&v.token, data, Some(recording(sentence, 90, 0.0)))
            .await;
        assert_eq!(
            response.json::<Value>().await.unwrap()["sentence_status"]["code"],
            "OK"
        );
    }
    let new = "/api/v1/external/build/new/";
    let body: Value = v
        .post_json(new, &v.token, json!({"account_id": account}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "success", "{body}");
    let build = body["build_id"].as_str().unwrap().to_string();
    assert_eq!(build.len(), 32);
    let again: Value = v
        .post_json(new, &v.token, json!({"account_id": account}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again,
        json!({"message": "account already has a voice build pending.", "status": "error"})
    );
    let pending: Value = v
        .json("/api/v1/external/build/status/?status=PENDING", &v.token)
        .await;
    assert_eq!(
        pending,
        json!([{"account_id": account, "build_id": build, "status": "PENDING"}])
    );

    // A second account with one recording: too few to build.
    let thin = v.account("female").await;
    let data = json!({"account_id": thin, "sentence": SENTENCE});
    v.upload(&v.token, data, Some(recording(SENTENCE, 50, 0.0)))
        .await;
    let body: Value = v
        .post_json(new, &v.token, json!({"account_id": thin}))
        .await
        .json()
        .await
        .unwrap();
    let thin_build = body["build_id"].as_str().unwrap().to_string();

    let _workers = v.server.state.jobs.start_workers(1);
    let done = wait_for_build(&v, &build).await;
    assert_eq!(done["status"], "COMPLETE", "{done}");
    let voice_id = done["voice_id"].as_str().unwrap().to_string();
    let failed = wait_for_build(&v, &thin_build).await;
    assert_eq!(failed["status"], "ERROR");
    assert!(
        failed["error"].as_str().unwrap().contains("needs"),
        "{failed}"
    );
    let errors: Value = v
        .json("/api/v1/external/build/status/?status=ERROR", &v.token)
        .await;
    assert_eq!(errors.as_array().unwrap().len(), 1);
    let detail = detail_of(
        v.get("/api/v1/external/build/status/?status=DONE", &v.token)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.starts_with("status"));
    let bobs: Value = v
        .json("/api/v1/external/build/status/", &v.bob().await)
        .await;
    assert_eq!(bobs, json!([]));

    // The built voice is listed with its account and speaks closer to the recordings' pitch.
    let entry = v
        .listed(&voice_id)
        .await
        .expect("the built voice is listed");
    assert_eq!(entry["account_id"], account.as_str());
    let token = entry["download_token"].as_str().unwrap();
    let recorded = median_f0(&read_wav(&recording(SENTENCE, 90, 0.0), LIMITS).unwrap());
    let base_voice = entry["base_voice"].as_str().unwrap();
    let base = median_f0(
        &v.audio(&format!(
            "download_token={base_voice}&{}&sample_rate=16000",
            encoded(SENTENCE)
        ))
        .await,
    );
    let built = median_f0(
        &v.audio(&format!(
            "download_token={token}&{}&sample_rate=16000",
            encoded(SENTENCE)
        ))
        .await,
    );
    assert!(
        recorded > base * 1.15,
        "recordings {recorded} Hz, base {base} Hz"
    );
    assert!(
        (built - recorded).abs() < (base - recorded).abs() * 0.5,
        "base {base} Hz -> built {built} Hz, recordings {recorded} Hz"
    );
    let bob_list: Value = v
        .json("/api/v1/external/voices/list/", &v.bob().await)
        .await;
    assert!(
        bob_list["voices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["voice_id"] != voice_id.as_str())
    );
    let response = v
        .get(
            &format!("/api/v1/external/synthesis/?download_token={token}&script=hi"),
            &v.bob().await,
        )
        .await;
    error_body(response, StatusCode::NOT_FOUND).await;

    // Announcements on the speakers speak with it too (its voice id), and only for its owner.
    let announce = |token: String, voice: String| {
        let url = v.server.url("/api/v1/init_session");
        let server = &v.server;
        async move {
            let opened: Value = client()
                .get(url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let session = opened["SessionToken"].as_str().unwrap().to_string();
            let query = serde_urlencoded::to_string([
                ("SessionToken", session.as_str()),
                ("Text", SENTENCE),
                ("Voice", voice.as_str()),
            ])
            .unwrap();
            let response = client()
                .get(server.url(&format!("/api/v1/play_tts_party_mode?{query}")))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            (response, session)
        }
    };
    let (response, _) = announce(v.bob().await, voice_id.clone()).await;
    let (_, body) = error_body(response, StatusCode::BAD_REQUEST).await;
    assert!(body["detail"].as_str().unwrap().contains("Voice"), "{body}");
    let (response, session) = announce(v.token.clone(), voice_id.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    for _ in 0..200 {
        let status: Value = v
            .json(
                &format!("/api/v1/playback_status?SessionToken={session}"),
                &v.token,
            )
            .await;
        if status["PlaybackState"] == "PlayerStateStopped" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let announced = median_f0(&read_wav(&std::fs::read(&speaker_wav).unwrap(), LIMITS).unwrap());
    assert!(
        (announced - recorded).abs() < (base - recorded).abs() * 0.5,
        "base {base} Hz -> announced {announced} Hz, recordings {recorded} Hz"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthesis_gives_the_asked_rate_container_speed_and_pitch() {
    let v = Voices::start(|_| {}).await;
    let list: Value = v.json("/api/v1/external/voices/list/", &v.token).await;
    let voices = list["voices"].as_array().unwrap();
    let espeak = voices
        .iter()
        .find(|e| e["voice_id"] == "espeak:en-us")
        .expect("espeak en-us listed");
    for field in [
        "account_id",
        "can_download",
        "can_stream",
        "download_token",
        "expiration",
        "synthesis_count",
        "voice_id",
        "filename",
        "model_name",
        "name",
    ] {
        assert!(espeak.get(field).is_some(), "{field} missing from {espeak}");
    }
    assert!(voices.iter().any(|e| e["voice_id"] == "flite:slt"));
    assert_eq!(espeak["synthesis_count"], 0);
    let script = encoded(SENTENCE);
    for rate in [8000, 11025, 16000, 22050, 32000, 44100, 48000] {
        let audio = v
            .audio(&format!(
                "download_token=espeak:en-us&{script}&sample_rate={rate}"
            ))
            .await;
        assert_eq!(audio.sample_rate, rate);
        assert!(audio.duration_secs() > 2.0);
    }
    let default = v
        .audio(&format!("download_token=espeak:en-us&{script}"))
        .await;
    assert_eq!(default.sample_rate, 48000);
    let raw = v
        .synthesize(&format!(
            "download_token=flite:slt&{script}&container=&sample_rate=16000"
        ))
        .await;
    assert_eq!(raw.status(), StatusCode::OK);
    assert_eq!(raw.headers()["content-type"], "application/octet-stream");
    let bytes = raw.bytes().await.unwrap();
    assert_ne!(&bytes[..4], b"RIFF");
    assert!(bytes.len() > 16000 * 2, "{} bytes of PCM", bytes.len());

    for voice in ["espeak:en-us", "flite:slt"] {
        let plain = v
            .audio(&format!(
                "download_token={voice}&{script}&sample_rate=16000"
            ))
            .await;
        let fast = v
            .audio(&format!(
                "download_token={voice}&{script}&sample_rate=16000&rate=2.0"
            ))
            .await;
        let ratio = fast.duration_secs() / plain.duration_secs();
        assert!(
            (ratio - 0.5).abs() <= 0.075,
            "{voice}: rate 2.0 made it {ratio} as long"
        );
        let high = v
            .audio(&format!(
                "download_token={voice}&{script}&sample_rate=16000&pitch=1.5"
            ))
            .await;
        let ratio = median_f0(&high) / median_f0(&plain);
        assert!(
            (ratio - 1.5).abs() <= 0.225,
            "{voice}: pitch 1.5 moved F0 by {ratio}"
        );
    }
    let espeak = v.listed("espeak:en-us").await.unwrap();
    assert_eq!(espeak["synthesis_count"], 11);

    let long = "a".repeat(257);
    for (query, named, status) in [
        (
            script.to_string(),
            "download_token",
            StatusCode::BAD_REQUEST,
        ),
        (
            "download_token=espeak:en-us".to_string(),
            "script",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("download_token=espeak:en-us&script={long}"),
            "script",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("download_token=espeak:en-us&{script}&pitch=0"),
            "pitch",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("download_token=espeak:en-us&{script}&pitch=10.5"),
            "pitch",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("download_token=espeak:en-us&{script}&pitch=high"),
            "pitch",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("download_token=espeak:en-us&{script}&rate=-1"),
            "rate",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("download_token=espeak:en-us&{script}&rate=NaN"),
            "rate",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("download_token=espeak:en-us&{script}&container=mp3"),
            "container",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("download_token=espeak:en-us&{script}&sample_rate=12345"),
            "sample_rate",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("download_token=espeak:en-us&{script}&put_url=ftp://x/y"),
            "put_url",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("download_token=no-such-voice&{script}"),
            "download_token",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let detail = detail_of(v.synthesize(&query).await, status).await;
        assert!(detail.starts_with(named), "{query}: {detail}");
    }
}

/// A one-shot HTTP server on 127.0.0.1 that answers a PUT with 201 and hands over what came.
async fn put_receiver() -> (String, tokio::task::JoinHandle<(String, Vec<u8>)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/bucket/speech.wav?X-Signature=abc",
        listener.local_addr().unwrap()
    );
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut data = Vec::new();
        let mut buffer = [0u8; 65536];
        let (head, body_start) = loop {
            let n = socket.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the connection closed before the headers");
            data.extend_from_slice(&buffer[..n]);
            if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break (String::from_utf8_lossy(&data[..at]).to_string(), at + 4);
            }
        };
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("a content-length");
        let mut body = data[body_start..].to_vec();
        while body.len() < length {
            let n = socket.read(&mut buffer).await.unwrap();
            assert!(n > 0);
            body.extend_from_slice(&buffer[..n]);
        }
        socket
            .write_all(
                b"HTTP/1.1 201 Created\r\ncontent-length: 7\r\nconnection: close\r\n\r\nstored!",
            )
            .await
            .unwrap();
        (head, body)
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_url_uploads_the_wav_and_private_targets_need_the_allowlist() {
    let v = Voices::start(|c| c.voices.put_url_allow = vec!["127.0.0.1/32".into()]).await;
    let (url, received) = put_receiver().await;
    let query = format!(
        "download_token=espeak:en-us&{}&sample_rate=22050&{}",
        encoded(SENTENCE),
        serde_urlencoded::to_string([("put_url", &url)]).unwrap()
    );
    let response = v.synthesize(&query).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, json!({"status_code": 201, "response": "stored!"}));
    let (head, body) = received.await.unwrap();
    assert!(
        head.starts_with("PUT /bucket/speech.wav?X-Signature=abc HTTP/1.1"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: audio/wav"),
        "{head}"
    );
    let audio = read_wav(&body, LIMITS).unwrap();
    assert_eq!(audio.sample_rate, 22050);
    assert_eq!(
        &body[40..44],
        &((body.len() - 44) as u32).to_le_bytes(),
        "an exact WAV header"
    );

    let strict = Voices::start(|_| {}).await;
    let (url, unused) = put_receiver().await;
    let query = format!(
        "download_token=espeak:en-us&script=hello&{}",
        serde_urlencoded::to_string([("put_url", &url)]).unwrap()
    );
    // Refused without a word on why: the client is not told the address or the setting.
    let detail = detail_of(strict.synthesize(&query).await, StatusCode::BAD_GATEWAY).await;
    assert_eq!(
        detail,
        "put_url destination could not be reached or is not allowed"
    );
    assert!(!unused.is_finished(), "nothing was sent to the receiver");
    unused.abort();
}

const VERIFY: &str = r#"
import sys, json, base64
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
key_doc, licence = json.loads(sys.argv[1]), sys.argv[2].encode()
def b64(s):
    raw = base64.b64decode(s + "=" * (-len(s) % 4), altchars=b"-_", validate=True)
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != s:
        raise ValueError("not canonical base64url")
    return raw
key = Ed25519PublicKey.from_public_bytes(b64(key_doc["public_key"]))
def verify(data):
    try:
        doc = json.loads(data)
        if doc["format"] != "voicegate-licence-1" or doc["key_id"] != key_doc["key_id"]:
            return None
        key.verify(b64(doc["signature"]), b64(doc["payload"]))
        payload = json.loads(b64(doc["payload"]))
        return payload if payload["key_id"] == key_doc["key_id"] else None
    except Exception:
        return None
good = verify(licence)
flipped_ok = sum(1 for i in range(len(licence)) if verify(licence[:i] + bytes([licence[i] ^ 1]) + licence[i+1:]) is not None)
print(json.dumps({"payload": good, "flipped_ok": flipped_ok, "length": len(licence)}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_download_voices_and_signed_licences() {
    let v = Voices::start(|_| {}).await;
    let register = "/api/v1/external/device/register/";
    let response = client()
        .post(v.server.url(register))
        .bearer_auth(&v.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let device = response.json::<Value>().await.unwrap()["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    let named = v
        .post_json(register, &v.token, json!({"name": "kitchen pi"}))
        .await;
    assert_eq!(named.status(), StatusCode::OK);
    let bob = v.bob().await;
    let bobs_device = client()
        .post(v.server.url(register))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    let bobs_device = bobs_device.json::<Value>().await.unwrap()["device_id"]
        .as_str()
        .unwrap()
        .to_string();

    let download = v
        .get(
            &format!("/api/v1/external/voices/download/flite:slt?device_id={device}"),
            &v.token,
        )
        .await;
    assert_eq!(download.status(), StatusCode::OK);
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("flite-slt.voice.json")
    );
    let file: Value = download.json().await.unwrap();
    assert_eq!(file["format"], "voicegate-voice-1");
    assert_eq!(file["base_voice"]["id"], "flite:slt");

    let response = v
        .get(
            &format!("/api/v1/external/licenses/flite:slt?device_id={device}"),
            &v.token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let licence = response.text().await.unwrap();
    let key: Value = client()
        .get(v.server.url("/.well-known/voicegate-licence-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(key["algorithm"], "Ed25519");
    let out: Value =
        serde_json::from_str(&run_python(VERIFY, &[&key.to_string(), &licence])).unwrap();
    assert_eq!(out["payload"]["voice_id"], "flite:slt");
    assert_eq!(out["payload"]["device_id"], device.as_str());
    assert_eq!(
        out["flipped_ok"], 0,
        "every one-byte change must break the licence ({} bytes)",
        out["length"]
    );

    for (path, status, named) in [
        (
            format!("/api/v1/external/voices/download/flite:slt?device_id={bobs_device}"),
            StatusCode::FORBIDDEN,
            "device_id",
        ),
        (
            "/api/v1/external/licenses/flite:slt?device_id=unknown".to_string(),
            StatusCode::FORBIDDEN,
            "device_id",
        ),
        (
            "/api/v1/external/licenses/flite:slt".to_string(),
            StatusCode::BAD_REQUEST,
            "device_id",
        ),
        (
            format!("/api/v1/external/voices/download/nope?device_id={device}"),
            StatusCode::NOT_FOUND,
            "download_token",
        ),
    ] {
        let detail = detail_of(v.get(&path, &v.token).await, status).await;
        assert!(detail.starts_with(named), "{path}: {detail}");
    }

    // A voice that may not be downloaded gives neither its file nor a licence.
    let alice = v.server.state.identity.list_users().await.unwrap();
    let alice = alice.iter().find(|u| u.name == "alice").unwrap().id;
    sqlx::query(
        "INSERT INTO voices (id, owner_id, name, base_voice, profile, download_token, can_download, created_at) \
         VALUES ('kept', $1, 'kept voice', 'espeak:en-us', $2, 'vgv_kept', 0, 0)",
    )
    .bind(alice.get())
    .bind(
        json!({"base_voice": "espeak:en-us", "median_f0_hz": 120.0, "range_semitones": 4.0,
               "syllables_per_second": 4.0, "pitch": 1.0, "range": 1.0, "rate": 1.0, "recordings": 3})
        .to_string(),
    )
    .execute(v.server.state.db.pool())
    .await
    .unwrap();
    for route in ["voices/download", "licenses"] {
        let path = format!("/api/v1/external/{route}/vgv_kept?device_id={device}");
        let detail = detail_of(v.get(&path, &v.token).await, StatusCode::FORBIDDEN).await;
        assert!(detail.contains("cannot be downloaded"), "{path}: {detail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_routes_need_their_scopes() {
    let v = Voices::start(|_| {}).await;
    let grants = ["client_credentials".to_string()];
    let app = v
        .server
        .state
        .identity
        .add_client("lister", "alice", &grants, &[], None)
        .await
        .unwrap();
    let response = client()
        .post(v.server.url("/oauth/token"))
        .basic_auth(&app.client_id, Some(app.client_secret.expose()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=voice:list")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let narrow = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        v.get("/api/v1/external/voices/list/", &narrow)
            .await
            .status(),
        StatusCode::OK
    );
    for (method, path) in [
        ("POST", "/api/v1/external/account/register/"),
        ("GET", "/api/v1/external/account/info/?account_id=x"),
        ("POST", "/api/v1/external/recording/save/"),
        ("POST", "/api/v1/external/build/new/"),
        ("GET", "/api/v1/external/build/status/"),
        (
            "GET",
            "/api/v1/external/synthesis/?download_token=espeak:en-us&script=hi",
        ),
        ("POST", "/api/v1/external/device/register/"),
        (
            "GET",
            "/api/v1/external/voices/download/espeak:en-us?device_id=x",
        ),
        ("GET", "/api/v1/external/licenses/espeak:en-us?device_id=x"),
    ] {
        let request = match method {
            "POST" => client().post(v.server.url(path)).json(&json!({})),
            _ => client().get(v.server.url(path)),
        };
        let response = request.bearer_auth(&narrow).send().await.unwrap();
        let (code, _) = error_body(response, StatusCode::FORBIDDEN).await;
        assert_eq!(code, "insufficient_scope", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_limits_hold_sentences_and_synthesis_slots() {
    let v = Voices::start(|c| {
        c.voices.max_sentence_chars = 20;
        c.voices.max_concurrent_syntheses = 1;
        c.voices.synthesis_queue_ms = 200;
    })
    .await;
    let account = v.account("male").await;
    let data = json!({"account_id": account, "sentence": "twenty-one characters"});
    let detail = detail_of(
        v.upload(&v.token, data, Some(recording("hello", 50, 0.0)))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.starts_with("sentence"), "{detail}");
    assert_eq!(v.blob_files(), 0);

    // The one synthesis slot is taken: a request waits synthesis_queue_ms, then answers 503.
    let slot = v.server.state.engines.slot().await.unwrap();
    let started = Instant::now();
    let response = v
        .synthesize("download_token=espeak:en-us&script=hello")
        .await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(response.headers()["retry-after"], "1");
    error_body(response, StatusCode::SERVICE_UNAVAILABLE).await;
    drop(slot);
    let response = v
        .synthesize("download_token=espeak:en-us&script=hello")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_whose_job_died_does_not_block_the_account() {
    let v = Voices::start(|c| c.jobs.workers = 0).await;
    let account = v.account("female").await;
    let new = "/api/v1/external/build/new/";
    let first: Value = v
        .post_json(new, &v.token, json!({"account_id": account}))
        .await
        .json()
        .await
        .unwrap();
    let first = first["build_id"].as_str().unwrap().to_string();
    // A worker takes the job and fails it outside the build's own error handling.
    let jobs = v.server.state.voices.jobs();
    let job = jobs
        .claim(&["voice_build"], Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the build's job is queued");
    jobs.fail(&job.id, "worker lost").await.unwrap();
    let second: Value = v
        .post_json(new, &v.token, json!({"account_id": account}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["status"], "success", "{second}");
    assert_ne!(second["build_id"], first.as_str());
    let old = v
        .json(
            &format!("/api/v1/external/build/status/?build_id={first}"),
            &v.token,
        )
        .await;
    assert_eq!(old[0]["status"], "ERROR");
    assert!(
        old[0]["error"].as_str().unwrap().contains("worker lost"),
        "{old}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_modifiers_stay_bounded_and_silent_scripts_are_refused() {
    let v = Voices::start(|_| {}).await;
    let script = encoded(SENTENCE);
    let plain = v
        .audio(&format!(
            "download_token=espeak:en-us&{script}&sample_rate=8000"
        ))
        .await;
    let slowest = v
        .audio(&format!(
            "download_token=espeak:en-us&{script}&sample_rate=8000&rate=0.01&pitch=10"
        ))
        .await;
    // Asked for 100 times as long: the engine's slowest rate and at most a quarter of that again
    // by time-stretching, about 8.7 times.
    let ratio = slowest.duration_secs() / plain.duration_secs();
    assert!(
        (2.0..=10.0).contains(&ratio),
        "rate 0.01 made it {ratio} times as long"
    );
    let detail = detail_of(
        v.synthesize("download_token=flite:slt&script=...&container=")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.starts_with("script"), "{detail}");
}

/// What Python's `wave` module makes of a WAV file: `[frames, rate]`.
const WAVE_READS: &str = r#"
import sys, wave, json
with wave.open(sys.argv[1], "rb") as w:
    print(json.dumps([w.getnframes(), w.getframerate()]))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_synthesis_is_a_whole_wav_that_ordinary_tools_read() {
    let v = Voices::start(|_| {}).await;
    let query = format!(
        "download_token=espeak:en-us&{}&sample_rate=16000",
        encoded(SENTENCE)
    );
    // By default: the whole file, its length announced and its sizes exact.
    let whole = v.synthesize(&query).await;
    assert_eq!(whole.status(), StatusCode::OK);
    let length: usize = whole.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = whole.bytes().await.unwrap();
    assert_eq!(bytes.len(), length);
    let field = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(field(4), bytes.len() - 8, "RIFF size");
    assert_eq!(&bytes[36..40], b"data");
    assert_eq!(field(40), bytes.len() - 44, "data size");
    let file = v.server.data_dir.path().join("saved.wav");
    std::fs::write(&file, &bytes).unwrap();
    let read: Vec<u64> =
        serde_json::from_str(&run_python(WAVE_READS, &[file.to_str().unwrap()])).unwrap();
    let ours = read_wav(&bytes, LIMITS).unwrap();
    assert_eq!(read, [ours.samples.len() as u64, 16000]);
    let seconds = read[0] as f64 / read[1] as f64;
    assert!((2.0..60.0).contains(&seconds), "Python reads {seconds} s");

    // Asked for, it streams: no length, the open-ended sizes of a stream.
    let streamed = v.synthesize(&format!("{query}&stream=true")).await;
    assert_eq!(streamed.status(), StatusCode::OK);
    assert!(streamed.headers().get("content-length").is_none());
    let bytes = streamed.bytes().await.unwrap();
    assert_eq!(&bytes[4..8], &[0xff; 4]);
    // The same speech (the engine's chunking may move its end by a few milliseconds).
    let streamed_len = read_wav(&bytes, LIMITS).unwrap().samples.len();
    assert!(
        streamed_len.abs_diff(ours.samples.len()) < 16000 / 10,
        "{streamed_len}"
    );

    // Raw PCM is whole by default too.
    let pcm = v.synthesize(&format!("{query}&container=")).await;
    assert!(pcm.headers().get("content-length").is_some());
    let pcm_len = pcm.bytes().await.unwrap().len();
    assert_eq!(pcm_len % 2, 0);
    assert!(
        pcm_len.abs_diff(ours.samples.len() * 2) < 16000 / 5,
        "{pcm_len}"
    );
    let bad = v.synthesize(&format!("{query}&stream=maybe")).await;
    let (_, body) = error_body(bad, StatusCode::BAD_REQUEST).await;
    assert!(
        body["detail"].as_str().unwrap().starts_with("stream"),
        "{body}"
    );
}
