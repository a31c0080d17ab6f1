//! Hostile names and ids on every route that takes one which touches the filesystem or a header:
//! path traversal (plain, encoded, double-encoded, backslash, NUL), CR/LF where a value could be
//! echoed into a header, over-long values and invalid UTF-8. Each is refused with a clear 4xx JSON
//! error: never a 5xx, never a file outside the data directory read or written, never a header
//! made from the value. Requests go over a raw socket, so that what is sent is exactly the bytes
//! written here (an HTTP client would resolve `../` and re-encode).

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use voicegate::identity::Role;

use crate::assistants::home_dataset;
use crate::support::{client, tokens};

/// What the sentinel file outside the data directory holds: no answer may carry it.
const SENTINEL: &str = "sentinel-outside-the-data-dir-4b1d";

/// An answer read off the socket.
struct Raw {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// Sends exactly `target` (the request line's second part) with `headers` and `body`.
async fn send_raw(
    base: &str,
    method: &str,
    target: &[u8],
    headers: &[(&str, &str)],
    body: &[u8],
) -> Raw {
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let mut request = Vec::new();
    request.extend_from_slice(method.as_bytes());
    request.push(b' ');
    request.extend_from_slice(target);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    request.extend_from_slice(address.as_bytes());
    request.extend_from_slice(b"\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    request.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    request.extend_from_slice(body);
    stream.write_all(&request).await.expect("sent");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .unwrap_or_else(|_| {
            let shown = String::from_utf8_lossy(&target[..target.len().min(120)]).into_owned();
            panic!("{method} {shown}: no answer within 20 s")
        })
        .expect("read");
    parse(&answer)
}

fn parse(answer: &[u8]) -> Raw {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = &answer[..split];
    let mut lines = head.split(|b| *b == b'\n');
    let status_line = String::from_utf8_lossy(lines.next().expect("a status line")).to_string();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let headers: Vec<(String, Vec<u8>)> = lines
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter_map(|line| {
            let colon = line.iter().position(|b| *b == b':')?;
            let name = String::from_utf8_lossy(&line[..colon]).to_lowercase();
            Some((name, line[colon + 1..].trim_ascii().to_vec()))
        })
        .collect();
    let mut body = answer[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case(b"chunked"))
    {
        body = dechunk(&body);
    }
    Raw {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap_or("0").trim(), 16)
                .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&rest[start..(start + size).min(rest.len())]);
        rest = &rest[(start + size + 2).min(rest.len())..];
    }
    out
}

/// Hostile values as they go into a URL (path segment or query value).
fn url_payloads() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("traversal", b"../../../secret.txt".to_vec()),
        (
            "deep traversal",
            b"../../../../../../../../etc/passwd".to_vec(),
        ),
        (
            "encoded traversal",
            b"%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt".to_vec(),
        ),
        ("encoded slash", b"..%2F..%2F..%2Fsecret.txt".to_vec()),
        (
            "double-encoded",
            b"%252e%252e%252f%252e%252e%252fsecret.txt".to_vec(),
        ),
        ("backslash", b"..%5c..%5c..%5csecret.txt".to_vec()),
        ("NUL", b"secret.txt%00.wav".to_vec()),
        ("CR/LF", b"x%0d%0aX-Injected:%20yes%0d%0a".to_vec()),
        ("invalid UTF-8", b"%ff%fe%fd".to_vec()),
        ("over-long", vec![b'a'; 32 * 1024]),
    ]
}

/// Hostile values as JSON strings.
fn text_payloads() -> Vec<(&'static str, String)> {
    vec![
        ("traversal", "../../../secret.txt".into()),
        ("backslash", "..\\..\\..\\secret.txt".into()),
        ("NUL", "secret.txt\u{0}.wav".into()),
        ("CR/LF", "x\r\nX-Injected: yes\r\n".into()),
        ("over-long", "a".repeat(64 * 1024)),
    ]
}

/// A server whose data directory is a folder of a folder that also holds the sentinel file.
struct Fixture {
    server: TestServer,
    outer: tempfile::TempDir,
    token: String,
    session: String,
    assistant: String,
    account: String,
    user_id: String,
}

