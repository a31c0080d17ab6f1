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

/// The API routes and the OpenAPI document they make.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
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
        .routes(routes!(events::events))
        .routes(routes!(health::health))
        .split_for_parts()
}

/// The whole application: API routes, `/openapi.json`, `/docs`, limits and JSON errors.
pub fn build(state: AppState) -> Router {
    let (api, mut document) = api();
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
