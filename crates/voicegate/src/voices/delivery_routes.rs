//! HTTP handlers of the vocalid-api voices surface that hand voices out: synthesis (streamed, or
//! uploaded to a `put_url`), device registration, voice files and signed licences.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use speech::synth::{Container, SampleRate};
use utoipa::{IntoParams, ToSchema};

use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiQuery;
use crate::http::params::Params;
use crate::identity::scopes::{VoiceDownloadScope, VoiceSynthesisScope};
use crate::state::AppState;
use crate::voices::devices::Download;
use crate::voices::model::DeviceId;
use crate::voices::synthesis::{Synthesis, SynthesisQuery};

/// Speaks a line of text (VocaliD `synthesis`): the whole audio/wav file with exact sizes (or raw
/// PCM with `container=`), streamed as it is synthesized with `stream=true`, or with `put_url`
/// uploaded there as a WAV, the answer being JSON.
#[utoipa::path(get, path = "/api/v1/external/synthesis/", tag = "voices",
    security(("bearer" = ["voice:synthesis"])), params(SynthesisQuery),
    responses(
        (status = 200, description = "audio/wav or raw PCM (whole, or streamed with stream=true), or JSON {status_code, response} with put_url"),
        (status = 400, description = "a parameter is invalid; the detail names it", body = ErrorBody),
        (status = 403, description = "the voice cannot be streamed", body = ErrorBody),
        (status = 404, description = "unknown download_token", body = ErrorBody),
        (status = 502, description = "the put_url destination could not be reached or is not allowed (one answer for every cause)", body = ErrorBody),
        (status = 503, description = "the engines or the put_url uploads are busy", body = ErrorBody)))]
pub async fn synthesis(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<VoiceSynthesisScope>,
    ApiQuery(query): ApiQuery<SynthesisQuery>,
) -> Result<Response, ApiError> {
    let params = query.parse(state.voices.config().max_script_chars)?;
    Ok(
        match state.voices.synthesize(principal.user_id, params).await? {
            Synthesis::Uploaded {
                status_code,
                response,
            } => Json(json!({ "status_code": status_code, "response": response })).into_response(),
            Synthesis::Whole {
                audio,
                container,
                sample_rate,
            } => audio_response(Body::from(audio), container, sample_rate),
            Synthesis::Streamed {
                audio,
                container,
                sample_rate,
            } => audio_response(Body::from_stream(audio), container, sample_rate),
        },
    )
}

/// An audio answer: its type, and its rate in `x-sample-rate`.
fn audio_response(body: Body, container: Container, sample_rate: SampleRate) -> Response {
    let content_type = match container {
        Container::Wav => "audio/wav",
        Container::Pcm => "application/octet-stream",
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-sample-rate", HeaderValue::from(sample_rate.hz()));
    response
}

/// Body of `device/register` (optional).
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewDevice {
    /// A name to recognise the device by.
    pub name: Option<String>,
}

/// Answer of `device/register`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCreated {
    /// The device's id, for downloads and licences.
    #[schema(value_type = String)]
    pub device_id: DeviceId,
}

/// Longest device name, in characters.
const MAX_DEVICE_NAME: usize = 200;

/// Registers a device that may download voices and licences (voicegate addition).
#[utoipa::path(post, path = "/api/v1/external/device/register/", tag = "voices",
    security(("bearer" = ["voice:download"])), request_body(content = Option<NewDevice>),
    responses((status = 200, body = DeviceCreated), (status = 400, body = ErrorBody),
        (status = 429, description = "the user has quotas.devices_per_user devices", body = ErrorBody)))]
pub async fn register_device(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<VoiceDownloadScope>,
    params: Params,
) -> Result<Json<DeviceCreated>, ApiError> {
    let name = match params.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_DEVICE_NAME => Some(s.as_str()),
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "name must be a string of at most {MAX_DEVICE_NAME} characters"
            )));
        }
    };
    let device_id = state
        .voices
        .register_device(principal.user_id, name)
        .await?;
    Ok(Json(DeviceCreated { device_id }))
}

/// Query of downloads.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceQuery {
    /// A device registered with `device/register`.
    pub device_id: Option<String>,
}

impl DeviceQuery {
    fn device(&self) -> Option<DeviceId> {
        self.device_id.clone().map(DeviceId::new)
    }
}

fn attachment(download: Download) -> Response {
    let mut response = Response::new(Body::from(download.bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let disposition = format!("attachment; filename=\"{}\"", download.filename);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// Downloads a voice file for local synthesis (VocaliD `voices/download`): JSON of format
/// `voicegate-voice-1`, the base voice and the prosody profile.
#[utoipa::path(get, path = "/api/v1/external/voices/download/{download_token}", tag = "voices",
    security(("bearer" = ["voice:download"])),
    params(("download_token" = String, Path, description = "The voice's download token"), DeviceQuery),
    responses((status = 200, description = "The voice file"), (status = 400, body = ErrorBody),
        (status = 403, description = "unknown device", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn download_voice(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<VoiceDownloadScope>,
    Path(token): Path<String>,
    ApiQuery(query): ApiQuery<DeviceQuery>,
) -> Result<Response, ApiError> {
    let download = state
        .voices
        .download_voice(principal.user_id, &token, query.device().as_ref())
        .await?;
    Ok(attachment(download))
}

/// Downloads a licence for a device and voice (VocaliD `licenses`), signed with the server's
/// Ed25519 key (`/.well-known/voicegate-licence-key`), verifiable offline.
#[utoipa::path(get, path = "/api/v1/external/licenses/{download_token}", tag = "voices",
    security(("bearer" = ["voice:download"])),
    params(("download_token" = String, Path, description = "The voice's download token"), DeviceQuery),
    responses((status = 200, description = "The licence file"), (status = 400, body = ErrorBody),
        (status = 403, description = "unknown device", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn licence(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<VoiceDownloadScope>,
    Path(token): Path<String>,
    ApiQuery(query): ApiQuery<DeviceQuery>,
) -> Result<Response, ApiError> {
    let download = state
        .voices
        .licence(principal.user_id, &token, query.device().as_ref())
        .await?;
    Ok(attachment(download))
}

/// The public key that verifies licences (no authentication).
#[utoipa::path(get, path = "/.well-known/voicegate-licence-key", tag = "voices",
    responses((status = 200, description = "{algorithm, key_id, public_key (base64url)}")))]
pub async fn licence_key(State(state): State<AppState>) -> Json<Value> {
    Json(state.voices.licence_key_document())
}
