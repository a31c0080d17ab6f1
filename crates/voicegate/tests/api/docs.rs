//! `/openapi.json`, `/docs`, `/health` and ping.

use reqwest::StatusCode;
use serde_json::Value;
use testkit::TestServer;

use crate::support::client;

/// Every route the router serves, with whether it needs a bearer token.
const ROUTES: &[(&str, &str, bool)] = &[
    ("post", "/v1/auth/tokens", false),
    ("get", "/v1/auth/refresh", true),
    ("get", "/v1/auth/me", true),
    ("get", "/v1/network/ping", false),
    ("get", "/health", false),
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
    for (method, path, protected) in ROUTES {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        let security = operation["security"]
            .as_array()
            .map(|s| s.iter().any(|s| s.get("bearer").is_some()));
        assert_eq!(
            security.unwrap_or(false),
            *protected,
            "{method} {path} auth"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // And each listed route is really served (no 404 from the router).
    for (method, path, _) in ROUTES {
        let request = match *method {
            "post" => client().post(server.url(path)),
            _ => client().get(server.url(path)),
        };
        assert_ne!(
            request.send().await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn docs_serve_the_swagger_ui_page_from_vendored_assets() {
    let server = TestServer::start().await;
    let response = client().get(server.url("/docs/")).send().await.unwrap();
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
