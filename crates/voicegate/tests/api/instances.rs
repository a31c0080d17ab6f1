//! Two instances on one PostgreSQL database: what one accepts, spends or revokes, the other
//! knows. Each test starts two in-process servers on a fresh database of the throwaway cluster
//! (whatever `TESTKIT_BACKEND` says), sharing one data directory (signing and sealing keys), and
//! skips with one line when PostgreSQL is missing outside CI.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use testkit::{Nginx, TestServer};
use voicegate::config::Config;
use voicegate::secret::Secret;

use crate::signatures::{header, info_request, send};
use crate::support::{client, error_body, get_bearer, tokens};

const PASSWORD: &str = "change-me-please";

/// How often each instance looks for changes made by the others (`auth.state_poll_ms`).
const POLL_MS: u64 = 200;

/// The longest a change made through one instance may take to reach the other: two polls, and
/// slack for a loaded machine.
const DELAY: Duration = Duration::from_millis(2 * POLL_MS + 600);

/// Instance A with user `ovos`, then instance B on the same database and data directory;
/// `adjust` applies to both. `None` when PostgreSQL is missing (skipped).
async fn two_instances(adjust: impl Fn(&mut Config)) -> Option<(TestServer, TestServer)> {
    let cluster = testkit::Cluster::shared().await?;
    let url = cluster.database().await;
    two_instances_on(&url, adjust).await
}

/// [`two_instances`] on the database at `url`.
async fn two_instances_on(
    url: &str,
    adjust: impl Fn(&mut Config),
) -> Option<(TestServer, TestServer)> {
    let shared = |config: &mut Config| {
        config.database_url = Some(Secret::new(url.to_string()));
        config.auth.state_poll_ms = POLL_MS;
        adjust(config);
    };
    let a = TestServer::start_with(&shared).await;
    a.add_user("ovos", PASSWORD).await;
    let data_dir = a.data_dir.path().to_path_buf();
    let b = TestServer::start_with(|config| {
        shared(config);
        config.data_dir = data_dir;
    })
    .await;
    Some((a, b))
}

