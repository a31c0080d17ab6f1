//! Synthesis with a `put_url` that cannot be served: every cause answers alike and names no
//! address, and uploads waiting on a silent DNS server hold no thread of the blocking pool.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use testkit::TestServer;

use crate::support::{client, error_body, login, tokens};

/// A synthesis of "hello" uploaded to `put_url`.
async fn synthesize_to(server: &TestServer, token: &str, put_url: &str) -> reqwest::Response {
    let query = serde_urlencoded::to_string([
        ("download_token", "espeak:en-us"),
        ("script", "hello"),
        ("put_url", put_url),
    ])
    .unwrap();
    client()
        .get(server.url(&format!("/api/v1/external/synthesis/?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_put_url_failure_answers_alike_and_names_no_address() {
    let silent_dns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = TestServer::start_with(|c| {
        c.voices.put_url_allow = vec!["127.0.0.1/32".into()];
        c.voices.put_url_timeout_ms = 800;
        c.voices.put_url_nameservers = vec![silent_dns.local_addr().unwrap().to_string()];
    })
    .await;
    server.add_user("alice", "alice-password-1").await;
    let (token, _) = tokens(&server, "alice", "alice-password-1").await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let mut bodies = Vec::new();
    for url in [
        // Refused before the synthesis: a loopback address not allowed, the unspecified one.
        format!("http://[::1]:{}/bucket", closed.port()),
        format!("http://0.0.0.0:{}/bucket", closed.port()),
        // A name the DNS server never answers for.
        "http://bucket.test/speech.wav".to_string(),
        // Allowed, but after the synthesis the connection is refused, or never answered.
        format!("http://{closed}/bucket"),
        format!("http://{silent_addr}/bucket"),
    ] {
        let response = synthesize_to(&server, &token, &url).await;
        let (code, body) = error_body(response, StatusCode::BAD_GATEWAY).await;
        assert_eq!(code, "put_url_failed", "{url}: {body}");
        let text = body.to_string();
        for detail in [
            "127.0.0.1",
            "::1",
            "0.0.0.0",
            "bucket",
            "refused",
            "put_url_allow",
        ] {
            assert!(!text.contains(detail), "{url}: {text}");
        }
        bodies.push((url, body));
    }
    for (url, body) in &bodies {
        assert_eq!(body, &bodies[0].1, "{url} answers like {}", bodies[0].0);
    }
    // A URL that is not one is still named as such.
    let response = synthesize_to(&server, &token, "ftp://bucket.test/x").await;
    let (_, body) = error_body(response, StatusCode::BAD_REQUEST).await;
    assert!(body["detail"].as_str().unwrap().starts_with("put_url"));
}

/// With the blocking pool cut to two threads, a login (its password hash runs on that pool)
/// still answers at once while four synthesis requests wait on a DNS server that never answers.
#[test]
fn put_urls_waiting_on_dns_leave_the_blocking_pool_to_logins() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let silent_dns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = TestServer::start_with(|c| {
            c.voices.put_url_timeout_ms = 4_000;
            c.voices.put_url_nameservers = vec![silent_dns.local_addr().unwrap().to_string()];
        })
        .await;
        server.add_user("alice", "alice-password-1").await;
        let (token, _) = tokens(&server, "alice", "alice-password-1").await;
        let started = Instant::now();
        let response = login(&server.base, "alice", "alice-password-1").await;
        assert_eq!(response.status(), StatusCode::OK);
        let unhurried = started.elapsed();
        let base = server.base.clone();
        let waiting: Vec<_> = (0..4)
            .map(|i| {
                let query = serde_urlencoded::to_string([
                    ("download_token", "espeak:en-us"),
                    ("script", "hello"),
                    ("put_url", &format!("http://bucket{i}.test/speech.wav")),
                ])
                .unwrap();
                let request = client()
                    .get(format!("{base}/api/v1/external/synthesis/?{query}"))
                    .bearer_auth(&token)
                    .send();
                tokio::spawn(request)
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let response = login(&server.base, "alice", "alice-password-1").await;
        let took = started.elapsed();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            took < unhurried + Duration::from_millis(1_500),
            "a login took {took:?} ({unhurried:?} alone) while uploads waited on DNS"
        );
        for request in waiting {
            let response = request.await.unwrap().unwrap();
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "put_url_failed", "{body}");
        }
    });
}
