//! The HK Omni contract's OAuth2 requests, sent as its samples write them (raw HTTP/1.1 on a
//! socket, only the host, the client's id and secret, and the code changed): the password grant
//! with HTTP Basic, the consent request without PKCE or state, the code redeemed with the
//! client's secret in the body, and the refresh grant. Its clients never send PKCE, so they are
//! registered with `--pkce optional`; a default client keeps requiring it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::Value;
use testkit::{Binary, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use voicegate::identity::{NewClient, PkcePolicy};

use crate::support::get_bearer;

/// The redirect URI of the contract's consent sample.
const CALLBACK: &str = "https://your.app.com/oauthCallbackHKIoTCloud";

/// An answer read off the socket.
struct Raw {
    status: StatusCode,
    /// Header lines, names lower-cased.
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends `head` (lines joined with CRLF, `{host}` filled in) and `body` as one HTTP/1.1 request,
/// with the `Content-Length` a client computes, and reads the answer.
async fn raw(server: &TestServer, head: &[&str], body: &str) -> Raw {
    let host = server.base.trim_start_matches("http://");
    let mut request: String = head
        .iter()
        .map(|line| format!("{}\r\n", line.replace("{host}", host)))
        .collect();
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let mut socket = tokio::net::TcpStream::connect(host).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed before answering in full");
        received.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&received);
        let Some((head, rest)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        if rest.len() >= length {
            return Raw {
                status: StatusCode::from_u16(status.parse().unwrap()).unwrap(),
                headers,
                body: rest[..length].to_string(),
            };
        }
    }
}

/// A server with the contract's sample user (`johndoe`, `A3ddj3w`: seven characters, so the
/// minimum is lowered to seven), and a client for the password grant and one for the consent
/// flow with PKCE optional.
async fn setup() -> (TestServer, NewClient, NewClient) {
    let server = TestServer::start_with(|c| c.auth.min_password_chars = 7).await;
    server.add_user("johndoe", "A3ddj3w").await;
    let identity = &server.state.identity;
    let password = identity
        .add_client(
            "HK product",
            "johndoe",
            &["password", "refresh_token"].map(String::from),
            &[],
            None,
        )
        .await
        .unwrap();
    let consent = identity
        .add_client_with_pkce(
            "HK registration site",
            "johndoe",
            &["authorization_code", "refresh_token"].map(String::from),
            &[CALLBACK.to_string()],
            None,
            PkcePolicy::Optional,
        )
        .await
        .unwrap();
    (server, password, consent)
}

/// Asserts a token answer as the contract's samples show it and returns its tokens.
fn contract_tokens(answer: &Raw) -> (String, String) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("pragma"), Some("no-cache"));
    let body = answer.json();
    // The samples write "bearer"; RFC 6749 §5.1 makes it case-insensitive, and voicegate
    // answers RFC 6750's "Bearer" on every contract (docs/compat.md).
    let token_type = body["token_type"].as_str().unwrap();
    assert!(token_type.eq_ignore_ascii_case("bearer"), "{body}");
    assert_eq!(token_type, "Bearer");
    assert_eq!(body["expires_in"], 3600, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    assert!(refresh.starts_with("vgr_"), "{body}");
    (access, refresh)
}

/// The contract's refresh request for `client`.
async fn refresh_grant(server: &TestServer, client: &NewClient, refresh: &str) -> Raw {
    let body = format!(
        "grant_type=refresh_token&refresh_token={refresh}&client_id={}&client_secret={}",
        client.client_id,
        client.client_secret.expose()
    );
    raw(
        server,
        &[
            "POST /oauth/token HTTP/1.1",
            "Host: {host}",
            "Content-Type: application/x-www-form-urlencoded",
            "Cache-Control: no-cache",
        ],
        &body,
    )
    .await
}

