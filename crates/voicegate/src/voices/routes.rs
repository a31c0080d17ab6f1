//! HTTP handlers of the vocalid-api voices surface: thin, each one extracts, calls the service and
//! shapes the contract's JSON.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use speech::synth::{Container, Modifiers, SynthesisRequest};
use utoipa::{IntoParams, ToSchema};

use crate::engines::stream::{self, OwnedSynthesis};
use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiQuery;
use crate::identity::scopes::{
    ExternalAccountScope, VoiceBuildScope, VoiceDownloadScope, VoiceListScope, VoiceSynthesisScope,
};
use crate::state::AppState;
use crate::voices::error::VoicesError;
use crate::voices::service::{BuildRequest, VoiceEntry};

/// Path of the recording upload (it has its own body limit).
pub const RECORDING_PATH: &str = "/api/v1/external/recording/save/";

/// A contract POST body: JSON, or a form (multipart or urlencoded) whose `data` field holds the
/// JSON object, as the contract allows both.
pub struct ContractBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for ContractBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let bad = |detail: String| ApiError::from(VoicesError::BadRequest(detail));
        let value: Value = if content_type.starts_with("multipart/form-data") {
            let mut form = Multipart::from_request(request, state)
                .await
                .map_err(|e| bad(format!("malformed form: {e}")))?;
            let mut data = None;
            while let Some(field) = form
                .next_field()
                .await
                .map_err(|e| bad(format!("malformed form: {e}")))?
            {
                if field.name() == Some("data") {
                    data = Some(field.text().await.map_err(|e| bad(format!("data: {e}")))?);
                }
            }
            let data =
                data.ok_or_else(|| bad("data: the form needs a data field holding JSON".into()))?;
            serde_json::from_str(&data).map_err(|e| bad(format!("data: not JSON: {e}")))?
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let bytes = Bytes::from_request(request, state)
                .await
                .map_err(ApiError::from)?;
            let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|e| bad(format!("malformed form: {e}")))?;
            match fields.iter().find(|(k, _)| k == "data") {
                Some((_, data)) => {
                    serde_json::from_str(data).map_err(|e| bad(format!("data: not JSON: {e}")))?
                }
                None => Value::Object(
                    fields
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect(),
                ),
            }
        } else if content_type.starts_with("application/json") || content_type.is_empty() {
            let bytes = Bytes::from_request(request, state)
                .await
                .map_err(ApiError::from)?;
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("malformed JSON: {e}")))?
        } else {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send JSON (application/json) or a form whose data field holds JSON",
            ));
        };
        match value {
            Value::Object(map) => Ok(Self(map)),
            _ => Err(bad("the body must be a JSON object".into())),
        }
    }
}

/// A required string field of a contract body.
fn text_field<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, VoicesError> {
    match body.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::Number(_)) | Some(Value::String(_)) | Some(Value::Null) | None => {
            Err(VoicesError::BadRequest(format!("{name} is required")))
        }
        Some(_) => Err(VoicesError::BadRequest(format!("{name} must be a string"))),
    }
}

/// Body of `account/register`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterAccount {
    /// "male", "female" or "other".
    pub gender: String,
    /// A whole number (a JSON number or a string of digits).
    pub age: Value,
}

/// Answer of `account/register`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountCreated {
    /// The new account's id.
    pub account_id: String,
}

