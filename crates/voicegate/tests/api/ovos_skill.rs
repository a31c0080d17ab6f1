//! The routes answered by the skill-rest-api companion skill, against a responder that answers
//! like the published skill: several answers per request without correlation, key refusals
//! first, trailing errors; and without the skill installed.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{ResponderOptions, SkillState};

use crate::ovos::{
    API_KEY, call_with, futures_join, next_event, next_event_seen, server_on, setup, setup_with,
    wait_connected_on,
};
use crate::support::error_body;

const HELLO: &str = "skill-ovos-hello-world.openvoiceos";
const DATE_TIME: &str = "skill-ovos-date-time.openvoiceos";

#[tokio::test]
async fn two_parallel_settings_reads_for_two_skills_each_get_their_own_twenty_times() {
    let s = setup().await;
    for round in 0..20 {
        let (hello, date_time) = tokio::join!(
            s.call("GET", &format!("/v1/skills/{HELLO}/settings"))
                .send(),
            s.call("GET", &format!("/v1/skills/{DATE_TIME}/settings"))
                .send(),
        );
        let (hello, date_time) = (hello.unwrap(), date_time.unwrap());
        assert_eq!(
            (hello.status(), date_time.status()),
            (StatusCode::OK, StatusCode::OK),
            "round {round}"
        );
        let hello: Value = hello.json().await.unwrap();
        let date_time: Value = date_time.json().await.unwrap();
        assert_eq!(hello["results"]["hello"], "world", "round {round}: {hello}");
        assert_eq!(
            date_time["results"],
            json!({"use_24hour": true, "date_format": "DMY", "show_time": false}),
            "round {round}"
        );
    }
    // A skill without settings.json: the skill's error is the answer.
    let (code, body) = error_body(
        s.call("GET", "/v1/skills/skill-ovos-weather.openvoiceos/settings")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_GATEWAY,
    )
    .await;
    assert_eq!(code, "skill_error");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no settings.json")
    );
}

#[tokio::test]
async fn a_request_type_waits_for_the_drain_of_the_one_before_and_queues_within_the_timeout() {
    let s = setup_with(Some(ResponderOptions::new(API_KEY)), |config| {
        config.ovos.skill_drain_ms = 600;
        config.ovos.request_timeout_ms = 1000;
    })
    .await;
    assert_eq!(
        s.json("GET", "/v1/network/internet", StatusCode::OK).await,
        json!({"connected": true})
    );
    // The same type again: its request goes out once the first one's answers have been quiet
    // for the drain window.
    let started = Instant::now();
    s.json("GET", "/v1/network/internet", StatusCode::OK).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    // Another type is not held.
    let started = Instant::now();
    s.json("GET", "/v1/system/sleep", StatusCode::OK).await;
    assert!(started.elapsed() < Duration::from_millis(400));
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Three at once: the first at once, the second after one drain (600 ms), the third would
    // go out after two (1200 ms), past the 1000 ms timeout.
    let statuses = futures_join(3, |_| async {
        let response = s.call("GET", "/v1/network/internet").send().await.unwrap();
        json!(response.status().as_u16())
    })
    .await;
    let mut statuses: Vec<u64> = statuses.iter().filter_map(Value::as_u64).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 504]);
}

