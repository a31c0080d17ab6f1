//! The contract's media routes: `media_list`, `play_hub_media*` (a `PersistentID` from the
//! list) and `play_web_media*` (an http or https `MediaUrl`), each also for every speaker
//! (`_party_mode`) or the speakers of `DeviceIDList` (`_selected_speakers`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::params::Params;
use crate::identity::scopes::SpeakersScope;
use crate::ids::UserId;
use crate::speakers::media::library::MediaItem;
use crate::speakers::routes::common::{DONE, Done, device_id_list, persistent_id};
use crate::speakers::service::Speakers;
use crate::state::AppState;

/// A hub media file as the contract lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaEntry {
    /// Its id (decimal digits), for `play_hub_media`.
    #[serde(rename = "PersistentID")]
    pub persistent_id: String,
    /// Its title tag, else its file name without the extension.
    #[serde(rename = "Title")]
    pub title: String,
    /// Its artist tag (empty when it has none).
    #[serde(rename = "Artist")]
    pub artist: String,
    /// Its length in whole seconds.
    #[serde(rename = "Duration")]
    pub duration: u64,
    /// Its album tag (empty when it has none).
    #[serde(rename = "AlbumTitle")]
    pub album_title: String,
}

impl From<MediaItem> for MediaEntry {
    fn from(item: MediaItem) -> Self {
        Self {
            persistent_id: item.persistent_id,
            title: item.title,
            artist: item.artist.unwrap_or_default(),
            duration: item.duration_secs,
            album_title: item.album.unwrap_or_default(),
        }
    }
}

/// Answer of `media_list`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaList {
    /// The hub media files, in the order of their paths in the folder.
    #[serde(rename = "MediaList")]
    pub media_list: Vec<MediaEntry>,
}

/// The hub media: the audio files of `speakers.media_dir` with their tags.
#[utoipa::path(method(get, post), path = "/api/v1/media_list", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query)),
    responses((status = 200, body = MediaList), (status = 404, description = "unknown SessionToken", body = ErrorBody)))]
pub async fn media_list(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<MediaList>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let items = state.speakers.media_list(principal.user_id, token).await?;
    Ok(Json(MediaList {
        media_list: items.into_iter().map(MediaEntry::from).collect(),
    }))
}

async fn hub(
    state: &AppState,
    user: UserId,
    params: &Params,
    speakers: Speakers,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let id = persistent_id(params)?;
    state
        .speakers
        .play_hub_media(user, token, &id, speakers)
        .await?;
    Ok(Json(DONE))
}

async fn web(
    state: &AppState,
    user: UserId,
    params: &Params,
    speakers: Speakers,
) -> Result<Json<Done>, ApiError> {
    let token = params.required_text("SessionToken")?;
    let url = params.required_text("MediaUrl")?;
    state
        .speakers
        .play_web_media(user, token, url, speakers)
        .await?;
    Ok(Json(DONE))
}

/// Plays a hub media file on the session's speakers.
#[utoipa::path(method(get, post), path = "/api/v1/play_hub_media", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("PersistentID" = String, Query)),
    responses((status = 200, body = Done),
        (status = 400, description = "no PersistentID, or no speakers in the session", body = ErrorBody),
        (status = 404, description = "unknown SessionToken or PersistentID", body = ErrorBody),
        (status = 409, description = "every stream source is in use", body = ErrorBody),
        (status = 422, description = "the file is not audio that can be played", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn play_hub_media(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    hub(&state, principal.user_id, &params, Speakers::Session).await
}

/// Plays a hub media file on every speaker.
#[utoipa::path(method(get, post), path = "/api/v1/play_hub_media_party_mode", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("PersistentID" = String, Query)),
    responses((status = 200, body = Done), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn play_hub_media_party_mode(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    hub(&state, principal.user_id, &params, Speakers::Party).await
}

/// Plays a hub media file on the speakers of `DeviceIDList`.
#[utoipa::path(method(get, post), path = "/api/v1/play_hub_media_selected_speakers", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("PersistentID" = String, Query), ("DeviceIDList" = String, Query)),
    responses((status = 200, body = Done), (status = 400, body = ErrorBody),
        (status = 404, description = "unknown SessionToken, PersistentID or DeviceID", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn play_hub_media_selected_speakers(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let ids = device_id_list(&params)?;
    hub(&state, principal.user_id, &params, Speakers::Selected(ids)).await
}

/// Plays http or https media on the session's speakers while it downloads (mp3, flac,
/// ogg/vorbis, wav); answers once its first audio is decoded.
#[utoipa::path(method(get, post), path = "/api/v1/play_web_media", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("MediaUrl" = String, Query, description = "an http or https URL")),
    responses((status = 200, body = Done),
        (status = 400, description = "no MediaUrl, not http or https (rtsp, mms), or no speakers in the session", body = ErrorBody),
        (status = 404, description = "unknown SessionToken", body = ErrorBody),
        (status = 409, description = "every stream source is in use", body = ErrorBody),
        (status = 422, description = "not audio that can be played, or longer than speakers.web_media_max_bytes", body = ErrorBody),
        (status = 424, description = "the URL cannot be reached or is not allowed, or its server did not answer with the media", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn play_web_media(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    web(&state, principal.user_id, &params, Speakers::Session).await
}

/// Plays http or https media on every speaker.
#[utoipa::path(method(get, post), path = "/api/v1/play_web_media_party_mode", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("MediaUrl" = String, Query)),
    responses((status = 200, body = Done), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 424, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn play_web_media_party_mode(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    web(&state, principal.user_id, &params, Speakers::Party).await
}

/// Plays http or https media on the speakers of `DeviceIDList`.
#[utoipa::path(method(get, post), path = "/api/v1/play_web_media_selected_speakers", tag = "speakers",
    security(("bearer" = ["speakers"])),
    params(("SessionToken" = String, Query), ("MediaUrl" = String, Query), ("DeviceIDList" = String, Query)),
    responses((status = 200, body = Done), (status = 400, body = ErrorBody),
        (status = 404, description = "unknown SessionToken or DeviceID", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 424, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn play_web_media_selected_speakers(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<SpeakersScope>,
    params: Params,
) -> Result<Json<Done>, ApiError> {
    let ids = device_id_list(&params)?;
    web(&state, principal.user_id, &params, Speakers::Selected(ids)).await
}
