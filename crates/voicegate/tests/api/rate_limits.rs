//! Login protection: 429 with Retry-After after the configured number of failures.

use reqwest::StatusCode;
use testkit::TestServer;

use crate::support::{error_body, get_bearer, login};

#[tokio::test]
async fn failed_logins_for_one_name_lead_to_429_until_the_window_ends() {
    let server = TestServer::start_with(|config| {
        config.auth.max_failures_per_user = 3;
        config.auth.failure_window_secs = 60;
    })
    .await;
    server.add_user("ovos", "change-me-please").await;
    server.add_user("other", "change-me-please").await;
    for _ in 0..3 {
        assert_eq!(
            login(&server.base, "ovos", "wrong-guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password is refused now, with a Retry-After.
    let response = login(&server.base, "ovos", "change-me-please").await;
    let retry_after: i64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (code, _) = error_body(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(code, "rate_limited");
    // Another name from the same address is not locked out.
    assert_eq!(
        login(&server.base, "other", "change-me-please")
            .await
            .status(),
        StatusCode::OK
    );

    server.clock.advance(61);
    assert_eq!(
        login(&server.base, "ovos", "change-me-please")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn failures_from_one_address_across_names_and_refresh_lead_to_429() {
    let server = TestServer::start_with(|config| {
        config.auth.max_failures_per_ip = 4;
        config.auth.max_failures_per_user = 100;
    })
    .await;
    server.add_user("ovos", "change-me-please").await;
    for name in ["a", "b"] {
        assert_eq!(
            login(&server.base, name, "x-wrong-pw").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for _ in 0..2 {
        let response = get_bearer(server.url("/v1/auth/refresh"), "vgr_not-a-real-token").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = login(&server.base, "ovos", "change-me-please").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let response = get_bearer(server.url("/v1/auth/refresh"), "vgr_not-a-real-token").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_burst_of_concurrent_guesses_cannot_pass_the_per_name_limit() {
    let server = TestServer::start_with(|config| {
        config.auth.max_failures_per_user = 3;
        config.auth.max_failures_per_ip = 1000;
    })
    .await;
    server.add_user("ovos", "change-me-please").await;
    let guesses = (0..20).map(|i| {
        let base = server.base.clone();
        async move { login(&base, "ovos", &format!("guess-{i}")).await.status() }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (3, 17), "{statuses:?}");
}

/// A login attempt from `forwarded_for` (as a reverse proxy on 127.0.0.1 would send it).
async fn login_via_proxy(
    server: &TestServer,
    forwarded_for: &str,
    user: &str,
    password: &str,
) -> StatusCode {
    crate::support::client()
        .post(server.url("/v1/auth/tokens"))
        .header("x-forwarded-for", forwarded_for)
        .json(&serde_json::json!({"user": user, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_users_failed_logins_count_together_by_name_and_by_email() {
    let server = TestServer::start_with(|config| {
        config.auth.max_failures_per_user = 4;
        config.auth.max_failures_per_ip = 100;
    })
    .await;
    server
        .state
        .identity
        .add_user_with_email(
            "ana",
            Some("ana@example.org"),
            "change-me-please",
            voicegate::identity::Role::User,
        )
        .await
        .unwrap();
    for _ in 0..2 {
        let by_name = login(&server.base, "ana", "wrong-guess").await;
        assert_eq!(by_name.status(), StatusCode::UNAUTHORIZED);
        let by_email = crate::support::client()
            .post(server.url("/v1/user/auth"))
            .json(&serde_json::json!({"email": "ana@example.org", "password": "wrong-guess"}))
            .send()
            .await
            .unwrap();
        assert_eq!(by_email.status(), StatusCode::UNAUTHORIZED);
    }
    // Four failures in all: the fifth attempt is refused, whichever login it names.
    let response = login(&server.base, "ana", "change-me-please").await;
    let (code, _) = error_body(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(code, "rate_limited");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let server = TestServer::start_with(|config| {
        config.auth.max_failures_per_ip = 3;
        config.auth.max_failures_per_user = 100;
        config.http.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    server.add_user("ovos", "change-me-please").await;
    for _ in 0..3 {
        let status = login_via_proxy(&server, "198.51.100.1", "ovos", "wrong-guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = login_via_proxy(&server, "198.51.100.1", "ovos", "change-me-please").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not locked out, and a hop the client itself
    // wrote before the proxy's does not choose its counter.
    let status = login_via_proxy(
        &server,
        "198.51.100.1, 198.51.100.2",
        "ovos",
        "change-me-please",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_for_header_changes_nothing() {
    let server = TestServer::start_with(|config| {
        config.auth.max_failures_per_ip = 3;
        config.auth.max_failures_per_user = 100;
    })
    .await;
    server.add_user("ovos", "change-me-please").await;
    for i in 0..3 {
        let forged = format!("198.51.100.{i}");
        let status = login_via_proxy(&server, &forged, "ovos", "wrong-guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = login_via_proxy(&server, "203.0.113.50", "ovos", "change-me-please").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