async fn fixture() -> Fixture {
    let outer = tempfile::tempdir().expect("a temp dir");
    std::fs::write(outer.path().join("secret.txt"), SENTINEL).expect("sentinel");
    let data_dir = outer.path().join("data");
    std::fs::create_dir(&data_dir).expect("data dir");
    let server = TestServer::start_with(|config| {
        config.data_dir = data_dir.clone();
        config.speakers.local_output = "null".into();
        config.speakers.media_dir = Some(data_dir.join("media").display().to_string());
        config.ovos.ws_port = testkit::free_port();
        config.auth.max_failures_per_ip = 1_000_000;
        config.auth.max_attempts_per_ip = 1_000_000;
    })
    .await;
    server
        .state
        .identity
        .add_user("eve", "eve-password-123", Role::Admin)
        .await
        .expect("user");
    let user_id = server.state.identity.list_users().await.expect("users")[0]
        .id
        .to_string();
    let (token, _) = tokens(&server, "eve", "eve-password-123").await;
    let http = client();
    let post = |path: &str, body: Value| {
        http.post(server.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let session: Value = post("/api/v1/init_session", json!({}))
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    let assistant: Value = post("/v3/assistant", json!({"dataset": home_dataset()}))
        .await
        .expect("assistant")
        .json()
        .await
        .expect("json");
    let account: Value = post(
        "/api/v1/external/account/register/",
        json!({"gender": "male", "age": 40}),
    )
    .await
    .expect("account")
    .json()
    .await
    .expect("json");
    Fixture {
        session: session["SessionToken"].as_str().expect("session").into(),
        assistant: assistant["id"].as_str().expect("assistant").into(),
        account: account["account_id"].as_str().expect("account").into(),
        server,
        outer,
        token,
        user_id,
    }
}

/// Runs `check` on every case and fails once, listing every case that failed.
fn all_refused(cases: Vec<(String, Raw)>) {
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|(what, raw)| {
            std::panic::catch_unwind(|| assert_refused(what, raw))
                .err()
                .map(|e| {
                    e.downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| what.clone())
                })
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// The answer is a clear 4xx: a JSON object with an error code and a detail, no header from the
/// value, nothing of a file outside the data directory.
fn assert_refused(what: &str, raw: &Raw) {
    assert!(
        (400..500).contains(&raw.status),
        "{what}: status {} ({})",
        raw.status,
        String::from_utf8_lossy(&raw.body[..raw.body.len().min(300)])
    );
    assert_eq!(
        raw.header("content-type"),
        Some(&b"application/json"[..]),
        "{what}: a JSON error"
    );
    let body: Value = serde_json::from_slice(&raw.body).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        body["error"].is_string() && body["detail"].is_string(),
        "{what}: {body}"
    );
    assert_no_leak(what, raw);
}

/// Whatever the status: no injected header, nothing of the sentinel or of /etc/passwd.
fn assert_no_leak(what: &str, raw: &Raw) {
    assert!(
        raw.header("x-injected").is_none(),
        "{what}: header injected"
    );
    for (name, value) in &raw.headers {
        let value = String::from_utf8_lossy(value);
        assert!(!value.contains("X-Injected"), "{what}: {name}: {value}");
    }
    let body = String::from_utf8_lossy(&raw.body);
    assert!(
        !body.contains(SENTINEL),
        "{what}: the sentinel file was read"
    );
    assert!(!body.contains("root:x:0:0"), "{what}: /etc/passwd was read");
}

/// Only the sentinel and the data directory are in the outer folder.
fn assert_nothing_written_outside(outer: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(outer)
        .expect("outer")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["data", "secret.txt"]);
    assert_eq!(
        std::fs::read_to_string(outer.join("secret.txt")).expect("sentinel"),
        SENTINEL
    );
}

/// Route templates with `{}` where the hostile value goes (in the path or a query value), and
/// the method.
fn url_targets(f: &Fixture) -> Vec<(&'static str, String)> {
    let (s, a) = (&f.session, &f.assistant);
    let u = &f.user_id;
    let mut targets = vec![
        ("GET", "/v3/assistant/{}/status".to_string()),
        ("GET", "/v3/assistant/{}/download".into()),
        ("DELETE", "/v3/assistant/{}".into()),
        ("GET", "/v3/assistant?userId={}".into()),
        ("GET", "/v1/languagemodel/status?assistantId={}".into()),
        ("GET", "/api/v1/external/voices/download/{}".into()),
        ("GET", "/api/v1/external/licenses/{}".into()),
        (
            "GET",
            "/api/v1/external/voices/download/espeak:en-us?device_id={}".into(),
        ),
        (
            "GET",
            "/api/v1/external/licenses/espeak:en-us?device_id={}".into(),
        ),
        (
            "GET",
            "/api/v1/external/synthesis/?script=hi&download_token={}".into(),
        ),
        (
            "GET",
            "/api/v1/external/synthesis/?script=hi&download_token=espeak:en-us&put_url={}".into(),
        ),
        (
            "GET",
            "/api/v1/external/synthesis/?script=hi&download_token=espeak:en-us&put_url=file:///{}"
                .into(),
        ),
        ("GET", "/api/v1/external/account/info/?account_id={}".into()),
        ("GET", "/v1/skills/{}/settings".into()),
        ("PUT", "/v1/skills/{}/activate".into()),
        ("PUT", "/v1/skills/{}/deactivate".into()),
        ("GET", format!("/v1/user/{u}/accesstoken/{{}}")),
        ("DELETE", format!("/v1/user/{u}/accesstoken/{{}}")),
        ("GET", "/v1/user/{}/accesstoken/fuzz".into()),
        ("GET", "/api/v1/device_count?SessionToken={}".into()),
        (
            "GET",
            format!("/api/v1/device_info?SessionToken={s}&DeviceID={{}}"),
        ),
        (
            "GET",
            format!("/api/v1/add_device_to_session?SessionToken={s}&DeviceID={{}}"),
        ),
        (
            "GET",
            format!("/api/v1/set_volume_device?SessionToken={s}&DeviceID={{}}&Volume=10"),
        ),
        (
            "GET",
            format!("/api/v1/play_hub_media?SessionToken={s}&PersistentID={{}}"),
        ),
        (
            "GET",
            format!(
                "/api/v1/play_hub_media_selected_speakers?SessionToken={s}&PersistentID=1&DeviceIDList={{}}"
            ),
        ),
        (
            "GET",
            format!("/api/v1/resume_hub_media?SessionToken={s}&PersistentID={{}}"),
        ),
        (
            "GET",
            format!("/api/v1/play_web_media?SessionToken={s}&MediaUrl={{}}"),
        ),
        (
            "GET",
            format!("/api/v1/play_web_media?SessionToken={s}&MediaUrl=file:///{{}}"),
        ),
        (
            "GET",
            format!("/api/v1/play_web_media?SessionToken={s}&MediaUrl=http://127.0.0.1:9/{{}}"),
        ),
        (
            "GET",
            format!("/api/v1/play_tts?SessionToken={s}&Text=hi&Voice={{}}"),
        ),
        ("GET", "/v1/events?topics={}".into()),
    ];
    // Routes whose value is the assistant's own id are also tried with a real id first, then the
    // hostile suffix, so that a lookup by prefix would show.
    targets.push(("GET", format!("/v3/assistant/{a}{{}}/status")));
    targets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_ids_in_urls_are_refused_with_a_json_4xx() {
    let f = fixture().await;
    let auth = format!("Bearer {}", f.token);
    let mut cases = Vec::new();
    for (method, template) in url_targets(&f) {
        for (kind, payload) in url_payloads() {
            let (before, after) = template.split_once("{}").expect("a slot");
            let mut target = before.as_bytes().to_vec();
            target.extend_from_slice(&payload);
            target.extend_from_slice(after.as_bytes());
            let raw = send_raw(
                &f.server.base,
                method,
                &target,
                &[("Authorization", auth.as_str())],
                b"",
            )
            .await;
            cases.push((format!("{method} {template} with {kind}"), raw));
        }
    }
    all_refused(cases);
    // A put_url destination that is not allowed (loopback) is the one answer every destination
    // failure gets, 502, whatever else its path holds; never a file read or written.
    for (kind, payload) in url_payloads() {
        let mut target =
            b"/api/v1/external/synthesis/?script=hi&download_token=espeak:en-us&put_url=http://127.0.0.1:9/"
                .to_vec();
        target.extend_from_slice(&payload);
        let raw = send_raw(
            &f.server.base,
            "GET",
            &target,
            &[("Authorization", auth.as_str())],
            b"",
        )
        .await;
        // A NUL (%00) anywhere in a URL is refused before any route sees it.
        let expected = if kind == "NUL" { 400 } else { 502 };
        assert_eq!(raw.status, expected, "put_url with {kind}");
        assert_eq!(raw.header("content-type"), Some(&b"application/json"[..]));
        assert_no_leak(&format!("put_url with {kind}"), &raw);
    }
    assert_nothing_written_outside(f.outer.path());
}

/// JSON bodies: (method, path, the body with `"{}"` where the hostile string goes).
fn body_targets(f: &Fixture) -> Vec<(&'static str, String, String)> {
    let a = &f.assistant;
    let u = &f.user_id;
    vec![
        (
            "POST",
            "/v1/training".into(),
            r#"{"assistantId": "{}"}"#.into(),
        ),
        (
            "POST",
            "/v1/languagemodel".into(),
            r#"{"assistantId": "{}"}"#.into(),
        ),
        (
            "POST",
            format!("/v3/assistant/{a}/parse"),
            r#"{"text": "x", "assistantId": "{}"}"#.into(),
        ),
        (
            "POST",
            "/api/v1/external/build/new/".into(),
            r#"{"account_id": "{}"}"#.into(),
        ),
        (
            "POST",
            format!("/v1/user/{u}/accesstoken"),
            r#"{"alias": "{}"}"#.into(),
        ),
        (
            "POST",
            "/api/v1/device_info".into(),
            format!(r#"{{"SessionToken": "{}", "DeviceID": "{{}}"}}"#, f.session),
        ),
        (
            "POST",
            "/api/v1/play_hub_media".into(),
            format!(
                r#"{{"SessionToken": "{}", "PersistentID": "{{}}"}}"#,
                f.session
            ),
        ),
        (
            "POST",
            "/api/v1/play_web_media".into(),
            format!(r#"{{"SessionToken": "{}", "MediaUrl": "{{}}"}}"#, f.session),
        ),
        (
            "POST",
            "/api/v1/play_tts".into(),
            format!(
                r#"{{"SessionToken": "{}", "Text": "hi", "Voice": "{{}}"}}"#,
                f.session
            ),
        ),
        (
            "POST",
            "/v1/auth/tokens".into(),
            r#"{"user": "{}", "password": "x"}"#.into(),
        ),
        (
            "POST",
            "/v1/user/auth".into(),
            r#"{"email": "{}", "password": "x"}"#.into(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_ids_in_json_bodies_are_refused_with_a_json_4xx() {
    let f = fixture().await;
    let auth = format!("Bearer {}", f.token);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let mut cases = Vec::new();
    for (method, path, template) in body_targets(&f) {
        let mut bodies: Vec<(&str, Vec<u8>)> = text_payloads()
            .into_iter()
            .map(|(kind, text)| {
                let encoded = serde_json::to_string(&text).expect("a JSON string");
                let body = template.replacen("\"{}\"", &encoded, 1);
                (kind, body.into_bytes())
            })
            .collect();
        // Raw bytes that are not UTF-8 inside the JSON string.
        let (before, after) = template.split_once("{}").expect("a slot");
        let mut invalid = before.as_bytes().to_vec();
        invalid.extend_from_slice(b"\xff\xfe\xc0\xaf");
        invalid.extend_from_slice(after.as_bytes());
        bodies.push(("invalid UTF-8", invalid));
        for (kind, body) in bodies {
            let raw = send_raw(&f.server.base, method, path.as_bytes(), &headers, &body).await;
            // A login with a hostile user name is a failed login: a 401 JSON error.
            cases.push((format!("{method} {path} {template} with {kind}"), raw));
        }
    }
    all_refused(cases);
    assert_nothing_written_outside(f.outer.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_recording_uploads_are_refused_with_a_json_4xx() {
    let f = fixture().await;
    let auth = format!("Bearer {}", f.token);
    let wav = speech::wav::header(16000, Some(0)).to_vec();
    let cases: Vec<(&str, String, String)> = text_payloads()
        .into_iter()
        .flat_map(|(kind, text)| {
            let data = |account: &str, sentence: &str| {
                json!({"account_id": account, "sentence": sentence}).to_string()
            };
            vec![
                (kind, data(&text, "hello"), "take.wav".to_string()),
                (
                    kind,
                    data(&f.account, "hello"),
                    text.replace(['\r', '\n', '"'], ""),
                ),
            ]
        })
        .collect();
    for (kind, data, filename) in cases {
        let boundary = "hostile-boundary-0f3";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{data}\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: audio/wav\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(&wav);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let raw = send_raw(
            &f.server.base,
            "POST",
            b"/api/v1/external/recording/save/",
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", content_type.as_str()),
            ],
            &body,
        )
        .await;
        assert_refused(
            &format!(
                "recording with {kind} ({})",
                &filename[..filename.len().min(40)]
            ),
            &raw,
        );
    }
    assert_nothing_written_outside(f.outer.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_echoed_into_headers_never_make_a_header() {
    let f = fixture().await;
    // The OAuth authorization redirect echoes `state` and `redirect_uri`; the edge echoes
    // X-Request-Id. CR/LF never makes a header of its own.
    let raw = send_raw(
        &f.server.base,
        "GET",
        b"/oauth/authorize?response_type=code&client_id=x&redirect_uri=http://127.0.0.1:9/cb%0d%0aX-Injected:%20yes&state=a%0d%0aX-Injected:%20yes",
        &[],
        b"",
    )
    .await;
    assert!((400..500).contains(&raw.status), "status {}", raw.status);
    assert_no_leak("authorize", &raw);
    let raw = send_raw(
        &f.server.base,
        "GET",
        b"/health",
        &[("X-Request-Id", "forged id\"x")],
        b"",
    )
    .await;
    assert_eq!(raw.status, StatusCode::OK.as_u16());
    assert_ne!(raw.header("x-request-id"), Some(&b"forged id\"x"[..]));
    assert_no_leak("request id", &raw);
}
