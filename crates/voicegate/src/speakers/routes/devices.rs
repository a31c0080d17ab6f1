//! The HK session, device and volume routes.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::params::Params;
use crate::identity::scopes::SpeakersScope;
use crate::speakers::device::Device;
use crate::speakers::routes::common::{DONE, Done, volume};
use crate::state::AppState;

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
    let session_token = state.speakers.init_session(principal.user_id).await?;
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
