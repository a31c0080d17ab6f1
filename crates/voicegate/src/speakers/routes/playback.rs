//! The HK playback routes: announcements (`play_tts*`), pause, resume, stop, and the
//! playback's state.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::params::Params;
use crate::identity::scopes::SpeakersScope;
use crate::speakers::error::SpeakerError;
use crate::speakers::events::state_name;
use crate::speakers::feeder::FeedState;
use crate::speakers::routes::common::{DONE, Done, device_id_list, optional_persistent_id, volume};
use crate::speakers::service::{Speakers, Voice};
use crate::state::AppState;
use crate::voices::error::VoicesError;

/// Answer of `playback_status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybackStatus {
    /// `PlayerStatePlaying`, `PlayerStatePaused` or `PlayerStateStopped`.
    #[serde(rename = "PlaybackState")]
    pub playback_state: &'static str,
    /// Whole seconds heard so far, as text; `-1` when stopped.
    #[serde(rename = "TimeElapsed")]
    pub time_elapsed: String,
}

/// Answer of `is_playing`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IsPlaying {
    /// `"true"` or `"false"`.
    #[serde(rename = "IsPlaying")]
    pub is_playing: &'static str,
}

/// The voice `id` names: one of the user's voices or a built-in one, as
/// `/api/v1/external/voices/list/` lists them.
async fn speaking_voice(
    state: &AppState,
    user: crate::ids::UserId,
    id: &str,
) -> Result<Voice, ApiError> {
    match state.voices.speaking_voice(user, id).await {
        Ok(voice) => Ok(Voice {
            engine: voice.engine_voice,
            modifiers: voice.profile,
        }),
        Err(VoicesError::NotFound(_)) => Err(SpeakerError::BadRequest(format!(
            "Voice: no voice {id:?} (a voice_id from /api/v1/external/voices/list/, or an engine voice id such as espeak:en-us)"
        ))
        .into()),
        Err(VoicesError::Forbidden(why) | VoicesError::BadRequest(why)) => {
            Err(SpeakerError::BadRequest(format!("Voice: {why}")).into())
        }
        Err(e) => {
            // The store's own words stay in the log.
            tracing::error!(error = %e, "a voice could not be read");
            Err(SpeakerError::Speech("the voice could not be read".into()).into())
        }
    }
}

async fn tts(
    state: &AppState,
    user: crate::ids::UserId,
    params: &Params,
    speakers: Speakers,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let text = params.required_text("Text")?;
    let voice = match params.text("Voice")? {
        Some(id) => Some(speaking_voice(state, user, id).await?),
        None => None,
    };
    let volume = match params.get("Volume") {
        None | Some(Value::Null) => None,
        Some(_) => Some(volume(params)?),
    };
    state
        .speakers
        .play_tts(user, token, text, voice, volume, speakers)
        .await?;
    Ok(Json(DONE))
}

