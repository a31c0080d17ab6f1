//! Named tokens, the Snips console login flow, and scopes enforced on every route.

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TestServer;
use voicegate::identity::Role;

use crate::support::{assert_not_stored_by, client, error_body, get_bearer, keys};

async fn server_with_console_user() -> TestServer {
    let server = TestServer::start().await;
    server
        .state
        .identity
        .add_user_with_email(
            "ovos",
            Some("john@example.org"),
            "change-me-please",
            Role::User,
        )
        .await
        .unwrap();
    server
}

#[tokio::test]
async fn the_snips_console_flow_logs_in_makes_an_alias_token_and_logs_out() {
    let server = server_with_console_user().await;
    let login = client()
        .post(server.url("/v1/user/auth"))
        .json(&json!({"email": "john@example.org", "password": "change-me-please"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let pre_auth = login.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(pre_auth.starts_with("JWT "), "{pre_auth}");
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["user"]["email"], "john@example.org");
    let user_id = body["user"]["id"].as_str().unwrap().to_string();

    // The header value is sent back verbatim, as the console's clients do.
    let created = client()
        .post(server.url(&format!("/v1/user/{user_id}/accesstoken")))
        .header("authorization", &pre_auth)
        .json(&json!({"alias": "sam-4f2a9c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["token"]["alias"], "sam-4f2a9c");
    let token = created["token"]["token"].as_str().unwrap().to_string();
    let jwt_scheme = format!("JWT {token}");

    let me = client()
        .get(server.url("/v1/auth/me"))
        .header("authorization", &jwt_scheme)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"], "ovos");
    assert_eq!(
        me["expires_at"],
        Value::Null,
        "an alias token lives until it is deleted"
    );
    let info = client()
        .get(server.url("/api/v1/external/user/info/"))
        .header("authorization", &jwt_scheme)
        .send()
        .await
        .unwrap();
    assert_eq!(
        info.json::<Value>().await.unwrap(),
        json!({"nickname": "ovos"})
    );

    // The same alias twice is a conflict; another user's id is forbidden.
    let again = client()
        .post(server.url(&format!("/v1/user/{user_id}/accesstoken")))
        .header("authorization", &pre_auth)
        .json(&json!({"alias": "sam-4f2a9c"}))
        .send()
        .await
        .unwrap();
    error_body(again, StatusCode::CONFLICT).await;
    server.add_user("other", "change-me-please").await;
    let other_id = user_id.parse::<i64>().unwrap() + 1;
    let foreign = client()
        .post(server.url(&format!("/v1/user/{other_id}/accesstoken")))
        .header("authorization", &pre_auth)
        .json(&json!({"alias": "mine-now"}))
        .send()
        .await
        .unwrap();
    let (code, _) = error_body(foreign, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "forbidden");

    // Logout with GET, as the console does: the token stops working at once.
    let logout = client()
        .get(server.url(&format!("/v1/user/{user_id}/accesstoken/sam-4f2a9c")))
        .header("authorization", &jwt_scheme)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let after = client()
        .get(server.url("/v1/auth/me"))
        .header("authorization", &jwt_scheme)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);

    // The pre-auth token is short-lived.
    server.clock.advance(600 + 31);
    let expired = client()
        .get(server.url("/v1/auth/me"))
        .header("authorization", &pre_auth)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_console_login_refuses_bad_credentials_alike() {
    let server = server_with_console_user().await;
    let mut bodies = Vec::new();
    for (email, password) in [
        ("john@example.org", "wrong-password"),
        ("nobody@example.org", "change-me-please"),
    ] {
        let response = client()
            .post(server.url("/v1/user/auth"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(!response.headers().contains_key("authorization"));
        bodies.push(response.text().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
    let missing = client()
        .post(server.url("/v1/user/auth"))
        .json(&json!({"email": "x"}))
        .send()
        .await
        .unwrap();
    let (_, body) = error_body(missing, StatusCode::UNPROCESSABLE_ENTITY).await;
    // The console's dialect: the detail again as `message`, which its clients print.
    assert_eq!(body["message"], body["detail"], "{body}");
    let refused: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(refused["error"], "invalid_credentials");
    assert_eq!(refused["message"], refused["detail"], "{refused}");
}

#[tokio::test]
async fn a_token_without_a_scope_gets_403_on_every_route_that_names_it() {
    let server = server_with_console_user().await;
    let identity = &server.state.identity;
    let token = identity
        .create_named_token_for("ovos", "info-only", Some("user:info"), None)
        .await
        .unwrap()
        .expose()
        .to_string();
    let doc: Value = client()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut checked = 0;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let scopes: Vec<&str> = operation["security"][0]["bearer"]
                .as_array()
                .map(|s| s.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let Some(scope) = scopes.first() else {
                continue;
            };
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = server.url(&path.replace("{skill_id}", "some.skill"));
            let response = client()
                .request(method.clone(), url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            if *scope == "user:info" {
                assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
                continue;
            }
            let challenge = response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            let (code, _) = error_body(response, StatusCode::FORBIDDEN).await;
            assert_eq!(code, "insufficient_scope", "{method} {path}");
            assert!(
                challenge.contains(r#"error="insufficient_scope""#),
                "{challenge}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} scoped routes checked");
}

#[tokio::test]
async fn named_tokens_never_exceed_the_role_and_die_with_disable_or_a_new_password() {
    let server = server_with_console_user().await;
    let identity = &server.state.identity;
    let err = identity
        .create_named_token_for("ovos", "too-much", Some("ovos admin"), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("admin"), "{err}");
    let err = identity
        .create_named_token_for("ovos", "typo", Some("ovso"), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown scope"), "{err}");

    let token = identity
        .create_named_token_for("ovos", "home-assistant", None, Some(3600))
        .await
        .unwrap()
        .expose()
        .to_string();
    assert!(token.starts_with("vgt_"));
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &token).await.status(),
        StatusCode::OK
    );
    let listed = identity.list_named_tokens(Some("ovos")).await.unwrap();
    assert_eq!(listed.len(), 1);
    // A listing has no field that could hold the token, and the store holds its hash only.
    let listed = serde_json::to_value(&listed).unwrap();
    assert_eq!(
        keys(&listed[0]),
        ["alias", "created_at", "expires_at", "scopes", "user"]
    );
    assert_not_stored_by(&server, &token).await;

    server.clock.advance(3600);
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &token).await.status(),
        StatusCode::UNAUTHORIZED,
        "expired"
    );

    let token = identity
        .create_named_token_for("ovos", "kitchen", None, None)
        .await
        .unwrap()
        .expose()
        .to_string();
    server.clock.advance(1);
    identity.set_active("ovos", false).await.unwrap();
    identity.set_active("ovos", true).await.unwrap();
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let token = identity
        .create_named_token_for("ovos", "garage", None, None)
        .await
        .unwrap()
        .expose()
        .to_string();
    server.clock.advance(1);
    identity
        .set_password("ovos", "a-new-password")
        .await
        .unwrap();
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// `POST /v1/user/{id}/accesstoken` with `authorization`, the alias `alias`.
async fn mint(
    server: &TestServer,
    user_id: i64,
    authorization: &str,
    alias: &str,
) -> reqwest::Response {
    client()
        .post(server.url(&format!("/v1/user/{user_id}/accesstoken")))
        .header("authorization", authorization)
        .json(&json!({"alias": alias}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn alias_tokens_come_from_a_password_login_and_never_exceed_it() {
    let server = server_with_console_user().await;
    let identity = &server.state.identity;
    identity
        .add_user("root", "root-password-1", Role::Admin)
        .await
        .unwrap();
    let users = identity.list_users().await.unwrap();
    let id_of = |name: &str| users.iter().find(|u| u.name == name).unwrap().id.get();
    let (ovos, root) = (id_of("ovos"), id_of("root"));

    // The admin's narrowest credential: an OAuth client's one-hour user:info token.
    let grants = ["client_credentials".to_string()];
    let client_app = identity
        .add_client("reader", "root", &grants, &[], Some("user:info"))
        .await
        .unwrap();
    let issued: Value = client()
        .post(server.url("/oauth/token"))
        .basic_auth(
            &client_app.client_id,
            Some(client_app.client_secret.expose()),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let narrow = format!("JWT {}", issued["access_token"].as_str().unwrap());
    for (user, alias) in [(ovos, "other"), (root, "self")] {
        let response = mint(&server, user, &narrow, alias).await;
        let (code, _) = error_body(response, StatusCode::FORBIDDEN).await;
        assert_eq!(
            code, "forbidden",
            "an OAuth token minted an alias for {user}"
        );
    }
    // A named token mints none either (it would outlive what made it).
    let named = identity
        .create_named_token_for("root", "kitchen", Some("ovos user:info"), None)
        .await
        .unwrap()
        .expose()
        .to_string();
    let response = mint(&server, root, &format!("JWT {named}"), "from-named").await;
    error_body(response, StatusCode::FORBIDDEN).await;

    // A user's password login mints for itself, with the login's scopes; never for another.
    let (user_login, _) = crate::support::tokens(&server, "ovos", "change-me-please").await;
    let response = mint(&server, root, &format!("JWT {user_login}"), "not-mine").await;
    error_body(response, StatusCode::FORBIDDEN).await;
    let own = mint(&server, ovos, &format!("JWT {user_login}"), "mine").await;
    assert_eq!(own.status(), StatusCode::CREATED);

    // The admin's password login may mint for another user, within both its own scopes and
    // the other user's role: no admin scope for a user.
    let (admin_login, _) = crate::support::tokens(&server, "root", "root-password-1").await;
    let made = mint(&server, ovos, &format!("JWT {admin_login}"), "for-ovos").await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    let token = made["token"]["token"].as_str().unwrap();
    let me: Value = get_bearer(server.url("/v1/auth/me"), token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"], "ovos");
    assert!(
        !me["scopes"].as_array().unwrap().contains(&json!("admin")),
        "{me}"
    );
    // Nothing was made by the refused attempts.
    let listed = identity.list_named_tokens(None).await.unwrap();
    let mut aliases: Vec<_> = listed.iter().map(|t| t.alias.as_str()).collect();
    aliases.sort_unstable();
    assert_eq!(aliases, ["for-ovos", "kitchen", "mine"]);
}