#[tokio::test]
async fn a_key_refusal_followed_by_data_is_not_the_answer_and_refusals_alone_are() {
    let s = setup().await;
    let (other, other_token) = server_on(s.bus.port, "not-the-same-key", |_| {}).await;
    wait_connected_on(&other, &other_token).await;
    let info = |token: &str, server: &testkit::TestServer| {
        call_with(server, token, "GET", "/v1/system/info")
    };
    // No request has had the skill's key yet: a wrong key gets refusals only.
    let started = Instant::now();
    let (code, body) = error_body(
        info(&other_token, &other).send().await.unwrap(),
        StatusCode::BAD_GATEWAY,
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(code, "skill_error");
    assert!(
        body["detail"].as_str().unwrap().contains("API key"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Once the right key was seen, the skill answers a wrong one with a refusal, then the data.
    s.json("GET", "/v1/system/info", StatusCode::OK).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = info(&other_token, &other).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body["results"]["core_version"].is_string(), "{body}");
}

#[tokio::test]
async fn a_skill_without_a_key_in_its_settings_is_503_not_configured() {
    let s = setup_with(Some(ResponderOptions::new("")), |_| {}).await;
    let (code, body) = error_body(
        s.call("GET", "/v1/system/info").send().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(code, "not_configured");
    assert!(
        body["detail"].as_str().unwrap().contains("api_key setting"),
        "{body}"
    );
}

/// A real-looking `mycroft.conf`: location codes, tokenization and plugin settings beside API
/// keys, tokens and passwords.
const MYCROFT_CONF: &str = r#"{
  "lang": "en-us",
  "secondary_langs": ["pt-pt"],
  "log_level": "INFO",
  "system_unit": "metric",
  "time_format": "half",
  "date_format": "MDY",
  "location": {
    "city": {
      "code": "Lawrence",
      "name": "Lawrence",
      "state": {
        "code": "KS",
        "name": "Kansas",
        "country": {"code": "US", "name": "United States"}
      }
    },
    "coordinate": {"latitude": 38.971669, "longitude": -95.23525},
    "timezone": {
      "code": "America/Chicago",
      "name": "Central Standard Time",
      "dstOffset": 3600000,
      "offset": -21600000
    }
  },
  "tokenization": {"module": "ovos-tokenization-plugin-quebrafrases"},
  "websocket": {"host": "127.0.0.1", "port": 8181, "route": "/core", "ssl": false},
  "listener": {
    "wake_word": "hey_mycroft",
    "stand_up_word": "wake_up",
    "microphone": {"module": "ovos-microphone-plugin-alsa"},
    "VAD": {"module": "ovos-vad-plugin-silero"}
  },
  "hotwords": {
    "hey_mycroft": {
      "module": "ovos-ww-plugin-precise-lite",
      "model": "https://github.com/OpenVoiceOS/precise-lite-models/raw/master/wakewords/en/hey_mycroft.tflite",
      "listen": true
    }
  },
  "stt": {
    "module": "ovos-stt-plugin-azure",
    "fallback_module": "ovos-stt-plugin-server",
    "ovos-stt-plugin-azure": {"key": "azure-stt-secret", "region": "westeurope"}
  },
  "tts": {
    "module": "ovos-tts-plugin-polly",
    "ovos-tts-plugin-polly": {
      "voice": "Matthew",
      "region": "us-east-1",
      "access_key_id": "AKIA-polly-secret",
      "secret_access_key": "polly-secret"
    },
    "ovos-tts-plugin-elevenlabs": {"apiKey": "eleven-secret", "voice_id": "rachel"}
  },
  "microservices": {
    "wolfram_alpha_key": "wolfram-secret",
    "owm_key": "owm-secret",
    "google_cloud_credentials": "gcloud-secret",
    "search_engine": "ddg"
  },
  "server": {"url": "https://api.mycroft.ai", "version": "v1", "update": true, "metrics": false},
  "skills": {"blacklisted_skills": [], "priority_skills": ["skill-ovos-fallback-unknown.openvoiceos"]},
  "padatious": {"intent_cache": "~/.local/share/mycroft/intent_cache", "train_delay": 4},
  "hass": {
    "host": "http://homeassistant.lan:8123",
    "access_token": "hass-secret",
    "username": "owner",
    "password": "hass-password"
  }
}"#;

#[tokio::test]
async fn config_keeps_location_codes_and_tokenization_and_drops_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mycroft.conf");
    std::fs::write(&conf, MYCROFT_CONF).unwrap();
    let options = ResponderOptions {
        config: Some(conf),
        ..ResponderOptions::new(API_KEY)
    };
    let s = setup_with(Some(options), |_| {}).await;
    let config = s.json("GET", "/v1/system/config", StatusCode::OK).await;
    let results = &config["results"];
    let location = &results["location"];
    assert_eq!(location["city"]["code"], "Lawrence");
    assert_eq!(location["city"]["state"]["code"], "KS");
    assert_eq!(location["city"]["state"]["country"]["code"], "US");
    assert_eq!(location["timezone"]["code"], "America/Chicago");
    assert_eq!(location["timezone"]["dstOffset"], 3600000);
    assert_eq!(
        results["tokenization"],
        json!({"module": "ovos-tokenization-plugin-quebrafrases"})
    );
    assert_eq!(results["listener"]["wake_word"], "hey_mycroft");
    assert_eq!(
        results["stt"]["ovos-stt-plugin-azure"],
        json!({"region": "westeurope"})
    );
    assert_eq!(
        results["tts"],
        json!({
            "module": "ovos-tts-plugin-polly",
            "ovos-tts-plugin-polly": {"voice": "Matthew", "region": "us-east-1"},
            "ovos-tts-plugin-elevenlabs": {"voice_id": "rachel"},
        })
    );
    assert_eq!(results["microservices"], json!({"search_engine": "ddg"}));
    assert_eq!(
        results["hass"],
        json!({"host": "http://homeassistant.lan:8123", "username": "owner"})
    );
    let text = config.to_string();
    for secret in [
        "azure-stt-secret",
        "AKIA-polly-secret",
        "polly-secret",
        "eleven-secret",
        "wolfram-secret",
        "owm-secret",
        "gcloud-secret",
        "hass-secret",
        "hass-password",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[tokio::test]
async fn without_the_skill_sleep_and_wake_go_native_and_skill_routes_answer_503_at_once() {
    let options = ResponderOptions {
        skill: SkillState::Absent,
        ..ResponderOptions::new(API_KEY)
    };
    let s = setup_with(Some(options), |config| {
        let allow = &mut config.ovos.events_allowlist;
        allow.extend(["recognizer_loop:*".into(), "ovos.api.*".into()]);
    })
    .await;
    let mut events = s.call("GET", "/v1/events").send().await.unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let mut buffer = String::new();
    let mut seen = Vec::new();

    let started = Instant::now();
    let slept = s
        .call("POST", "/v1/system/sleep?confirm=true")
        .json(&json!({"utterance": "going to sleep", "lang": "en-us"}))
        .send()
        .await
        .unwrap();
    assert_eq!(slept.status(), StatusCode::CREATED);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        slept.json::<Value>().await.unwrap(),
        json!({"sleep_mode": "enabled"})
    );
    let sleep = next_event_seen(&mut events, &mut buffer, "recognizer_loop:sleep", &mut seen).await;
    assert_eq!(sleep["data"], json!({}), "no app key for the listener");
    let spoken = next_event(&mut events, &mut buffer, "speak").await;
    assert_eq!(spoken["data"]["utterance"], "going to sleep");
    // The listener's own state says it sleeps.
    assert_eq!(
        s.json("GET", "/v1/system/sleep", StatusCode::OK).await,
        json!({"is_awake": false})
    );
    assert_eq!(
        s.json("POST", "/v1/system/wakeup", StatusCode::CREATED)
            .await,
        json!({"sleep_mode": "disabled"})
    );
    next_event_seen(
        &mut events,
        &mut buffer,
        "recognizer_loop:wake_up",
        &mut seen,
    )
    .await;
    assert_eq!(
        s.json("GET", "/v1/system/sleep", StatusCode::OK).await,
        json!({"is_awake": true})
    );

    let started = Instant::now();
    for (method, path, body) in [
        ("GET", "/v1/system/info", None),
        ("GET", "/v1/system/config", None),
        ("GET", "/v1/network/internet", None),
        (
            "DELETE",
            "/v1/system/cache",
            Some(json!({"cache_type": "tts"})),
        ),
        ("GET", &format!("/v1/skills/{HELLO}/settings"), None),
    ] {
        let mut request = s.call(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (code, body) = error_body(
            request.send().await.unwrap(),
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
        assert_eq!(code, "not_configured", "{path}");
        assert!(
            body["detail"].as_str().unwrap().contains("skill-rest-api"),
            "{path}: {body}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "503 at once, took {:?}",
        started.elapsed()
    );
    // Nothing was asked of the missing skill.
    s.call("PUT", "/v1/voice/microphone/mute")
        .send()
        .await
        .unwrap();
    next_event_seen(&mut events, &mut buffer, "mycroft.mic.mute", &mut seen).await;
    assert!(
        !seen.iter().any(|name| name.starts_with("ovos.api.")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_skill_activated_later_is_asked_at_once_and_a_deactivated_one_no_more() {
    let options = ResponderOptions {
        skill: SkillState::Inactive,
        ..ResponderOptions::new(API_KEY)
    };
    let s = setup_with(Some(options), |_| {}).await;
    let started = Instant::now();
    let (code, _) = error_body(
        s.call("GET", "/v1/system/info").send().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(code, "not_configured");
    assert!(started.elapsed() < Duration::from_secs(2));
    let rest_api = "skill-rest-api.smartgic";
    assert_eq!(
        s.status(s.call("PUT", &format!("/v1/skills/{rest_api}/activate")))
            .await,
        StatusCode::NO_CONTENT
    );
    // The skill manager's answer makes voicegate look at the skill list again.
    let info = s.json("GET", "/v1/system/info", StatusCode::OK).await;
    assert!(info["results"]["core_version"].is_string());
    assert_eq!(
        s.status(s.call("PUT", &format!("/v1/skills/{rest_api}/deactivate")))
            .await,
        StatusCode::NO_CONTENT
    );
    let started = Instant::now();
    error_body(
        s.call("GET", "/v1/system/info").send().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
}
