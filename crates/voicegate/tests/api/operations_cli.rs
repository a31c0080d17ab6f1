//! The operator's commands through the real binary: `config show` (each value's layer, secrets
//! never printed) and `doctor` against real peers (the OVOS bus, snapserver, the engines) and
//! against missing ones (a `fail` line with its fix, a non-zero exit).

use serde_json::Value;
use testkit::{Binary, CliOutput};

fn binary() -> Binary {
    Binary::new(env!("CARGO_BIN_EXE_voicegate"))
}

/// The line of `key` (dotted: `http.max_connections`) in `config show`'s TOML.
fn entry<'a>(text: &'a str, key: &str) -> &'a str {
    let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = "";
    for line in text.lines() {
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = header;
        } else if current == section
            && (line.starts_with(&format!("{name} = ")) || line.starts_with(&format!("# {name} ")))
        {
            return line;
        }
    }
    panic!("no {key} in:\n{text}")
}

/// Asserts none of `secrets` is in the output (either stream).
fn assert_hidden(out: &CliOutput, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret} printed:\n{}{}",
            out.stdout,
            out.stderr
        );
    }
}

#[tokio::test]
async fn config_show_names_each_values_layer_and_never_a_secret() {
    let mut bin = binary();
    let work = bin.work_dir.path();
    std::fs::write(
        work.join("voicegate.toml"),
        "log_level = \"debug\"\nsecret = \"toml-secret-123\"\n\
         [http]\nmax_connections = 77\n[ovos]\nws_port = 18181\n",
    )
    .unwrap();
    std::fs::write(
        work.join(".env"),
        "API_KEY=dotenv-api-key-456\nVOICEGATE_JOBS__WORKERS=3\nVOICEGATE_EVENTS__BUFFER=5\n\
         WS_HOST=bus.lan\n",
    )
    .unwrap();
    for (name, value) in [
        ("VOICEGATE_HTTP__MAX_CONNECTIONS", "99"),
        ("VOICEGATE_HTTP__JSON_BODY_LIMIT", "2048"),
        ("VOICEGATE_EVENTS__BUFFER", "7"),
        (
            "VOICEGATE_DATABASE_URL",
            "postgres://vg:env-db-pass-789@127.0.0.1:1/vg",
        ),
    ] {
        bin.env.push((name.into(), value.into()));
    }
    let secrets = ["toml-secret-123", "dotenv-api-key-456", "env-db-pass-789"];

    let out = bin.run(&["config", "show"], "").await;
    assert!(out.success, "{}", out.stderr);
    assert_hidden(&out, &secrets);
    let text = &out.stdout;
    let data_dir = format!("data_dir = {:?}", bin.data_dir.display().to_string());
    for (key, expected) in [
        ("listen", "listen = \"127.0.0.1:8000\"|# default"),
        ("data_dir", &format!("{data_dir}|# command line --data-dir")),
        ("log_level", "log_level = \"debug\"|# file voicegate.toml"),
        ("secret", "secret = \"[redacted]\"|# file voicegate.toml"),
        (
            "database_url",
            "database_url = \"postgres://vg:***@127.0.0.1:1/vg\"|# env VOICEGATE_DATABASE_URL",
        ),
        ("public_url", "# public_url (unset)|# default"),
        (
            "http.max_connections",
            "max_connections = 99|# env VOICEGATE_HTTP__MAX_CONNECTIONS",
        ),
        (
            "http.json_body_limit",
            "json_body_limit = 2048|# env VOICEGATE_HTTP__JSON_BODY_LIMIT",
        ),
        ("ovos.ws_port", "ws_port = 18181|# file voicegate.toml"),
        ("ovos.ws_host", "ws_host = \"bus.lan\"|# .env WS_HOST"),
        ("ovos.api_key", "api_key = \"[redacted]\"|# .env API_KEY"),
        ("jobs.workers", "workers = 3|# .env VOICEGATE_JOBS__WORKERS"),
        // Set in both: the environment wins over .env.
        ("events.buffer", "buffer = 7|# env VOICEGATE_EVENTS__BUFFER"),
        ("store.max_connections", "max_connections = |# default"),
    ] {
        let line = entry(text, key);
        let (value, source) = expected.split_once('|').unwrap();
        assert!(line.starts_with(value), "{key}: {line}");
        assert!(line.ends_with(source), "{key}: {line}");
    }

    let out = bin.run(&["config", "show", "--json"], "").await;
    assert!(out.success, "{}", out.stderr);
    assert_hidden(&out, &secrets);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["jobs.workers"]["value"], 3);
    assert_eq!(json["jobs.workers"]["source"], ".env");
    assert_eq!(json["jobs.workers"]["from"], "VOICEGATE_JOBS__WORKERS");
    assert_eq!(json["secret"]["value"], "[redacted]");
    assert_eq!(json["secret"]["source"], "file");
    assert_eq!(json["listen"]["source"], "default");
    assert_eq!(json["listen"]["from"], Value::Null);

    // A secret from the environment beats the file's, and is not printed either.
    bin.env
        .push(("VOICEGATE_SECRET".into(), "env-secret-0123".into()));
    let out = bin.run(&["config", "show"], "").await;
    assert!(out.success, "{}", out.stderr);
    assert_hidden(&out, &["env-secret-0123", "toml-secret-123"]);
    let line = entry(&out.stdout, "secret");
    assert!(
        line.starts_with("secret = \"[redacted]\"") && line.ends_with("# env VOICEGATE_SECRET"),
        "{line}"
    );

    // A configuration that does not load says why.
    std::fs::write(work.join("voicegate.toml"), "[http]\nmax_connection = 3\n").unwrap();
    let out = bin.run(&["config", "show"], "").await;
    assert!(!out.success);
    assert!(out.stderr.contains("max_connection"), "{}", out.stderr);
}

