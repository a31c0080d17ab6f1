//! `/v1/account/*` and `/v1/admin/*`: a user's own named tokens and API keys, made only from a
//! password sign-in and never wider than it, revoked by their owner alone; the administrators'
//! lists of users, clients and peers.

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TestServer;
use voicegate::identity::Role;

use crate::support::{client, tokens};

async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client()
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn own_tokens_and_keys_are_made_from_a_password_sign_in_and_revoked_by_their_owner() {
    let server = TestServer::start_with(|c| {
        c.quotas.named_tokens_per_user = 2;
        c.quotas.api_keys_per_user = 1;
    })
    .await;
    server.add_user("ana", "ana-password-1").await;
    server.add_user("bob", "bob-password-1").await;
    let (ana, _) = tokens(&server, "ana", "ana-password-1").await;
    let (bob, _) = tokens(&server, "bob", "bob-password-1").await;
    use reqwest::Method as M;

    // A named token with two scopes: shown once, listed without its value, and it works.
    let (status, made) = call(
        &server,
        M::POST,
        "/v1/account/tokens",
        &ana,
        Some(json!({"alias": "kitchen", "scopes": "speakers ovos", "expires_in_days": 30})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["scopes"], json!(["ovos", "speakers"]));
    let named = made["token"].as_str().unwrap().to_string();
    assert!(named.starts_with("vgt_"));
    let (_, me) = call(&server, M::GET, "/v1/auth/me", &named, None).await;
    assert_eq!(me["scopes"], json!(["ovos", "speakers"]), "{me}");
    let (_, listed) = call(&server, M::GET, "/v1/account/tokens", &ana, None).await;
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(listed["tokens"][0]["alias"], "kitchen");
    assert!(!listed.to_string().contains(&named));

    // The named token cannot make another (a narrow credential cannot mint a permanent one),
    // nor list or revoke the user's credentials; nor can a scope beyond the caller's be asked
    // for; bob sees none of ana's.
    let (status, body) = call(
        &server,
        M::POST,
        "/v1/account/tokens",
        &named,
        Some(json!({"alias": "more"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for (method, path) in [
        (M::GET, "/v1/account/tokens"),
        (M::DELETE, "/v1/account/tokens/kitchen"),
        (M::GET, "/v1/account/apikeys"),
        (M::POST, "/v1/account/apikeys"),
    ] {
        let body = (method == M::POST).then(|| json!({}));
        let (status, answer) = call(&server, method, path, &named, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
    }
    let (status, body) = call(
        &server,
        M::POST,
        "/v1/account/tokens",
        &ana,
        Some(json!({"alias": "root", "scopes": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = call(
        &server,
        M::POST,
        "/v1/account/tokens",
        &ana,
        Some(json!({"alias": "x", "expires_in_days": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A name taken is a 409; past the quota (two) a 429 that names it.
    let again = Some(json!({"alias": "kitchen"}));
    let (status, body) = call(&server, M::POST, "/v1/account/tokens", &ana, again).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let hall = Some(json!({"alias": "hall"}));
    let (status, _) = call(&server, M::POST, "/v1/account/tokens", &ana, hall).await;
    assert_eq!(status, StatusCode::CREATED);
    let third = Some(json!({"alias": "third"}));
    let (status, body) = call(&server, M::POST, "/v1/account/tokens", &ana, third).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("quotas.named_tokens_per_user")
    );
    let (_, theirs) = call(&server, M::GET, "/v1/account/tokens", &bob, None).await;
    assert_eq!(theirs["tokens"], json!([]));
    let (status, _) = call(&server, M::DELETE, "/v1/account/tokens/kitchen", &bob, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&server, M::DELETE, "/v1/account/tokens/kitchen", &ana, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&server, M::GET, "/v1/auth/me", &named, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An API key: its secret once; bob cannot remove it; ana can.
    let (status, key) = call(
        &server,
        M::POST,
        "/v1/account/apikeys",
        &ana,
        Some(json!({"scopes": "voice:list"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let id = key["api_key"].as_str().unwrap().to_string();
    let secret = key["secret"].as_str().unwrap().to_string();
    let (_, keys) = call(&server, M::GET, "/v1/account/apikeys", &ana, None).await;
    assert_eq!(keys["api_keys"][0]["api_key"], json!(id));
    assert_eq!(keys["api_keys"][0]["scopes"], json!(["voice:list"]));
    assert!(!keys.to_string().contains(&secret));
    let (status, body) = call(
        &server,
        M::POST,
        "/v1/account/apikeys",
        &ana,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (_, none) = call(&server, M::GET, "/v1/account/apikeys", &bob, None).await;
    assert_eq!(none["api_keys"], json!([]));
    let path = format!("/v1/account/apikeys/{id}");
    assert_eq!(
        call(&server, M::DELETE, &path, &bob, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&server, M::DELETE, &path, &ana, None).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, keys) = call(&server, M::GET, "/v1/account/apikeys", &ana, None).await;
    assert_eq!(keys["api_keys"], json!([]));
}

#[tokio::test]
async fn administrators_list_users_clients_and_peers() {
    let server = TestServer::start().await;
    server.add_user("ana", "ana-password-1").await;
    server
        .state
        .identity
        .add_user("root", "root-password-1", Role::Admin)
        .await
        .unwrap();
    let (ana, _) = tokens(&server, "ana", "ana-password-1").await;
    let (root, _) = tokens(&server, "root", "root-password-1").await;
    use reqwest::Method as M;
    for path in ["/v1/admin/users", "/v1/admin/clients", "/v1/admin/peers"] {
        let (status, body) = call(&server, M::GET, path, &ana, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    let (status, users) = call(&server, M::GET, "/v1/admin/users", &root, None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ana", "root"]);
    assert!(!users.to_string().contains("argon2"), "{users}");
    let (status, clients) = call(&server, M::GET, "/v1/admin/clients", &root, None).await;
    assert_eq!((status, &clients["clients"]), (StatusCode::OK, &json!([])));
    let (status, peers) = call(&server, M::GET, "/v1/admin/peers", &root, None).await;
    assert_eq!(status, StatusCode::OK);
    let store = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "store")
        .unwrap();
    assert_eq!(store["status"], "ok", "{peers}");
    let bus = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "message bus")
        .unwrap();
    assert_eq!(bus["status"], "down", "no bus in this test: {peers}");
    assert!(bus["fix"].as_str().unwrap().contains("ovos-messagebus"));
}
