//! Every route in one place, with its OpenAPI declaration, and the layers around them.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;
use crate::http::{health, limits, openapi::ApiDoc, signature};
use crate::identity::consent_routes as consent;
use crate::identity::console_routes as console;
use crate::identity::oauth_routes as oauth;
use crate::identity::routes as auth;
use crate::ovos::events;
use crate::ovos::routes as ovos;
use crate::voices::routes as voices;

/// The API routes and the OpenAPI document they make.
pub fn api(upload_limit: usize) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    // The recording upload carries audio: its own, larger, body limit.
    let uploads = OpenApiRouter::new()
        .routes(routes!(voices::save_recording))
        .layer(DefaultBodyLimit::max(upload_limit));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(uploads)
        .routes(routes!(auth::tokens))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::me))
        .routes(routes!(auth::user_info))
        .routes(routes!(oauth::oauth_token))
        .routes(routes!(oauth::vocalid_token))
        .routes(routes!(oauth::oauth_revoke))
        .routes(routes!(oauth::vocalid_revoke))
        .routes(routes!(oauth::oauth_introspect))
        .routes(routes!(oauth::vocalid_introspect))
        .routes(routes!(oauth::metadata))
        .routes(routes!(
            consent::authorize_page,
            consent::authorize_decision
        ))
        .routes(routes!(console::console_login))
        .routes(routes!(console::create_alias))
        .routes(routes!(console::logout, console::revoke_alias))
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
        .routes(routes!(voices::synthesis))
        .routes(routes!(voices::register_device))
        .routes(routes!(voices::download_voice))
        .routes(routes!(voices::licence))
        .routes(routes!(voices::licence_key))
        .routes(routes!(events::events))
        .routes(routes!(health::health))
        .split_for_parts()
}

/// The whole application: API routes, `/openapi.json`, `/docs`, limits and JSON errors.
pub fn build(state: AppState) -> Router {
    let (api, mut document) = api(state.config.voices.max_upload_bytes);
    document.info.version = env!("CARGO_PKG_VERSION").to_string();
    let http = &state.config.http;
    let timeout = Duration::from_secs(http.request_timeout_secs);
    let body_limit = http.json_body_limit;
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            signature::verify_signed_requests,
        ))
        .layer(middleware::from_fn_with_state(
            timeout,
            limits::request_timeout,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(limits::json_errors))
        .with_state(state)
}
