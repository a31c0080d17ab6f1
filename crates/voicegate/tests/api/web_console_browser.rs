//! The web console in headless Chromium against a real server and real peers: sign in, move a
//! speaker's volume slider and see snapserver set that snapclient's volume, say a sentence on
//! two speakers and find it in their output, create and train an assistant and watch the bar
//! reach 100 %, parse a sentence and see its slots, record three takes from a fake microphone
//! (OK, OK, too loud) and build a voice, speak and mute on the assistant's bus, make and revoke
//! a token; every page checked with axe-core and photographed at phone and desktop widths.

use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::{
    Browser, BrowserOptions, BusTap, Snapclient, Snapserver, TestServer, serious_violations,
};
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
            // The first speaker, at 40 % since its slider moved, is heard quieter than the
            // second at 100 %: the snapclient applied the volume.
            assert!(peaks[0] * 4 < peaks[1] * 3, "{peaks:?}");
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

    // Renamed, it stays trained; its speech model is built, live too.
    browser
        .execute(
            "document.getElementById(arguments[0]).value = 'Home (kitchen)';",
            serde_json::json!([format!("title-{id}")]),
        )
        .await;
    browser.click(&format!("#rename-{id}")).await;
    browser.wait_for_text("#status", "Renamed", WAIT).await;
    browser
        .wait_for_text("#parse-assistant", "Home (kitchen)", WAIT)
        .await;
    assert_eq!(browser.text(&format!("#training-{id}")).await, "trained");
    browser.click(&format!("#asr-build-{id}")).await;
    browser
        .wait_for_text(&format!("#asr-{id}"), "built", Duration::from_secs(120))
        .await;
    check_page(&browser, "assistants").await;
    browser.close().await;
}

/// One take in its own browser (the fake microphone plays one file): sign in, open the Voices
/// page, create an account first if asked, record for a while and stop; the take's verdict.
async fn take(server: &TestServer, wav: &Path, new_account: bool) -> (Browser, String) {
    let browser = Browser::start_with(BrowserOptions {
        fake_audio_capture: Some(wav.to_path_buf()),
        ..BrowserOptions::default()
    })
    .await;
    sign_in(&browser, server, "ana", "ana-password-1").await;
    browser.goto(&server.url("/console/voices")).await;
    browser.wait_for_text("#live", "connected", WAIT).await;
    if new_account {
        browser.click("#account-form summary").await;
        browser.click("#account-form button[type=submit]").await;
        browser.wait_for("#account option", WAIT).await;
    }
    browser.wait_for("#record:enabled", WAIT).await;
    browser.click("#record").await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    browser.click("#stop-recording").await;
    browser.wait_for("#takes li[data-verdict]", WAIT).await;
    let verdict = browser.text("#takes li").await;
    (browser, verdict)
}

#[tokio::test]
async fn the_voices_page_records_takes_from_the_microphone_tries_a_voice_and_builds() {
    let server = TestServer::start_with(|c| c.voices.min_build_recordings = 2).await;
    server.add_user("ana", "ana-password-1").await;
    let dir = tempfile::tempdir().unwrap();
    let wavs: Vec<PathBuf> = [
        ("one.wav", "The birch canoe slid on the smooth planks.", 0.0),
        (
            "two.wav",
            "Glue the sheet to the dark blue background.",
            0.0,
        ),
        ("loud.wav", "It is easy to tell the depth of a well.", 14.0),
    ]
    .iter()
    .map(|(name, text, gain)| {
        let path = dir.path().join(name);
        std::fs::write(&path, crate::voices::recording(text, 50, *gain)).unwrap();
        path
    })
    .collect();

    // Three takes: OK, OK, too loud; two sentences count.
    let (browser, first) = take(&server, &wavs[0], true).await;
    assert!(first.ends_with(": OK"), "{first}");
    browser.wait_for_text("#recorded", "1", WAIT).await;
    browser.close().await;
    let (browser, second) = take(&server, &wavs[1], false).await;
    assert!(second.ends_with(": OK"), "{second}");
    browser.close().await;
    let (browser, third) = take(&server, &wavs[2], false).await;
    assert!(third.ends_with(": too loud"), "{third}");
    assert_eq!(browser.text("#recorded").await, "2");

    // Try a voice at a higher pitch: the page plays what the server spoke.
    browser.set_range("#try-pitch", "1.5").await;
    assert_eq!(browser.text("#try-pitch-value").await, "1.5");
    browser.click("#try-form button[type=submit]").await;
    let duration = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const audio = document.getElementById('try-audio');
             const check = () => audio.duration > 0 ? done(audio.duration) : setTimeout(check, 100);
             check();",
            serde_json::json!([]),
        )
        .await;
    assert!(duration.as_f64().unwrap() > 0.5, "{duration}");

    // A build from the two good takes: PENDING, then COMPLETE, live.
    browser.click("#build").await;
    browser.wait_for_text("#builds", "PENDING", WAIT).await;
    browser
        .wait_for_text("#builds", "COMPLETE", Duration::from_secs(120))
        .await;
    browser
        .wait_for_text("#voices", "Download licence", WAIT)
        .await;
    check_page(&browser, "voices").await;
    browser.close().await;
}

