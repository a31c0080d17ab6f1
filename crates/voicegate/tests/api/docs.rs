//! `/openapi.json`, `/docs`, `/health` and ping.

use reqwest::StatusCode;
use serde_json::Value;
use testkit::TestServer;

use crate::support::client;

fn repository_file(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The served `/openapi.json`.
async fn served_document(server: &TestServer) -> Value {
    let response = client()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let server = TestServer::start().await;
    let served = served_document(&server).await;
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    let committed: Value = serde_json::from_str(&repository_file("docs/openapi.json")).unwrap();
    assert!(
        served == committed,
        "docs/openapi.json differs from /openapi.json: run scripts/api-docs and commit the change"
    );
    let schemes = &served["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["refresh_token"]["scheme"], "bearer");
    assert_eq!(schemes["client"]["scheme"], "basic");
}

#[tokio::test]
async fn docs_scopes_md_holds_the_route_table_of_the_document() {
    let server = TestServer::start().await;
    let served = served_document(&server).await;
    let markdown = repository_file("docs/scopes.md");
    let begin = "<!-- routes:begin -->\n";
    let start = markdown.find(begin).expect("the begin marker") + begin.len();
    let end = markdown
        .find("<!-- routes:end -->")
        .expect("the end marker");
    let table = voicegate::http::openapi::scopes_table(&served);
    assert!(table.lines().count() > 50, "{table}");
    assert!(
        markdown[start..end] == table,
        "docs/scopes.md's route table differs from the code: run scripts/api-docs"
    );
}

/// Every operation of the document: (method, path with sample parameters, scope alternatives).
fn operations(document: &Value) -> Vec<(reqwest::Method, String, Vec<String>)> {
    let mut found = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        let path = path
            .replace("{skill_id}", "some.skill")
            .replace("{user_id}", "1")
            .replace("{alias}", "a")
            .replace("{download_token}", "espeak:en-us");
        for (method, operation) in operations.as_object().unwrap() {
            let scopes = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["bearer"].as_array())
                .flat_map(|scopes| scopes.iter().filter_map(Value::as_str).map(String::from))
                .collect();
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            found.push((method, path.clone(), scopes));
        }
    }
    found
}

#[tokio::test]
async fn every_documented_route_is_served_and_its_scope_lets_a_token_through() {
    // A named token per operation and scope: more than a user's quota allows.
    let server = TestServer::start_with(|config| config.quotas.named_tokens_per_user = 1000).await;
    let served = served_document(&server).await;
    let identity = &server.state.identity;
    // An admin, so that every scope (`admin` too) can be given to a named token of theirs.
    identity
        .add_user(
            "scoped",
            "scoped-password",
            voicegate::identity::Role::Admin,
        )
        .await
        .unwrap();
    let mut checked = 0;
    for (method, path, scopes) in operations(&served) {
        let status = client()
            .request(method.clone(), server.url(&path))
            .send()
            .await
            .unwrap()
            .status();
        assert_ne!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        // Each scope the document names lets a token holding only that scope through: the code
        // enforces what the document says, no more.
        for scope in scopes {
            let token = identity
                .create_named_token_for("scoped", &format!("only-{checked}"), Some(&scope), None)
                .await
                .unwrap()
                .expose()
                .to_string();
            let response = client()
                .request(method.clone(), server.url(&path))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let status = response.status();
            if status == StatusCode::FORBIDDEN {
                let body: Value = response.json().await.unwrap();
                assert_ne!(
                    body["error"], "insufficient_scope",
                    "{method} {path} refused a token with its documented scope {scope}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} scoped operations checked");
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
