//! The ovos-api surface through a real `ovos-messagebus`, answered by the test responder.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{OvosBus, Responder, ResponderOptions, TestServer, free_port};
use voicegate::config::Config;

use crate::support::{client, error_body, tokens};

pub const API_KEY: &str = "shared-with-the-skill";

pub struct Setup {
    pub server: TestServer,
    pub bus: OvosBus,
    pub token: String,
    pub _responder: Option<Responder>,
}

/// A voicegate on `bus_port` with `api_key`, a 5 s request timeout and `adjust` applied; its
/// `ovos` user's access token.
pub async fn server_on(
    bus_port: u16,
    api_key: &str,
    adjust: impl FnOnce(&mut Config),
) -> (TestServer, String) {
    let server = TestServer::start_with(|config| {
        config.ovos.ws_port = bus_port;
        config.ovos.api_key = Some(voicegate::secret::Secret::new(api_key));
        config.ovos.request_timeout_ms = 5000;
        config.ovos.reconnect_max_ms = 500;
        config.ovos.events_allowlist.push("mycroft.stop".into());
        adjust(config);
    })
    .await;
    server.add_user("ovos", "change-me-please").await;
    let (token, _) = tokens(&server, "ovos", "change-me-please").await;
    (server, token)
}

/// A bus, a responder with `responder` options (none: a silent bus) and a voicegate on them.
pub async fn setup_with(
    responder: Option<ResponderOptions>,
    adjust: impl FnOnce(&mut Config),
) -> Setup {
    let bus = OvosBus::start().await;
    let responder = match responder {
        Some(options) => Some(Responder::start_with(&bus, options).await),
        None => None,
    };
    let (server, token) = server_on(bus.port, API_KEY, adjust).await;
    let setup = Setup {
        server,
        bus,
        token,
        _responder: responder,
    };
    setup.wait_connected().await;
    setup
}

pub async fn setup() -> Setup {
    setup_with(Some(ResponderOptions::new(API_KEY)), |_| {}).await
}

impl Setup {
    pub fn call(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        call_with(&self.server, &self.token, method, path)
    }

    pub async fn json(&self, method: &str, path: &str, expected: StatusCode) -> Value {
        let response = self.call(method, path).send().await.unwrap();
        assert_eq!(response.status(), expected, "{method} {path}");
        response.json().await.unwrap()
    }

    pub async fn status(&self, request: reqwest::RequestBuilder) -> StatusCode {
        request.send().await.unwrap().status()
    }

    pub async fn wait_connected(&self) {
        wait_connected_on(&self.server, &self.token).await;
    }
}

