//! The web console in headless Chromium against a real server and real peers: sign in, move a
//! speaker's volume slider and see snapserver set that snapclient's volume, say a sentence on
//! two speakers and find it in their output, create and train an assistant and watch the bar
//! reach 100 %, parse a sentence and see its slots; every page checked with axe-core and
//! photographed at phone and desktop widths.

use std::time::Duration;

use testkit::{Browser, Snapclient, Snapserver, TestServer, serious_violations};
use voicegate::speakers::snapcast::{ControlSettings, SnapcastControl};

use crate::speakers_support::{HkSession, peaks_since, written};

const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1280, 900);
const WAIT: Duration = Duration::from_secs(15);

/// Signs in through the form, starting from `/`.
async fn sign_in(browser: &Browser, server: &TestServer, user: &str, password: &str) {
    browser.goto(&server.url("/")).await;
    browser.fill("#user", user).await;
    browser.fill("#password", password).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for("meta[name=csrf-token]", WAIT).await;
}

/// Checks the page with axe-core and saves it at phone and desktop widths as `name-*.png`; the
/// page weight and the time to interactive go to the test's output.
async fn check_page(browser: &Browser, name: &str) {
    let violations = browser.axe().await;
    let serious = serious_violations(&violations);
    assert!(serious.is_empty(), "{name}: {serious:#?}");
    let timing = browser
        .execute(
            "const n = performance.getEntriesByType('navigation')[0];
             const bytes = performance.getEntriesByType('resource')
                 .filter(r => r.name.includes('/console/assets/'))
                 .reduce((sum, r) => sum + r.decodedBodySize, 0);
             return {interactive: n.domInteractive, loaded: n.loadEventEnd, html: n.decodedBodySize, assets: bytes};",
            serde_json::json!([]),
        )
        .await;
    eprintln!("page {name}: {timing}");
    for (width, size) in [("phone", PHONE), ("desktop", DESKTOP)] {
        browser.set_window_size(size.0, size.1).await;
        // Nothing wider than the window: the page scrolls down, never sideways.
        let wide = browser
            .execute(
                "window.scrollTo(0, 0);
                 const limit = document.documentElement.clientWidth;
                 return [...document.querySelectorAll('body *')]
                     .filter(e => e.getBoundingClientRect().right > limit + 1
                         && !e.closest('.table'))
                     .map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className);",
                serde_json::json!([]),
            )
            .await;
        assert_eq!(wide, serde_json::json!([]), "{name} at {width} width");
        browser.screenshot(&format!("console-{name}-{width}")).await;
    }
}

async fn snap_volume(snap: &Snapserver, client: &str) -> u16 {
    let control = SnapcastControl::start(ControlSettings::new(snap.control_address()));
    for _ in 0..100 {
        if let Ok(status) = control.status().await
            && let Some((_, found)) = status.client(client)
        {
            return found.config.volume.percent;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("snapserver's status could not be read");
}

#[tokio::test]
async fn the_speakers_page_moves_a_volume_and_says_a_sentence_on_two_speakers() {
    let snap = Snapserver::start(2, 300).await;
    let clients = [
        Snapclient::start(&snap, "web-1").await,
        Snapclient::start(&snap, "web-2").await,
    ];
    let hk = HkSession::start(&snap, 2, |_| {}).await;
    let browser = Browser::start().await;
    sign_in(&browser, &hk.server, "ana", "ana-password-1").await;
    browser.goto(&hk.server.url("/console/speakers")).await;
    browser.wait_for_text("#live", "connected", WAIT).await;

    // The first device's slider to 20 (of 50): snapserver sets that client to 40 %.
    let (first, second) = (&hk.ids[0], &hk.ids[1]);
    browser.wait_for(&format!("#volume-{first}"), WAIT).await;
    let before = snap_volume(&snap, "web-1").await;
    assert_ne!(before, 40);
    browser.set_range(&format!("#volume-{first}"), "20").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while snap_volume(&snap, "web-1").await != 40 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the volume did not move"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(browser.text(&format!("#volume-value-{first}")).await, "20");
    assert_eq!(browser.text("#devices-error").await, "");

    // Say a sentence on both speakers: it is heard in both clients' output.
    let since = written(&clients);
    browser.click(&format!("#say-{first}")).await;
    browser.click(&format!("#say-{second}")).await;
    browser
        .fill("#say-text", "The laundry is done and dry.")
        .await;
    browser.click("#say-form button[type=submit]").await;
    browser
        .wait_for_text("#status", "Saying it on 2 speakers", WAIT)
        .await;
    // The page follows its playback live: announcing, then stopped.
    browser
        .wait_for_text("#playback-state", "announcement", WAIT)
        .await;
    browser
        .wait_for_text("#playback-state", "stopped", WAIT)
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let peaks = peaks_since(&clients, &since);
        if peaks.iter().all(|p| *p > 1_000) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not heard on both: {peaks:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(browser.text("#say-error").await, "");

    check_page(&browser, "speakers").await;
    browser.close().await;
}

#[tokio::test]
async fn the_assistants_page_creates_trains_and_parses() {
    let server = TestServer::start().await;
    server.add_user("ana", "ana-password-1").await;
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("home.json");
    std::fs::write(&dataset, crate::assistants::home_dataset().to_string()).unwrap();

    let browser = Browser::start().await;
    browser.goto(&server.url("/console/assistants")).await;
    // Not signed in: the sign-in page, which leads back here.
    check_page(&browser, "sign-in").await;
    browser.fill("#user", "ana").await;
    browser.fill("#password", "ana-password-1").await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_text("h1", "Assistants", WAIT).await;
    browser.wait_for_text("#live", "connected", WAIT).await;

    // A dataset that is not JSON: the reason, next to the form.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "not json").unwrap();
    browser.fill("#create-file", junk.to_str().unwrap()).await;
    browser.click("#create-form button[type=submit]").await;
    browser
        .wait_for_text("#create-error", "junk.json is not JSON", WAIT)
        .await;

    browser.fill("#create-title", "Home").await;
    browser
        .fill("#create-file", dataset.to_str().unwrap())
        .await;
    browser.click("#create-form button[type=submit]").await;
    browser.wait_for_text("#status", "Created", WAIT).await;
    let id = browser
        .execute(
            "return document.querySelector('#assistants tr[id^=assistant-]').id.slice(10);",
            serde_json::json!([]),
        )
        .await;
    let id = id.as_str().unwrap().to_string();
    assert_eq!(
        browser.text(&format!("#training-{id}")).await,
        "needs training"
    );

    // Train: the bar moves with the events hub until it is full.
    browser.click(&format!("#train-{id}")).await;
    browser
        .wait_for_text(
            &format!("#training-{id}"),
            "trained",
            Duration::from_secs(120),
        )
        .await;
    let value = browser
        .execute(
            "return document.getElementById(arguments[0]).value;",
            serde_json::json!([format!("progress-{id}")]),
        )
        .await;
    assert_eq!(value, serde_json::json!(100));

    // Try it: the intent and its slot, marked in the sentence.
    browser
        .fill("#parse-text", "turn on the lights in the kitchen")
        .await;
    browser.click("#parse-form button[type=submit]").await;
    browser
        .wait_for_text("#parse-intent", "turnLightOn", WAIT)
        .await;
    assert!(
        browser
            .text("#parse-sentence mark[data-slot=room]")
            .await
            .starts_with("kitchen")
    );
    assert!(
        browser
            .text("#parse-probability")
            .await
            .contains("probability")
    );
    check_page(&browser, "assistants").await;
    browser.close().await;
}