#[tokio::test]
async fn the_assistant_page_speaks_mutes_and_logs_the_bus_live() {
    let setup = crate::ovos::setup().await;
    let tap = BusTap::connect(setup.bus.port).await;
    let browser = Browser::start().await;
    sign_in(&browser, &setup.server, "ovos", "change-me-please").await;
    browser.goto(&setup.server.url("/console/assistant")).await;
    browser.wait_for_text("#live", "connected", WAIT).await;
    browser.wait_for_text("#bus", "connected", WAIT).await;

    let mark = tap.mark();
    browser.fill("#speak-text", "The kettle has boiled.").await;
    browser.click("#speak-form button[type=submit]").await;
    tap.wait_for(mark, "speak", |f| {
        f["data"]["utterance"] == "The kettle has boiled."
    })
    .await;
    browser
        .wait_for_text("#log", "The kettle has boiled.", WAIT)
        .await;
    browser.click("#mute").await;
    tap.wait_for(mark, "mycroft.mic.mute", |_| true).await;
    browser.wait_for_text("#mic", "muted", WAIT).await;
    browser.fill("#utterance-text", "what time is it").await;
    browser.click("#utterance-form button[type=submit]").await;
    tap.wait_for(mark, "recognizer_loop:utterance", |f| {
        f["data"]["utterances"][0] == "what time is it"
    })
    .await;
    assert_eq!(browser.text("#speak-error").await, "");
    check_page(&browser, "assistant").await;
    browser.close().await;
}

#[tokio::test]
async fn the_account_page_makes_a_token_once_and_revokes_it() {
    let server = TestServer::start().await;
    server.add_user("ana", "ana-password-1").await;
    let browser = Browser::start().await;
    sign_in(&browser, &server, "ana", "ana-password-1").await;
    browser.goto(&server.url("/console/account")).await;
    browser
        .wait_for_text("#tokens", "No named tokens", WAIT)
        .await;
    browser.fill("#token-alias", "kitchen").await;
    browser.fill("#token-scopes", "speakers").await;
    browser.click("#token-form button[type=submit]").await;
    let token = browser.wait_for_text("#token-value", "vgt_", WAIT).await;
    browser.wait_for_text("#tokens", "kitchen", WAIT).await;
    // The token shown works, with the scope asked for; the page's cookie is HttpOnly.
    let me: serde_json::Value = crate::support::client()
        .get(server.url("/v1/auth/me"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["scopes"], serde_json::json!(["speakers"]), "{me}");
    let cookies = browser.cookies().await;
    let session = cookies.iter().find(|c| c["name"] == "vg_session").unwrap();
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Strict");
    let script_sees = browser
        .execute("return document.cookie;", serde_json::json!([]))
        .await;
    assert!(!script_sees.as_str().unwrap().contains("vg_session"));
    // No administration for a user.
    assert_eq!(
        browser
            .execute(
                "return document.getElementById('admin').hidden;",
                serde_json::json!([])
            )
            .await,
        serde_json::json!(true)
    );
    check_page(&browser, "account").await;
    browser.click("#tokens button").await;
    browser
        .wait_for_text("#tokens", "No named tokens", WAIT)
        .await;
    let status = crate::support::client()
        .get(server.url("/v1/auth/me"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);

    // Signing out ends the session: the pages lead to the sign-in form again.
    browser.click(".signout button").await;
    browser.wait_for("#password", WAIT).await;
    browser.goto(&server.url("/console/account")).await;
    browser.wait_for("#password", WAIT).await;
    browser.close().await;
}