#[tokio::test]
async fn the_contracts_password_grant_with_basic_then_its_refresh_grant() {
    let (server, client, _) = setup().await;
    let basic = STANDARD.encode(format!(
        "{}:{}",
        client.client_id,
        client.client_secret.expose()
    ));
    let authorization = format!("Authorization: Basic {basic}");
    let answer = raw(
        &server,
        &[
            "POST /oauth/token HTTP/1.1",
            "Host: {host}",
            &authorization,
            "Content-Type: application/x-www-form-urlencoded  ",
        ],
        "grant_type=password&username=johndoe&password=A3ddj3w",
    )
    .await;
    let (access, refresh) = contract_tokens(&answer);
    let me = get_bearer(server.url("/v1/auth/me"), &access).await;
    assert_eq!(me.status(), StatusCode::OK);

    let renewed = refresh_grant(&server, &client, &refresh).await;
    let (new_access, new_refresh) = contract_tokens(&renewed);
    assert_ne!(new_refresh, refresh, "rotated");
    assert_ne!(new_access, access);
    let me = get_bearer(server.url("/v1/auth/me"), &new_access).await;
    assert_eq!(me.status(), StatusCode::OK);
}

/// The contract's consent request for `client_id`, exactly as its sample writes it (the
/// redirect URI not percent-encoded, no PKCE, no state).
async fn consent_request(server: &TestServer, client_id: &str) -> Raw {
    let line = format!(
        "GET /oauth/authorize?response_type=code&client_id={client_id}&redirect_uri={CALLBACK} HTTP/1.1"
    );
    raw(server, &[&line, "Host: {host}"], "").await
}

/// The person approves on the consent page: its form posted back with the page's own fields
/// and cookie. Returns the redirect's query parameters.
async fn approve(server: &TestServer, page: &Raw) -> Vec<(String, String)> {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let cookie = page
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let hidden: Vec<(String, String)> = page
        .body
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|field| {
            let (name, rest) = field.split_once("\" value=\"").unwrap();
            let value = rest.split('"').next().unwrap().replace("&amp;", "&");
            (name.to_string(), value)
        })
        .collect();
    let mut form = hidden.clone();
    form.extend([
        ("username".into(), "johndoe".into()),
        ("password".into(), "A3ddj3w".into()),
        ("decision".into(), "approve".into()),
    ]);
    let cookie_line = format!("Cookie: {cookie}");
    let answer = raw(
        server,
        &[
            "POST /oauth/authorize HTTP/1.1",
            "Host: {host}",
            &cookie_line,
            "Content-Type: application/x-www-form-urlencoded",
        ],
        &serde_urlencoded::to_string(&form).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let location = answer.header("location").unwrap();
    let (target, query) = location.split_once('?').unwrap();
    assert_eq!(target, CALLBACK);
    serde_urlencoded::from_str(query).unwrap()
}

/// The contract's code redemption: everything in the form body.
async fn redeem_in_body(server: &TestServer, client: &NewClient, code: &str) -> Raw {
    let body = format!(
        "grant_type=authorization_code&code={code}&client_id={}&client_secret={}&redirect_uri={CALLBACK}",
        client.client_id,
        client.client_secret.expose()
    );
    raw(
        server,
        &[
            "POST /oauth/token HTTP/1.1",
            "Host: {host}",
            "Content-Type: application/x-www-form-urlencoded",
            "Cache-Control: no-cache",
        ],
        &body,
    )
    .await
}

fn only_code(params: &[(String, String)]) -> String {
    assert_eq!(params.len(), 1, "a code and nothing else: {params:?}");
    assert_eq!(params[0].0, "code");
    params[0].1.clone()
}