/// The version `snapserver --version` prints (`snapserver v0.26.0`).
fn snapserver_version() -> String {
    let output = std::process::Command::new("snapserver")
        .arg("--version")
        .output()
        .expect("snapserver runs");
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find_map(|word| word.strip_prefix('v'))
        .unwrap_or_else(|| panic!("no version in {text}"))
        .to_string()
}

#[tokio::test]
async fn doctor_passes_with_the_real_bus_snapserver_and_engines() {
    let bin = binary();
    let bus = testkit::OvosBus::start().await;
    let snapserver = testkit::Snapserver::start(2, 500).await;
    let streams: Vec<String> = snapserver
        .sources
        .iter()
        .map(|(name, port)| format!("\"{name}=tcp://127.0.0.1:{port}\""))
        .collect();
    let toml = bin.work_dir.path().join("voicegate.toml");
    let config = format!(
        "[ovos]\nws_port = {}\napi_key = \"k\"\n\
         [speakers]\nbackend = \"snapcast\"\nsnapcast_control = \"{}\"\nsnapcast_streams = [{}]\n",
        bus.port,
        snapserver.control_address(),
        streams.join(", ")
    );
    std::fs::write(&toml, &config).unwrap();
    let out = bin.run(&["doctor"], "").await;
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    let text = &out.stdout;
    for expected in [
        format!(
            "ok    OVOS message bus answers at ws://127.0.0.1:{}/core",
            bus.port
        ),
        format!(
            "ok    Snapcast: snapserver {} at {}, 0 client(s) (0 connected), 2 stream(s): \
             S1 (idle), S2 (idle)",
            snapserver_version(),
            snapserver.control_address()
        ),
        "ok    stream sources S1, S2 are snapserver's".to_string(),
        "ok    speech engines: ".to_string(),
        "ok    speech recognition: PocketSphinx loads ".to_string(),
        "ok    disk: ".to_string(),
        "warn  no users: nobody can log in\n      fix: create one with `voicegate".to_string(),
        "doctor: no failure, 1 warning(s)".to_string(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
    assert!(!text.contains("fail  "), "{text}");

    // A stream source snapserver lacks is a failure naming the line its configuration needs.
    let missing = config.replace(
        "snapcast_streams = [",
        "snapcast_streams = [\"S9=tcp://127.0.0.1:4999\", ",
    );
    std::fs::write(&toml, missing).unwrap();
    let out = bin.run(&["doctor"], "").await;
    assert!(!out.success, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "fail  stream S9 is not one of snapserver's (S1, S2)\n      fix: add \
             `source = tcp://127.0.0.1:4999?name=S9&mode=server` to snapserver.conf"
        ),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn doctor_fails_naming_the_fix_when_the_bus_and_snapserver_are_missing() {
    let bin = binary();
    let (bus_port, control) = (testkit::free_port(), testkit::free_port());
    std::fs::write(
        bin.work_dir.path().join("voicegate.toml"),
        format!(
            "[ovos]\nws_port = {bus_port}\n\
             [speakers]\nbackend = \"snapcast\"\nsnapcast_control = \"127.0.0.1:{control}\"\n"
        ),
    )
    .unwrap();
    let out = bin.run(&["doctor"], "").await;
    assert!(!out.success, "{}", out.stdout);
    let text = &out.stdout;
    for expected in [
        format!("fail  OVOS message bus at ws://127.0.0.1:{bus_port}/core: "),
        "      fix: start ovos-messagebus (or the Open Voice OS stack), or point ovos.ws_host \
         and ovos.ws_port (WS_HOST, WS_PORT) at it"
            .to_string(),
        "warn  API_KEY is not set".to_string(),
        format!("fail  Snapcast at 127.0.0.1:{control}: connecting: "),
        format!(
            "      fix: start snapserver (its [tcp] control port at 127.0.0.1:{control}), \
             correct speakers.snapcast_control, or set speakers.backend = \"local\""
        ),
        "doctor: 2 failure(s), ".to_string(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
    // The engines and the store do not depend on the peers.
    assert!(text.contains("ok    speech engines: "), "{text}");
    assert!(text.contains("ok    store: backend "), "{text}");

    // A managed snapserver: its program must be there; not running is fine (serve starts it).
    let control = testkit::free_port();
    std::fs::write(
        bin.work_dir.path().join("voicegate.toml"),
        format!(
            "[speakers]\nmanage_snapserver = true\nsnapserver_program = \"/nonexistent/snapserver\"\n\
             snapserver_control_address = \"127.0.0.1:{control}\"\n"
        ),
    )
    .unwrap();
    let out = bin.run(&["doctor"], "").await;
    for expected in [
        "fail  managed snapserver: /nonexistent/snapserver is not found\n      fix: install \
         snapserver (Debian: snapserver), set speakers.snapserver_program, or set \
         speakers.manage_snapserver = false"
            .to_string(),
        format!(
            "ok    managed snapserver not running at 127.0.0.1:{control} (voicegate serve starts it)"
        ),
    ] {
        assert!(
            out.stdout.contains(&expected),
            "{expected:?} not in:\n{}",
            out.stdout
        );
    }
}
