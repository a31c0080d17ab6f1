//! The OAuth2 authorization server, driven by authlib (Python, an independent OAuth2 client),
//! and each RFC 6749 error.

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{TestServer, run_python};
use voicegate::identity::NewClient;

use crate::support::{client, get_bearer};

const AUTHLIB: &str = r#"
import sys, json
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError
base, cid, secret, user, pw = sys.argv[1:6]
out = {}
basic = OAuth2Session(cid, secret, scope="ovos user:info")
out["cc"] = dict(basic.fetch_token(base + "/oauth/token", grant_type="client_credentials"))
post = OAuth2Session(cid, secret, token_endpoint_auth_method="client_secret_post")
first = post.fetch_token(base + "/api/v1/oauth/token", grant_type="password", username=user, password=pw)
out["pw"] = dict(first)
out["refreshed"] = dict(post.refresh_token(base + "/oauth/token", refresh_token=first["refresh_token"]))
try:
    post.refresh_token(base + "/oauth/token", refresh_token=first["refresh_token"])
    out["reuse"] = "accepted"
except OAuthError as e:
    out["reuse"] = e.error
try:
    post.refresh_token(base + "/oauth/token", refresh_token=out["refreshed"]["refresh_token"])
    out["after_reuse"] = "accepted"
except OAuthError as e:
    out["after_reuse"] = e.error
# The refreshed access token is of the family the reuse revoked: inactive now.
out["introspect_family"] = post.introspect_token(base + "/oauth/introspect", token=out["refreshed"]["access_token"]).json()
out["cc2"] = dict(basic.fetch_token(base + "/oauth/token", grant_type="client_credentials"))
access = out["cc2"]["access_token"]
out["introspect_before"] = post.introspect_token(base + "/oauth/introspect", token=access).json()
out["revoke_status"] = post.revoke_token(base + "/oauth/revoke", token=access, token_type_hint="access_token").status_code
out["introspect_after"] = post.introspect_token(base + "/api/v1/oauth/introspect", token=access).json()
print(json.dumps(out))
"#;