#[tokio::test]
async fn the_contracts_consent_request_and_code_redemption_for_a_pkce_optional_client() {
    let (server, _, client) = setup().await;

    let page = consent_request(&server, &client.client_id).await;
    assert!(
        page.body.contains("Allow HK registration site?"),
        "{}",
        page.body
    );
    let code = only_code(&approve(&server, &page).await);

    let answer = redeem_in_body(&server, &client, &code).await;
    let (access, refresh) = contract_tokens(&answer);
    let me = get_bearer(server.url("/v1/auth/me"), &access).await;
    assert_eq!(me.status(), StatusCode::OK);

    // The same code again: invalid_grant, and what it issued is revoked.
    let again = redeem_in_body(&server, &client, &code).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.json()["error"], "invalid_grant");
    let me = get_bearer(server.url("/v1/auth/me"), &access).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let spent = refresh_grant(&server, &client, &refresh).await;
    assert_eq!(spent.json()["error"], "invalid_grant");

    // A new code, redeemed with HTTP Basic instead, then refreshed as the contract does.
    let code =
        only_code(&approve(&server, &consent_request(&server, &client.client_id).await).await);
    let basic = format!(
        "Authorization: Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            client.client_id,
            client.client_secret.expose()
        ))
    );
    let answer = raw(
        &server,
        &[
            "POST /oauth/token HTTP/1.1",
            "Host: {host}",
            &basic,
            "Content-Type: application/x-www-form-urlencoded",
        ],
        &format!("grant_type=authorization_code&code={code}&redirect_uri={CALLBACK}"),
    )
    .await;
    let (_, refresh) = contract_tokens(&answer);
    let renewed = refresh_grant(&server, &client, &refresh).await;
    contract_tokens(&renewed);

    // The code is bound to its client: another such client's secret cannot redeem it.
    let other = server
        .state
        .identity
        .add_client_with_pkce(
            "Another site",
            "johndoe",
            &["authorization_code"].map(String::from),
            &[CALLBACK.to_string()],
            None,
            PkcePolicy::Optional,
        )
        .await
        .unwrap();
    let code =
        only_code(&approve(&server, &consent_request(&server, &client.client_id).await).await);
    let stolen = redeem_in_body(&server, &other, &code).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST, "{}", stolen.body);
    assert_eq!(stolen.json()["error"], "invalid_grant");
    contract_tokens(&redeem_in_body(&server, &client, &code).await);
}

#[tokio::test]
async fn a_default_client_is_still_refused_without_pkce() {
    let (server, _, _) = setup().await;
    let client = server
        .state
        .identity
        .add_client(
            "Strict",
            "johndoe",
            &["authorization_code"].map(String::from),
            &[CALLBACK.to_string()],
            None,
        )
        .await
        .unwrap();
    let answer = consent_request(&server, &client.client_id).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let location = answer.header("location").unwrap();
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    assert_eq!(
        params,
        [
            ("error".to_string(), "invalid_request".to_string()),
            (
                "error_description".to_string(),
                "PKCE is required: code_challenge with code_challenge_method=S256".to_string()
            )
        ]
    );
    // Nor can its consent form be posted without PKCE.
    let forged = raw(
        &server,
        &[
            "POST /oauth/authorize HTTP/1.1",
            "Host: {host}",
            "Cookie: vg_csrf=x",
            "Content-Type: application/x-www-form-urlencoded",
        ],
        &serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", client.client_id.as_str()),
            ("redirect_uri", CALLBACK),
            ("csrf", "x"),
            ("username", "johndoe"),
            ("password", "A3ddj3w"),
            ("decision", "approve"),
        ])
        .unwrap(),
    )
    .await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER);
    assert!(
        forged
            .header("location")
            .unwrap()
            .contains("error=invalid_request"),
        "{:?}",
        forged.headers
    );
}

// The S256 challenge of the verifier "a" repeated 43 times (computed with Python's hashlib).
const VERIFIER: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const CHALLENGE: &str = "ZtNPunH49FD35FWYhT5Tv8I7vRKQJ8uxMaL0_9eHjNA";

