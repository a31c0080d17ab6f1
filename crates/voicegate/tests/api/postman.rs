//! The original ovos-api's own Postman collection (`peers/ovos-api-postman.json` of the peer
//! data beside the repository, run unchanged by newman; skipped without it outside CI) against voicegate, through a real `ovos-messagebus` answered by the test
//! responder. Only the collection's variables are overridden (address and port).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{OvosBus, Responder, TestServer, shared_file};
use tokio::process::Command;

use crate::support::{get_bearer, tokens};

const API_KEY: &str = "shared-with-the-skill";
/// The collection's `user` and `password` variables.
const USER: &str = "ovos";
const PASSWORD: &str = "change-me";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// newman: `TESTKIT_NEWMAN` (set by `scripts/test`), else the one `scripts/test` installs.
fn newman() -> PathBuf {
    let path = std::env::var_os("TESTKIT_NEWMAN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("scripts/newman/node_modules/.bin/newman"));
    assert!(
        path.is_file(),
        "newman not found at {} (run scripts/test, which installs it from scripts/newman/package.json, \
         or set TESTKIT_NEWMAN)",
        path.display()
    );
    path
}

/// The collection, a peer's file kept outside the repository (skipped without it, outside CI).
const COLLECTION: &str = "peers/ovos-api-postman.json";

/// Runs newman on `collection` with `args` and the JSON report; returns the report and newman's
/// output (for failure messages).
async fn run_newman(
    collection: &Path,
    dir: &Path,
    name: &str,
    port: u16,
    args: &[&str],
) -> (Value, String) {
    let report = dir.join(format!("{name}-report.json"));
    let port = port.to_string();
    let output = Command::new(newman())
        .arg("run")
        .arg(collection)
        .args(["--env-var", "api_address=127.0.0.1"])
        .args(["--env-var", &format!("api_port={port}")])
        .args(args)
        .args(["--reporters", "cli,json", "--reporter-json-export"])
        .arg(&report)
        .args([
            "--timeout-request",
            "30000",
            "--color",
            "off",
            "--disable-unicode",
        ])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("newman runs");
    let log = format!(
        "newman {name} exited with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{log}");
    let text = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("no newman report {} ({e}):\n{log}", report.display()));
    let report: Value = serde_json::from_str(&text).expect("the newman report is JSON");
    (report, log)
}

/// Asserts that the run had requests, that each got a 2xx response, and that nothing failed.
fn assert_all_2xx(name: &str, report: &Value, log: &str, expected_requests: usize) {
    let run = &report["run"];
    let executions = run["executions"].as_array().expect("executions");
    let mut bad = Vec::new();
    for execution in executions {
        let item = execution["item"]["name"].as_str().unwrap_or("?");
        let method = execution["request"]["method"].as_str().unwrap_or("?");
        let code = execution["response"]["code"].as_u64();
        match code {
            Some(code) if (200..300).contains(&code) => {}
            Some(code) => {
                let body = execution["response"]["stream"]["data"]
                    .as_array()
                    .map(|bytes| {
                        let bytes: Vec<u8> = bytes
                            .iter()
                            .filter_map(|b| b.as_u64().map(|b| b as u8))
                            .collect();
                        String::from_utf8_lossy(&bytes).into_owned()
                    })
                    .unwrap_or_default();
                bad.push(format!("{item} ({method}): {code} {body}"));
            }
            None => bad.push(format!(
                "{item} ({method}): no response ({})",
                execution["requestError"]
            )),
        }
    }
    let failures: Vec<String> = run["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f["source"]["name"].as_str().unwrap_or("?"),
                f["error"]["message"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{name}: requests without a 2xx response:\n  {}\n{log}",
        bad.join("\n  ")
    );
    assert!(
        failures.is_empty(),
        "{name}: newman failures:\n  {}\n{log}",
        failures.join("\n  ")
    );
    assert_eq!(
        executions.len(),
        expected_requests,
        "{name}: requests run\n{log}"
    );
}

#[tokio::test]
async fn the_ovos_api_postman_collection_passes_unchanged() {
    let Some(collection) = shared_file(COLLECTION) else {
        return;
    };
    let newman = newman();
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(&collection).unwrap())
        .expect("the collection is JSON");
    let total = count_requests(&expected["item"]);
    let auth_requests = expected["item"]
        .as_array()
        .expect("items")
        .iter()
        .find(|folder| folder["name"] == "Auth")
        .map(|folder| count_requests(&folder["item"]))
        .expect("the collection has an Auth folder");
    println!("newman: {}", newman.display());

    let bus = OvosBus::start().await;
    let _responder = Responder::start(&bus, API_KEY).await;
    let bus_port = bus.port;
    let server = TestServer::start_with(|config| {
        config.ovos.ws_port = bus_port;
        config.ovos.api_key = Some(voicegate::secret::Secret::new(API_KEY));
    })
    .await;
    server.add_user(USER, PASSWORD).await;
    wait_connected(&server).await;
    let port: u16 = server
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the server's port");
    let dir = server.data_dir.path().join("newman");
    std::fs::create_dir_all(&dir).expect("the report directory");
    let environment = dir.join("environment.json");
    let environment = environment.to_str().expect("a UTF-8 path");

    tokio::time::timeout(Duration::from_secs(120), async {
        // The Auth folder comes last in the collection but sets the token the others use.
        let (report, log) = run_newman(
            &collection,
            &dir,
            "auth",
            port,
            &["--folder", "Auth", "--export-environment", environment],
        )
        .await;
        assert_all_2xx("Auth folder", &report, &log, auth_requests);
        let (report, log) =
            run_newman(&collection, &dir, "collection", port, &["-e", environment]).await;
        assert_all_2xx("whole collection", &report, &log, total);
        println!(
            "newman summary: {}",
            json!({"requests": report["run"]["stats"]["requests"], "assertions": report["run"]["stats"]["assertions"]})
        );
    })
    .await
    .expect("newman finishes within 120 s");
}

fn count_requests(items: &Value) -> usize {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            if item.get("item").is_some() {
                count_requests(&item["item"])
            } else {
                1
            }
        })
        .sum()
}

async fn wait_connected(server: &TestServer) {
    let (token, _) = tokens(server, USER, PASSWORD).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = get_bearer(server.url("/v1/network/websocket"), &token).await;
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
