//! ovos-api login, refresh and access-token checks.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TestServer;

use crate::support::{client, error_body, get_bearer, login, tokens};

const PASSWORD: &str = "c-h-a-n-g-e-m-e";

async fn server_with_user() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("ovos", PASSWORD).await;
    server
}

#[tokio::test]
async fn login_returns_both_tokens_and_the_access_token_works() {
    let server = server_with_user().await;
    let response = login(&server.base, "ovos", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 3, "the access token is a JWT");
    assert_ne!(access, refresh);
    let header: Value =
        serde_json::from_slice(&B64.decode(access.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "HS256", "typ": "at+jwt"}));
    let claims: Value =
        serde_json::from_slice(&B64.decode(access.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["sub"], "ovos");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1800
    );
    for claim in ["iss", "aud", "jti", "scope"] {
        assert!(claims[claim].is_string(), "claim {claim} missing");
    }

    let me = get_bearer(server.url("/v1/auth/me"), access).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"], "ovos");
    let scopes: Vec<&str> = me["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        scopes.contains(&"ovos") && scopes.contains(&"user:info"),
        "{scopes:?}"
    );
    assert!(!scopes.contains(&"admin"), "a user is no admin");
    assert_eq!(me["expires_at"], claims["exp"]);
}

#[tokio::test]
async fn wrong_password_unknown_user_and_inactive_user_get_the_same_401() {
    let server = server_with_user().await;
    server.add_user("jarvis", PASSWORD).await;
    server
        .state
        .identity
        .set_active("jarvis", false)
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for (user, password) in [
        ("ovos", "wrong-password"),
        ("nobody", PASSWORD),
        ("jarvis", PASSWORD),
    ] {
        let response = login(&server.base, user, password).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{user}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        bodies.push(response.text().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1], bodies[2]);
    assert!(bodies[0].contains("invalid_credentials"));
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let server = server_with_user().await;
    let (_, first_refresh) = tokens(&server, "ovos", PASSWORD).await;

    let response = get_bearer(server.url("/v1/auth/refresh"), &first_refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let second_access = body["access_token"].as_str().unwrap().to_string();
    let second_refresh = body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &second_access)
            .await
            .status(),
        StatusCode::OK
    );

    // The spent token is refused, and presenting it revokes its successor too.
    let reuse = get_bearer(server.url("/v1/auth/refresh"), &first_refresh).await;
    let (code, _) = error_body(reuse, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_token");
    let successor = get_bearer(server.url("/v1/auth/refresh"), &second_refresh).await;
    assert_eq!(successor.status(), StatusCode::UNAUTHORIZED);

    // Another login starts a new family that works.
    let (_, fresh) = tokens(&server, "ovos", PASSWORD).await;
    assert_eq!(
        get_bearer(server.url("/v1/auth/refresh"), &fresh)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn access_and_refresh_tokens_are_not_interchangeable() {
    let server = server_with_user().await;
    let (access, refresh) = tokens(&server, "ovos", PASSWORD).await;
    let response = get_bearer(server.url("/v1/auth/refresh"), &access).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = get_bearer(server.url("/v1/auth/me"), &refresh).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    // The refresh token was not spent by the failed attempt above.
    assert_eq!(
        get_bearer(server.url("/v1/auth/refresh"), &refresh)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_expire_on_the_moved_clock() {
    let server = server_with_user().await;
    let (access, refresh) = tokens(&server, "ovos", PASSWORD).await;
    server.clock.advance(1800 + 30);
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &access)
            .await
            .status(),
        StatusCode::OK,
        "within leeway"
    );
    server.clock.advance(1);
    let expired = get_bearer(server.url("/v1/auth/me"), &access).await;
    let (code, _) = error_body(expired, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_token");

    server.clock.advance(21600);
    assert_eq!(
        get_bearer(server.url("/v1/auth/refresh"), &refresh)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let server = server_with_user().await;
    let (access, _) = tokens(&server, "ovos", PASSWORD).await;
    let mut parts: Vec<String> = access.split('.').map(str::to_string).collect();
    let claims: Value = serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();

    // Tampered payload (a later expiry, same user), original signature.
    let mut extended = claims.clone();
    extended["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(extended.to_string()),
        parts[2]
    );
    // Tampered signature: a character in the middle (the last one may only hold padding bits).
    let middle = parts[2].len() / 2;
    let flipped = if &parts[2][middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    parts[2].replace_range(middle..=middle, flipped);
    let bad_signature = parts.join(".");
    // alg: none, no signature.
    let none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
        B64.encode(claims.to_string())
    );
    // Signed with the real key but without exp.
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let no_exp = server
        .state
        .identity
        .jwt()
        .sign_raw(r#"{"alg":"HS256","typ":"at+jwt"}"#, &no_exp.to_string());
    // Signed with the real key but a plain JWT type (not an access token).
    let plain_typ = server
        .state
        .identity
        .jwt()
        .sign_raw(r#"{"alg":"HS256","typ":"JWT"}"#, &claims.to_string());

    for (what, token) in [
        ("tampered payload", tampered),
        ("tampered signature", bad_signature),
        ("alg none", none),
        ("no exp", no_exp),
        ("typ JWT", plain_typ),
        ("garbage", "not-a-token".to_string()),
    ] {
        let response = get_bearer(server.url("/v1/auth/me"), &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token"),
            "{what}"
        );
    }
}

#[tokio::test]
async fn missing_credentials_get_401_without_error_attribute() {
    let server = server_with_user().await;
    let response = client()
        .get(server.url("/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer"));
    assert!(!challenge.contains("error="), "{challenge}");
    let response = client()
        .get(server.url("/v1/auth/me"))
        .header("authorization", "Basic b3ZvczpjaGFuZ2UtbWU=")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_disabled_user_loses_tokens_and_refresh_and_a_new_password_ends_old_tokens() {
    let server = server_with_user().await;
    let (access, refresh) = tokens(&server, "ovos", PASSWORD).await;
    server.clock.advance(1);
    server
        .state
        .identity
        .set_active("ovos", false)
        .await
        .unwrap();
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &access)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_bearer(server.url("/v1/auth/refresh"), &refresh)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Enabling the user again revives none of the old tokens.
    server.clock.advance(1);
    server
        .state
        .identity
        .set_active("ovos", true)
        .await
        .unwrap();
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &access)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_bearer(server.url("/v1/auth/refresh"), &refresh)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let (access, refresh) = tokens(&server, "ovos", PASSWORD).await;
    server.clock.advance(1);
    server
        .state
        .identity
        .set_password("ovos", "a-new-password")
        .await
        .unwrap();
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &access)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_bearer(server.url("/v1/auth/refresh"), &refresh)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&server.base, "ovos", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&server.base, "ovos", "a-new-password").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_hashes() {
    let server = server_with_user().await;
    let (_, refresh) = tokens(&server, "ovos", PASSWORD).await;
    crate::support::assert_not_stored_by(&server, &refresh).await;
}

#[tokio::test]
async fn the_contract_refresh_request_with_a_json_body_works() {
    // The original Postman collection sends a JSON body on GET /v1/auth/refresh; it is ignored.
    let server = server_with_user().await;
    let (access, refresh) = tokens(&server, "ovos", PASSWORD).await;
    let response = client()
        .get(server.url("/v1/auth/refresh"))
        .bearer_auth(&refresh)
        .json(&json!({"access_token": access}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