/// A consent request of `client_id` with extra query parameters.
async fn consent_with(server: &TestServer, client_id: &str, extra: &[(&str, &str)]) -> Raw {
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
    ];
    query.extend_from_slice(extra);
    let line = format!(
        "GET /oauth/authorize?{} HTTP/1.1",
        serde_urlencoded::to_string(&query).unwrap()
    );
    raw(server, &[&line, "Host: {host}"], "").await
}

async fn redeem_with(server: &TestServer, client: &NewClient, fields: &[(&str, &str)]) -> Raw {
    let mut form = vec![
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.client_secret.expose()),
        ("redirect_uri", CALLBACK),
    ];
    form.extend_from_slice(fields);
    raw(
        server,
        &[
            "POST /oauth/token HTTP/1.1",
            "Host: {host}",
            "Content-Type: application/x-www-form-urlencoded",
        ],
        &serde_urlencoded::to_string(&form).unwrap(),
    )
    .await
}

fn error_of(answer: &Raw) -> (StatusCode, String) {
    (
        answer.status,
        answer.json()["error"]
            .as_str()
            .unwrap_or("(none)")
            .to_string(),
    )
}

#[tokio::test]
async fn pkce_stays_enforced_where_it_was_asked_for() {
    let (server, _, client) = setup().await;
    let id = client.client_id.as_str();
    let bad = (StatusCode::BAD_REQUEST, "invalid_grant".to_string());

    // A verifier for a code issued without a challenge: a downgrade, refused.
    let code = only_code(&approve(&server, &consent_request(&server, id).await).await);
    let answer = redeem_with(
        &server,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(error_of(&answer), bad, "{}", answer.body);

    // The optional client may still send PKCE; then S256 is enforced and the verifier needed.
    let plain = consent_with(
        &server,
        id,
        &[
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    assert_eq!(plain.status, StatusCode::SEE_OTHER);
    assert!(
        plain
            .header("location")
            .unwrap()
            .contains("error=invalid_request")
    );
    let no_method = consent_with(&server, id, &[("code_challenge", CHALLENGE)]).await;
    assert!(
        no_method
            .header("location")
            .unwrap()
            .contains("error=invalid_request")
    );
    let s256 = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let code = only_code(&approve(&server, &consent_with(&server, id, &s256).await).await);
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
    ];
    let missing = redeem_with(&server, &client, &grant).await;
    assert_eq!(
        error_of(&missing),
        (StatusCode::BAD_REQUEST, "invalid_request".to_string()),
        "{}",
        missing.body
    );
    let wrong = [grant[0], grant[1], ("code_verifier", &*"b".repeat(43))];
    assert_eq!(error_of(&redeem_with(&server, &client, &wrong).await), bad);
    let code = only_code(&approve(&server, &consent_with(&server, id, &s256).await).await);
    let right = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
    ];
    contract_tokens(&redeem_with(&server, &client, &right).await);

    // Without PKCE the secret is what binds the code: a wrong one is invalid_client.
    let code = only_code(&approve(&server, &consent_request(&server, id).await).await);
    let body = format!(
        "grant_type=authorization_code&code={code}&client_id={id}&client_secret=wrong&redirect_uri={CALLBACK}"
    );
    let answer = raw(
        &server,
        &[
            "POST /oauth/token HTTP/1.1",
            "Host: {host}",
            "Content-Type: application/x-www-form-urlencoded",
        ],
        &body,
    )
    .await;
    assert_eq!(
        error_of(&answer),
        (StatusCode::UNAUTHORIZED, "invalid_client".to_string())
    );

    // A code lives a minute (auth.oauth_code_ttl_secs).
    server.clock.advance(61);
    let late = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
    ];
    assert_eq!(error_of(&redeem_with(&server, &client, &late).await), bad);
}

