//! ovos-api routes: system, network, skills and voice. Every route but ping needs an access token
//! with the `ovos` scope.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiQuery, OptionalJson, lenient_bool};
use crate::identity::scopes::OvosScope;
use crate::ovos::{SkillList, Speech, Volume};
use crate::state::AppState;

/// The ping answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pong {
    /// A table-tennis player, as the original ovos-api answers.
    pub pong: &'static str,
}

const PLAYERS: [&str; 6] = [
    "Jan-Ove Waldner",
    "Deng Yaping",
    "Ma Long",
    "Zhang Yining",
    "Timo Boll",
    "Ding Ning",
];

/// Tells that the API is up. No authentication.
#[utoipa::path(get, path = "/v1/network/ping", tag = "network",
    responses((status = 200, description = "The API is up", body = Pong)))]
pub async fn ping() -> Json<Pong> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let player = PLAYERS[NEXT.fetch_add(1, Ordering::Relaxed) % PLAYERS.len()];
    Json(Pong { pong: player })
}

/// `?sort=` of the information routes (answers are always sorted; the flag is accepted).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SortQuery {
    /// Sort keys alphabetically.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub sort: Option<bool>,
}

/// `?confirm=` of the sleep and wake-up routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConfirmQuery {
    /// Speak the dialog in the body after the change.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub confirm: Option<bool>,
}

/// `{"results": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Results {
    /// The answer.
    #[schema(value_type = Object)]
    pub results: Value,
}

/// Something to say, as a request body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SpeechRequest {
    /// The text.
    pub utterance: String,
    /// Language (default from `ovos.default_lang`).
    pub lang: Option<String>,
}

/// Utterances to inject as if spoken.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UtteranceRequest {
    /// One or more texts.
    pub utterances: Vec<String>,
    /// Language (default from `ovos.default_lang`).
    pub lang: Option<String>,
}

/// A cache to clear.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CacheRequest {
    /// `tts`.
    pub cache_type: String,
}

/// A volume to set.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VolumeRequest {
    /// 0 to 100.
    pub percent: f64,
}

/// Runs a fire-and-forget bus action and answers 204.
async fn no_content(
    action: impl Future<Output = Result<(), crate::ovos::OvosError>>,
) -> Result<StatusCode, ApiError> {
    action.await?;
    Ok(StatusCode::NO_CONTENT)
}

