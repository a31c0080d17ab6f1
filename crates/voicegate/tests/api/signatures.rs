//! HMAC-signed requests (the VocaliD scheme), signed by an independent implementation: Python's
//! hashlib and hmac, as the contract's sample code does.

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{TestServer, run_python};
use voicegate::identity::NewApiKey;

use crate::support::{client, error_body};

/// The contract's signing procedure, in Python. `@<unix seconds>` as the timestamp means "that
/// instant in `datetime.utcnow().isoformat()` form".
const SIGNER: &str = r#"
import sys, hashlib, hmac, datetime
secret, method, endpoint, params, nonce, body, timestamp = sys.argv[1:8]
if timestamp.startswith('@'):
    moment = datetime.datetime.fromtimestamp(int(timestamp[1:]), datetime.timezone.utc).replace(tzinfo=None)
    timestamp = moment.isoformat() + sys.argv[8]
def to_hexdigest(data):
    h = hashlib.sha256()
    h.update(data.encode('latin-1'))
    return h.hexdigest()
data = "{}\n{}\n{}\n{}\n{}\n{}".format(method, endpoint, params, nonce, to_hexdigest(body), timestamp)
data = to_hexdigest(data)
signature = hmac.new(bytes(secret, 'latin-1'), bytes(data, 'latin-1'), hashlib.sha256).hexdigest()
print("signature={}, nonce={}, timestamp={}".format(signature, nonce, timestamp))
"#;

/// A request to sign: what the signature covers, and the timestamp (Unix seconds, written in
/// `datetime.isoformat()` form followed by `suffix`).
pub(crate) struct Signed {
    method: &'static str,
    path: &'static str,
    query: String,
    body: String,
    nonce: String,
    at: i64,
    suffix: &'static str,
}

/// The `Authorization` value for `s` signed with `secret` by the contract's procedure.
pub(crate) fn header(secret: &str, s: &Signed) -> String {
    run_python(
        SIGNER,
        &[
            secret,
            s.method,
            s.path,
            &s.query,
            &s.nonce,
            &s.body,
            &format!("@{}", s.at),
            s.suffix,
        ],
    )
}

/// Sends `s` to `server` with `authorization`.
pub(crate) async fn send(
    server: &TestServer,
    s: &Signed,
    authorization: &str,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(s.method.as_bytes()).unwrap();
    let url = if s.query.is_empty() {
        server.url(s.path)
    } else {
        server.url(&format!("{}?{}", s.path, s.query))
    };
    let mut request = client()
        .request(method, url)
        .header("authorization", authorization);
    if !s.body.is_empty() {
        request = request
            .header("content-type", "application/json")
            .body(s.body.clone());
    }
    request.send().await.unwrap()
}

async fn setup(scope: Option<&str>) -> (TestServer, NewApiKey) {
    setup_with(scope, 50).await
}

/// A server allowing `max_failures_per_ip` failed checks, with user ovos and one API key.
async fn setup_with(scope: Option<&str>, max_failures_per_ip: u32) -> (TestServer, NewApiKey) {
    let server =
        TestServer::start_with(|config| config.auth.max_failures_per_ip = max_failures_per_ip)
            .await;
    server.add_user("ovos", "change-me-please").await;
    let key = server
        .state
        .identity
        .create_api_key("ovos", scope)
        .await
        .unwrap();
    (server, key)
}

/// The user-info GET signed with `key` at `at` with `nonce`.
pub(crate) fn info_request(key: &NewApiKey, at: i64, nonce: &str) -> Signed {
    Signed {
        method: "GET",
        path: "/api/v1/external/user/info/",
        query: format!("api_key={}", key.api_key),
        body: String::new(),
        nonce: nonce.into(),
        at,
        suffix: "",
    }
}

#[tokio::test]
async fn a_request_signed_by_the_contracts_procedure_is_accepted_once() {
    let (server, key) = setup(None).await;
    let now = server.clock_now();
    for (i, suffix) in ["", ".123456", "Z", ".5Z"].into_iter().enumerate() {
        let mut request = info_request(&key, now, &format!("17326{i}1234567890"));
        request.suffix = suffix;
        let authorization = header(key.secret.expose(), &request);
        let response = send(&server, &request, &authorization).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "timestamp suffix {suffix:?}"
        );
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"nickname": "ovos"})
        );
        // The same nonce again is a replay.
        let replay = send(&server, &request, &authorization).await;
        let (code, _) = error_body(replay, StatusCode::UNAUTHORIZED).await;
        assert_eq!(code, "invalid_signature");
    }
}

