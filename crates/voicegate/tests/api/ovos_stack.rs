//! The native ovos-api routes against the real Open Voice OS stack: ovos-messagebus, ovos-core
//! (with the hello-world skill), ovos-audio and ovos-dinkum-listener, started once for the test
//! run (testkit's `OvosStack`) and taken by one test at a time. Each test drives routes through
//! voicegate and asserts what the services did, from the frames they answer with and emit, seen
//! by a bus tap. A frame caused by voicegate's message carries its correlation id when the
//! service forwards or replies to it (`ours`); frames the services start afresh do not.
//!
//! Run with `--nocapture` to see the frames each route caused.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{BusTap, OvosStack, TestServer, summary};
use voicegate::ovos::bus::CORRELATION_KEY;

use crate::support::{client, error_body, tokens};

const HELLO: &str = "ovos-skill-hello-world.openvoiceos";
/// What this stack's listener reports when it waits for a wake word (it has none loaded).
const WAITING: &str = "wakeword";

struct Stage {
    stack: &'static OvosStack,
    server: TestServer,
    token: String,
    tap: BusTap,
    /// Dropped last: the next test starts once this one's server and tap are gone.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// The shared stack, this test's turn on it, a tap, and voicegate connected to its bus. `None`
/// when the stack's packages are missing outside CI (the test is skipped).
async fn stage() -> Option<Stage> {
    let stack = OvosStack::shared().await?;
    let turn = stack.turn().await;
    let tap = BusTap::connect(stack.port).await;
    let port = stack.port;
    let server = TestServer::start_with(|config| {
        config.ovos.ws_port = port;
        config.ovos.api_key = Some(voicegate::secret::Secret::new("stack-key"));
        config.ovos.request_timeout_ms = 3000;
        config.ovos.reconnect_max_ms = 500;
    })
    .await;
    server.add_user("ovos", "change-me-please").await;
    let (token, _) = tokens(&server, "ovos", "change-me-please").await;
    let stage = Stage {
        stack,
        server,
        token,
        tap,
        _turn: turn,
    };
    stage.wait_connected().await;
    stage
        .json_when_ready("/v1/skills", Duration::from_secs(30))
        .await;
    Some(stage)
}

impl Stage {
    fn call(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        client()
            .request(method, self.server.url(path))
            .bearer_auth(&self.token)
    }

    async fn status(&self, request: reqwest::RequestBuilder) -> StatusCode {
        request.send().await.unwrap().status()
    }

    async fn json(&self, method: &str, path: &str, expected: StatusCode) -> Value {
        let response = self.call(method, path).send().await.unwrap();
        assert_eq!(response.status(), expected, "{method} {path}");
        response.json().await.unwrap()
    }

