//! `/oauth/authorize`: the consent page. GET checks the request and shows the client, its scopes
//! and a login form (server-rendered, no external assets, a CSRF token in a SameSite cookie and in
//! the form); POST checks the token and the user, then redirects with a code and the exact state.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::http::cookies::cookie_value;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiQuery, ClientIp};
use crate::http::html::escape;
use crate::identity::authorize::{Authorization, AuthorizeError, redirect_with};
use crate::identity::error::IdentityError;
use crate::identity::oauth_routes::OAuthForm;
use crate::ids::new_id;
use crate::state::AppState;

const CSRF_COOKIE: &str = "vg_csrf";

/// The request parameters that travel from the page to its form.
const CARRIED: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} · voicegate</title><style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}\
         label{{display:block;margin:.6rem 0}}input{{width:100%;padding:.4rem;box-sizing:border-box}}\
         button{{padding:.5rem 1rem;margin-right:.5rem}}.error{{color:#a00}}</style></head><body>{body}</body></html>",
        title = escape(title)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    response
}

fn error_page(text: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Authorization error",
        &format!(
            "<h1>Authorization error</h1><p class=\"error\">{}</p>",
            escape(text)
        ),
    )
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(LOCATION, value);
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => error_page("the redirect URI cannot be used"),
    }
}

fn refuse(error: AuthorizeError) -> Response {
    match error {
        AuthorizeError::Page(text) => error_page(&text),
        AuthorizeError::Redirect {
            redirect_uri,
            error,
            description,
            state,
        } => {
            let mut params = vec![
                ("error", error),
                ("error_description", description.as_str()),
            ];
            if let Some(state) = &state {
                params.push(("state", state));
            }
            redirect(&redirect_with(&redirect_uri, &params))
        }
    }
}

fn consent_page(
    status: StatusCode,
    authorization: &Authorization,
    params: &HashMap<String, String>,
    csrf: &str,
    message: Option<&str>,
) -> Response {
    let hidden: String = CARRIED
        .iter()
        .filter_map(|name| params.get(*name).map(|value| (name, value)))
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            )
        })
        .collect();
    let scopes: String = authorization
        .scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", escape(s.as_str())))
        .collect();
    let message = message.map_or(String::new(), |m| {
        format!("<p class=\"error\" id=\"error\">{}</p>", escape(m))
    });
    let body = format!(
        "<h1>Allow {client}?</h1><p><strong>{client}</strong> asks to act for you with these scopes:</p><ul>{scopes}</ul>{message}\
         <form method=\"post\" action=\"/oauth/authorize\">{hidden}<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>User <input name=\"username\" id=\"username\" autocomplete=\"username\" required></label>\
         <label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\" formnovalidate>Deny</button></form>",
        client = escape(&authorization.client_name),
    );
    page(status, "Authorize", &body)
}

/// Shows the consent page for a valid authorization request; a bad client or redirect URI is an
/// error page, anything else is redirected to the client with `error` and `state`.
#[utoipa::path(get, path = "/oauth/authorize", tag = "oauth",
    params(("response_type" = String, Query, description = "code"), ("client_id" = String, Query), ("redirect_uri" = String, Query),
           ("scope" = Option<String>, Query), ("state" = Option<String>, Query),
           ("code_challenge" = Option<String>, Query, description = "required unless the client was registered with `--pkce optional`"),
           ("code_challenge_method" = Option<String>, Query, description = "S256, with code_challenge")),
    responses((status = 200, description = "The consent page", content_type = "text/html"),
              (status = 303, description = "Redirect to the client with error and state"),
              (status = 400, description = "Error page: unknown client or redirect URI", content_type = "text/html")))]
pub async fn authorize_page(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<HashMap<String, String>>,
) -> Response {
    let authorization = match state.identity.check_authorization(&params).await {
        Ok(authorization) => authorization,
        Err(error) => return refuse(error),
    };
    let csrf = new_id();
    let mut response = consent_page(StatusCode::OK, &authorization, &params, &csrf, None);
    let cookie = format!("{CSRF_COOKIE}={csrf}; Path=/oauth/authorize; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

fn csrf_cookie(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, CSRF_COOKIE).map(str::to_string)
}

/// The consent form: approve (with the user's credentials) redirects with a code and the exact
/// state; deny redirects with `access_denied`.
#[utoipa::path(extensions(("x-credential" = json!("password"))), post, path = "/oauth/authorize", tag = "oauth",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "the request's parameters, csrf, username, password, decision"),
    responses((status = 303, description = "Redirect to the client with code (or error) and state"),
              (status = 400, description = "Error page; a body that is not a form: a JSON error",
               content((String = "text/html"), (ErrorBody = "application/json"))),
              (status = 401, description = "The consent page again, with an error", content_type = "text/html")))]
pub async fn authorize_decision(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Response {
    let authorization = match state.identity.check_authorization(&form).await {
        Ok(authorization) => authorization,
        Err(error) => return refuse(error),
    };
    let sent = form.get("csrf").map(String::as_str).unwrap_or("");
    let cookie = csrf_cookie(&headers).unwrap_or_default();
    if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(cookie.as_bytes())) {
        return error_page(
            "the form has expired or did not come from this server: start again from the application",
        );
    }
    let with_state = |mut params: Vec<(&'static str, String)>| {
        if let Some(state) = &authorization.state {
            params.push(("state", state.clone()));
        }
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        redirect(&redirect_with(&authorization.redirect_uri, &pairs))
    };
    if form.get("decision").map(String::as_str) != Some("approve") {
        return with_state(vec![
            ("error", "access_denied".into()),
            ("error_description", "the user denied the request".into()),
        ]);
    }
    let username = form.get("username").map(String::as_str).unwrap_or("");
    let password = form.get("password").map(String::as_str).unwrap_or("");
    match state
        .identity
        .approve_authorization(ip, &authorization, username, password)
        .await
    {
        Ok(code) => with_state(vec![("code", code)]),
        Err(IdentityError::InvalidCredentials | IdentityError::Validation(_)) => consent_page(
            StatusCode::UNAUTHORIZED,
            &authorization,
            &form,
            sent,
            Some("Invalid user or password."),
        ),
        Err(IdentityError::InsufficientScope(_)) => with_state(vec![
            ("error", "invalid_scope".into()),
            (
                "error_description",
                "your role grants none of these scopes".into(),
            ),
        ]),
        Err(other) => ApiError::from(other).into_response(),
    }
}