/// Creates a voice account (VocaliD `account/register`).
#[utoipa::path(post, path = "/api/v1/external/account/register/", tag = "voices",
    security(("bearer" = ["external_account"])),
    request_body(content = RegisterAccount, description = "JSON, or a form whose data field holds it"),
    responses(
        (status = 200, body = AccountCreated),
        (status = 400, description = "gender or age invalid", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn register_account(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<ExternalAccountScope>,
    ContractBody(body): ContractBody,
) -> Result<Json<AccountCreated>, ApiError> {
    let gender = match body.get("gender") {
        Some(Value::String(g)) if matches!(g.as_str(), "male" | "female" | "other") => g.clone(),
        Some(_) => {
            return Err(VoicesError::BadRequest(
                "gender must be \"male\", \"female\" or \"other\"".into(),
            )
            .into());
        }
        None => return Err(VoicesError::BadRequest("gender is required".into()).into()),
    };
    let age = match body.get("age") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        None => return Err(VoicesError::BadRequest("age is required".into()).into()),
        Some(_) => None,
    }
    .filter(|age| (0..=150).contains(age))
    .ok_or_else(|| VoicesError::BadRequest("age must be a whole number from 0 to 150".into()))?;
    let account_id = state
        .voices
        .register_account(principal.user_id, &gender, age)
        .await?;
    Ok(Json(AccountCreated { account_id }))
}

/// The level verdict of a recording.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentenceStatus {
    /// OK, OVERDRIVEN or UNDERDRIVEN.
    pub code: String,
}

/// Answer of `recording/save`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingSaved {
    /// The level verdict.
    pub sentence_status: SentenceStatus,
    /// Always 200 (the contract repeats the HTTP status).
    pub status: u16,
}

/// Uploads a recording (VocaliD `recording/save`): multipart with `file` (WAV) and `data` (JSON
/// with account_id and sentence). Refused uploads store nothing.
#[utoipa::path(post, path = "/api/v1/external/recording/save/", tag = "voices",
    security(("bearer" = ["external_account"])),
    request_body(content_type = "multipart/form-data", description = "file: WAV; data: JSON {account_id, sentence}"),
    responses(
        (status = 200, body = RecordingSaved),
        (status = 400, description = "not a WAV, empty, too long, or a field missing", body = ErrorBody),
        (status = 404, description = "unknown account", body = ErrorBody),
        (status = 413, description = "larger than voices.max_upload_bytes", body = ErrorBody)))]
pub async fn save_recording(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<ExternalAccountScope>,
    request: Request,
) -> Result<Json<RecordingSaved>, ApiError> {
    let bad = |detail: String| ApiError::from(VoicesError::BadRequest(detail));
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send multipart/form-data with a file field (WAV) and a data field (JSON)",
        ));
    }
    let mut form = Multipart::from_request(request, &state)
        .await
        .map_err(|e| bad(format!("malformed form: {e}")))?;
    let limit = state.voices.config().max_upload_bytes;
    let (mut file, mut data) = (None, None);
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(
                    VoicesError::TooLarge(format!("the upload exceeds {limit} bytes")).into(),
                );
            }
            Err(e) => return Err(bad(format!("malformed form: {e}"))),
        };
        match field.name() {
            Some("file") => {
                let bytes = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::from(VoicesError::TooLarge(format!(
                            "the upload exceeds {limit} bytes"
                        )))
                    } else {
                        bad(format!("file: {e}"))
                    }
                })?;
                file = Some(bytes);
            }
            Some("data") => data = Some(field.text().await.map_err(|e| bad(format!("data: {e}")))?),
            _ => {}
        }
    }
    let data: Map<String, Value> = match data {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| bad(format!("data: not a JSON object: {e}")))?
        }
        None => {
            return Err(bad(
                "data: the form needs a data field with account_id and sentence".into(),
            ));
        }
    };
    let account = text_field(&data, "account_id")?;
    let sentence = text_field(&data, "sentence")?;
    let max = state.voices.config().max_sentence_chars;
    if sentence.chars().count() > max {
        return Err(bad(format!("sentence: longer than {max} characters")));
    }
    let file = file
        .ok_or_else(|| bad("file: the form needs a file field holding a WAV recording".into()))?;
    if file.is_empty() {
        return Err(bad("file: the recording is empty".into()));
    }
    let status = state
        .voices
        .save_recording(principal.user_id, account, sentence.trim(), file.to_vec())
        .await?;
    Ok(Json(RecordingSaved {
        sentence_status: SentenceStatus {
            code: status.code().into(),
        },
        status: 200,
    }))
}

/// Query of `account/info`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AccountQuery {
    /// The account.
    pub account_id: Option<String>,
}