    /// `GET path` until it answers 200 (a 504 is asked again), within `limit`: ovos-core answers
    /// skill lists once its skill manager has loaded the skills, which may come after the bus is
    /// up.
    async fn json_when_ready(&self, path: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let response = self.call("GET", path).send().await.unwrap();
            if response.status() == StatusCode::OK {
                return response.json().await.unwrap();
            }
            assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT, "GET {path}");
            assert!(
                Instant::now() < deadline,
                "GET {path}: no answer within {limit:?}"
            );
        }
    }

    async fn wait_connected(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self
            .json("GET", "/v1/network/websocket", StatusCode::OK)
            .await
            != json!({"listening": true})
        {
            assert!(
                Instant::now() < deadline,
                "voicegate did not connect to the stack's bus"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The correlation id of the `msg_type` message voicegate sent after `mark`.
    async fn sent(&self, mark: usize, msg_type: &str) -> String {
        let frame = self
            .tap
            .wait_for(mark, msg_type, |f| f["context"]["source"] == "voicegate")
            .await;
        frame["context"][CORRELATION_KEY]
            .as_str()
            .expect("voicegate's messages carry a correlation id")
            .to_string()
    }

    /// The listener's state (`recognizer_loop:state.get`, answered by the listener).
    async fn listener_state(&self) -> String {
        let answer = self
            .tap
            .ask(
                "recognizer_loop:state.get",
                json!({}),
                "recognizer_loop:state",
            )
            .await;
        answer["data"]["state"].as_str().unwrap_or("").to_string()
    }

    /// Shows the frames seen since `mark` (with `--nocapture`).
    fn report(&self, route: &str, mark: usize) {
        eprintln!("--- {route}\n{}", summary(&self.tap.since(mark)));
    }
}

/// Whether a frame carries voicegate's correlation id `id`: the service forwarded or answered
/// voicegate's own message.
fn ours(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |frame| frame["context"][CORRELATION_KEY] == id
}

#[tokio::test]
async fn speech_is_spoken_by_ovos_audio_and_stop_interrupts_it() {
    let Some(s) = stage().await else { return };
    let played = s.stack.played().len();
    let mark = s.tap.mark();
    let response = s
        .call("POST", "/v1/voice/speech")
        .json(&json!({"utterance": "hello from voicegate"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let id = s.sent(mark, "speak").await;
    s.tap
        .wait_for(mark, "recognizer_loop:audio_output_start", ours(&id))
        .await;
    s.tap
        .wait_for(mark, "recognizer_loop:audio_output_end", ours(&id))
        .await;
    assert!(
        s.stack.played().len() > played,
        "ovos-audio handed the speech to its player"
    );
    s.report("POST /v1/voice/speech", mark);

    // A long sentence (beeps for each letter, seconds of sound), stopped while it plays.
    let mark = s.tap.mark();
    let long = "voicegate speaks a long sentence here so that there is time to stop it";
    assert_eq!(
        s.status(
            s.call("POST", "/v1/voice/speech")
                .json(&json!({"utterance": long}))
        )
        .await,
        StatusCode::OK
    );
    let id = s.sent(mark, "speak").await;
    s.tap
        .wait_for(mark, "recognizer_loop:audio_output_start", ours(&id))
        .await;
    let stop_mark = s.tap.mark();
    let started = Instant::now();
    assert_eq!(
        s.status(s.call("DELETE", "/v1/voice/speech")).await,
        StatusCode::NO_CONTENT
    );
    let stop_id = s.sent(stop_mark, "mycroft.stop").await;
    let handled = s
        .tap
        .wait_for(stop_mark, "mycroft.stop.handled", ours(&stop_id))
        .await;
    assert_eq!(
        handled["data"]["by"], "TTS",
        "ovos-audio stopped the speech"
    );
    s.tap
        .wait_for(stop_mark, "recognizer_loop:audio_output_end", ours(&id))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the speech ended when stopped, not when it was over ({:?})",
        started.elapsed()
    );
    s.report(
        "POST /v1/voice/speech (long), then DELETE /v1/voice/speech",
        mark,
    );
}

#[tokio::test]
async fn the_listener_mutes_unmutes_and_reports_the_microphone() {
    let Some(s) = stage().await else { return };
    let mark = s.tap.mark();
    assert_eq!(
        s.status(s.call("PUT", "/v1/voice/microphone/mute")).await,
        StatusCode::NO_CONTENT
    );
    let asked = s.tap.mark();
    assert_eq!(
        s.json("GET", "/v1/voice/microphone", StatusCode::OK).await,
        json!({"muted": true})
    );
    let id = s.sent(asked, "mycroft.mic.get_status").await;
    let answer = s
        .tap
        .wait_for(asked, "mycroft.mic.get_status.response", ours(&id))
        .await;
    assert_eq!(answer["data"]["muted"], true, "the listener's own answer");
    assert_eq!(
        s.status(s.call("PUT", "/v1/voice/microphone/unmute")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.json("GET", "/v1/voice/microphone", StatusCode::OK).await,
        json!({"muted": false})
    );
    s.report(
        "PUT /v1/voice/microphone/mute, GET /v1/voice/microphone, PUT …/unmute, GET",
        mark,
    );
}

#[tokio::test]
async fn listen_makes_the_listener_record() {
    let Some(s) = stage().await else { return };
    let mark = s.tap.mark();
    assert_eq!(
        s.status(s.call("PUT", "/v1/voice/listen")).await,
        StatusCode::NO_CONTENT
    );
    let id = s.sent(mark, "mycroft.mic.listen").await;
    // The listener ignores a listen request addressed to another service.
    s.tap
        .wait_for_within(
            mark,
            "recognizer_loop:record_begin",
            |_| true,
            Duration::from_secs(10),
        )
        .await;
    // It confirms with the listening sound, played by ovos-audio.
    s.tap
        .wait_for(mark, "mycroft.audio.play_sound", ours(&id))
        .await;
    let state = s.listener_state().await;
    assert!(
        ["confirmation", "before_cmd"].contains(&state.as_str()),
        "the listener waits for a command: {state}"
    );
    s.report("PUT /v1/voice/listen", mark);
    // Back to waiting, for the tests after this one (no audio ever comes to end the command).
    s.tap
        .ask(
            "recognizer_loop:state.set",
            json!({"state": WAITING}),
            "recognizer_loop:state",
        )
        .await;
    assert_eq!(s.listener_state().await, WAITING);
}

#[tokio::test]
async fn an_utterance_is_handled_by_the_intent_service() {
    let Some(s) = stage().await else { return };
    let mark = s.tap.mark();
    let response = s
        .call("POST", "/v1/voice/utterance")
        .json(&json!({"utterances": ["what is the airspeed of an unladen swallow"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = s.sent(mark, "recognizer_loop:utterance").await;
    s.tap
        .wait_for(mark, "ovos.utterance.handled", ours(&id))
        .await;
    s.report("POST /v1/voice/utterance", mark);
}

#[tokio::test]
async fn ovos_core_lists_deactivates_and_activates_skills() {
    let Some(s) = stage().await else { return };
    let mark = s.tap.mark();
    let skills = s
        .json_when_ready("/v1/skills", Duration::from_secs(30))
        .await;
    assert_eq!(skills["results"][HELLO]["active"], true, "{skills}");
    s.tap.wait_for(mark, "mycroft.skills.list", |_| true).await;
    s.report("GET /v1/skills", mark);

    let mark = s.tap.mark();
    assert_eq!(
        s.status(s.call("PUT", &format!("/v1/skills/{HELLO}/deactivate")))
            .await,
        StatusCode::NO_CONTENT
    );
    let id = s.sent(mark, "skillmanager.deactivate").await;
    s.tap
        .wait_for(mark, "skillmanager.deactivate.response", ours(&id))
        .await;
    let skills = s.json("GET", "/v1/skills", StatusCode::OK).await;
    assert_eq!(skills["results"][HELLO]["active"], false, "{skills}");
    s.report("PUT /v1/skills/{id}/deactivate, GET /v1/skills", mark);

    let mark = s.tap.mark();
    assert_eq!(
        s.status(s.call("PUT", &format!("/v1/skills/{HELLO}/activate")))
            .await,
        StatusCode::NO_CONTENT
    );
    let id = s.sent(mark, "skillmanager.activate").await;
    s.tap
        .wait_for(mark, "skillmanager.activate.response", ours(&id))
        .await;
    let skills = s.json("GET", "/v1/skills", StatusCode::OK).await;
    assert_eq!(skills["results"][HELLO]["active"], true, "{skills}");
    s.report("PUT /v1/skills/{id}/activate, GET /v1/skills", mark);
}

#[tokio::test]
async fn the_listener_sleeps_and_wakes_up() {
    let Some(s) = stage().await else { return };
    // The skill-rest-api companion skill is not part of this stack: the tap answers for it,
    // as it does (a fresh context saying the key matched). What is asserted is the listener.
    for (trigger, answer) in [
        ("recognizer_loop:sleep", "ovos.api.sleep.answer"),
        ("recognizer_loop:wake_up", "ovos.api.wake_up.answer"),
    ] {
        s.tap.answer(
            trigger,
            json!({
                "type": answer,
                "data": {},
                "context": {"authenticated": true, "session": {"session_id": "default"}},
            }),
        );
    }
    let mark = s.tap.mark();
    assert_eq!(
        s.json("POST", "/v1/system/sleep", StatusCode::CREATED)
            .await,
        json!({"sleep_mode": "enabled"})
    );
    assert_eq!(s.listener_state().await, "sleeping");
    s.report("POST /v1/system/sleep", mark);

    let mark = s.tap.mark();
    assert_eq!(
        s.json("POST", "/v1/system/wakeup", StatusCode::CREATED)
            .await,
        json!({"sleep_mode": "disabled"})
    );
    s.tap.wait_for(mark, "mycroft.awoken", |_| true).await;
    assert_eq!(s.listener_state().await, WAITING);
    s.report("POST /v1/system/wakeup", mark);
}

#[tokio::test]
async fn volume_changes_reach_the_bus_and_no_service_here_reports_the_volume() {
    let Some(s) = stage().await else { return };
    let mark = s.tap.mark();
    assert_eq!(
        s.status(
            s.call("PUT", "/v1/voice/volume")
                .json(&json!({"percent": 30}))
        )
        .await,
        StatusCode::NO_CONTENT
    );
    let set = s
        .tap
        .wait_for(mark, "mycroft.volume.set", |f| {
            f["context"]["source"] == "voicegate"
        })
        .await;
    assert_eq!(set["data"]["percent"], 0.3);
    s.report("PUT /v1/voice/volume", mark);
    // The mixer is ovos-PHAL's (not in this stack): nothing answers, and voicegate says so.
    let mark = s.tap.mark();
    let (code, _) = error_body(
        s.call("GET", "/v1/voice/volume").send().await.unwrap(),
        StatusCode::GATEWAY_TIMEOUT,
    )
    .await;
    assert_eq!(code, "bus_timeout");
    s.report("GET /v1/voice/volume", mark);
}

#[tokio::test]
async fn no_service_warns_that_a_voicegate_message_has_no_session() {
    let Some(s) = stage().await else { return };
    let mark = s.tap.mark();
    let routes = [
        ("POST", "/v1/voice/speech", json!({"utterance": "ok"})),
        ("PUT", "/v1/voice/microphone/mute", json!(null)),
        ("GET", "/v1/voice/microphone", json!(null)),
        ("PUT", "/v1/voice/microphone/unmute", json!(null)),
        (
            "POST",
            "/v1/voice/utterance",
            json!({"utterances": ["good morning"]}),
        ),
        ("GET", "/v1/skills", json!(null)),
        ("DELETE", "/v1/voice/speech", json!(null)),
    ];
    for (method, path, body) in routes {
        let mut request = s.call(method, path);
        if !body.is_null() {
            request = request.json(&body);
        }
        let status = s.status(request).await;
        assert!(status.is_success(), "{method} {path}: {status}");
    }
    // Each service has handled them once these have come back.
    let id = s.sent(mark, "recognizer_loop:utterance").await;
    s.tap
        .wait_for(mark, "ovos.utterance.handled", ours(&id))
        .await;
    let id = s.sent(mark, "speak").await;
    s.tap
        .wait_for(mark, "recognizer_loop:audio_output_end", ours(&id))
        .await;
    // The messages those routes sent, as the bus relayed them.
    let sent = [
        "speak",
        "mycroft.mic.mute",
        "mycroft.mic.get_status",
        "mycroft.mic.unmute",
        "recognizer_loop:utterance",
        "skillmanager.list",
        "mycroft.stop",
    ];
    // ovos-bus-client logs "No session context in message:<type>" for each message without one
    // that a service looks the session up for.
    let logs = s.stack.logs();
    let warned: Vec<&str> = logs
        .lines()
        .filter(|line| {
            sent.iter()
                .any(|t| line.contains(&format!("No session context in message:{t}")))
        })
        .collect();
    assert!(
        warned.is_empty(),
        "the services warn of voicegate's messages without a session:\n{}",
        warned.join("\n")
    );
    let seen = s.tap.since(mark);
    for msg_type in sent {
        let frame = seen
            .iter()
            .find(|f| f["type"] == msg_type && f["context"]["source"] == "voicegate")
            .unwrap_or_else(|| panic!("voicegate sent no {msg_type}"));
        assert_eq!(
            frame["context"]["session"]["session_id"], "default",
            "{frame}"
        );
    }
}