#[tokio::test]
async fn the_lifetimes_follow_the_configuration() {
    let server = TestServer::start_with(|c| {
        c.auth.min_password_chars = 7;
        c.auth.oauth_access_ttl_secs = 900;
        c.auth.oauth_code_ttl_secs = 120;
    })
    .await;
    server.add_user("johndoe", "A3ddj3w").await;
    let client = server
        .state
        .identity
        .add_client_with_pkce(
            "HK registration site",
            "johndoe",
            &["authorization_code"].map(String::from),
            &[CALLBACK.to_string()],
            None,
            PkcePolicy::Optional,
        )
        .await
        .unwrap();
    let id = client.client_id.as_str();
    let code = only_code(&approve(&server, &consent_request(&server, id).await).await);
    server.clock.advance(119);
    let answer = redeem_in_body(&server, &client, &code).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.json()["expires_in"], 900);
    let code = only_code(&approve(&server, &consent_request(&server, id).await).await);
    server.clock.advance(120);
    let answer = redeem_in_body(&server, &client, &code).await;
    assert_eq!(answer.json()["error"], "invalid_grant", "{}", answer.body);
}

#[tokio::test]
async fn client_add_takes_pkce_optional_shows_it_and_refuses_what_it_cannot_mean() {
    let bin = Binary::new(env!("CARGO_BIN_EXE_voicegate"));
    let out = bin
        .run(
            &["user", "add", "ovos", "--password-stdin"],
            "change-me-now\n",
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    let add = |extra: &'static [&'static str]| {
        let mut args = vec![
            "client", "add", "--name", "HK", "--owner", "ovos", "--grant",
        ];
        args.extend_from_slice(extra);
        args.push("--json");
        let bin = &bin;
        async move { bin.run(&args, "").await }
    };
    let optional = add(&[
        "authorization_code",
        "--redirect-uri",
        CALLBACK,
        "--pkce",
        "optional",
    ])
    .await;
    assert!(optional.success, "{}", optional.stderr);
    let strict = add(&["authorization_code", "--redirect-uri", CALLBACK]).await;
    assert!(strict.success, "{}", strict.stderr);
    let id_of = |out: &testkit::CliOutput| {
        serde_json::from_str::<Value>(&out.stdout).unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (optional_id, strict_id) = (id_of(&optional), id_of(&strict));

    let listed: Value =
        serde_json::from_str(&bin.run(&["client", "list", "--json"], "").await.stdout).unwrap();
    let pkce_of = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == id)
            .map(|c| c["pkce"].clone())
            .unwrap()
    };
    assert_eq!(pkce_of(&optional_id), "optional");
    assert_eq!(pkce_of(&strict_id), "required");
    let table = bin.run(&["client", "list"], "").await.stdout;
    assert!(table.lines().next().unwrap().contains(" pkce "), "{table}");
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .to_string()
    };
    assert!(row(&optional_id).contains(" optional "), "{table}");
    assert!(row(&strict_id).contains(" required "), "{table}");

    // Optional PKCE means nothing without the authorization_code grant, and only two values exist.
    let pointless = add(&["client_credentials", "--pkce", "optional"]).await;
    assert!(
        !pointless.success
            && pointless
                .stderr
                .contains("--pkce optional concerns the authorization_code grant"),
        "{}",
        pointless.stderr
    );
    let unknown = add(&[
        "authorization_code",
        "--redirect-uri",
        CALLBACK,
        "--pkce",
        "off",
    ])
    .await;
    assert!(
        !unknown.success
            && unknown
                .stderr
                .contains("possible values: required, optional"),
        "{}",
        unknown.stderr
    );

    // The server names the relaxed client when it starts.
    let server = bin.serve(&[]).await;
    let warned = server
        .startup_log
        .iter()
        .any(|l| l.contains("without PKCE") && l.contains(&optional_id));
    assert!(warned, "{:#?}", server.startup_log);
    assert!(
        !server
            .startup_log
            .iter()
            .any(|l| l.contains("without PKCE") && l.contains(&strict_id)),
        "{:#?}",
        server.startup_log
    );
    server.terminate().await;
}
