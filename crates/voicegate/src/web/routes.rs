//! The console's routes: `/` and `/console/` lead to the first page the user may see, sign-in
//! and sign-out, the pages, and the embedded assets. The pages call the API with the session
//! cookie and the page's CSRF token.

use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use subtle::ConstantTimeEq;

use crate::config::{SecureCookie, WebConfig};
use crate::http::auth::SESSION_COOKIE;
use crate::http::cookies::cookie_value;
use crate::http::extract::ClientIp;
use crate::identity::web_sessions::{csrf_matches, csrf_token};
use crate::identity::{IdentityError, Principal};
use crate::ids::new_id;
use crate::state::AppState;
use crate::web::layout::{self, Page};
use crate::web::{assets, pages};

/// The cookie holding the sign-in form's CSRF token (before there is a session).
const LOGIN_COOKIE: &str = "vg_login";

/// The console's routes (none when `web.enabled` is false).
pub fn router(web: &WebConfig) -> Router<AppState> {
    if !web.enabled {
        return Router::new();
    }
    let mut router = Router::new()
        .route("/", get(home))
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/assets/{file}", get(asset));
    for page in Page::ALL {
        router = router.route(page.path(), get(show_page));
    }
    router
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    layout::page_headers(response.headers_mut());
    response
}

fn secure(state: &AppState) -> bool {
    match state.config.web.secure_cookie {
        SecureCookie::Always => true,
        SecureCookie::Never => false,
        SecureCookie::Auto => state.config.public_url().starts_with("https://"),
    }
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// The signed-in principal and session token of a page request, if its cookie is good.
async fn session(state: &AppState, headers: &HeaderMap) -> Option<(Principal, String)> {
    let token = cookie_value(headers, SESSION_COOKIE)?;
    let principal = state
        .identity
        .authenticate_web(token, &state.config.web)
        .await
        .ok()?;
    Some((principal, token.to_string()))
}

fn first_page(principal: &Principal) -> Option<Page> {
    Page::ALL.into_iter().find(|page| page.allows(principal))
}

/// `/`, `/console/`: the first page the user may see, or the sign-in page.
async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session(&state, &headers).await {
        Some((principal, _)) => match first_page(&principal) {
            Some(page) => see_other(page.path()),
            None => pages::notice(
                StatusCode::FORBIDDEN,
                "Nothing to show",
                "Your account may use none of the console's pages.",
            ),
        },
        None => see_other("/console/sign-in"),
    }
}

/// The sign-in form, with a fresh login CSRF token in a cookie and in the form.
fn sign_in_form(
    state: &AppState,
    status: StatusCode,
    next: Option<Page>,
    error: Option<&str>,
) -> Response {
    let csrf = new_id();
    let mut response = pages::sign_in(status, &csrf, next, error);
    let secure = if secure(state) { "; Secure" } else { "" };
    set_cookie(
        &mut response,
        &format!("{LOGIN_COOKIE}={csrf}; Path=/console/sign-in; HttpOnly; SameSite=Strict{secure}"),
    );
    response
}

async fn sign_in_page(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let next = query.get("next").and_then(|path| Page::at(path));
    sign_in_form(&state, StatusCode::OK, next, None)
}

/// Checks the login CSRF token, the user and the password; opens a session and sends the
/// browser on with the session cookie.
async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return sign_in_form(
            &state,
            StatusCode::BAD_REQUEST,
            None,
            Some("The sign-in form could not be read; please try again."),
        );
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let next = Page::at(field("next"));
    let expected = cookie_value(&headers, LOGIN_COOKIE).unwrap_or_default();
    let presented = field("csrf");
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        return sign_in_form(
            &state,
            StatusCode::FORBIDDEN,
            next,
            Some("The form expired or came from another page; please sign in again."),
        );
    }
    let opened = state
        .identity
        .sign_in_web(ip, field("user"), field("password"), &state.config.web)
        .await;
    let session = match opened {
        Ok(session) => session,
        Err(e) => {
            let (status, text) = match e {
                IdentityError::InvalidCredentials => (
                    StatusCode::UNAUTHORIZED,
                    "Wrong user name or password.".to_string(),
                ),
                IdentityError::Validation(_) => (
                    StatusCode::BAD_REQUEST,
                    "Enter your user name and password.".to_string(),
                ),
                IdentityError::RateLimited { retry_after } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Too many attempts; try again in {retry_after} seconds."),
                ),
                other => {
                    tracing::warn!(error = %other, "console sign-in failed");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The server cannot sign you in right now; try again soon.".to_string(),
                    )
                }
            };
            return sign_in_form(&state, status, next, Some(&text));
        }
    };
    let mut response = see_other(next.map_or("/console/", Page::path));
    let secure = if secure(&state) { "; Secure" } else { "" };
    set_cookie(
        &mut response,
        &format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max}{secure}",
            token = session.token.expose(),
            max = state.config.web.session_max_secs,
        ),
    );
    set_cookie(
        &mut response,
        &format!("{LOGIN_COOKIE}=; Path=/console/sign-in; Max-Age=0; HttpOnly; SameSite=Strict"),
    );
    response
}

/// Ends the session named by the cookie, when the form carries its CSRF token.
async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let presented = form
        .ok()
        .and_then(|Form(form)| form.get("csrf").cloned())
        .unwrap_or_default();
    let Some(token) = cookie_value(&headers, SESSION_COOKIE) else {
        return see_other("/console/sign-in");
    };
    if !csrf_matches(token, &presented) {
        return pages::notice(
            StatusCode::FORBIDDEN,
            "Not signed out",
            "The sign-out form came from another page.",
        );
    }
    if let Err(e) = state.identity.sign_out_web(token).await {
        tracing::warn!(error = %e, "console sign-out failed");
        return pages::notice(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not signed out",
            "The server could not end the session; try again soon.",
        );
    }
    let mut response = see_other("/console/sign-in");
    set_cookie(
        &mut response,
        &format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"),
    );
    response
}

/// A console page, for a signed-in user whose scopes allow it.
async fn show_page(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let Some(page) = Page::at(uri.path()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some((principal, token)) = session(&state, &headers).await else {
        return see_other(&format!("/console/sign-in?next={}", page.path()));
    };
    if let Some(scope) = page.scope().filter(|_| !page.allows(&principal)) {
        return pages::notice(
            StatusCode::FORBIDDEN,
            page.label(),
            &format!("Your account may not use this page (it needs the {scope} scope)."),
        );
    }
    layout::signed_in(page, &principal, &csrf_token(&token), pages::main_of(page))
}

async fn asset(Path(file): Path<String>) -> Response {
    assets::serve(&file).unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
}
