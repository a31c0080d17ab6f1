//! `GET /v1/events`: each token sees the topics its scopes grant and the events of its own user's
//! things only; a stream ends with its token (expiry, revocation, a disabled user).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TestServer;
use voicegate::events::Event;
use voicegate::identity::scopes::Scope;

use crate::support::{binary_with_user, client, error_body, tokens};

/// One server-sent event.
#[derive(Debug)]
pub(crate) struct Sse {
    pub(crate) name: String,
    pub(crate) data: Value,
}

/// An open `/v1/events` stream and what it has sent so far.
pub(crate) struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    pub(crate) async fn open(base: &str, token: &str, query: &str) -> Self {
        let response = client()
            .get(format!("{base}/v1/events{query}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event within `wait`, `None` if the stream ended; panics when nothing comes.
    pub(crate) async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(str::to_string)
                };
                // Keep-alive comments carry no event.
                if let (Some(name), Some(data)) = (field("event: "), field("data: ")) {
                    return Some(Sse {
                        name,
                        data: serde_json::from_str(&data).unwrap(),
                    });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an event or the end of the stream in time")
                .ok()
                .flatten()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Waits for the end of the stream, skipping events; how long it took.
    async fn end(&mut self, wait: Duration) -> Duration {
        let started = Instant::now();
        while self.next(wait).await.is_some() {}
        started.elapsed()
    }
}

async fn post(server: &TestServer, path: &str, token: &str, body: Value) -> Value {
    let response = client()
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// A voice account of the user of `token`, and a build of it (which ends in ERROR: the account
/// has no recordings).
async fn failing_build(server: &TestServer, account_token: &str, build_token: &str) -> String {
    let account = post(
        server,
        "/api/v1/external/account/register/",
        account_token,
        json!({"gender": "female", "age": 30}),
    )
    .await["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    let build = post(
        server,
        "/api/v1/external/build/new/",
        build_token,
        json!({"account_id": account}),
    )
    .await;
    build["build_id"].as_str().expect("a build id").to_string()
}

async fn build_status(server: &TestServer, token: &str, build: &str) -> String {
    let response = client()
        .get(server.url(&format!("/api/v1/external/build/status/?build_id={build}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let builds: Value = response.json().await.unwrap();
    builds[0]["status"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_build_token_streams_the_events_of_its_own_builds_only() {
    let server = TestServer::start().await;
    server.add_user("ann", "ann-password").await;
    server.add_user("bob", "bob-password").await;
    let (ann, _) = tokens(&server, "ann", "ann-password").await;
    let (bob, _) = tokens(&server, "bob", "bob-password").await;
    let ann_builds = server
        .state
        .identity
        .create_named_token_for("ann", "builds", Some("voice_build"), None)
        .await
        .unwrap()
        .expose()
        .to_string();
    let mut stream = Stream::open(&server.base, &ann_builds, "").await;

    // What ann's token must not see: a bus message (scope ovos) and bob's build.
    server.state.events.publish(Event::new(
        "ovos.speak",
        Scope::Ovos,
        None,
        &json!({"utterance": "not for a build token"}),
    ));
    let bobs = failing_build(&server, &bob, &bob).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while build_status(&server, &bob, &bobs).await == "PENDING" {
        assert!(Instant::now() < deadline, "bob's build never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Ann's own build, asked for with the build token itself.
    let anns = failing_build(&server, &ann, &ann_builds).await;
    let mut seen = Vec::new();
    loop {
        let event = stream
            .next(Duration::from_secs(30))
            .await
            .expect("the stream stays open");
        assert!(
            !event.data.to_string().contains(&bobs),
            "bob's build reached ann: {event:?}"
        );
        seen.push(event.name.clone());
        if event.name == "voices.build.error" {
            assert_eq!(event.data["build_id"], anns.as_str());
            assert_eq!(event.data["status"], "ERROR");
            break;
        }
        assert!(
            event.name.starts_with("jobs.voice_build."),
            "only ann's build and its job: {event:?}"
        );
        assert_eq!(event.data["kind"], "voice_build");
    }
    for expected in [
        "jobs.voice_build.queued",
        "jobs.voice_build.started",
        "voices.build.error",
    ] {
        assert!(seen.iter().any(|n| n == expected), "{expected}: {seen:?}");
    }
    // A filter narrows to the topics asked for; a token of no event scope is refused.
    let mut only_voices = Stream::open(&server.base, &ann_builds, "?topics=voices").await;
    let again = failing_build(&server, &ann, &ann_builds).await;
    let event = only_voices.next(Duration::from_secs(30)).await.unwrap();
    assert_eq!(event.name, "voices.build.error");
    assert_eq!(event.data["build_id"], again.as_str());
    let info_only = server
        .state
        .identity
        .create_named_token_for("ann", "info", Some("user:info"), None)
        .await
        .unwrap()
        .expose()
        .to_string();
    let refused = client()
        .get(server.url("/v1/events"))
        .bearer_auth(&info_only)
        .send()
        .await
        .unwrap();
    let (code, _) = error_body(refused, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "insufficient_scope");
}

#[tokio::test]
async fn a_stream_ends_when_its_token_is_revoked_or_its_user_disabled() {
    let server = TestServer::start().await;
    server.add_user("ann", "ann-password").await;
    let identity = &server.state.identity;
    let named = identity
        .create_named_token_for("ann", "events", Some("ovos"), None)
        .await
        .unwrap()
        .expose()
        .to_string();
    let mut stream = Stream::open(&server.base, &named, "").await;
    let user_id = identity.authenticate(&named).await.unwrap().user_id;
    identity
        .revoke_named_token(user_id, "events")
        .await
        .unwrap();
    let took = stream.end(Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(1), "{took:?}");

    let (access, _) = tokens(&server, "ann", "ann-password").await;
    let mut stream = Stream::open(&server.base, &access, "").await;
    identity.set_active("ann", false).await.unwrap();
    let took = stream.end(Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
}

/// The `exp` claim of a JWT.
fn expiry_of(jwt: &str) -> i64 {
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["exp"].as_i64().unwrap()
}

#[tokio::test]
async fn a_stream_ends_within_a_second_of_its_token_expiry() {
    let bin = binary_with_user("ann", "ann-password").await;
    let server = bin.serve(&[("VOICEGATE_AUTH__ACCESS_TTL_SECS", "2")]).await;
    let login: Value = crate::support::login(&server.base, "ann", "ann-password")
        .await
        .json()
        .await
        .unwrap();
    let access = login["access_token"].as_str().unwrap();
    let expires_ms = expiry_of(access) * 1000;
    let mut stream = Stream::open(&server.base, access, "").await;
    stream.end(Duration::from_secs(10)).await;
    let ended_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        ended_ms >= expires_ms - 50,
        "ended {} ms early",
        expires_ms - ended_ms
    );
    assert!(
        ended_ms <= expires_ms + 1000,
        "ended {} ms after the expiry",
        ended_ms - expires_ms
    );
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaker_playback_and_volume_changes_are_published_to_their_owner() {
    let server = TestServer::start_with(|config| {
        config.speakers.backend = voicegate::config::SpeakerBackendKind::Local;
        config.speakers.local_output = "null".into();
    })
    .await;
    server.add_user("ann", "ann-password-1").await;
    server.add_user("bob", "bob-password-1").await;
    let (ann, _) = tokens(&server, "ann", "ann-password-1").await;
    let (bob, _) = tokens(&server, "bob", "bob-password-1").await;
    let mut events = Stream::open(&server.base, &ann, "?topics=speakers").await;
    let mut bobs = Stream::open(&server.base, &bob, "?topics=speakers.playback").await;
    let get = |verb: &'static str, query: String| {
        let url = server.url(&format!("/api/v1/{verb}?{query}"));
        let ann = ann.clone();
        async move {
            let response = client().get(url).bearer_auth(ann).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{verb}");
            response.json::<Value>().await.unwrap()
        }
    };
    let session = get("init_session", String::new()).await["SessionToken"]
        .as_str()
        .unwrap()
        .to_string();
    let list = get("device_list", format!("SessionToken={session}")).await;
    let device = list["DeviceList"][0]["DeviceID"]
        .as_str()
        .unwrap()
        .to_string();
    get(
        "play_tts_party_mode",
        format!("SessionToken={session}&Text=Hello%20there"),
    )
    .await;
    let wait = Duration::from_secs(10);
    let started = events.next(wait).await.expect("an event");
    assert_eq!(started.name, "speakers.playback");
    assert_eq!(
        (
            &started.data["PlaybackState"],
            &started.data["Announcing"],
            &started.data["DeviceIDList"]
        ),
        (&json!("PlayerStatePlaying"), &json!(true), &json!([device]))
    );
    let stopped = events.next(wait).await.expect("an event");
    assert_eq!(
        (&stopped.data["PlaybackState"], &stopped.data["TimeElapsed"]),
        (&json!("PlayerStateStopped"), &json!("-1"))
    );
    get(
        "set_volume_device",
        format!("SessionToken={session}&DeviceID={device}&Volume=20"),
    )
    .await;
    let volume = events.next(wait).await.expect("an event");
    assert_eq!(volume.name, "speakers.device");
    assert_eq!(
        volume.data,
        json!({"DeviceID": device, "Change": "volume", "Volume": 20})
    );
    // Another user sees none of ann's playback.
    let nothing = tokio::time::timeout(Duration::from_millis(500), bobs.next(wait)).await;
    assert!(nothing.is_err(), "bob saw {nothing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assistant_changes_and_training_are_published_to_their_owner() {
    let server = TestServer::start().await;
    server.add_user("ann", "ann-password-1").await;
    server.add_user("bob", "bob-password-1").await;
    let (ann, _) = tokens(&server, "ann", "ann-password-1").await;
    let (bob, _) = tokens(&server, "bob", "bob-password-1").await;
    let mut events = Stream::open(&server.base, &ann, "?topics=assistants").await;
    let mut bobs = Stream::open(&server.base, &bob, "?topics=assistants").await;
    let body = json!({"title": "Home", "dataset": crate::assistants::home_dataset()});
    let created = client()
        .post(server.url("/v3/assistant"))
        .bearer_auth(&ann)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let wait = Duration::from_secs(30);
    let first = events.next(wait).await.expect("an event");
    assert_eq!(
        (first.name.as_str(), &first.data),
        ("assistants.created", &json!({"assistantId": id}))
    );
    post(&server, "/v1/training", &ann, json!({"assistantId": id})).await;
    loop {
        let event = events.next(wait).await.expect("an event");
        assert_ne!(event.name, "assistants.nlu.failed", "{:?}", event.data);
        if event.name == "assistants.nlu.trained" {
            assert_eq!(event.data["assistantId"], id.as_str(), "{:?}", event.data);
            break;
        }
    }
    let nothing = tokio::time::timeout(Duration::from_millis(500), bobs.next(wait)).await;
    assert!(nothing.is_err(), "bob saw {nothing:?}");
}
