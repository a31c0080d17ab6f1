//! The Snips console assistants surface: the console flow as the contract's Python client drives
//! it, ownership, bad datasets, and training that survives the process being killed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{TestServer, run_python};
use voicegate::identity::Role;

use crate::support::{binary_with_user, client, error_body, login, tokens};

/// A small Snips dataset: lights per room, and a temperature with a builtin number.
pub fn home_dataset() -> Value {
    let light = |before: &str, room: &str, after: &str| {
        json!({"data": [
            {"text": before},
            {"text": room, "entity": "room", "slot_name": "room"},
            {"text": after}
        ]})
    };
    json!({
        "language": "en",
        "intents": {
            "turnLightOn": {"utterances": [
                light("turn on the lights in the ", "kitchen", ""),
                light("switch the ", "bedroom", " lights on"),
                light("lights on in the ", "living room", " please"),
                light("turn the ", "garage", " light on"),
            ]},
            "setTemperature": {"utterances": [
                {"data": [
                    {"text": "set the temperature to "},
                    {"text": "twenty", "entity": "snips/number", "slot_name": "degrees"},
                    {"text": " degrees"}
                ]},
                {"data": [
                    {"text": "make it "},
                    {"text": "18", "entity": "snips/number", "slot_name": "degrees"},
                    {"text": " degrees in here"}
                ]}
            ]}
        },
        "entities": {
            "room": {
                "data": [
                    {"value": "kitchen", "synonyms": []},
                    {"value": "bedroom", "synonyms": ["sleeping room"]},
                    {"value": "living room", "synonyms": []},
                    {"value": "garage", "synonyms": []}
                ],
                "use_synonyms": true,
                "automatically_extensible": true,
                "matching_strictness": 1.0
            },
            "snips/number": {}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_flow_runs_as_the_contracts_python_client_drives_it() {
    let server = TestServer::start().await;
    server
        .state
        .identity
        .add_user_with_email("ann", Some("ann@example.org"), "ann-password-1", Role::User)
        .await
        .unwrap();
    let (base, dataset) = (server.base.clone(), home_dataset().to_string());
    let out = tokio::task::spawn_blocking(move || {
        run_python(
            include_str!("assistants_console.py"),
            &[&base, "ann@example.org", "ann-password-1", &dataset],
        )
    })
    .await
    .unwrap();
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary, json!({"ok": true, "logins": 1}));
}

/// A server with two users, and their access tokens.
async fn two_users() -> (TestServer, String, String) {
    let server = TestServer::start().await;
    server.add_user("ann", "ann-password-1").await;
    server.add_user("bob", "bob-password-1").await;
    let (ann, _) = tokens(&server, "ann", "ann-password-1").await;
    let (bob, _) = tokens(&server, "bob", "bob-password-1").await;
    (server, ann, bob)
}

async fn send(method: &str, url: String, token: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = client()
        .request(method.parse().unwrap(), url)
        .header("authorization", format!("JWT {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn create(server: &TestServer, token: &str, body: Value) -> reqwest::Response {
    send("POST", server.url("/v3/assistant"), token, Some(body)).await
}

pub async fn train_and_wait(base: &str, token: &str, id: &str, limit: Duration) -> Value {
    let queued = send(
        "POST",
        format!("{base}/v1/training"),
        token,
        Some(json!({"assistantId": id})),
    )
    .await;
    assert_eq!(queued.status(), StatusCode::OK);
    wait_trained(base, token, id, limit).await
}

async fn status(base: &str, token: &str, id: &str) -> Value {
    let url = format!("{base}/v3/assistant/{id}/status");
    let answer = send("GET", url, token, None).await;
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.unwrap()
}

async fn wait_trained(base: &str, token: &str, id: &str, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let status = status(base, token, id).await;
        if status["nluStatus"]["inProgress"] == false {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn another_users_assistant_is_not_found_on_every_route() {
    let (server, ann, bob) = two_users().await;
    let created = create(&server, &bob, json!({"dataset": home_dataset()})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let trained = train_and_wait(&server.base, &bob, &id, Duration::from_secs(60)).await;
    assert_eq!(trained["nluStatus"]["needTraining"], false, "{trained}");

    let path = |tail: &str| server.url(&format!("/v3/assistant/{id}{tail}"));
    let tries = [
        ("GET", path("/status"), None),
        ("GET", path("/download"), None),
        ("POST", path("/parse"), Some(json!({"text": "hello"}))),
        ("PUT", path(""), Some(json!({"dataset": home_dataset()}))),
        ("DELETE", path(""), None),
        (
            "POST",
            server.url("/v1/training"),
            Some(json!({"assistantId": id})),
        ),
        (
            "GET",
            server.url("/v1/languagemodel/status"),
            Some(json!({"assistantId": id})),
        ),
    ];
    for (method, url, body) in tries {
        let answer = send(method, url.clone(), &ann, body).await;
        let (code, body) = error_body(answer, StatusCode::NOT_FOUND).await;
        assert_eq!(code, "not_found", "{method} {url}");
        assert!(body["message"].is_string(), "the console's shape: {body}");
    }
    let listed = send("GET", server.url("/v3/assistant"), &ann, None).await;
    assert_eq!(
        listed.json::<Value>().await.unwrap(),
        json!({"assistants": []})
    );
    // Another user's id in userId is refused.
    let bob_login = client()
        .post(server.url("/v1/user/auth"))
        .json(&json!({"email": "bob", "password": "bob-password-1"}))
        .send()
        .await
        .unwrap();
    let bob_id = bob_login.json::<Value>().await.unwrap()["user"]["id"].clone();
    let other = send(
        "GET",
        server.url("/v3/assistant"),
        &ann,
        Some(json!({"userId": bob_id})),
    )
    .await;
    error_body(other, StatusCode::FORBIDDEN).await;
    // Bob still has it, trained.
    let parsed = send(
        "POST",
        path("/parse"),
        &bob,
        Some(json!({"text": "turn on the lights in the kitchen"})),
    )
    .await;
    assert_eq!(parsed.status(), StatusCode::OK);
    let parsed: Value = parsed.json().await.unwrap();
    assert_eq!(parsed["intent"]["intentName"], "turnLightOn", "{parsed}");
}

#[tokio::test]
async fn bad_datasets_are_400s_naming_the_field() {
    let (server, ann, _) = two_users().await;
    let mut no_language = home_dataset();
    no_language.as_object_mut().unwrap().remove("language");
    let mut undeclared = home_dataset();
    undeclared["intents"]["turnLightOn"]["utterances"][0]["data"][1]["entity"] = json!("place");
    let mut no_slot = home_dataset();
    no_slot["intents"]["setTemperature"]["utterances"][1]["data"][1]
        .as_object_mut()
        .unwrap()
        .remove("slot_name");
    let cases = [
        (json!({"title": "x"}), "dataset is required"),
        (json!({"dataset": [1, 2]}), "dataset: must be a JSON object"),
        (json!({"dataset": no_language}), "dataset.language: missing"),
        (
            json!({"dataset": undeclared}),
            "dataset.intents.turnLightOn.utterances[0].data[1].entity: entity \"place\" is not declared",
        ),
        (
            json!({"dataset": no_slot}),
            "dataset.intents.setTemperature.utterances[1].data[1].slot_name: missing",
        ),
        (
            json!({"dataset": {"PlayMusic": [{"data": [{"text": 3}]}]}}),
            "dataset:PlayMusic",
        ),
        (
            json!({"title": "t".repeat(201), "dataset": home_dataset()}),
            "title: longer than 200 characters",
        ),
    ];
    for (body, names) in cases {
        let answer = create(&server, &ann, body.clone()).await;
        let (code, error) = error_body(answer, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "bad_request");
        let detail = error["detail"].as_str().unwrap();
        assert!(detail.starts_with(names), "{detail} should name {names}");
        assert_eq!(error["message"], error["detail"], "the console's shape");
    }
    // The body itself may be the dataset; the benchmark's format is read too.
    let whole = create(&server, &ann, home_dataset()).await;
    assert_eq!(whole.status(), StatusCode::CREATED);
    let benchmark = json!({"dataset": {"PlayMusic": [{"data": [
        {"text": "play "}, {"text": "jazz", "entity": "genre"}
    ]}]}});
    let imported = create(&server, &ann, benchmark).await;
    assert_eq!(imported.status(), StatusCode::CREATED);
    let listed = send("GET", server.url("/v3/assistant"), &ann, None).await;
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["assistants"].as_array().unwrap().len(), 2);
    let no_text = send(
        "POST",
        server.url("/v1/training"),
        &ann,
        Some(json!({"assistant": "x"})),
    )
    .await;
    let (_, error) = error_body(no_text, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["detail"], "assistantId is required");
}

/// Benchmark files (the full ones) merged into one benchmark document; `None` (the test skips,
/// said so on standard error) when the peer data is not beside the repository outside CI.
fn benchmark(intents: &[&str]) -> Option<Value> {
    let mut merged = serde_json::Map::new();
    for intent in intents {
        let path = testkit::shared_file(&format!("data/nlu-benchmark/train_{intent}_full.json"))?;
        let file: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        merged.extend(file.as_object().unwrap().clone());
    }
    Some(Value::Object(merged))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_killed_with_the_process_finishes_after_a_restart() {
    let bin = binary_with_user("ann", "ann-password-1").await;
    let env = [
        ("VOICEGATE_JOBS__LEASE_MS", "1000"),
        ("VOICEGATE_JOBS__POLL_MS", "100"),
    ];
    let mut server = bin.serve(&env).await;
    let token = |answer: Value| answer["access_token"].as_str().unwrap().to_string();
    let ann = token(
        login(&server.base, "ann", "ann-password-1")
            .await
            .json()
            .await
            .unwrap(),
    );
    let Some(dataset) = benchmark(&[
        "BookRestaurant",
        "GetWeather",
        "RateBook",
        "SearchCreativeWork",
    ]) else {
        return;
    };
    let created = send(
        "POST",
        server.url("/v3/assistant"),
        &ann,
        Some(json!({"title": "benchmark", "dataset": dataset})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let training = json!({"assistantId": id});
    let queued = send(
        "POST",
        server.url("/v1/training"),
        &ann,
        Some(training.clone()),
    )
    .await;
    assert_eq!(queued.status(), StatusCode::OK);
    // Killed once the training is under way (its progress written).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let nlu = status(&server.base, &ann, &id).await["nluStatus"].clone();
        assert_eq!(nlu["inProgress"], true, "killed before it ended: {nlu}");
        if nlu["progress"].as_u64().unwrap() > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{nlu}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = send(
        "POST",
        server.url("/v1/training"),
        &ann,
        Some(training.clone()),
    )
    .await;
    let (code, _) = error_body(again, StatusCode::CONFLICT).await;
    assert_eq!(code, "conflict");
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    assert_eq!(crate::faults_support::integrity(&bin.data_dir), "ok");

    server = bin.serve(&env).await;
    let done = wait_trained(&server.base, &ann, &id, Duration::from_secs(240)).await;
    let nlu = &done["nluStatus"];
    assert_eq!(nlu["needTraining"], false, "{done}");
    assert_eq!(nlu["progress"], 100, "{done}");
    assert!(nlu.get("error").is_none(), "{done}");
    let parsed = send(
        "POST",
        server.url(&format!("/v3/assistant/{id}/parse")),
        &ann,
        Some(json!({"text": "what will the weather be like in paris tomorrow"})),
    )
    .await;
    assert_eq!(parsed.status(), StatusCode::OK);
    let parsed: Value = parsed.json().await.unwrap();
    assert_eq!(parsed["intent"]["intentName"], "GetWeather", "{parsed}");
    // One model file, whole (named by its hash): the killed run left nothing behind once the
    // next run ended.
    let models = crate::faults_support::files_under(&bin.data_dir.join("assistants").join(&id));
    assert_eq!(models.len(), 1, "{models:?}");
    let name = models[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let bytes = std::fs::read(&models[0]).unwrap();
    assert_eq!(
        name,
        format!("nlu-{}.model", crate::faults_support::sha256_hex(&bytes))
    );
    server.terminate().await;
    assert_eq!(crate::faults_support::integrity(&bin.data_dir), "ok");
}

#[tokio::test]
async fn a_title_alone_renames_and_keeps_the_trained_model() {
    let (server, ann, bob) = two_users().await;
    let created: Value = create(&server, &ann, json!({"dataset": home_dataset()}))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let trained = train_and_wait(&server.base, &ann, &id, Duration::from_secs(60)).await;
    assert_eq!(trained["nluStatus"]["needTraining"], false, "{trained}");
    let url = server.url(&format!("/v3/assistant/{id}"));

    let renamed = send(
        "PUT",
        url.clone(),
        &ann,
        Some(json!({"title": " Kitchen "})),
    )
    .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(renamed["title"], "Kitchen");
    assert_eq!(renamed["datasetVersion"], created["datasetVersion"]);
    assert_eq!(renamed["nluStatus"]["needTraining"], false, "{renamed}");
    let parsed = send(
        "POST",
        server.url(&format!("/v3/assistant/{id}/parse")),
        &ann,
        Some(json!({"text": "turn on the lights in the kitchen"})),
    )
    .await;
    assert_eq!(parsed.status(), StatusCode::OK);

    // An empty or too long title is a 400 naming it; another user's assistant is not found.
    for title in ["  ", &"t".repeat(201)] {
        let refused = send("PUT", url.clone(), &ann, Some(json!({"title": title}))).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let body: Value = refused.json().await.unwrap();
        assert!(
            body["detail"].as_str().unwrap().starts_with("title"),
            "{body}"
        );
    }
    let theirs = send("PUT", url, &bob, Some(json!({"title": "Mine"}))).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
}