/// Sends requests made by `request` (given the attempt's number) to `server` until one gets
/// `status`, for at most [`DELAY`] (then fails, naming `what`); returns how long it took.
async fn until_status<F, Fut>(what: &str, status: StatusCode, mut request: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    let started = Instant::now();
    let mut last = None;
    for attempt in 0..1000 {
        let got = request(attempt).await;
        if got == status {
            return started.elapsed();
        }
        last = Some(got);
        if started.elapsed() > DELAY {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: still {last:?} after {DELAY:?}, expected {status}");
}

#[tokio::test]
async fn a_nonce_spent_on_one_instance_is_refused_by_the_other() {
    let Some((a, b)) = two_instances(|_| {}).await else {
        return;
    };
    let key = a.state.identity.create_api_key("ovos", None).await.unwrap();
    let secret = key.secret.expose();
    let now = a.clock_now();

    // Accepted by A, replayed to B.
    let request = info_request(&key, now, "instances-1");
    let authorization = header(secret, &request);
    assert_eq!(
        send(&a, &request, &authorization).await.status(),
        StatusCode::OK
    );
    let replay = send(&b, &request, &authorization).await;
    let (code, _) = error_body(replay, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_signature");

    // And the other way round: B takes a fresh nonce, A refuses it again.
    let request = info_request(&key, now, "instances-2");
    let authorization = header(secret, &request);
    assert_eq!(
        send(&b, &request, &authorization).await.status(),
        StatusCode::OK
    );
    let replay = send(&a, &request, &authorization).await;
    let (code, _) = error_body(replay, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_signature");

    // The refusals spent nothing: fresh nonces still pass on both.
    for (server, nonce) in [(&b, "instances-3"), (&a, "instances-4")] {
        let request = info_request(&key, now, nonce);
        let authorization = header(secret, &request);
        assert_eq!(
            send(server, &request, &authorization).await.status(),
            StatusCode::OK,
            "{nonce}"
        );
    }
}

/// Every connection of the instance ended by the server (a PostgreSQL restart, an idle-session
/// timeout): the next signed request and login still work, on new connections.
#[tokio::test]
async fn connections_the_database_ends_are_opened_again() {
    let Some(cluster) = testkit::Cluster::shared().await else {
        return;
    };
    let url = cluster.database().await;
    let Some((a, _b)) = two_instances_on(&url, |_| {}).await else {
        return;
    };
    let key = a.state.identity.create_api_key("ovos", None).await.unwrap();
    let secret = key.secret.expose();
    let now = a.clock_now();
    // One after another: the instance's claim connections take turns, so each is open.
    let signed = |nonce: String| {
        let request = info_request(&key, now, &nonce);
        let authorization = header(secret, &request);
        let a = &a;
        async move { send(a, &request, &authorization).await.status() }
    };
    let before =
        futures_util::future::join_all((0..8).map(|i| signed(format!("before-{i}")))).await;
    assert!(before.iter().all(|s| *s == StatusCode::OK), "{before:?}");
    let database = url.rsplit('/').next().unwrap();
    let ended = cluster
        .psql(
            "postgres",
            &format!(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{database}'"
            ),
        )
        .await
        .unwrap();
    assert!(ended.trim().parse::<u32>().unwrap() >= 2, "{ended}");
    let mut after = Vec::new();
    for i in 0..4 {
        after.push(signed(format!("after-{i}")).await);
    }
    assert!(after.iter().all(|s| *s == StatusCode::OK), "{after:?}");
    let request = info_request(&key, now, "after-0");
    let authorization = header(secret, &request);
    let replay = send(&a, &request, &authorization).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    tokens(&a, "ovos", PASSWORD).await;
}

/// Claims live until their timestamp has left the window (and a minute of slack for clocks);
/// then the next purge deletes them and keeps the live ones.
#[tokio::test]
async fn expired_nonce_claims_are_deleted_and_live_ones_kept() {
    let Some(cluster) = testkit::Cluster::shared().await else {
        return;
    };
    let url = cluster.database().await;
    let database = url.rsplit('/').next().expect("a database name").to_string();
    let Some((a, _b)) = two_instances_on(&url, |_| {}).await else {
        return;
    };
    let key = a.state.identity.create_api_key("ovos", None).await.unwrap();
    let database = database.as_str();
    let claims = move || async move {
        let sql = "SELECT count(*) FROM signature_nonce_claims";
        cluster
            .psql(database, sql)
            .await
            .unwrap()
            .trim()
            .to_string()
    };
    for nonce in ["old-1", "old-2", "old-3"] {
        let request = info_request(&key, a.clock_now(), nonce);
        let authorization = header(key.secret.expose(), &request);
        assert_eq!(
            send(&a, &request, &authorization).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(claims().await, "3");

    // Past the window (300 s), the purge's slack (60 s) and its period (60 s): the next signed
    // request starts a purge.
    a.clock.advance(300 + 1 + 60 + 61);
    let request = info_request(&key, a.clock_now(), "new-1");
    let authorization = header(key.secret.expose(), &request);
    assert_eq!(
        send(&a, &request, &authorization).await.status(),
        StatusCode::OK
    );
    let started = Instant::now();
    let mut left = claims().await;
    while left != "1" && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = claims().await;
    }
    assert_eq!(left, "1", "only the live claim is left");
}

#[tokio::test]
async fn each_instance_counts_a_keys_nonces_against_its_own_budget() {
    let Some((a, b)) = two_instances(|config| config.auth.max_nonces_per_key = 2).await else {
        return;
    };
    let key = a.state.identity.create_api_key("ovos", None).await.unwrap();
    let secret = key.secret.expose();
    let now = a.clock_now();
    let mut statuses = Vec::new();
    for (server, nonce) in [
        (&a, "a-1"),
        (&a, "a-2"),
        (&a, "a-3"),
        (&b, "b-1"),
        (&b, "b-2"),
        (&b, "b-3"),
    ] {
        let request = info_request(&key, now, nonce);
        let authorization = header(secret, &request);
        statuses.push(
            send(server, &request, &authorization)
                .await
                .status()
                .as_u16(),
        );
    }
    // Two per instance: behind N instances a key spends up to N times the budget.
    assert_eq!(statuses, [200, 200, 401, 200, 200, 401]);
}

#[tokio::test]
async fn a_refresh_token_reused_on_the_other_instance_revokes_the_family_on_both() {
    let Some((a, b)) = two_instances(|_| {}).await else {
        return;
    };
    let (_, first_refresh) = tokens(&a, "ovos", PASSWORD).await;
    let exchanged = get_bearer(a.url("/v1/auth/refresh"), &first_refresh).await;
    assert_eq!(exchanged.status(), StatusCode::OK);
    let body: serde_json::Value = exchanged.json().await.unwrap();
    let second_refresh = body["refresh_token"].as_str().unwrap().to_string();

    // The spent token presented to B: a reuse, detected there.
    let reuse = get_bearer(b.url("/v1/auth/refresh"), &first_refresh).await;
    let (code, _) = error_body(reuse, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_token");
    // The whole family is revoked: A's successor is refused by A and by B.
    for (name, server) in [("A", &a), ("B", &b)] {
        let successor = get_bearer(server.url("/v1/auth/refresh"), &second_refresh).await;
        assert_eq!(successor.status(), StatusCode::UNAUTHORIZED, "on {name}");
    }
    // A new login on B starts a family that A honours.
    let (_, fresh) = tokens(&b, "ovos", PASSWORD).await;
    let exchanged = get_bearer(a.url("/v1/auth/refresh"), &fresh).await;
    assert_eq!(exchanged.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_named_token_revoked_through_one_instance_is_refused_by_the_other() {
    let Some((a, b)) = two_instances(|_| {}).await else {
        return;
    };
    let identity = &a.state.identity;
    let token = identity
        .create_named_token_for("ovos", "home-assistant", None, None)
        .await
        .unwrap();
    let me = |server: &TestServer| get_bearer(server.url("/v1/auth/me"), token.expose());
    assert_eq!(me(&b).await.status(), StatusCode::OK);

    identity
        .revoke_named_token_for("ovos", "home-assistant")
        .await
        .unwrap();
    assert_eq!(me(&a).await.status(), StatusCode::UNAUTHORIZED);
    let (me, b) = (&me, &b);
    let took = until_status(
        "the named token on B",
        StatusCode::UNAUTHORIZED,
        move |_| async move { me(b).await.status() },
    )
    .await;
    eprintln!("named token refused by the other instance after {took:?}");
}

#[tokio::test]
async fn an_api_key_deleted_through_one_instance_is_refused_by_the_other() {
    let Some((a, b)) = two_instances(|_| {}).await else {
        return;
    };
    let key = a.state.identity.create_api_key("ovos", None).await.unwrap();
    let now = a.clock_now();
    // Signed ahead (signing runs Python), so that the wait below measures the server alone.
    let signed: Vec<_> = (0..60)
        .map(|i| {
            let request = info_request(&key, now, &format!("deleted-{i}"));
            let authorization = header(key.secret.expose(), &request);
            (request, authorization)
        })
        .collect();
    let (request, authorization) = &signed[0];
    assert_eq!(
        send(&b, request, authorization).await.status(),
        StatusCode::OK
    );

    a.state.identity.remove_api_key(&key.api_key).await.unwrap();
    let (signed, b) = (&signed, &b);
    let took = until_status("the deleted key on B", StatusCode::UNAUTHORIZED, move |i| {
        let (request, authorization) = &signed[1 + i.min(signed.len() - 2)];
        async move { send(b, request, authorization).await.status() }
    })
    .await;
    eprintln!("deleted API key refused by the other instance after {took:?}");
}

#[tokio::test]
async fn a_user_disabled_through_one_instance_is_refused_by_the_other() {
    let Some((a, b)) = two_instances(|_| {}).await else {
        return;
    };
    let (access, _) = tokens(&a, "ovos", PASSWORD).await;
    let me = |server: &TestServer| get_bearer(server.url("/v1/auth/me"), &access);
    assert_eq!(me(&b).await.status(), StatusCode::OK);

    a.state.identity.set_active("ovos", false).await.unwrap();
    assert_eq!(me(&a).await.status(), StatusCode::UNAUTHORIZED);
    let (me, b) = (&me, &b);
    let took = until_status(
        "the disabled user's token on B",
        StatusCode::UNAUTHORIZED,
        move |_| async move { me(b).await.status() },
    )
    .await;
    eprintln!("disabled user refused by the other instance after {took:?}");
}

/// Login failures behind a real nginx in front of both instances: each instance counts the
/// client named by `X-Forwarded-For` (the balancer is a trusted proxy) on its own, so a client
/// gets up to 2 × `auth.max_failures_per_ip` failures, and another client behind the same
/// balancer keeps its own budget.
#[tokio::test]
async fn behind_the_balancer_each_instance_counts_each_clients_failures() {
    let Some((a, b)) = two_instances(|config| {
        config.auth.max_failures_per_ip = 2;
        config.auth.max_failures_per_user = 100;
        config.http.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await
    else {
        return;
    };
    let addr = |server: &TestServer| -> std::net::SocketAddr {
        let host = server.base.trim_start_matches("http://");
        host.parse().expect("a socket address")
    };
    let Some(nginx) = Nginx::start(&[addr(&a), addr(&b)]).await else {
        return;
    };
    let login = |client_addr: &'static str, password: &'static str| {
        client()
            .post(nginx.url("/v1/auth/tokens"))
            .header("x-forwarded-for", client_addr)
            .json(&serde_json::json!({"user": "ovos", "password": password}))
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            login("198.51.100.7", "wrong-guess")
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    // Round robin: two failures on each instance, each within its own limit of two.
    assert_eq!(statuses, [401, 401, 401, 401]);
    for _ in 0..2 {
        let refused = login("198.51.100.7", PASSWORD).await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let other = login("198.51.100.8", PASSWORD).await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    let log = nginx.access_log();
    for server in [&a, &b] {
        let upstream = server.base.trim_start_matches("http://");
        assert!(log.contains(upstream), "both instances answered: {log}");
    }
}
