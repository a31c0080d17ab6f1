//! `/openapi.json`, `/docs`, `/health` and ping.

use reqwest::StatusCode;
use serde_json::Value;
use testkit::TestServer;

use crate::support::client;

/// The rows of docs/scopes.md's route table: (method, path, credential, scope).
fn scope_table() -> Vec<(String, String, String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/scopes.md");
    let text = std::fs::read_to_string(path).expect("docs/scopes.md");
    text.lines()
        .filter(|line| {
            ["| GET ", "| POST ", "| PUT ", "| DELETE "]
                .iter()
                .any(|m| line.starts_with(m))
        })
        .map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect();
            (
                cells[0].to_lowercase(),
                cells[1].clone(),
                cells[2].clone(),
                cells[3].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn openapi_and_docs_scopes_md_list_the_same_routes_with_the_same_auth() {
    let server = TestServer::start().await;
    let response = client()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut from_router = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let requirement = operation["security"]
                .as_array()
                .and_then(|list| list.first())
                .and_then(|r| r.as_object());
            let (scheme, scopes) = match requirement.and_then(|r| r.iter().next()) {
                Some((scheme, scopes)) => {
                    let scopes: Vec<&str> = scopes
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap())
                        .collect();
                    (
                        scheme.as_str(),
                        if scopes.is_empty() {
                            "—".to_string()
                        } else {
                            scopes.join(" ")
                        },
                    )
                }
                None => ("none", "—".to_string()),
            };
            from_router.push((method.clone(), path.clone(), scheme.to_string(), scopes));
        }
    }
    let table = scope_table();
    assert!(!table.is_empty());
    let credential_scheme = |credential: &str| match credential {
        "access or named token" => "bearer",
        "refresh token" => "refresh_token",
        // OAuth endpoints authenticate the client themselves (RFC 6749 §2.3).
        _ => "none",
    };
    let mut from_docs: Vec<_> = table
        .iter()
        .map(|(m, p, c, s)| {
            (
                m.clone(),
                p.clone(),
                credential_scheme(c).to_string(),
                s.clone(),
            )
        })
        .collect();
    from_router.sort();
    from_docs.sort();
    assert_eq!(
        from_router, from_docs,
        "docs/scopes.md and the router disagree"
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["refresh_token"]["scheme"], "bearer");
    // Each listed route is really served: no 404 or 405 from the router.
    for (method, path, _, _) in &table {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let url = server.url(
            &path
                .replace("{skill_id}", "some.skill")
                .replace("{user_id}", "1")
                .replace("{alias}", "a"),
        );
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