async fn setup() -> (TestServer, NewClient) {
    let server = TestServer::start().await;
    server.add_user("ovos", "change-me-please").await;
    let grants = ["client_credentials", "password", "refresh_token"].map(String::from);
    let client = server
        .state
        .identity
        .add_client("Home Assistant", "ovos", &grants, &[], None)
        .await
        .unwrap();
    (server, client)
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

async fn post_token(
    server: &TestServer,
    basic: Option<(&str, &str)>,
    body: String,
) -> reqwest::Response {
    let mut request = client()
        .post(server.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

async fn oauth_error(response: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    body["error"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_runs_client_credentials_password_refresh_revoke_and_introspect() {
    let (server, oauth_client) = setup().await;
    let args = [
        server.base.clone(),
        oauth_client.client_id.clone(),
        oauth_client.client_secret.expose().to_string(),
        "ovos".to_string(),
        "change-me-please".to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_python(AUTHLIB, &args)
    })
    .await
    .unwrap();
    let out: Value = serde_json::from_str(&out).unwrap();

    let cc = &out["cc"];
    assert_eq!(
        (cc["token_type"].as_str(), cc["expires_in"].as_i64()),
        (Some("Bearer"), Some(3600))
    );
    assert_eq!(cc["scope"], "ovos user:info");
    assert!(
        cc.get("refresh_token").is_none(),
        "client_credentials issues no refresh token"
    );
    let info = get_bearer(
        server.url("/api/v1/external/user/info/"),
        cc["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        info.json::<Value>().await.unwrap(),
        json!({"nickname": "ovos"})
    );

    assert!(
        out["pw"]["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("vgr_")
    );
    assert_ne!(
        out["refreshed"]["refresh_token"], out["pw"]["refresh_token"],
        "rotation"
    );
    assert_eq!(out["reuse"], "invalid_grant");
    assert_eq!(
        out["after_reuse"], "invalid_grant",
        "reuse revokes the family"
    );

    assert_eq!(out["introspect_family"], json!({"active": false}));
    let before = &out["introspect_before"];
    assert_eq!(before["active"], true);
    assert_eq!(before["client_id"], oauth_client.client_id.as_str());
    assert_eq!(before["username"], "ovos");
    assert_eq!(out["revoke_status"], 200);
    assert_eq!(out["introspect_after"], json!({"active": false}));
    let revoked = get_bearer(
        server.url("/v1/auth/me"),
        out["cc2"]["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn token_endpoint_errors_are_rfc_6749s() {
    let (server, c) = setup().await;
    let (id, secret) = (c.client_id.as_str(), c.client_secret.expose());
    let ok = Some((id, secret));

    let code = oauth_error(
        post_token(&server, ok, form(&[("scope", "ovos")])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "invalid_request", "no grant_type");
    let code = oauth_error(
        post_token(&server, ok, form(&[("grant_type", "implicit")])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "unsupported_grant_type");

    // Unknown client and wrong secret: the same 401, with a Basic challenge.
    let mut bodies = Vec::new();
    for basic in [
        Some(("vgc_nobody", secret)),
        Some((id, "wrong-secret")),
        None,
    ] {
        let response = post_token(
            &server,
            basic,
            form(&[("grant_type", "client_credentials")]),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        bodies.push(response.text().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
    assert!(bodies[0].contains("invalid_client"));

    let both = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ]);
    let code = oauth_error(post_token(&server, ok, both).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_request", "two client authentication methods");
    let twice = "grant_type=client_credentials&scope=ovos&scope=admin".to_string();
    assert_eq!(
        oauth_error(
            post_token(&server, ok, twice).await,
            StatusCode::BAD_REQUEST
        )
        .await,
        "invalid_request"
    );
    let json_body = client()
        .post(server.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        oauth_error(json_body, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );

    for scope in ["ovos made-up", "admin"] {
        let body = form(&[("grant_type", "client_credentials"), ("scope", scope)]);
        let code = oauth_error(post_token(&server, ok, body).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "invalid_scope", "{scope}");
    }

    let wrong_password = form(&[
        ("grant_type", "password"),
        ("username", "ovos"),
        ("password", "nope-nope"),
    ]);
    assert_eq!(
        oauth_error(
            post_token(&server, ok, wrong_password).await,
            StatusCode::BAD_REQUEST
        )
        .await,
        "invalid_grant"
    );

    // A client that may not use the password grant.
    let grants = ["client_credentials".to_string()];
    let narrow = server
        .state
        .identity
        .add_client("Narrow", "ovos", &grants, &[], Some("ovos"))
        .await
        .unwrap();
    let password = form(&[
        ("grant_type", "password"),
        ("username", "ovos"),
        ("password", "change-me-please"),
    ]);
    let response = post_token(
        &server,
        Some((&narrow.client_id, narrow.client_secret.expose())),
        password.clone(),
    )
    .await;
    assert_eq!(
        oauth_error(response, StatusCode::BAD_REQUEST).await,
        "unauthorized_client"
    );

    // Scope escalation on refresh, and another client's refresh token.
    let narrowed = form(&[
        ("grant_type", "password"),
        ("username", "ovos"),
        ("password", "change-me-please"),
        ("scope", "ovos"),
    ]);
    let tokens: Value = post_token(&server, ok, narrowed)
        .await
        .json()
        .await
        .unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let escalate = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("scope", "ovos user:info"),
    ]);
    assert_eq!(
        oauth_error(
            post_token(&server, ok, escalate).await,
            StatusCode::BAD_REQUEST
        )
        .await,
        "invalid_scope"
    );
    let grants = ["refresh_token".to_string()];
    let other = server
        .state
        .identity
        .add_client("Other", "ovos", &grants, &[], None)
        .await
        .unwrap();
    let stolen = form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]);
    let response = post_token(
        &server,
        Some((&other.client_id, other.client_secret.expose())),
        stolen.clone(),
    )
    .await;
    assert_eq!(
        oauth_error(response, StatusCode::BAD_REQUEST).await,
        "invalid_grant"
    );
    // The rightful client can still use it: the failed attempts spent nothing.
    let response = post_token(&server, ok, stolen).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.json::<Value>().await.unwrap()["scope"], "ovos");
}

#[tokio::test]
async fn revoke_and_introspect_need_client_auth_and_ignore_unknown_tokens() {
    let (server, c) = setup().await;
    let unauthenticated = client()
        .post(server.url("/oauth/revoke"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    for path in ["/oauth/revoke", "/api/v1/oauth/revoke"] {
        let unknown = client()
            .post(server.url(path))
            .basic_auth(&c.client_id, Some(c.client_secret.expose()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token=vgr_not-a-token&token_type_hint=refresh_token")
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), StatusCode::OK, "{path}");
    }
    let introspected: Value = client()
        .post(server.url("/oauth/introspect"))
        .basic_auth(&c.client_id, Some(c.client_secret.expose()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=eyJ.garbage.token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected, json!({"active": false}));
}

#[tokio::test]
async fn metadata_names_the_endpoints() {
    let server = TestServer::start_with(|config| {
        config.public_url = Some("https://voice.example.org".into())
    })
    .await;
    let metadata: Value = client()
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], "https://voice.example.org");
    assert_eq!(
        metadata["token_endpoint"],
        "https://voice.example.org/oauth/token"
    );
    assert_eq!(
        metadata["revocation_endpoint"],
        "https://voice.example.org/oauth/revoke"
    );
    assert_eq!(
        metadata["introspection_endpoint"],
        "https://voice.example.org/oauth/introspect"
    );
    assert!(
        metadata["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("user:info"))
    );
}

#[tokio::test]
async fn every_error_of_the_oauth_endpoints_is_written_as_rfc_6749_says() {
    let server = TestServer::start_with(|c| c.http.json_body_limit = 1000).await;
    // A body over the limit is refused before any OAuth code runs: still in OAuth's dialect.
    let response = client()
        .post(server.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&pad={}",
            "x".repeat(2000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");
    assert_eq!(body["error_description"], body["detail"], "{body}");
    // The same refusal on a plain route has no OAuth fields.
    let plain = client()
        .post(server.url("/v1/auth/tokens"))
        .header("content-type", "application/json")
        .body(format!("{{\"user\":\"{}\"}}", "x".repeat(2000)))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!plain.headers().contains_key("pragma"));
    let body: Value = plain.json().await.unwrap();
    assert!(body.get("error_description").is_none(), "{body}");
}

async fn introspect(server: &TestServer, app: &NewClient, token: &str) -> Value {
    client()
        .post(server.url("/oauth/introspect"))
        .basic_auth(&app.client_id, Some(app.client_secret.expose()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", token)]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_the_access_tokens_issued_with_it() {
    let (server, app) = setup().await;
    let basic = Some((app.client_id.as_str(), app.client_secret.expose()));
    let issued: Value = post_token(
        &server,
        basic,
        form(&[
            ("grant_type", "password"),
            ("username", "ovos"),
            ("password", "change-me-please"),
        ]),
    )
    .await
    .json()
    .await
    .unwrap();
    let access = issued["access_token"].as_str().unwrap().to_string();
    let refresh = issued["refresh_token"].as_str().unwrap().to_string();
    // A second access token of the same family, from the refresh grant.
    let rotated: Value = post_token(
        &server,
        basic,
        form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]),
    )
    .await
    .json()
    .await
    .unwrap();
    let sibling = rotated["access_token"].as_str().unwrap().to_string();
    let info = server.url("/api/v1/external/user/info/");
    for token in [&access, &sibling] {
        assert_eq!(introspect(&server, &app, token).await["active"], true);
        assert_eq!(
            get_bearer(info.clone(), token).await.status(),
            StatusCode::OK
        );
    }
    let revoked = client()
        .post(server.url("/oauth/revoke"))
        .basic_auth(&app.client_id, Some(app.client_secret.expose()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("token", rotated["refresh_token"].as_str().unwrap()),
            ("token_type_hint", "refresh_token"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    for token in [&access, &sibling] {
        assert_eq!(
            introspect(&server, &app, token).await,
            json!({"active": false})
        );
        assert_eq!(
            get_bearer(info.clone(), token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn a_reused_ovos_refresh_token_ends_its_family_access_tokens_too() {
    let server = TestServer::start().await;
    server.add_user("ovos", "change-me-please").await;
    let (first_access, first_refresh) =
        crate::support::tokens(&server, "ovos", "change-me-please").await;
    let refresh = |token: String| {
        let server = &server;
        async move {
            client()
                .get(server.url("/v1/auth/refresh"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let rotated: Value = refresh(first_refresh.clone()).await.json().await.unwrap();
    let second_access = rotated["access_token"].as_str().unwrap().to_string();
    let me = server.url("/v1/auth/me");
    assert_eq!(
        get_bearer(me.clone(), &second_access).await.status(),
        StatusCode::OK
    );
    // The spent token again: the family is revoked, and so are its access tokens.
    assert_eq!(
        refresh(first_refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for token in [&first_access, &second_access] {
        assert_eq!(
            get_bearer(me.clone(), token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Another login's tokens are untouched.
    let (other, _) = crate::support::tokens(&server, "ovos", "change-me-please").await;
    assert_eq!(get_bearer(me, &other).await.status(), StatusCode::OK);
}