/// Waits (at most 15 s) until `server` is connected to its bus.
pub async fn wait_connected_on(server: &TestServer, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = call_with(server, token, "GET", "/v1/network/websocket")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        if response.json::<Value>().await.unwrap() == json!({"listening": true}) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "voicegate did not connect to the bus"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A request to `server` with `token`.
pub fn call_with(
    server: &TestServer,
    token: &str,
    method: &str,
    path: &str,
) -> reqwest::RequestBuilder {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    client()
        .request(method, server.url(path))
        .bearer_auth(token)
}

/// Reads server-sent events until one of `event` type arrives (at most 10 s); returns its data.
pub async fn next_event(
    response: &mut reqwest::Response,
    buffer: &mut String,
    event: &str,
) -> Value {
    next_event_seen(response, buffer, event, &mut Vec::new()).await
}

/// [`next_event`], also collecting the names of the events read before it into `seen`.
pub async fn next_event_seen(
    response: &mut reqwest::Response,
    buffer: &mut String,
    event: &str,
    seen: &mut Vec<String>,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if name == event {
                return serde_json::from_str(data.expect("event data")).unwrap();
            }
            if !name.is_empty() {
                seen.push(name.to_string());
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {event} event within 10 s"))
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn system_and_network_routes_answer_through_the_bus() {
    let s = setup().await;
    let info = s
        .json("GET", "/v1/system/info?sort=true", StatusCode::OK)
        .await;
    let results = &info["results"];
    for key in [
        "core_version",
        "name",
        "tts_engine",
        "stt_engine",
        "log_level",
    ] {
        assert!(results[key].is_string(), "{key} in {info}");
    }
    assert_eq!(results["locales"]["city"], "Montreal");
    assert_eq!(results["system"]["os"], "Linux");

    let config = s.json("GET", "/v1/system/config", StatusCode::OK).await;
    let text = config.to_string();
    for secret in [
        "stt-secret-1",
        "stt-secret-2",
        "tts-secret-3",
        "aws-secret-4",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert_eq!(
        config["results"]["stt"]["ovos-stt-plugin-server"]["url"],
        "https://stt.example"
    );
    assert_eq!(
        config["results"]["microservices"]["weather"]["provider"]["region"],
        "eu"
    );

    assert_eq!(
        s.json("GET", "/v1/system/sleep", StatusCode::OK).await,
        json!({"is_awake": true})
    );
    let slept = s
        .call("POST", "/v1/system/sleep?confirm=true")
        .json(&json!({"utterance": "going to sleep", "lang": "en-us"}))
        .send()
        .await
        .unwrap();
    assert_eq!(slept.status(), StatusCode::CREATED);
    assert_eq!(
        slept.json::<Value>().await.unwrap(),
        json!({"sleep_mode": "enabled"})
    );
    assert_eq!(
        s.json("GET", "/v1/system/sleep", StatusCode::OK).await,
        json!({"is_awake": false})
    );
    assert_eq!(
        s.json("POST", "/v1/system/wakeup", StatusCode::CREATED)
            .await,
        json!({"sleep_mode": "disabled"})
    );
    assert_eq!(
        s.json("GET", "/v1/system/sleep", StatusCode::OK).await,
        json!({"is_awake": true})
    );

    let cache = s
        .call("DELETE", "/v1/system/cache")
        .json(&json!({"cache_type": "tts"}))
        .send()
        .await
        .unwrap();
    assert_eq!(cache.status(), StatusCode::CREATED);
    assert_eq!(
        cache.json::<Value>().await.unwrap(),
        json!({"cache_type": "tts", "status": true})
    );
    assert_eq!(
        s.json("GET", "/v1/network/internet", StatusCode::OK).await,
        json!({"connected": true})
    );
}

#[tokio::test]
async fn skill_routes_list_settings_and_toggle() {
    let s = setup().await;
    let skills = s.json("GET", "/v1/skills", StatusCode::OK).await;
    assert_eq!(
        (
            skills["count"].as_u64(),
            skills["count_active"].as_u64(),
            skills["count_inactive"].as_u64()
        ),
        (Some(4), Some(3), Some(1))
    );
    let hello = "skill-ovos-hello-world.openvoiceos";
    assert_eq!(skills["results"][hello]["active"], true);

    let settings = s
        .json(
            "GET",
            &format!("/v1/skills/{hello}/settings"),
            StatusCode::OK,
        )
        .await;
    let text = settings.to_string();
    assert!(
        !text.contains("skill-secret-5") && !text.contains("skill-secret-6"),
        "{text}"
    );
    assert_eq!(
        settings["results"]["account"]["username"], "me",
        "a user name is not a secret"
    );
    assert_eq!(
        settings["results"]["account"]["backend"]["auth"]["scheme"], "bearer",
        "three levels deep, the rest stays"
    );
    assert_eq!(settings["results"]["hello"], "world");

    assert_eq!(
        s.status(s.call("PUT", &format!("/v1/skills/{hello}/deactivate")))
            .await,
        StatusCode::NO_CONTENT
    );
    let skills = s.json("GET", "/v1/skills", StatusCode::OK).await;
    assert_eq!(skills["results"][hello]["active"], false);
    assert_eq!(
        s.status(s.call("PUT", &format!("/v1/skills/{hello}/activate")))
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.json("GET", "/v1/skills", StatusCode::OK).await["count_active"],
        3
    );

    for path in [
        "/v1/skills/no-such-skill/settings",
        "/v1/skills/no-such-skill/activate",
        "/v1/skills/no-such-skill/deactivate",
    ] {
        let method = if path.ends_with("settings") {
            "GET"
        } else {
            "PUT"
        };
        let (code, _) = error_body(
            s.call(method, path).send().await.unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(code, "not_found", "{path}");
    }
}

#[tokio::test]
async fn voice_routes_reach_the_bus() {
    let s = setup().await;
    let mut events = s.call("GET", "/v1/events").send().await.unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut buffer = String::new();

    let spoken = s
        .call("POST", "/v1/voice/speech")
        .json(&json!({"utterance": "open voice o.s. for the win"}))
        .send()
        .await
        .unwrap();
    assert_eq!(spoken.status(), StatusCode::OK);
    assert_eq!(
        spoken.json::<Value>().await.unwrap(),
        json!({"utterance": "open voice o.s. for the win", "lang": "en-us"})
    );
    let event = next_event(&mut events, &mut buffer, "speak").await;
    assert_eq!(event["data"]["utterance"], "open voice o.s. for the win");

    assert_eq!(
        s.status(s.call("DELETE", "/v1/voice/speech")).await,
        StatusCode::NO_CONTENT
    );
    next_event(&mut events, &mut buffer, "mycroft.stop").await;

    assert_eq!(
        s.json("GET", "/v1/voice/microphone", StatusCode::OK).await,
        json!({"muted": false})
    );
    assert_eq!(
        s.status(s.call("PUT", "/v1/voice/microphone/mute")).await,
        StatusCode::NO_CONTENT
    );
    next_event(&mut events, &mut buffer, "mycroft.mic.mute").await;
    assert_eq!(
        s.json("GET", "/v1/voice/microphone", StatusCode::OK).await,
        json!({"muted": true})
    );
    assert_eq!(
        s.status(s.call("PUT", "/v1/voice/microphone/unmute")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.json("GET", "/v1/voice/microphone", StatusCode::OK).await,
        json!({"muted": false})
    );
    assert_eq!(
        s.status(s.call("PUT", "/v1/voice/listen")).await,
        StatusCode::NO_CONTENT
    );
    next_event(&mut events, &mut buffer, "mycroft.mic.listen").await;

    let injected = s
        .call("POST", "/v1/voice/utterance")
        .json(&json!({"utterances": ["what time is it"], "lang": "en-US"}))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), StatusCode::ACCEPTED);
    let event = next_event(&mut events, &mut buffer, "recognizer_loop:utterance").await;
    assert_eq!(
        event["data"],
        json!({"utterances": ["what time is it"], "lang": "en-us"})
    );

    assert_eq!(
        s.status(
            s.call("PUT", "/v1/voice/volume")
                .json(&json!({"percent": 30}))
        )
        .await,
        StatusCode::NO_CONTENT
    );
    let event = next_event(&mut events, &mut buffer, "mycroft.volume.set").await;
    assert_eq!(event["data"]["percent"], 0.3);
    let volume = s.json("GET", "/v1/voice/volume", StatusCode::OK).await;
    let percent = volume["percent"].as_f64().unwrap();
    assert!((30.0..31.0).contains(&percent), "{volume}");
    assert_eq!(volume["muted"], false);
}

#[tokio::test]
async fn bad_bodies_and_parameters_get_4xx() {
    let s = setup().await;
    let cases: Vec<(&str, &str, Option<&str>, StatusCode)> = vec![
        (
            "POST",
            "/v1/voice/speech",
            Some("{\"lang\": \"en-us\"}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/v1/voice/speech",
            Some("{\"utterance\": \"   \"}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/v1/voice/speech",
            Some("{\"utterance\": \"hi\", \"lang\": \"en us; rm\"}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/v1/voice/speech",
            Some("{\"utterance\": "),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/voice/utterance",
            Some("{\"utterances\": []}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/v1/voice/utterance",
            Some("{\"utterances\": \"not a list\"}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "PUT",
            "/v1/voice/volume",
            Some("{\"percent\": 150}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "PUT",
            "/v1/voice/volume",
            Some("{\"percent\": \"loud\"}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "DELETE",
            "/v1/system/cache",
            Some("{\"cache_type\": \"everything\"}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "DELETE",
            "/v1/system/cache",
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "POST",
            "/v1/system/sleep?confirm=true",
            Some("{\"utterance\": 3}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "GET",
            "/v1/system/info?sort=maybe",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            "/v1/skills/bad%20id!/settings",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (method, path, body, expected) in cases {
        let mut request = s.call(method, path);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        error_body(response, expected).await;
    }
    let long = "x".repeat(1001);
    let response = s
        .call("POST", "/v1/voice/speech")
        .json(&json!({"utterance": long}))
        .send()
        .await
        .unwrap();
    let (_, body) = error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body["detail"].as_str().unwrap().contains("1000"), "{body}");
    // Every ovos route but ping needs a token.
    let anonymous = client()
        .get(s.server.url("/v1/system/info"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_bus_that_is_not_running_answers_503_at_once() {
    let server = TestServer::start_with(|config| {
        config.ovos.ws_port = free_port();
        config.ovos.api_key = Some(voicegate::secret::Secret::new(API_KEY));
    })
    .await;
    server.add_user("ovos", "change-me-please").await;
    let (token, _) = tokens(&server, "ovos", "change-me-please").await;
    let started = Instant::now();
    for (method, path) in [
        ("GET", "/v1/system/info"),
        ("GET", "/v1/voice/microphone"),
        ("DELETE", "/v1/voice/speech"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = client()
            .request(method, server.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let (code, _) = error_body(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(code, "bus_unavailable", "{path}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "503 must come at once, took {:?}",
        started.elapsed()
    );
    let listening: Value = client()
        .get(server.url("/v1/network/websocket"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listening, json!({"listening": false}));
}

#[tokio::test]
async fn a_silent_bus_gives_504_after_the_timeout() {
    let s = setup_with(None, |config| config.ovos.request_timeout_ms = 400).await;
    let started = Instant::now();
    let (code, _) = error_body(
        s.call("GET", "/v1/system/info").send().await.unwrap(),
        StatusCode::GATEWAY_TIMEOUT,
    )
    .await;
    assert_eq!(code, "bus_timeout");
    assert!(started.elapsed() >= Duration::from_millis(400));
    let (code, _) = error_body(
        s.call("GET", "/v1/voice/volume").send().await.unwrap(),
        StatusCode::GATEWAY_TIMEOUT,
    )
    .await;
    assert_eq!(code, "bus_timeout");
}

#[tokio::test]
async fn a_wrong_api_key_gives_502() {
    // The skill's key differs from voicegate's: it answers refusals only.
    let s = setup_with(Some(ResponderOptions::new("not-the-same-key")), |_| {}).await;
    let started = Instant::now();
    let (code, body) = error_body(
        s.call("GET", "/v1/system/info").send().await.unwrap(),
        StatusCode::BAD_GATEWAY,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refusals are answered at once, not after the timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(code, "skill_error");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("API key"), "{body}");
    for secret in ["not-the-same-key", API_KEY, "c2hhcmVk"] {
        assert!(!body.to_string().contains(secret), "{secret} in {body}");
    }
    // Native routes do not need the key.
    assert_eq!(
        s.json("GET", "/v1/voice/microphone", StatusCode::OK).await,
        json!({"muted": false})
    );
}

#[tokio::test]
async fn voicegate_reconnects_after_the_bus_restarts() {
    let mut s = setup().await;
    s.bus.stop().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.json("GET", "/v1/network/websocket", StatusCode::OK).await == json!({"listening": true})
    {
        assert!(
            Instant::now() < deadline,
            "the lost connection was not noticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    error_body(
        s.call("GET", "/v1/system/info").send().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    s.bus.restart().await;
    s._responder = Some(Responder::start(&s.bus, API_KEY).await);
    s.wait_connected().await;
    let info = s.json("GET", "/v1/system/info", StatusCode::OK).await;
    assert!(info["results"]["core_version"].is_string());
}

#[tokio::test]
async fn fifty_concurrent_requests_each_get_their_own_answer() {
    // Skill requests of one type go one at a time: with a skill that answers once, a short drain
    // lets fifty pass well within the timeout.
    let once = ResponderOptions {
        answers: 1,
        ..ResponderOptions::new(API_KEY)
    };
    let s = setup_with(Some(once), |config| config.ovos.skill_drain_ms = 20).await;
    let infos = futures_join(50, |_| s.json("GET", "/v1/system/info", StatusCode::OK)).await;
    let versions: HashSet<String> = infos
        .iter()
        .map(|i| i["results"]["core_version"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        versions.len(),
        50,
        "each skill answer reaches exactly one request"
    );

    let volumes = futures_join(50, |_| s.json("GET", "/v1/voice/volume", StatusCode::OK)).await;
    let percents: HashSet<String> = volumes.iter().map(|v| v["percent"].to_string()).collect();
    assert_eq!(
        percents.len(),
        50,
        "each correlated reply reaches its own request"
    );
}

pub async fn futures_join<'a, F, Fut>(n: usize, make: F) -> Vec<Value>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Value> + 'a,
{
    let mut set = Vec::new();
    for i in 0..n {
        set.push(make(i));
    }
    let mut out = Vec::new();
    let results = futures_util::future::join_all(set).await;
    out.extend(results);
    out
}
