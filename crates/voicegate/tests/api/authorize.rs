//! The authorization-code grant with PKCE: authlib builds the request and redeems the code, and a
//! person's consent is clicked in headless Chromium.

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{Browser, TestServer, callback_listener, run_python};
use voicegate::identity::NewClient;

use crate::support::get_bearer;

/// A state with characters that encoding tends to mangle.
const STATE: &str = "s t/ä?&=+%20~";

const AUTHLIB_URL: &str = r#"
import sys, json
from authlib.integrations.requests_client import OAuth2Session
from authlib.common.security import generate_token
base, cid, secret, redirect_uri, state = sys.argv[1:6]
verifier = generate_token(48)
session = OAuth2Session(cid, secret, redirect_uri=redirect_uri, scope="ovos user:info", code_challenge_method="S256")
url, state = session.create_authorization_url(base + "/oauth/authorize", code_verifier=verifier, state=state)
print(json.dumps({"url": url, "verifier": verifier}))
"#;

const AUTHLIB_TOKEN: &str = r#"
import sys, json
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError
base, cid, secret, redirect_uri, callback, verifier, state = sys.argv[1:8]
session = OAuth2Session(cid, secret, redirect_uri=redirect_uri, state=state, code_challenge_method="S256")
try:
    token = session.fetch_token(base + "/oauth/token", authorization_response=callback, code_verifier=verifier)
    print(json.dumps({"token": dict(token)}))
except OAuthError as e:
    print(json.dumps({"error": e.error}))
"#;

async fn python(code: &'static str, args: Vec<String>) -> Value {
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_python(code, &args)
    })
    .await
    .unwrap();
    serde_json::from_str(&out).unwrap()
}

async fn setup(redirect_uri: &str) -> (TestServer, NewClient) {
    let server = TestServer::start().await;
    server.add_user("ovos", "change-me-please").await;
    let grants = ["authorization_code", "refresh_token"].map(String::from);
    let client = server
        .state
        .identity
        .add_client(
            "Kitchen tablet",
            "ovos",
            &grants,
            &[redirect_uri.to_string()],
            None,
        )
        .await
        .unwrap();
    (server, client)
}

fn no_redirects() -> reqwest::Client {
    voicegate::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_in_a_real_browser_then_authlib_redeems_the_code_once() {
    let (callback, received) = callback_listener().await;
    let (server, client) = setup(&callback).await;
    let base = server.base.clone();
    let start = python(
        AUTHLIB_URL,
        vec![
            base.clone(),
            client.client_id.clone(),
            client.client_secret.expose().to_string(),
            callback.clone(),
            STATE.into(),
        ],
    )
    .await;

    let browser = Browser::start().await;
    browser.goto(start["url"].as_str().unwrap()).await;
    assert!(browser.text("h1").await.contains("Kitchen tablet"));
    browser.fill("#username", "ovos").await;
    browser.fill("#password", "wrong-password").await;
    browser.click("#approve").await;
    assert!(
        browser
            .text("#error")
            .await
            .contains("Invalid user or password")
    );
    browser.fill("#username", "ovos").await;
    browser.fill("#password", "change-me-please").await;
    browser.click("#approve").await;
    let target = tokio::time::timeout(std::time::Duration::from_secs(20), received)
        .await
        .expect("the browser reaches the redirect URI")
        .unwrap();
    browser.close().await;

    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let state = params
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.as_str());
    assert_eq!(state, Some(STATE), "the state comes back byte-exact");
    let code = params
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .expect("a code");

    assert!(code.starts_with("vga_"), "{code}");
    let callback_url = format!("{callback}?{query}");
    let redeem = |verifier: &str| {
        vec![
            base.clone(),
            client.client_id.clone(),
            client.client_secret.expose().to_string(),
            callback.clone(),
            callback_url.clone(),
            verifier.to_string(),
            STATE.to_string(),
        ]
    };
    let verifier = start["verifier"].as_str().unwrap();
    let first = python(AUTHLIB_TOKEN, redeem(verifier)).await;
    let token = &first["token"];
    assert_eq!(token["token_type"], "Bearer", "{first}");
    assert_eq!(token["scope"], "ovos user:info");
    let access = token["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &access)
            .await
            .status(),
        StatusCode::OK
    );

    // The same code again: refused, and what the first redemption issued is revoked.
    let second = python(AUTHLIB_TOKEN, redeem(verifier)).await;
    assert_eq!(second, json!({"error": "invalid_grant"}));
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &access)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = no_redirects()
        .post(server.url("/oauth/token"))
        .basic_auth(&client.client_id, Some(client.client_secret.expose()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("grant_type", "refresh_token"),
                ("refresh_token", token["refresh_token"].as_str().unwrap()),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        refresh.status(),
        StatusCode::BAD_REQUEST,
        "the refresh token went with the code"
    );
}