/// Answer of `account/info`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountInfo {
    /// Distinct sentences recorded at a good level.
    pub sentences_recorded: i64,
}

/// An account's progress (VocaliD `account/info`).
#[utoipa::path(get, path = "/api/v1/external/account/info/", tag = "voices",
    security(("bearer" = ["external_account"])), params(AccountQuery),
    responses((status = 200, body = AccountInfo), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn account_info(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<ExternalAccountScope>,
    ApiQuery(query): ApiQuery<AccountQuery>,
) -> Result<Json<AccountInfo>, ApiError> {
    let account = query
        .account_id
        .filter(|a| !a.is_empty())
        .ok_or_else(|| VoicesError::BadRequest("account_id is required".into()))?;
    let sentences_recorded = state
        .voices
        .sentences_recorded(principal.user_id, &account)
        .await?;
    Ok(Json(AccountInfo { sentences_recorded }))
}

/// Body of `build/new`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewBuild {
    /// The account whose recordings to build from.
    pub account_id: String,
}

/// Requests a voice build (VocaliD `build/new`): `{"build_id","status":"success"}`, or
/// `{"message":"account already has a voice build pending.","status":"error"}`.
#[utoipa::path(post, path = "/api/v1/external/build/new/", tag = "voices",
    security(("bearer" = ["voice_build"])), request_body = NewBuild,
    responses((status = 200, description = "Queued, or already pending", body = Value),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn new_build(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<VoiceBuildScope>,
    ContractBody(body): ContractBody,
) -> Result<Json<Value>, ApiError> {
    let account = text_field(&body, "account_id")?;
    Ok(Json(
        match state
            .voices
            .request_build(principal.user_id, account)
            .await?
        {
            BuildRequest::Created(build_id) => json!({ "build_id": build_id, "status": "success" }),
            BuildRequest::AlreadyPending => {
                json!({ "message": "account already has a voice build pending.", "status": "error" })
            }
        },
    ))
}

/// Query of `build/status`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct BuildQuery {
    /// Only this account's builds.
    pub account_id: Option<String>,
    /// Only this build.
    pub build_id: Option<String>,
    /// Only builds in this state: PENDING, COMPLETE or ERROR.
    pub status: Option<String>,
}

/// One build in `build/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BuildStatus {
    /// The account.
    pub account_id: String,
    /// The build.
    pub build_id: String,
    /// PENDING, COMPLETE or ERROR.
    pub status: String,
    /// The voice, when COMPLETE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_id: Option<String>,
    /// Why it failed, when ERROR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Lists voice builds (VocaliD `build/status`).
#[utoipa::path(get, path = "/api/v1/external/build/status/", tag = "voices",
    security(("bearer" = ["voice_build"])), params(BuildQuery),
    responses((status = 200, body = Vec<BuildStatus>), (status = 400, body = ErrorBody)))]
pub async fn build_status(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<VoiceBuildScope>,
    ApiQuery(query): ApiQuery<BuildQuery>,
) -> Result<Json<Vec<BuildStatus>>, ApiError> {
    let status = query.status.filter(|s| !s.is_empty());
    if let Some(s) = &status
        && !matches!(s.as_str(), "PENDING" | "COMPLETE" | "ERROR")
    {
        return Err(
            VoicesError::BadRequest("status must be PENDING, COMPLETE or ERROR".into()).into(),
        );
    }
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let (account, build) = (nonempty(query.account_id), nonempty(query.build_id));
    let rows = state
        .voices
        .builds(
            principal.user_id,
            account.as_deref(),
            build.as_deref(),
            status.as_deref(),
        )
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|b| BuildStatus {
                account_id: b.account_id,
                build_id: b.id,
                status: b.status,
                voice_id: b.voice_id,
                error: b.error,
            })
            .collect(),
    ))
}

/// Answer of `voices/list`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceList {
    /// Built-in engine voices, then the user's built voices.
    pub voices: Vec<VoiceEntry>,
}