#[tokio::test]
async fn every_kind_of_bad_signature_gets_the_same_401() {
    let (server, key) = setup(None).await;
    let now = server.clock_now();
    let good = info_request(&key, now, "n-good");
    let mut bodies = Vec::new();

    // Wrong secret.
    let request = info_request(&key, now, "n-1");
    bodies.push(send(&server, &request, &header("not-the-secret", &request)).await);
    // Query tampered after signing.
    let mut request = info_request(&key, now, "n-2");
    request.query.push_str("&extra=1");
    let authorization = header(key.secret.expose(), &request);
    request.query.push('2');
    bodies.push(send(&server, &request, &authorization).await);
    // Timestamp outside the ±300 s window, both ways.
    for (nonce, at) in [("n-3", now - 301), ("n-4", now + 301)] {
        let request = info_request(&key, at, nonce);
        bodies.push(send(&server, &request, &header(key.secret.expose(), &request)).await);
    }
    // Unknown api_key.
    let mut request = info_request(&key, now, "n-5");
    request.query = "api_key=vgk_unknown".into();
    bodies.push(send(&server, &request, &header(key.secret.expose(), &request)).await);
    // No api_key at all; a garbled header.
    let mut request = info_request(&key, now, "n-6");
    request.query.clear();
    bodies.push(send(&server, &request, &header(key.secret.expose(), &request)).await);
    bodies.push(send(&server, &good, "signature=xyz, nonce=a").await);

    let mut texts = Vec::new();
    for response in bodies {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        texts.push(response.text().await.unwrap());
    }
    assert!(texts.iter().all(|t| t == &texts[0]), "{texts:?}");
    // The good request still works: failed attempts did not spend its nonce.
    let response = send(&server, &good, &header(key.secret.expose(), &good)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_body_is_signed_and_api_key_may_come_in_it() {
    let (server, key) = setup(None).await;
    let now = server.clock_now();
    let body = json!({"utterance": "hello", "api_key": key.api_key}).to_string();
    let request = Signed {
        method: "POST",
        path: "/v1/voice/speech",
        query: String::new(),
        body: body.clone(),
        nonce: "b-1".into(),
        at: now,
        suffix: "",
    };
    let authorization = header(key.secret.expose(), &request);
    // Tampered body: refused before any handler runs.
    let mut tampered = Signed {
        nonce: "b-1".into(),
        ..request
    };
    tampered.body = body.replace("hello", "goodbye");
    let (code, _) = error_body(
        send(&server, &tampered, &authorization).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "invalid_signature");
    // Untouched: authenticated, and the handler reads the same body (no bus here: 503).
    tampered.body = body;
    let (code, _) = error_body(
        send(&server, &tampered, &authorization).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(code, "bus_unavailable");
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403_and_a_removed_key_401() {
    let (server, key) = setup(Some("user:info")).await;
    let now = server.clock_now();
    let body = json!({"utterance": "hello", "api_key": key.api_key}).to_string();
    let request = Signed {
        method: "POST",
        path: "/v1/voice/speech",
        query: String::new(),
        body,
        nonce: "s-1".into(),
        at: now,
        suffix: "",
    };
    let (code, _) = error_body(
        send(&server, &request, &header(key.secret.expose(), &request)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(code, "insufficient_scope");

    server
        .state
        .identity
        .remove_api_key(&key.api_key)
        .await
        .unwrap();
    let request = info_request(&key, now, "s-2");
    let response = send(&server, &request, &header(key.secret.expose(), &request)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repeated_bad_signatures_are_rate_limited() {
    let (server, key) = setup_with(None, 3).await;
    let now = server.clock_now();
    for i in 0..3 {
        let request = info_request(&key, now, &format!("r-{i}"));
        let response = send(&server, &request, &header("wrong", &request)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let request = info_request(&key, now, "r-ok");
    let response = send(&server, &request, &header(key.secret.expose(), &request)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
}

/// The contract's own flow for the voices surface with Python's requests: a signed JSON
/// `account/register` (api_key in the body) and a signed multipart `recording/save` (api_key in
/// the data field), the body hashed exactly as prepared.
const SIGNED_VOICES: &str = r#"
import sys, json, hashlib, hmac, datetime, io, math, struct, wave, requests
base, api_key, secret = sys.argv[1:4]
def hexdigest(data):
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode('latin-1')).hexdigest()
def send(method, endpoint, nonce, **kwargs):
    prepped = requests.Request(method, base + endpoint, **kwargs).prepare()
    parts = prepped.path_url.split("?")
    params = parts[1] if len(parts) == 2 else ""
    timestamp = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat()
    data = "{}\n{}\n{}\n{}\n{}\n{}".format(method, endpoint, params, nonce, hexdigest(prepped.body or ""), timestamp)
    signature = hmac.new(secret.encode('latin-1'), hexdigest(data).encode('latin-1'), hashlib.sha256).hexdigest()
    prepped.headers["Authorization"] = "signature={}, nonce={}, timestamp={}".format(signature, nonce, timestamp)
    response = requests.Session().send(prepped)
    return response.status_code, response.json()
out = {}
out["register"] = send("POST", "/api/v1/external/account/register/", "nonce-1",
                       json={"api_key": api_key, "gender": "female", "age": "30"})
account = out["register"][1].get("account_id")
buffer = io.BytesIO()
with wave.open(buffer, "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i * 0.06))) for i in range(16000)))
payload = {"data": json.dumps({"api_key": api_key, "account_id": account, "sentence": "this is my vocal identity."})}
out["save"] = send("POST", "/api/v1/external/recording/save/", "nonce-2", data=payload,
                   files={"file": ("r.wav", buffer.getvalue(), "audio/wav")})
out["list"] = send("GET", "/api/v1/external/voices/list/", "nonce-3", params={"api_key": api_key})
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_voices_surface_takes_signed_json_and_multipart_requests() {
    let (server, key) = setup(None).await;
    let out: Value = serde_json::from_str(&run_python(
        SIGNED_VOICES,
        &[&server.base, &key.api_key, key.secret.expose()],
    ))
    .unwrap();
    assert_eq!(out["register"][0], 200, "{out}");
    assert_eq!(out["save"][0], 200, "{out}");
    assert_eq!(
        out["save"][1],
        json!({"sentence_status": {"code": "OK"}, "status": 200})
    );
    assert_eq!(out["list"][0], 200, "{out}");
    assert!(out["list"][1]["voices"].as_array().unwrap().len() > 10);
}

/// Sends the head of a signed POST announcing a large body, and a few bytes of it; returns the
/// status line of the answer, or `None` when none came within two seconds (the server waiting
/// for the rest of the body).
async fn head_only(server: &TestServer, query: &str, authorization: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/v1/external/account/register/?{query} HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: {authorization}\r\nContent-Type: application/json\r\n\
         Content-Length: 1000000\r\n\r\n{{\"gender\": "
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 256];
    let read = tokio::time::timeout(std::time::Duration::from_secs(2), socket.read(&mut answer))
        .await
        .ok()?
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..read]).to_string();
    text.lines().next().map(str::to_string)
}

#[tokio::test]
async fn a_refused_signature_is_answered_before_its_body_is_read() {
    let (server, key) = setup_with(None, 3).await;
    let now = server.clock_now();
    let signed = |nonce: &str| {
        let request = Signed {
            method: "POST",
            path: "/api/v1/external/account/register/",
            query: format!("api_key={}", key.api_key),
            body: "{}".into(),
            nonce: nonce.into(),
            at: now,
            suffix: "",
        };
        header("wrong", &request)
    };
    // A key nobody has, and a header that is no signature, need no body to be refused.
    let unknown = head_only(&server, "api_key=vgk_nobody", &signed("a-1")).await;
    assert_eq!(unknown.as_deref(), Some("HTTP/1.1 401 Unauthorized"));
    let garbage = head_only(&server, &format!("api_key={}", key.api_key), "signature=zz").await;
    assert_eq!(garbage.as_deref(), Some("HTTP/1.1 401 Unauthorized"));
    // The third failure spends the budget; then the limiter answers before any body is read.
    let request = info_request(&key, now, "r-1");
    let response = send(&server, &request, &header("wrong", &request)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let limited = head_only(&server, &format!("api_key={}", key.api_key), &signed("a-2")).await;
    assert_eq!(limited.as_deref(), Some("HTTP/1.1 429 Too Many Requests"));
}

#[tokio::test]
async fn a_captured_signed_request_does_not_replay_after_a_restart() {
    let (mut server, key) = setup(None).await;
    let request = info_request(&key, server.clock_now(), "restart-nonce-1");
    let authorization = header(key.secret.expose(), &request);
    let first = send(&server, &request, &authorization).await;
    assert_eq!(first.status(), StatusCode::OK);

    server.restart().await;
    let replay = send(&server, &request, &authorization).await;
    let (code, _) = error_body(replay, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_signature");
    // A fresh nonce after the restart is accepted.
    let fresh = info_request(&key, server.clock_now(), "restart-nonce-2");
    let fresh_authorization = header(key.secret.expose(), &fresh);
    let answer = send(&server, &fresh, &fresh_authorization).await;
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn one_key_spends_its_nonce_budget_and_other_keys_still_sign() {
    let server = TestServer::start_with(|config| {
        config.auth.max_failures_per_ip = 50;
        config.auth.max_nonces_per_key = 2;
    })
    .await;
    server.add_user("ovos", "change-me-please").await;
    let identity = &server.state.identity;
    let greedy = identity.create_api_key("ovos", None).await.unwrap();
    let modest = identity.create_api_key("ovos", None).await.unwrap();
    let now = server.clock_now();
    for nonce in ["g1", "g2"] {
        let request = info_request(&greedy, now, nonce);
        let answer = send(&server, &request, &header(greedy.secret.expose(), &request)).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let over = info_request(&greedy, now, "g3");
    let answer = send(&server, &over, &header(greedy.secret.expose(), &over)).await;
    let (code, _) = error_body(answer, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_signature");
    let other = info_request(&modest, now, "m1");
    let answer = send(&server, &other, &header(modest.secret.expose(), &other)).await;
    assert_eq!(answer.status(), StatusCode::OK);
}

/// Looks for an API key's HMAC key (SHA-256 of its secret) in the database files, or, with
/// `legacy`, writes it back in the clear as rows made before sealing were.
const STORE_PROBE: &str = r#"
import sys, hashlib, sqlite3, pathlib
data_dir, key_id, secret, mode = sys.argv[1:5]
hmac_key = hashlib.sha256(secret.encode()).digest()
db = pathlib.Path(data_dir) / "voicegate.db"
if mode == "legacy":
    con = sqlite3.connect(db, timeout=10)
    con.execute("UPDATE api_keys SET secret_hash = ?, secret_sealed = NULL WHERE key_id = ?", (hmac_key, key_id))
    con.commit()
    con.close()
    print("written")
else:
    con = sqlite3.connect(db, timeout=10)
    con.execute("PRAGMA wal_checkpoint(FULL)")
    con.close()
    files = [db, db.with_name(db.name + "-wal")]
    found = any(f.exists() and hmac_key in f.read_bytes() for f in files)
    print("found" if found else "absent")
"#;

#[tokio::test]
async fn api_key_secrets_are_sealed_at_rest_under_a_key_file_beside_the_signing_key() {
    use std::os::unix::fs::PermissionsExt;

    if testkit::on_postgres() {
        eprintln!("skipped on PostgreSQL: rows stored in the clear exist only in SQLite files");
        return;
    }
    let (mut server, key) = setup(None).await;
    let data_dir = server.data_dir.path().to_str().unwrap().to_string();
    let probe = |mode: &'static str| {
        run_python(
            STORE_PROBE,
            &[&data_dir, &key.api_key, key.secret.expose(), mode],
        )
    };
    assert_eq!(
        probe("check").trim(),
        "absent",
        "the HMAC key is in the database"
    );
    let key_file = server.data_dir.path().join("secrets.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let request = info_request(&key, server.clock_now(), "sealed-1");
    let answer = send(&server, &request, &header(key.secret.expose(), &request)).await;
    assert_eq!(answer.status(), StatusCode::OK);

    // A key stored in the clear by an earlier version is sealed at the next start and works.
    assert_eq!(probe("legacy").trim(), "written");
    server.restart().await;
    assert_eq!(probe("check").trim(), "absent");
    let request = info_request(&key, server.clock_now(), "sealed-2");
    let answer = send(&server, &request, &header(key.secret.expose(), &request)).await;
    assert_eq!(answer.status(), StatusCode::OK);
}
