//! Bad input answers a JSON error with the right 4xx status, never a 500.

use reqwest::StatusCode;
use testkit::TestServer;

use crate::support::{client, error_body};

#[tokio::test]
async fn malformed_json_missing_field_wrong_type_and_wrong_content_type() {
    let server = TestServer::start().await;
    let url = server.url("/v1/auth/tokens");
    let post = |body: &'static str, content_type: &'static str| {
        client()
            .post(url.clone())
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let (code, _) = error_body(
        post("{\"user\": \"ovos\", ", "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "invalid_json");
    let (code, body) = error_body(
        post("{\"user\": \"ovos\"}", "application/json")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(code, "validation_failed");
    assert!(
        body["detail"].as_str().unwrap().contains("password"),
        "{body}"
    );
    let (code, _) = error_body(
        post("{\"user\": 3, \"password\": true}", "application/json")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(code, "validation_failed");
    let (code, _) = error_body(
        post("{\"user\": \"\", \"password\": \"\"}", "application/json")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(code, "validation_failed");
    let (code, _) = error_body(
        post("user=ovos&password=x", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert_eq!(code, "unsupported_media_type");
    let no_type = client().post(url.clone()).body("{}").send().await.unwrap();
    error_body(no_type, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

#[tokio::test]
async fn an_oversized_body_gets_413_at_the_configured_limit() {
    let server = TestServer::start_with(|config| config.http.json_body_limit = 1024).await;
    server.add_user("ovos", "change-me-please").await;
    let padding = "x".repeat(2000);
    let body = format!(
        "{{\"user\": \"ovos\", \"password\": \"change-me-please\", \"pad\": \"{padding}\"}}"
    );
    let response = client()
        .post(server.url("/v1/auth/tokens"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let (code, _) = error_body(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(code, "payload_too_large");
    // Just under the limit is fine, and nothing stored was lost.
    let response = client()
        .post(server.url("/v1/auth/tokens"))
        .header("content-type", "application/json")
        .body("{\"user\": \"ovos\", \"password\": \"change-me-please\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_the_json_shape() {
    let server = TestServer::start().await;
    let (code, _) = error_body(
        client().get(server.url("/v1/nope")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "not_found");
    let response = client()
        .delete(server.url("/v1/network/ping"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("allow"));
    let (code, _) = error_body(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(code, "method_not_allowed");
}

#[tokio::test]
async fn a_password_longer_than_bcrypt_takes_never_matches_by_truncation() {
    let server = TestServer::start().await;
    let exact = "p".repeat(72);
    let hash = voicegate::identity::password::hash_bcrypt(&exact, 4).unwrap();
    let file = server.data_dir.path().join("users.json");
    std::fs::write(
        &file,
        serde_json::json!([{"user": "long", "password": hash, "active": true}]).to_string(),
    )
    .unwrap();
    server
        .state
        .identity
        .import_users(&file, voicegate::identity::UserSource::Local)
        .await
        .unwrap();
    let longer = format!("{exact}and-more");
    let response = crate::support::login(&server.base, "long", &longer).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        crate::support::login(&server.base, "long", &exact)
            .await
            .status(),
        StatusCode::OK
    );
}
