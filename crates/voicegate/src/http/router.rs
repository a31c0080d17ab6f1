//! Every route in one place, with its OpenAPI declaration, and the layers around them.
//!
//! Routes come in groups; a group declares the error dialect its contract answers in and the
//! largest body its routes read (the signature check and the extractors both keep to it).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::assistants::asr_routes;
use crate::assistants::routes as assistants;
use crate::events::routes as events;
use crate::http::dialect::Dialect;
use crate::http::edge::EdgeSettings;
use crate::http::error::in_dialect;
use crate::http::openapi_answers::add_shared_answers;
use crate::http::peers;
use crate::http::signature::{self, SignatureCheck};
use crate::http::{edge, health, openapi::ApiDoc};
use crate::identity::account_routes as account;
use crate::identity::consent_routes as consent;
use crate::identity::console_routes as console;
use crate::identity::oauth_routes as oauth;
use crate::identity::routes as auth;
use crate::metrics::routes as metrics;
use crate::ovos::routes as ovos;
use crate::speakers::routes as speakers;
use crate::state::AppState;
use crate::voices::delivery_routes as delivery;
use crate::voices::routes as voices;

/// Which configured body limit a route group reads within.
#[derive(Debug, Clone, Copy)]
enum BodyLimit {
    /// `http.json_body_limit`.
    Json,
    /// `voices.max_upload_bytes`: recordings.
    Upload,
    /// `assistants.body_limit`: datasets.
    Assistants,
}

/// A group of routes: the error dialect its contract answers in and the body limit of its routes.
struct Group {
    routes: OpenApiRouter<AppState>,
    dialect: Dialect,
    body_limit: BodyLimit,
}

/// Every route, in its group.
fn groups() -> Vec<Group> {
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
    let assistants = OpenApiRouter::new()
        .routes(routes!(
            assistants::list_assistants,
            assistants::create_assistant
        ))
        .routes(routes!(
            assistants::replace_assistant,
            assistants::delete_assistant
        ))
        .routes(routes!(assistants::assistant_status))
        .routes(routes!(assistants::download_assistant))
        .routes(routes!(assistants::parse_text))
        .routes(routes!(assistants::start_training))
        .routes(routes!(asr_routes::start_language_model))
        .routes(routes!(asr_routes::language_model_status))
        .routes(routes!(asr_routes::recognize));
    let plain = OpenApiRouter::new()
        .routes(routes!(auth::tokens))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::me))
        .routes(routes!(account::list_tokens, account::create_token))
        .routes(routes!(account::revoke_token))
        .routes(routes!(account::list_api_keys, account::create_api_key))
        .routes(routes!(account::remove_api_key))
        .routes(routes!(account::list_users))
        .routes(routes!(account::list_clients))
        .routes(routes!(peers::peers))
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
        .routes(routes!(voices::list_accounts))
        .routes(routes!(voices::new_build))
        .routes(routes!(voices::build_status))
        .routes(routes!(voices::list_voices))
        .routes(routes!(delivery::synthesis))
        .routes(routes!(delivery::register_device))
        .routes(routes!(delivery::download_voice))
        .routes(routes!(delivery::licence))
        .routes(routes!(delivery::licence_key))
        .routes(routes!(events::events))
        .routes(routes!(health::health))
        .routes(routes!(metrics::metrics));
    let hk = OpenApiRouter::new()
        .routes(routes!(speakers::init_session))
        .routes(routes!(speakers::close_session))
        .routes(routes!(speakers::device_count))
        .routes(routes!(speakers::device_list))
        .routes(routes!(speakers::device_info))
        .routes(routes!(speakers::add_device_to_session))
        .routes(routes!(speakers::remove_device_from_session))
        .routes(routes!(speakers::set_party_mode))
        .routes(routes!(speakers::get_volume))
        .routes(routes!(speakers::get_volume_device))
        .routes(routes!(speakers::set_volume))
        .routes(routes!(speakers::set_volume_device))
        .routes(routes!(speakers::play_tts))
        .routes(routes!(speakers::play_tts_party_mode))
        .routes(routes!(speakers::play_tts_selected_speakers))
        .routes(routes!(speakers::media::media_list))
        .routes(routes!(speakers::media::play_hub_media))
        .routes(routes!(speakers::media::play_hub_media_party_mode))
        .routes(routes!(speakers::media::play_hub_media_selected_speakers))
        .routes(routes!(speakers::media::play_web_media))
        .routes(routes!(speakers::media::play_web_media_party_mode))
        .routes(routes!(speakers::media::play_web_media_selected_speakers))
        .routes(routes!(speakers::pause_play))
        .routes(routes!(speakers::resume_hub_media))
        .routes(routes!(speakers::resume_hub_media_party_mode))
        .routes(routes!(speakers::resume_hub_media_selected_speakers))
        .routes(routes!(speakers::stop_play))
        .routes(routes!(speakers::playback_status))
        .routes(routes!(speakers::is_playing));
    let group = |routes, dialect, body_limit| Group {
        routes,
        dialect,
        body_limit,
    };
    vec![
        group(uploads, Dialect::Plain, BodyLimit::Upload),
        group(oauth, Dialect::OAuth, BodyLimit::Json),
        group(console, Dialect::SnipsConsole, BodyLimit::Json),
        group(assistants, Dialect::SnipsConsole, BodyLimit::Assistants),
        group(hk, Dialect::HkOmni, BodyLimit::Json),
        group(plain, Dialect::Plain, BodyLimit::Json),
    ]
}

/// A group with its layers: its routes read bodies within its limit (the signature check too),
/// and answer errors in its dialect.
fn layered(group: Group, state: &AppState) -> OpenApiRouter<AppState> {
    let body_limit = match group.body_limit {
        BodyLimit::Json => state.config.http.json_body_limit,
        BodyLimit::Upload => state.config.voices.max_upload_bytes,
        BodyLimit::Assistants => state.config.assistants.body_limit,
    };
    let check = SignatureCheck {
        identity: state.identity.clone(),
        body_limit,
    };
    let routes = group
        .routes
        .layer(middleware::from_fn_with_state(
            check,
            signature::verify_signed_requests,
        ))
        .layer(DefaultBodyLimit::max(body_limit));
    match group.dialect {
        Dialect::Plain => routes,
        other => routes.layer(middleware::map_response_with_state(other, in_dialect)),
    }
}

/// The OpenAPI document of every route, as `/openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut all = OpenApiRouter::with_openapi(ApiDoc::openapi());
    for group in groups() {
        all = all.merge(group.routes);
    }
    let (_, mut document) = all.split_for_parts();
    finish(&mut document);
    document
}

/// The document's last touches: the version, and the error answers every route of a kind gives.
fn finish(document: &mut utoipa::openapi::OpenApi) {
    document.info.version = env!("CARGO_PKG_VERSION").to_string();
    add_shared_answers(document);
}

/// The whole application: API routes, `/openapi.json`, `/docs`, limits, request ids and JSON
/// errors.
pub fn build(state: AppState) -> Router {
    let mut all = OpenApiRouter::with_openapi(ApiDoc::openapi());
    for group in groups() {
        all = all.merge(layered(group, &state));
    }
    let (api, mut document) = all.split_for_parts();
    finish(&mut document);
    let settings = Arc::new(EdgeSettings {
        timeout: Duration::from_secs(state.config.http.request_timeout_secs),
        measures: state.metrics.as_ref().map(|metrics| metrics.http().clone()),
    });
    let console = crate::web::routes::router(&state.config.web);
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .merge(console)
        .layer(middleware::from_fn_with_state(settings, edge::edge))
        .with_state(state)
}
