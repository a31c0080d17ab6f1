//! `/openapi.json`, `/docs`, `/health` and ping.

use reqwest::StatusCode;
use serde_json::Value;
use testkit::TestServer;

use crate::support::client;

/// Every route the router serves, with the security scheme it names (none for public routes).
const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("post", "/v1/auth/tokens", None),
    ("get", "/v1/auth/refresh", Some("refresh_token")),
    ("get", "/v1/auth/me", Some("bearer")),
    ("get", "/v1/network/ping", None),
    ("get", "/health", None),
    ("get", "/v1/system/info", Some("bearer")),
    ("get", "/v1/system/config", Some("bearer")),
    ("post", "/v1/system/sleep", Some("bearer")),
    ("get", "/v1/system/sleep", Some("bearer")),
    ("post", "/v1/system/wakeup", Some("bearer")),
    ("delete", "/v1/system/cache", Some("bearer")),
    ("get", "/v1/network/internet", Some("bearer")),
    ("get", "/v1/network/websocket", Some("bearer")),
    ("get", "/v1/skills", Some("bearer")),
    ("get", "/v1/skills/{skill_id}/settings", Some("bearer")),
    ("put", "/v1/skills/{skill_id}/activate", Some("bearer")),
    ("put", "/v1/skills/{skill_id}/deactivate", Some("bearer")),
    ("post", "/v1/voice/speech", Some("bearer")),
    ("delete", "/v1/voice/speech", Some("bearer")),
    ("put", "/v1/voice/microphone/mute", Some("bearer")),
    ("put", "/v1/voice/microphone/unmute", Some("bearer")),
    ("get", "/v1/voice/microphone", Some("bearer")),
    ("put", "/v1/voice/listen", Some("bearer")),
    ("post", "/v1/voice/utterance", Some("bearer")),
    ("get", "/v1/voice/volume", Some("bearer")),
    ("put", "/v1/voice/volume", Some("bearer")),
    ("get", "/v1/events", Some("bearer")),
];

#[tokio::test]
async fn openapi_lists_every_route_with_its_auth() {
    let server = TestServer::start().await;
    let response = client()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    let listed: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        listed,
        ROUTES.len(),
        "the document lists exactly the known routes: {:?}",
        paths.keys()
    );
    for (method, path, scheme) in ROUTES {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        let named: Vec<String> = operation["security"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|s| s.as_object())
                    .flat_map(|s| s.keys().cloned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            named,
            scheme.map(|s| vec![s.to_string()]).unwrap_or_default(),
            "{method} {path} auth"
        );
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["refresh_token"]["scheme"], "bearer");
    // Each listed route is really served: no 404 or 405 from the router.
    for (method, path, _) in ROUTES {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let url = server.url(&path.replace("{skill_id}", "some.skill"));
        let status = client().request(method, url).send().await.unwrap().status();
        assert_ne!(status, StatusCode::NOT_FOUND, "{path}");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
}

#[tokio::test]
async fn docs_serve_the_swagger_ui_page_from_vendored_assets() {
    let server = TestServer::start().await;
    // `/docs` redirects to `/docs/`, which the client follows.
    let response = client().get(server.url("/docs")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let script = client()
        .get(server.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.bytes().await.unwrap().len() > 100_000);
    let initializer = client()
        .get(server.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"), "{initializer}");
}

#[tokio::test]
async fn health_and_ping_need_no_token() {
    let server = TestServer::start().await;
    let health: Value = client()
        .get(server.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["store"]["status"], "ok");
    let ping = client()
        .get(server.url("/v1/network/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), StatusCode::OK);
    let ping: Value = ping.json().await.unwrap();
    assert!(ping["pong"].is_string());
}
