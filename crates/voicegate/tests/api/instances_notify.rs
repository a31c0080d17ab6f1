//! Two instances on one PostgreSQL database hear each other at once: a change to users made
//! through one reaches the other's caches by `NOTIFY` well before its poll would, and an events
//! stream on one carries what the other published.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{Cluster, TestServer};
use voicegate::secret::Secret;

use crate::events::Stream;
use crate::support::{client, get_bearer, tokens};

/// A poll far slower than anything the tests wait for: what arrives in time came by NOTIFY.
const SLOW_POLL_MS: u64 = 60_000;

/// Two instances on a fresh database of the cluster, or `None` (with a line) without
/// PostgreSQL.
async fn pair() -> Option<(TestServer, TestServer)> {
    if testkit::on_postgres() {
        eprintln!("skipped: the instance tests ran in the default pass");
        return None;
    }
    let cluster = Cluster::shared().await?;
    let url = cluster.database().await;
    let a = TestServer::start_with(|c| {
        c.database_url = Some(Secret::new(url));
        c.auth.state_poll_ms = SLOW_POLL_MS;
    })
    .await;
    let b = TestServer::start_beside(&a, |_| {}).await;
    Some((a, b))
}

/// How long until `check` holds, polling every 20 ms, at most `limit`.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn a_user_disabled_through_one_instance_is_refused_by_the_other_at_once() {
    let Some((a, b)) = pair().await else { return };
    a.add_user("ann", "ann-password-1").await;
    let (access, _) = tokens(&b, "ann", "ann-password-1").await;
    let me = b.url("/v1/auth/me");
    assert_eq!(
        get_bearer(me.clone(), &access).await.status(),
        StatusCode::OK
    );

    a.state
        .identity
        .set_active("ann", false)
        .await
        .expect("ann is disabled");
    let refused = within(Duration::from_secs(3), async || {
        get_bearer(me.clone(), &access).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(
        refused.is_some(),
        "the other instance still takes the token after 3 s (its poll is {SLOW_POLL_MS} ms)"
    );
}

#[tokio::test]
async fn an_events_stream_on_one_instance_carries_what_the_other_published() {
    let Some((a, b)) = pair().await else { return };
    a.add_user("ann", "ann-password-1").await;
    a.add_user("bob", "bob-password-1").await;
    let (ann, _) = tokens(&a, "ann", "ann-password-1").await;
    let (bob, _) = tokens(&a, "bob", "bob-password-1").await;
    let mut stream = Stream::open(&a.base, &ann, "?topics=assistants").await;
    let mut bobs = Stream::open(&a.base, &bob, "?topics=assistants").await;

    // Made through the other instance.
    let body = json!({"title": "Home", "dataset": crate::assistants::home_dataset()});
    let created = client()
        .post(b.url("/v3/assistant"))
        .bearer_auth(&ann)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let started = Instant::now();
    let event = stream.next(Duration::from_secs(5)).await.expect("an event");
    assert_eq!(
        (event.name.as_str(), event.data),
        ("assistants.created", json!({"assistantId": id}))
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "relayed in {:?}",
        started.elapsed()
    );
    // Another user's stream stays quiet: the owner travels with the event.
    let quiet = tokio::time::timeout(
        Duration::from_millis(500),
        bobs.next(Duration::from_secs(5)),
    )
    .await;
    assert!(quiet.is_err(), "bob saw {quiet:?}");
}