/// Speaks `Text` on the session's speakers (the built-in engines; `Voice` a voice id from
/// `/api/v1/external/voices/list/`: an engine voice such as `espeak:en-us`, or one of the
/// user's built voices). Over music it is an announcement: the music continues after it.
#[utoipa::path(method(get, post), path = "/api/v1/play_tts", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("Text" = String, Query), ("Voice" = Option<String>, Query),
        ("Volume" = Option<String>, Query, description = "the announcement's volume, 0–50 (beyond the contract)")),
    responses((status = 200, body = Done),
        (status = 400, description = "no Text, too long, an unknown Voice, or no speakers in the session", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "every stream source is in use", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn play_tts(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    tts(&state, principal.user_id, &params, Speakers::Session).await
}

/// Speaks `Text` on every speaker.
#[utoipa::path(method(get, post), path = "/api/v1/play_tts_party_mode", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("Text" = String, Query), ("Voice" = Option<String>, Query),
        ("Volume" = Option<String>, Query, description = "the announcement's volume, 0–50 (beyond the contract)")),
    responses((status = 200, body = Done), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn play_tts_party_mode(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    tts(&state, principal.user_id, &params, Speakers::Party).await
}

/// Speaks `Text` on the speakers of `DeviceIDList`.
#[utoipa::path(method(get, post), path = "/api/v1/play_tts_selected_speakers", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("Text" = String, Query), ("DeviceIDList" = String, Query),
        ("Voice" = Option<String>, Query),
        ("Volume" = Option<String>, Query, description = "the announcement's volume, 0–50 (beyond the contract)")),
    responses((status = 200, body = Done), (status = 400, body = ErrorBody),
        (status = 404, description = "unknown SessionToken or DeviceID", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn play_tts_selected_speakers(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let ids = device_id_list(&params)?;
    tts(&state, principal.user_id, &params, Speakers::Selected(ids)).await
}

/// Pauses the session's playback.
#[utoipa::path(method(get, post), path = "/api/v1/pause_play", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query)),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody)))]
pub async fn pause_play(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    state.speakers.pause_play(principal.user_id, token).await?;
    Ok(Json(DONE))
}

async fn resume(
    state: &AppState,
    user: crate::ids::UserId,
    params: &Params,
    speakers: Speakers,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let persistent_id = optional_persistent_id(params)?;
    state
        .speakers
        .resume(user, token, persistent_id.as_deref(), speakers)
        .await?;
    Ok(Json(DONE))
}

/// Continues the session's paused playback where it was heard, on the session's speakers; with
/// the `PersistentID` of other hub media (or nothing paused), plays that from its start.
#[utoipa::path(method(get, post), path = "/api/v1/resume_hub_media", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("PersistentID" = Option<String>, Query)),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody),
        (status = 409, description = "nothing is paused", body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn resume_hub_media(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    resume(&state, principal.user_id, &params, Speakers::Session).await
}

/// Continues the session's paused playback on every speaker.
#[utoipa::path(method(get, post), path = "/api/v1/resume_hub_media_party_mode", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("PersistentID" = Option<String>, Query)),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody),
        (status = 409, description = "nothing is paused", body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn resume_hub_media_party_mode(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    resume(&state, principal.user_id, &params, Speakers::Party).await
}

/// Continues the session's paused playback on the speakers of `DeviceIDList`.
#[utoipa::path(method(get, post), path = "/api/v1/resume_hub_media_selected_speakers", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("PersistentID" = Option<String>, Query),
        ("DeviceIDList" = String, Query)),
    responses((status = 200, body = Done), (status = 400, body = ErrorBody),
        (status = 404, description = "unknown SessionToken or DeviceID", body = ErrorBody),
        (status = 409, description = "nothing is paused", body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn resume_hub_media_selected_speakers(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let ids = device_id_list(&params)?;
    resume(&state, principal.user_id, &params, Speakers::Selected(ids)).await
}

/// Stops the session's playback.
#[utoipa::path(method(get, post), path = "/api/v1/stop_play", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query)),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody)))]
pub async fn stop_play(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    state.speakers.stop_play(principal.user_id, token).await?;
    Ok(Json(DONE))
}

/// The session's playback state and elapsed seconds (`-1` when stopped).
#[utoipa::path(method(get, post), path = "/api/v1/playback_status", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query)),
    responses((status = 200, body = PlaybackStatus), (status = 404, body = ErrorBody)))]
pub async fn playback_status(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<PlaybackStatus>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let playback = state.speakers.playback(principal.user_id, token).await?;
    Ok(Json(PlaybackStatus {
        playback_state: state_name(playback.state),
        time_elapsed: playback
            .elapsed
            .map_or_else(|| "-1".to_string(), |s| s.to_string()),
    }))
}

/// Whether the session is playing.
#[utoipa::path(method(get, post), path = "/api/v1/is_playing", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query)),
    responses((status = 200, body = IsPlaying), (status = 404, body = ErrorBody)))]
pub async fn is_playing(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<IsPlaying>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let playback = state.speakers.playback(principal.user_id, token).await?;
    let playing = playback.state == FeedState::Playing;
    Ok(Json(IsPlaying {
        is_playing: if playing { "true" } else { "false" },
    }))
}
