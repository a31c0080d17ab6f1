//! The HK Omni speakers routes (`/api/v1/<verb>`): GET with query parameters as the contract
//! has them, or POST with the same parameters in a JSON or form body. Answers keep the
//! contract's shapes and types (`"DeviceCount":"2"` a string, `"Volume":47` a number in a
//! device); errors are in the HK dialect (`{"Result":"false",…}`, set on the route group).

pub mod media;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::params::Params;
use crate::identity::scopes::SpeakersScope;
use crate::speakers::device::{Device, MAX_WIRE_VOLUME};
use crate::speakers::error::SpeakerError;
use crate::speakers::feeder::FeedState;
use crate::speakers::service::{Speakers, Voice};
use crate::state::AppState;
use crate::voices::error::VoicesError;

/// Answer of `init_session`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOpened {
    /// Always `init_session`.
    #[serde(rename = "ResponseOf")]
    pub response_of: &'static str,
    /// The session's token, for every later request.
    #[serde(rename = "SessionToken")]
    pub session_token: String,
}

/// The contract's success: `{"Result":"true"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    /// Always `"true"` (failures are errors).
    #[serde(rename = "Result")]
    pub result: &'static str,
}

pub(crate) const DONE: Done = Done { result: "true" };

/// Answer of `device_count`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCount {
    /// The number of devices, connected or not, as text.
    #[serde(rename = "DeviceCount")]
    pub device_count: String,
}

/// A device as the contract describes it; `null` where the speaker system cannot know.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceInfo {
    /// The group's name, if it has one.
    pub group_name: Option<String>,
    /// The HK role code: not known for these speakers.
    pub role: Option<i64>,
    /// The MAC address.
    pub mac_address: Option<String>,
    /// The Wi-Fi signal: not known.
    pub wifi_signal_strength: Option<i64>,
    /// The HK port: not known.
    pub port: Option<u16>,
    /// Connected now.
    pub active: bool,
    /// Its name.
    pub device_name: String,
    /// Its software version.
    pub version: Option<String>,
    /// Its program.
    pub model_name: Option<String>,
    /// Its address.
    #[serde(rename = "IPAddress")]
    pub ip_address: Option<String>,
    /// Its group's id (decimal digits).
    #[serde(rename = "GroupID")]
    pub group_id: Option<String>,
    /// Its volume, 0–50 (0 when muted).
    pub volume: u8,
    /// Whether a session is playing on it.
    pub is_playing: bool,
    /// Its id (decimal digits).
    #[serde(rename = "DeviceID")]
    pub device_id: String,
}

impl From<Device> for DeviceInfo {
    fn from(device: Device) -> Self {
        Self {
            volume: device.wire_volume(),
            group_name: device.group_name,
            role: None,
            mac_address: device.mac,
            wifi_signal_strength: None,
            port: None,
            active: device.active,
            device_name: device.name,
            version: device.version,
            model_name: device.model,
            ip_address: device.ip,
            group_id: device.group_id,
            is_playing: device.playing,
            device_id: device.device_id,
        }
    }
}

/// Answer of `device_list`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceList {
    /// Every device.
    #[serde(rename = "DeviceList")]
    pub device_list: Vec<DeviceInfo>,
}

/// Answer of `get_volume` and `get_volume_device`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VolumeAnswer {
    /// 0–50, as text.
    #[serde(rename = "Volume")]
    pub volume: String,
}

/// The `Volume` parameter: a whole number from 0 to 50, as text (a query, a form) or a JSON
/// number.
fn volume(params: &Params) -> Result<u8, ApiError> {
    let bad = || SpeakerError::BadRequest("Volume must be a whole number from 0 to 50".into());
    let volume = match params.get("Volume") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        None | Some(Value::Null) => {
            return Err(SpeakerError::BadRequest("Volume is required".into()).into());
        }
        Some(_) => None,
    };
    let volume = volume
        .filter(|v| *v <= u64::from(MAX_WIRE_VOLUME))
        .ok_or_else(bad)?;
    Ok(u8::try_from(volume).map_err(|_| bad())?)
}

/// Starts a session.
#[utoipa::path(method(get, post), path = "/api/v1/init_session", tag = "speakers",
    security(("bearer" = ["speakers"])),
    responses((status = 200, body = SessionOpened), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 429, description = "speakers.max_sessions_per_user open already", body = ErrorBody)))]
pub async fn init_session(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
) -> Result<Json<SessionOpened>, ApiError> {
    let session_token = state.speakers.init_session(principal.user_id)?;
    Ok(Json(SessionOpened {
        response_of: "init_session",
        session_token,
    }))
}

/// Ends a session.
#[utoipa::path(method(get, post), path = "/api/v1/close_session", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query)),
    responses((status = 200, body = Done), (status = 404, description = "unknown SessionToken", body = ErrorBody)))]
pub async fn close_session(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    state
        .speakers
        .close_session(principal.user_id, token)
        .await?;
    Ok(Json(DONE))
}