/// Lists the voices available for synthesis and download (VocaliD `voices/list`).
#[utoipa::path(get, path = "/api/v1/external/voices/list/", tag = "voices",
    security(("bearer" = ["voice:list"])),
    responses((status = 200, body = VoiceList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_voices(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<VoiceListScope>,
) -> Result<Json<VoiceList>, ApiError> {
    Ok(Json(VoiceList {
        voices: state.voices.list_voices(principal.user_id).await?,
    }))
}

/// Query of `synthesis`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SynthesisQuery {
    /// The voice's download token.
    pub download_token: Option<String>,
    /// The text, at most `voices.max_script_chars` (256) characters.
    pub script: Option<String>,
    /// Pitch modifier in (0, 10], default 1.
    pub pitch: Option<String>,
    /// Rate modifier in (0, 10], default 1.
    pub rate: Option<String>,
    /// `wav` (default) or empty for raw 16-bit little-endian PCM.
    pub container: Option<String>,
    /// 8000, 11025, 16000, 22050, 32000, 44100 or 48000 (default).
    pub sample_rate: Option<String>,
    /// Upload the WAV there (PUT) instead of answering with it.
    pub put_url: Option<String>,
}

fn modifier(name: &str, value: Option<&str>) -> Result<f32, VoicesError> {
    let Some(text) = value.filter(|t| !t.is_empty()) else {
        return Ok(1.0);
    };
    let parsed: f32 = text
        .parse()
        .map_err(|_| VoicesError::BadRequest(format!("{name}: {text:?} is not a number")))?;
    if !(parsed.is_finite() && parsed > 0.0 && parsed <= 10.0) {
        return Err(VoicesError::BadRequest(format!(
            "{name}: {parsed} is outside (0, 10]"
        )));
    }
    Ok(parsed)
}

/// Speaks a line of text (VocaliD `synthesis`): audio/wav streamed as it is synthesized (or raw
/// PCM with `container=`), or with `put_url` the WAV is uploaded there and the answer is JSON.
#[utoipa::path(get, path = "/api/v1/external/synthesis/", tag = "voices",
    security(("bearer" = ["voice:synthesis"])), params(SynthesisQuery),
    responses(
        (status = 200, description = "audio/wav, raw PCM, or JSON {status_code, response} with put_url"),
        (status = 400, description = "a parameter is invalid; the detail names it", body = ErrorBody),
        (status = 403, description = "the voice cannot be streamed", body = ErrorBody),
        (status = 404, description = "unknown download_token", body = ErrorBody),
        (status = 502, description = "the put_url upload failed", body = ErrorBody),
        (status = 503, description = "the engines are busy", body = ErrorBody)))]
