//! Every route in one place, with its OpenAPI declaration, and the layers around them.
//!
//! Routes come in groups; a group declares the error dialect its contract answers in and the
//! largest body its routes read (the signature check and the extractors both keep to it).

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::events::routes as events;
use crate::http::dialect::Dialect;
use crate::http::error::in_dialect;
use crate::http::signature::{self, SignatureCheck};
use crate::http::{health, limits, openapi::ApiDoc, request_id};
use crate::identity::consent_routes as consent;
use crate::identity::console_routes as console;
use crate::identity::oauth_routes as oauth;
use crate::identity::routes as auth;
use crate::ovos::routes as ovos;
use crate::state::AppState;
use crate::voices::delivery_routes as delivery;
use crate::voices::routes as voices;

/// A group of routes with its error dialect and body limit.
fn group(
    routes: OpenApiRouter<AppState>,
    state: &AppState,
    dialect: Dialect,
    body_limit: usize,
) -> OpenApiRouter<AppState> {
    let check = SignatureCheck {
        state: state.clone(),
        body_limit,
    };
    let routes = routes
        .layer(middleware::from_fn_with_state(
            check,
            signature::verify_signed_requests,
        ))
        .layer(DefaultBodyLimit::max(body_limit));
    match dialect {
        Dialect::Plain => routes,
        other => routes.layer(middleware::map_response_with_state(other, in_dialect)),
    }
}

/// The API routes and the OpenAPI document they make.
pub fn api(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let json_limit = state.config.http.json_body_limit;
    let upload_limit = state.config.voices.max_upload_bytes;
    let uploads = OpenApiRouter::new().routes(routes!(voices::save_recording));
    let oauth = OpenApiRouter::new()
        .routes(routes!(oauth::oauth_token))
        .routes(routes!(oauth::vocalid_token))
        .routes(routes!(oauth::oauth_revoke))
        .routes(routes!(oauth::vocalid_revoke))
        .routes(routes!(oauth::oauth_introspect))
        .routes(routes!(oauth::vocalid_introspect))
        .routes(routes!(oauth::metadata));
    let console = OpenApiRouter::new()
        .routes(routes!(console::console_login))
        .routes(routes!(console::create_alias))
        .routes(routes!(console::logout, console::revoke_alias));
    let plain = OpenApiRouter::new()
        .routes(routes!(auth::tokens))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::me))
        .routes(routes!(auth::user_info))
        .routes(routes!(
            consent::authorize_page,
            consent::authorize_decision
        ))
        .routes(routes!(ovos::ping))
        .routes(routes!(ovos::info))
        .routes(routes!(ovos::config))
        .routes(routes!(ovos::sleep, ovos::is_awake))
        .routes(routes!(ovos::wakeup))
        .routes(routes!(ovos::clear_cache))
        .routes(routes!(ovos::internet))
        .routes(routes!(ovos::websocket))
        .routes(routes!(ovos::skills))
        .routes(routes!(ovos::skill_settings))
        .routes(routes!(ovos::activate_skill))
        .routes(routes!(ovos::deactivate_skill))
        .routes(routes!(ovos::speak, ovos::stop))
        .routes(routes!(ovos::mute))
        .routes(routes!(ovos::unmute))
        .routes(routes!(ovos::microphone))
        .routes(routes!(ovos::listen))
        .routes(routes!(ovos::utterance))
        .routes(routes!(ovos::volume, ovos::set_volume))
        .routes(routes!(voices::register_account))
        .routes(routes!(voices::account_info))
        .routes(routes!(voices::new_build))
        .routes(routes!(voices::build_status))
        .routes(routes!(voices::list_voices))
        .routes(routes!(delivery::synthesis))
        .routes(routes!(delivery::register_device))
        .routes(routes!(delivery::download_voice))
        .routes(routes!(delivery::licence))
        .routes(routes!(delivery::licence_key))
        .routes(routes!(events::events))
        .routes(routes!(health::health));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(group(uploads, state, Dialect::Plain, upload_limit))
        .merge(group(oauth, state, Dialect::OAuth, json_limit))
        .merge(group(console, state, Dialect::SnipsConsole, json_limit))
        .merge(group(plain, state, Dialect::Plain, json_limit))
        .split_for_parts()
}

/// The OpenAPI document the server serves at `/openapi.json`.
pub fn openapi(state: &AppState) -> utoipa::openapi::OpenApi {
    let (_, mut document) = api(state);
    document.info.version = env!("CARGO_PKG_VERSION").to_string();
    document
}

/// The whole application: API routes, `/openapi.json`, `/docs`, limits, request ids and JSON
/// errors.
pub fn build(state: AppState) -> Router {
    let (api, mut document) = api(&state);
    document.info.version = env!("CARGO_PKG_VERSION").to_string();
    let timeout = Duration::from_secs(state.config.http.request_timeout_secs);
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .layer(middleware::from_fn_with_state(
            timeout,
            limits::request_timeout,
        ))
        .layer(middleware::from_fn(limits::json_errors))
        .layer(middleware::from_fn(request_id::request_id))
        .with_state(state)
}
