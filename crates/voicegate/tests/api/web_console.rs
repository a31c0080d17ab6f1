//! The web console over HTTP, as a browser and a hostile page would use it: sign-in with its
//! form token, the session cookie's attributes, the CSRF token every API call with the cookie
//! must carry, sign-out, idle and absolute expiry, the pages' headers and hashed assets.

use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode, redirect};
use serde_json::Value;
use testkit::TestServer;
use voicegate::config::SecureCookie;
use voicegate::web::layout::CONTENT_SECURITY_POLICY;

const FORM: &str = "application/x-www-form-urlencoded";

/// A client that does not follow redirects nor keep cookies: the test sees every step.
fn raw() -> Client {
    voicegate::install_tls_provider();
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of `name="…" value="…"` in a form, or of a meta element's content.
fn attribute_after(html: &str, marker: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// The `name=value` pair of the Set-Cookie header setting `name`, and the whole header.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|header| (header.split(';').next().unwrap().to_string(), header))
}

/// A browser's sign-in: the form (its token in a cookie and a hidden field), then the post.
async fn post_sign_in(server: &TestServer, user: &str, password: &str) -> reqwest::Response {
    let form = raw()
        .get(server.url("/console/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let (login_cookie, header) = set_cookie(&form, "vg_login").expect("a login cookie");
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Strict"));
    let html = form.text().await.unwrap();
    let csrf = attribute_after(&html, "name=\"csrf\" value=\"");
    raw()
        .post(server.url("/console/sign-in"))
        .header(COOKIE, login_cookie)
        .header(CONTENT_TYPE, FORM)
        .body(
            serde_urlencoded::to_string([
                ("csrf", csrf.as_str()),
                ("user", user),
                ("password", password),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap()
}

/// Signs in: the session cookie (`vg_session=…`) and the page's CSRF token.
async fn sign_in(server: &TestServer, user: &str, password: &str) -> (String, String) {
    let response = post_sign_in(server, user, password).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (cookie, _) = set_cookie(&response, "vg_session").expect("a session cookie");
    let page = raw()
        .get(server.url("/console/assistants"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = attribute_after(
        &page.text().await.unwrap(),
        "name=\"csrf-token\" content=\"",
    );
    (cookie, csrf)
}

/// `GET /v3/assistant` with the cookie and, if given, a CSRF header: the status and body.
async fn list_with(server: &TestServer, cookie: &str, csrf: Option<&str>) -> (StatusCode, Value) {
    let mut request = raw()
        .get(server.url("/v3/assistant"))
        .header(COOKIE, cookie);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The status of a session's `GET /v3/assistant` (with its CSRF token).
async fn status_of(server: &TestServer, session: &(String, String)) -> StatusCode {
    list_with(server, &session.0, Some(&session.1)).await.0
}

#[tokio::test]
async fn pages_need_a_session_and_carry_a_strict_policy_and_hashed_assets() {
    let server = TestServer::start().await;
    server.add_user("ana", "ana-password-1").await;

    // Without a session: to the sign-in page, which remembers where to go.
    for (path, to) in [
        ("/", "/console/sign-in"),
        ("/console/", "/console/sign-in"),
        (
            "/console/speakers",
            "/console/sign-in?next=/console/speakers",
        ),
    ] {
        let response = raw().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()[LOCATION], to, "{path}");
    }

    let response = post_sign_in(&server, "ana", "ana-password-1").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/");
    let (cookie, header) = set_cookie(&response, "vg_session").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
        assert!(header.contains(attribute), "{header} lacks {attribute}");
    }
    assert!(
        !header.contains("Secure"),
        "plain HTTP by default: {header}"
    );
    let token = cookie.trim_start_matches("vg_session=");
    let home = raw()
        .get(server.url("/console/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.headers()[LOCATION], "/console/speakers");

    let page = raw()
        .get(server.url("/console/speakers"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    let html = page.text().await.unwrap();
    // The user's name is shown; the session token is never in the page.
    assert!(html.contains("<span class=\"who\">ana</span>"), "{html}");
    assert!(!html.contains(token));
    // Both pages in the navigation, the current one marked.
    assert!(html.contains("<a href=\"/console/speakers\" aria-current=\"page\">Speakers</a>"));
    assert!(html.contains("<a href=\"/console/assistants\">Assistants</a>"));
    // No inline script: every script element has a src.
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert_eq!(scripts.len(), 2, "{html}");
    assert!(
        scripts
            .iter()
            .all(|s| s.trim_start().starts_with("src=\"/console/assets/"))
    );

    // The assets: hashed names, kept for a year; another hash is not found.
    let mut urls: Vec<String> = html
        .split("\"/console/assets/")
        .skip(1)
        .map(|rest| format!("/console/assets/{}", rest.split('"').next().unwrap()))
        .collect();
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 3, "{urls:?}");
    for url in &urls {
        let asset = raw().get(server.url(url)).send().await.unwrap();
        assert_eq!(asset.status(), StatusCode::OK, "{url}");
        assert_eq!(
            asset.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let kind = asset.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
        assert!(
            (url.ends_with(".js") && kind.starts_with("text/javascript"))
                || (url.ends_with(".css") && kind.starts_with("text/css")),
            "{url}: {kind}"
        );
        assert!(!asset.bytes().await.unwrap().is_empty());
    }
    let stale = raw()
        .get(server.url("/console/assets/common.0123456789.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_api_takes_the_cookie_only_with_its_csrf_token() {
    let server = TestServer::start().await;
    server.add_user("ana", "ana-password-1").await;
    server.add_user("bob", "bob-password-1").await;
    let (cookie, csrf) = sign_in(&server, "ana", "ana-password-1").await;
    let (_, bob_csrf) = sign_in(&server, "bob", "bob-password-1").await;

    // A cross-site request carries the cookie but cannot know the token.
    let (status, body) = list_with(&server, &cookie, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_failed")),
        "{body}"
    );
    let (status, _) = list_with(&server, &cookie, Some("not-the-token")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = list_with(&server, &cookie, Some(&bob_csrf)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = list_with(&server, &cookie, Some(&csrf)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["assistants"], serde_json::json!([]));
    // A state-changing call is refused the same way, and takes effect with the token.
    let create = |csrf: Option<String>| {
        let mut request = raw()
            .post(server.url("/v3/assistant"))
            .header(COOKIE, &cookie)
            .json(&serde_json::json!({"dataset": crate::assistants::home_dataset()}));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    assert_eq!(create(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        create(Some(csrf.clone())).await.unwrap().status(),
        StatusCode::CREATED
    );
    let (_, body) = list_with(&server, &cookie, Some(&csrf)).await;
    assert_eq!(body["assistants"].as_array().unwrap().len(), 1);

    // A bearer token wins over the cookie (and needs no CSRF token).
    let (access, _) = crate::support::tokens(&server, "bob", "bob-password-1").await;
    let response = raw()
        .get(server.url("/v3/assistant"))
        .header(COOKIE, &cookie)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["assistants"], serde_json::json!([]), "bob's list");

    // The sign-in form posted without its own cookie (from another page): no session.
    let response = raw()
        .post(server.url("/console/sign-in"))
        .header(CONTENT_TYPE, FORM)
        .body(
            serde_urlencoded::to_string([
                ("csrf", "guess"),
                ("user", "ana"),
                ("password", "ana-password-1"),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&response, "vg_session").is_none());
    // A wrong password: the form again, with the reason in words.
    let response = post_sign_in(&server, "ana", "wrong-password").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&response, "vg_session").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("Wrong user name or password."), "{html}");
}

#[tokio::test]
async fn sessions_end_at_sign_out_idle_time_lifetime_password_change_and_quota() {
    let server = TestServer::start_with(|config| {
        config.web.session_idle_secs = 120;
        config.web.session_max_secs = 400;
        config.web.max_sessions_per_user = 2;
        config.web.secure_cookie = SecureCookie::Always;
    })
    .await;
    server.add_user("ana", "ana-password-1").await;
    let response = post_sign_in(&server, "ana", "ana-password-1").await;
    let (_, header) = set_cookie(&response, "vg_session").unwrap();
    assert!(header.contains("; Secure"), "{header}");

    // Sign-out needs the page's token; a forged form leaves the session open.
    let (cookie, csrf) = sign_in(&server, "ana", "ana-password-1").await;
    let forged = raw()
        .post(server.url("/console/sign-out"))
        .header(COOKIE, &cookie)
        .header(CONTENT_TYPE, FORM)
        .body(serde_urlencoded::to_string([("csrf", "forged")]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        list_with(&server, &cookie, Some(&csrf)).await.0,
        StatusCode::OK
    );
    // The page's live events stream ends with the session.
    let mut events = raw()
        .get(server.url("/v1/events"))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let out = raw()
        .post(server.url("/console/sign-out"))
        .header(COOKIE, &cookie)
        .header(CONTENT_TYPE, FORM)
        .body(serde_urlencoded::to_string([("csrf", csrf.as_str())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = events.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the events stream outlived its session");
    let (_, cleared) = set_cookie(&out, "vg_session").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        list_with(&server, &cookie, Some(&csrf)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let page = raw()
        .get(server.url("/console/assistants"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);

    // Idle time: use within 120 s keeps it; 120 s unused ends it. Lifetime: used every 100 s,
    // it still ends 400 s after sign-in.
    let (ok, gone) = (StatusCode::OK, StatusCode::UNAUTHORIZED);
    let idle = [(100, ok), (100, ok), (121, gone)];
    let lifetime = [(100, ok), (100, ok), (100, ok), (100, gone)];
    for steps in [&idle[..], &lifetime[..]] {
        let session = sign_in(&server, "ana", "ana-password-1").await;
        for (i, (seconds, expected)) in steps.iter().enumerate() {
            server.clock.advance(*seconds);
            assert_eq!(status_of(&server, &session).await, *expected, "step {i}");
        }
    }

    // At most two sessions: a third sign-in ends the oldest.
    let first = sign_in(&server, "ana", "ana-password-1").await;
    let second = sign_in(&server, "ana", "ana-password-1").await;
    let third = sign_in(&server, "ana", "ana-password-1").await;
    assert_eq!(status_of(&server, &first).await, gone);
    for session in [&second, &third] {
        assert_eq!(status_of(&server, session).await, ok);
    }

    // A password change (a moment later) ends every session.
    server.clock.advance(1);
    server
        .state
        .identity
        .set_password("ana", "ana-password-2")
        .await
        .unwrap();
    for session in [&second, &third] {
        assert_eq!(status_of(&server, session).await, gone);
    }
}