/// System information from the skill-rest-api companion skill.
#[utoipa::path(get, path = "/v1/system/info", tag = "system", params(SortQuery), security(("bearer" = ["ovos"])),
    responses((status = 200, body = Results), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn info(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
    ApiQuery(_sort): ApiQuery<SortQuery>,
) -> Result<Json<Results>, ApiError> {
    Ok(Json(Results {
        results: state.ovos.info().await?,
    }))
}

/// The assistant's configuration, every secret removed.
#[utoipa::path(get, path = "/v1/system/config", tag = "system", params(SortQuery), security(("bearer" = ["ovos"])),
    responses((status = 200, body = Results), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn config(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
    ApiQuery(_sort): ApiQuery<SortQuery>,
) -> Result<Json<Results>, ApiError> {
    Ok(Json(Results {
        results: state.ovos.config().await?,
    }))
}

async fn change_sleep(
    state: &AppState,
    awake: bool,
    confirm: Option<bool>,
    dialog: Option<SpeechRequest>,
) -> Result<Response, ApiError> {
    let dialog = match (confirm.unwrap_or(false), dialog) {
        (true, Some(d)) => Some(state.ovos.speech(&d.utterance, d.lang.as_deref())?),
        _ => None,
    };
    state.ovos.set_awake(awake, dialog).await?;
    let mode = if awake { "disabled" } else { "enabled" };
    Ok((StatusCode::CREATED, Json(json!({"sleep_mode": mode}))).into_response())
}

/// Puts the assistant to sleep; with `?confirm=true` and a body, speaks the body's utterance.
#[utoipa::path(post, path = "/v1/system/sleep", tag = "system", params(ConfirmQuery), request_body(content = Option<SpeechRequest>), security(("bearer" = ["ovos"])),
    responses((status = 201, description = "`{\"sleep_mode\":\"enabled\"}`"), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn sleep(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
    ApiQuery(query): ApiQuery<ConfirmQuery>,
    OptionalJson(dialog): OptionalJson<SpeechRequest>,
) -> Result<Response, ApiError> {
    change_sleep(&state, false, query.confirm, dialog).await
}

/// Wakes the assistant up; with `?confirm=true` and a body, speaks the body's utterance.
#[utoipa::path(post, path = "/v1/system/wakeup", tag = "system", params(ConfirmQuery), request_body(content = Option<SpeechRequest>), security(("bearer" = ["ovos"])),
    responses((status = 201, description = "`{\"sleep_mode\":\"disabled\"}`"), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn wakeup(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
    ApiQuery(query): ApiQuery<ConfirmQuery>,
    OptionalJson(dialog): OptionalJson<SpeechRequest>,
) -> Result<Response, ApiError> {
    change_sleep(&state, true, query.confirm, dialog).await
}

/// Whether the assistant is awake.
#[utoipa::path(get, path = "/v1/system/sleep", tag = "system", security(("bearer" = ["ovos"])),
    responses((status = 200, description = "`{\"is_awake\": bool}`"), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn is_awake(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"is_awake": state.ovos.is_awake().await?})))
}

/// Clears a cache (`{"cache_type": "tts"}`).
#[utoipa::path(delete, path = "/v1/system/cache", tag = "system", request_body = CacheRequest, security(("bearer" = ["ovos"])),
    responses((status = 201, description = "`{\"cache_type\", \"status\"}`"), (status = 415, description = "Not JSON", body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn clear_cache(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
    ApiJson(body): ApiJson<CacheRequest>,
) -> Result<Response, ApiError> {
    let answer = state.ovos.clear_cache(&body.cache_type).await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Whether the assistant reaches the Internet.
#[utoipa::path(get, path = "/v1/network/internet", tag = "network", security(("bearer" = ["ovos"])),
    responses((status = 200, description = "`{\"connected\": bool}`"), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn internet(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"connected": state.ovos.internet().await?})))
}

/// Whether voicegate's own message-bus connection is up. Answers at once.
#[utoipa::path(get, path = "/v1/network/websocket", tag = "network", security(("bearer" = ["ovos"])),
    responses((status = 200, description = "`{\"listening\": bool}`")))]
pub async fn websocket(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"listening": state.ovos.bus().is_connected()})))
}