pub async fn synthesis(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<VoiceSynthesisScope>,
    ApiQuery(query): ApiQuery<SynthesisQuery>,
) -> Result<Response, ApiError> {
    let config = state.voices.config();
    let token = query
        .download_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| VoicesError::BadRequest("download_token is required".into()))?;
    let script = query
        .script
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| VoicesError::BadRequest("script is required".into()))?;
    if script.chars().count() > config.max_script_chars {
        return Err(VoicesError::BadRequest(format!(
            "script: longer than {} characters",
            config.max_script_chars
        ))
        .into());
    }
    let pitch = modifier("pitch", query.pitch.as_deref())?;
    let rate = modifier("rate", query.rate.as_deref())?;
    let container = match query.container.as_deref() {
        None | Some("wav") => Container::Wav,
        Some("") => Container::Pcm,
        Some(other) => {
            return Err(VoicesError::BadRequest(format!(
                "container: {other:?} is not supported; use wav or an empty value for raw PCM"
            ))
            .into());
        }
    };
    let sample_rate = match query.sample_rate.as_deref().filter(|s| !s.is_empty()) {
        None => 48000,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|r| speech::resample::SUPPORTED_RATES.contains(r))
            .ok_or_else(|| {
                VoicesError::BadRequest(format!(
                    "sample_rate: {text:?} must be 8000, 11025, 16000, 22050, 32000, 44100 or 48000"
                ))
            })?,
    };
    let put_url = query.put_url.filter(|u| !u.is_empty());
    if let Some(url) = &put_url {
        state.voices.check_put_url(url).await?;
    }
    let voice = state.voices.resolve(principal.user_id, &token).await?;
    if voice.stored.as_ref().is_some_and(|s| !s.can_stream) {
        return Err(VoicesError::Forbidden("the voice cannot be used for synthesis".into()).into());
    }
    let synth = state
        .engines
        .synthesizer()
        .await
        .map_err(VoicesError::from)?;
    let permit = state.engines.slot().await.map_err(VoicesError::from)?;
    state
        .voices
        .count_synthesis(principal.user_id, &voice)
        .await?;
    let clamp = |x: f32| x.clamp(0.01, 10.0);
    let modifiers = Modifiers {
        pitch: clamp(pitch * voice.profile.pitch),
        rate: clamp(rate * voice.profile.rate),
        range: clamp(voice.profile.range),
    };
    let engine_voice = voice.engine_voice.clone();
    if let Some(url) = put_url {
        let audio = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            synth.render(&SynthesisRequest {
                voice: &engine_voice,
                text: &script,
                modifiers,
                sample_rate,
            })
        })
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(VoicesError::from)?;
        let wav = speech::wav::encode_wav(&audio);
        let outcome = state.voices.put_audio(&url, wav).await?;
        return Ok(
            Json(json!({ "status_code": outcome.0, "response": outcome.1 })).into_response(),
        );
    }
    let job = OwnedSynthesis {
        voice: engine_voice,
        text: script,
        modifiers,
        sample_rate,
    };
    let drain_timeout = std::time::Duration::from_secs(state.config.http.request_timeout_secs);
    let body = stream::start(synth, job, container, permit, drain_timeout)
        .await
        .map_err(VoicesError::from)?;
    let content_type = match container {
        Container::Wav => "audio/wav",
        Container::Pcm => "application/octet-stream",
    };
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-sample-rate", HeaderValue::from(sample_rate));
    Ok(response)
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
    pub device_id: String,
}

/// Registers a device that may download voices and licences (voicegate addition).
#[utoipa::path(post, path = "/api/v1/external/device/register/", tag = "voices",
    security(("bearer" = ["voice:download"])), request_body(content = Option<NewDevice>),
    responses((status = 200, body = DeviceCreated), (status = 400, body = ErrorBody)))]
pub async fn register_device(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<VoiceDownloadScope>,
    request: Request,
) -> Result<Json<DeviceCreated>, ApiError> {
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v != "0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let name = if has_body {
        let ContractBody(body) = ContractBody::from_request(request, &state).await?;
        match body.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() <= 200 => Some(s.clone()),
            Some(_) => {
                return Err(VoicesError::BadRequest(
                    "name must be a string of at most 200 characters".into(),
                )
                .into());
            }
        }
    } else {
        None
    };
    let device_id = state
        .voices
        .register_device(principal.user_id, name.as_deref())
        .await?;
    Ok(Json(DeviceCreated { device_id }))
}

/// Query of downloads.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DeviceQuery {
    /// A device registered with `device/register`.
    pub device_id: Option<String>,
}

fn attachment(filename: &str, content_type: &'static str, bytes: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
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
    let device = query.device_id.unwrap_or_default();
    let (filename, bytes) = state
        .voices
        .download_voice(principal.user_id, &token, &device)
        .await?;
    Ok(attachment(&filename, "application/json", bytes))
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
    let device = query.device_id.unwrap_or_default();
    let (filename, bytes) = state
        .voices
        .licence(principal.user_id, &token, &device)
        .await?;
    Ok(attachment(&filename, "application/json", bytes))
}

/// The public key that verifies licences (no authentication).
#[utoipa::path(get, path = "/.well-known/voicegate-licence-key", tag = "voices",
    responses((status = 200, description = "{algorithm, key_id, public_key (base64url)}")))]
pub async fn licence_key(State(state): State<AppState>) -> Json<Value> {
    Json(state.voices.licence_key_document())
}