/// Runs the consent form without a browser (cookie and fields as a browser sends them).
async fn approve(
    server: &TestServer,
    client: &NewClient,
    redirect_uri: &str,
    challenge: &str,
) -> String {
    let http = no_redirects();
    let query = [
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", redirect_uri),
        ("state", "x"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let page = http
        .get(format!(
            "{}?{}",
            server.url("/oauth/authorize"),
            serde_urlencoded::to_string(query).unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let mut form: Vec<(&str, &str)> = query.to_vec();
    form.extend([
        ("csrf", csrf.as_str()),
        ("username", "ovos"),
        ("password", "change-me-please"),
        ("decision", "approve"),
    ]);
    let answer = http
        .post(server.url("/oauth/authorize"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&form).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = answer.headers()["location"].to_str().unwrap().to_string();
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    params.into_iter().find(|(k, _)| k == "code").unwrap().1
}

async fn redeem(
    server: &TestServer,
    client: &NewClient,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    let body = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ])
    .unwrap();
    let answer = no_redirects()
        .post(server.url("/oauth/token"))
        .basic_auth(&client.client_id, Some(client.client_secret.expose()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.json().await.unwrap())
}

// The S256 challenge of the verifier "a" repeated 43 times (computed with Python's hashlib).
const VERIFIER: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn challenge() -> String {
    run_python(
        "import sys, hashlib, base64; print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).rstrip(b'=').decode())",
        &[VERIFIER],
    )
}

#[tokio::test]
async fn pkce_code_lifetime_and_redirect_uri_are_enforced() {
    let redirect_uri = "https://tablet.example.org/cb";
    let (server, client) = setup(redirect_uri).await;
    let challenge = challenge();

    let code = approve(&server, &client, redirect_uri, &challenge).await;
    let (status, body) = redeem(
        &server,
        &client,
        &code,
        redirect_uri,
        "b".repeat(43).as_str(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "wrong verifier"
    );

    let code = approve(&server, &client, redirect_uri, &challenge).await;
    let (status, body) = redeem(
        &server,
        &client,
        &code,
        "https://tablet.example.org/cb/",
        VERIFIER,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "another redirect_uri"
    );

    let code = approve(&server, &client, redirect_uri, &challenge).await;
    server.clock.advance(61);
    let (status, body) = redeem(&server, &client, &code, redirect_uri, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "expired"
    );

    let code = approve(&server, &client, redirect_uri, &challenge).await;
    let (status, body) = redeem(&server, &client, &code, redirect_uri, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn bad_clients_and_redirect_uris_get_an_error_page_the_rest_a_redirect_with_state() {
    let redirect_uri = "https://tablet.example.org:8443/cb?x=1";
    let (server, client) = setup(redirect_uri).await;
    let http = no_redirects();
    let challenge = challenge();
    let ask = |redirect: &str, extra: Vec<(&'static str, String)>| {
        let mut query = vec![
            ("response_type", "code".to_string()),
            ("client_id", client.client_id.clone()),
            ("redirect_uri", redirect.to_string()),
            ("state", "keep me".to_string()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_string()),
        ];
        for (key, value) in extra {
            query.retain(|(k, _)| *k != key);
            query.push((key, value));
        }
        http.get(format!(
            "{}?{}",
            server.url("/oauth/authorize"),
            serde_urlencoded::to_string(&query).unwrap()
        ))
        .send()
    };
    for variant in [
        "https://tablet.example.org:8443/cb?x=1/",
        "https://tablet.example.org:8443/cb/?x=1",
        "https://TABLET.example.org:8443/cb?x=1",
        "https://tablet.example.org/cb?x=1",
        "https://tablet.example.org:8443/cb?x=1&y=2",
        "http://tablet.example.org:8443/cb?x=1",
    ] {
        let answer = ask(variant, vec![]).await.unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{variant}");
        assert!(
            answer.headers().get("location").is_none(),
            "never a redirect: {variant}"
        );
    }
    let unknown = ask(redirect_uri, vec![("client_id", "vgc_nobody".into())])
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);

    for (extra, error) in [
        (
            vec![("code_challenge_method", "plain".to_string())],
            "invalid_request",
        ),
        (vec![("code_challenge", String::new())], "invalid_request"),
        (
            vec![("response_type", "token".to_string())],
            "unsupported_response_type",
        ),
        (vec![("scope", "admin".to_string())], "invalid_scope"),
    ] {
        let answer = ask(redirect_uri, extra).await.unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let location = answer.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with("https://tablet.example.org:8443/cb?x=1&"),
            "{location}"
        );
        let params: Vec<(String, String)> =
            serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
        assert!(
            params.contains(&("error".into(), error.into())),
            "{location}"
        );
        assert!(
            params.contains(&("state".into(), "keep me".into())),
            "{location}"
        );
    }

    // A form without the CSRF cookie is refused; deny redirects with access_denied.
    let form = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", redirect_uri),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("csrf", "forged"),
        ("decision", "approve"),
    ])
    .unwrap();
    let forged = http
        .post(server.url("/oauth/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let denied = http
        .post(server.url("/oauth/authorize"))
        .header("cookie", "vg_csrf=forged")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.replace("decision=approve", "decision=deny"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::SEE_OTHER);
    assert!(
        denied.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=access_denied")
    );
}