/// How many devices there are.
#[utoipa::path(method(get, post), path = "/api/v1/device_count", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query)),
    responses((status = 200, body = DeviceCount), (status = 404, body = ErrorBody),
        (status = 503, description = "the speaker system is not reachable", body = ErrorBody)))]
pub async fn device_count(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<DeviceCount>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let devices = state.speakers.devices(principal.user_id, token).await?;
    Ok(Json(DeviceCount {
        device_count: devices.len().to_string(),
    }))
}

/// Every device with its state.
#[utoipa::path(method(get, post), path = "/api/v1/device_list", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query)),
    responses((status = 200, body = DeviceList), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn device_list(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<DeviceList>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let devices = state.speakers.devices(principal.user_id, token).await?;
    Ok(Json(DeviceList {
        device_list: devices.into_iter().map(DeviceInfo::from).collect(),
    }))
}

/// One device.
#[utoipa::path(method(get, post), path = "/api/v1/device_info", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("DeviceID" = String, Query)),
    responses((status = 200, body = DeviceInfo),
        (status = 404, description = "unknown SessionToken or DeviceID", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn device_info(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<DeviceInfo>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let device_id = params.required_text("DeviceID")?;
    let device = state
        .speakers
        .device(principal.user_id, token, device_id)
        .await?;
    Ok(Json(device.into()))
}

/// Adds a device to the session.
#[utoipa::path(method(get, post), path = "/api/v1/add_device_to_session", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("DeviceID" = String, Query)),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn add_device_to_session(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let device_id = params.required_text("DeviceID")?;
    state
        .speakers
        .add_device(principal.user_id, token, device_id)
        .await?;
    Ok(Json(DONE))
}

/// Takes a device out of the session.
#[utoipa::path(method(get, post), path = "/api/v1/remove_device_from_session", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("DeviceID" = String, Query)),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn remove_device_from_session(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let device_id = params.required_text("DeviceID")?;
    state
        .speakers
        .remove_device(principal.user_id, token, device_id)
        .await?;
    Ok(Json(DONE))
}

/// Puts every device in the session.
#[utoipa::path(method(get, post), path = "/api/v1/set_party_mode", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query)),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn set_party_mode(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    state.speakers.party_mode(principal.user_id, token).await?;
    Ok(Json(DONE))
}

/// The average volume of every device, 0–50.
#[utoipa::path(method(get, post), path = "/api/v1/get_volume", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query)),
    responses((status = 200, body = VolumeAnswer), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_volume(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<VolumeAnswer>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let volume = state.speakers.volume(principal.user_id, token).await?;
    Ok(Json(VolumeAnswer {
        volume: volume.to_string(),
    }))
}

/// One device's volume, 0–50.
#[utoipa::path(method(get, post), path = "/api/v1/get_volume_device", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("DeviceID" = String, Query)),
    responses((status = 200, body = VolumeAnswer), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_volume_device(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<VolumeAnswer>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let device_id = params.required_text("DeviceID")?;
    let volume = state
        .speakers
        .device_volume(principal.user_id, token, device_id)
        .await?;
    Ok(Json(VolumeAnswer {
        volume: volume.to_string(),
    }))
}

/// Sets every device's volume (0–50, lowered to `speakers.max_volume`).
#[utoipa::path(method(get, post), path = "/api/v1/set_volume", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("Volume" = u8, Query, description = "0 to 50")),
    responses((status = 200, body = Done), (status = 400, description = "Volume out of range", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn set_volume(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let volume = volume(&params)?;
    state
        .speakers
        .set_volume(principal.user_id, token, volume)
        .await?;
    Ok(Json(DONE))
}

/// Sets one device's volume (0–50, lowered to `speakers.max_volume`).
#[utoipa::path(method(get, post), path = "/api/v1/set_volume_device", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("DeviceID" = String, Query),
        ("Volume" = u8, Query, description = "0 to 50")),
    responses((status = 200, body = Done), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn set_volume_device(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let device_id = params.required_text("DeviceID")?;
    let volume = volume(&params)?;
    state
        .speakers
        .set_device_volume(principal.user_id, token, device_id, volume)
        .await?;
    Ok(Json(DONE))
}

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

/// The `DeviceIDList` parameter: DeviceIDs separated by commas.
pub(crate) fn device_id_list(params: &Params) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = params
        .required_text("DeviceIDList")?
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(SpeakerError::BadRequest("DeviceIDList names no device".into()).into());
    }
    Ok(ids)
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
        Err(VoicesError::Forbidden(why)) => {
            Err(SpeakerError::BadRequest(format!("Voice: {why}")).into())
        }
        Err(e) => Err(SpeakerError::Speech(e.to_string()).into()),
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
    state.speakers.resume(user, token, speakers).await?;
    Ok(Json(DONE))
}

/// Continues the session's paused playback where it was heard, on the session's speakers.
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
        playback_state: match playback.state {
            FeedState::Playing => "PlayerStatePlaying",
            FeedState::Paused => "PlayerStatePaused",
            FeedState::Stopped => "PlayerStateStopped",
        },
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