/// The installed skills.
#[utoipa::path(get, path = "/v1/skills", tag = "skills", security(("bearer" = ["ovos"])),
    responses((status = 200, body = SkillList), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn skills(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
) -> Result<Json<SkillList>, ApiError> {
    Ok(Json(state.ovos.skills().await?))
}

/// A skill's settings, secrets removed.
#[utoipa::path(get, path = "/v1/skills/{skill_id}/settings", tag = "skills", params(("skill_id" = String, Path, description = "Skill id")), security(("bearer" = ["ovos"])),
    responses((status = 200, body = Results), (status = 404, body = ErrorBody), (status = 422, description = "Not a skill id: 1 to 128 letters, digits, '.', '_' or '-'", body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn skill_settings(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
    Path(skill_id): Path<String>,
) -> Result<Json<Results>, ApiError> {
    Ok(Json(Results {
        results: state.ovos.skill_settings(&skill_id).await?,
    }))
}

/// Activates a skill.
#[utoipa::path(put, path = "/v1/skills/{skill_id}/activate", tag = "skills", params(("skill_id" = String, Path, description = "Skill id")), security(("bearer" = ["ovos"])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, description = "Not a skill id: 1 to 128 letters, digits, '.', '_' or '-'", body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn activate_skill(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
    Path(skill_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.ovos.set_skill_active(&skill_id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivates a skill.
#[utoipa::path(put, path = "/v1/skills/{skill_id}/deactivate", tag = "skills", params(("skill_id" = String, Path, description = "Skill id")), security(("bearer" = ["ovos"])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, description = "Not a skill id: 1 to 128 letters, digits, '.', '_' or '-'", body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn deactivate_skill(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
    Path(skill_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.ovos.set_skill_active(&skill_id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes the assistant speak.
#[utoipa::path(post, path = "/v1/voice/speech", tag = "voice", request_body = SpeechRequest, security(("bearer" = ["ovos"])),
    responses((status = 200, body = Speech), (status = 415, description = "Not JSON", body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn speak(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
    ApiJson(body): ApiJson<SpeechRequest>,
) -> Result<Json<Speech>, ApiError> {
    let speech = state.ovos.speech(&body.utterance, body.lang.as_deref())?;
    Ok(Json(state.ovos.speak(speech).await?))
}

/// Stops any speech or audio output.
#[utoipa::path(delete, path = "/v1/voice/speech", tag = "voice", security(("bearer" = ["ovos"])),
    responses((status = 204), (status = 503, body = ErrorBody)))]
pub async fn stop(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
) -> Result<StatusCode, ApiError> {
    no_content(state.ovos.stop()).await
}

/// Mutes the microphone.
#[utoipa::path(put, path = "/v1/voice/microphone/mute", tag = "voice", security(("bearer" = ["ovos"])),
    responses((status = 204), (status = 503, body = ErrorBody)))]
pub async fn mute(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
) -> Result<StatusCode, ApiError> {
    no_content(state.ovos.set_mic_muted(true)).await
}

/// Unmutes the microphone.
#[utoipa::path(put, path = "/v1/voice/microphone/unmute", tag = "voice", security(("bearer" = ["ovos"])),
    responses((status = 204), (status = 503, body = ErrorBody)))]
pub async fn unmute(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
) -> Result<StatusCode, ApiError> {
    no_content(state.ovos.set_mic_muted(false)).await
}

/// Whether the microphone is muted.
#[utoipa::path(get, path = "/v1/voice/microphone", tag = "voice", security(("bearer" = ["ovos"])),
    responses((status = 200, description = "`{\"muted\": bool}`"), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn microphone(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"muted": state.ovos.mic_muted().await?})))
}

/// Starts listening as if the wake word was heard.
#[utoipa::path(put, path = "/v1/voice/listen", tag = "voice", security(("bearer" = ["ovos"])),
    responses((status = 204), (status = 503, body = ErrorBody)))]
pub async fn listen(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
) -> Result<StatusCode, ApiError> {
    no_content(state.ovos.listen()).await
}

/// Injects utterances as if they had been spoken.
#[utoipa::path(post, path = "/v1/voice/utterance", tag = "voice", request_body = UtteranceRequest, security(("bearer" = ["ovos"])),
    responses((status = 202, description = "`{\"utterances\", \"lang\"}`"), (status = 415, description = "Not JSON", body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn utterance(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
    ApiJson(body): ApiJson<UtteranceRequest>,
) -> Result<Response, ApiError> {
    let (utterances, lang) = state
        .ovos
        .inject_utterances(&body.utterances, body.lang.as_deref())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"utterances": utterances, "lang": lang})),
    )
        .into_response())
}

/// The output volume, 0 to 100.
#[utoipa::path(get, path = "/v1/voice/volume", tag = "voice", security(("bearer" = ["ovos"])),
    responses((status = 200, body = Volume), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn volume(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
) -> Result<Json<Volume>, ApiError> {
    Ok(Json(state.ovos.volume().await?))
}

/// Sets the output volume (`{"percent": 0-100}`).
#[utoipa::path(put, path = "/v1/voice/volume", tag = "voice", request_body = VolumeRequest, security(("bearer" = ["ovos"])),
    responses((status = 204), (status = 415, description = "Not JSON", body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn set_volume(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
    ApiJson(body): ApiJson<VolumeRequest>,
) -> Result<StatusCode, ApiError> {
    state.ovos.set_volume(body.percent).await?;
    Ok(StatusCode::NO_CONTENT)
}
