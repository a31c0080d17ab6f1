//! HTTP handlers of the vocalid-api voices surface, accounts to builds: thin, each one reads its
//! parameters (query, JSON, or a form and its `data` field, read once by [`Params`]), calls the
//! service once and shapes the contract's JSON. Synthesis, devices and downloads are in
//! `delivery_routes`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::params::Params;
use crate::identity::scopes::{ExternalAccountScope, VoiceBuildScope, VoiceListScope};
use crate::state::AppState;
use crate::voices::error::VoicesError;
use crate::voices::model::{
    AccountId, BuildId, BuildRequest, BuildStatus, Gender, VoiceEntry, VoiceId,
};

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
    #[schema(value_type = String)]
    pub account_id: AccountId,
}

/// The account's gender: one of the contract's three.
fn gender_of(params: &Params) -> Result<Gender, VoicesError> {
    match params.get("gender") {
        Some(Value::String(g)) => Gender::parse(g).ok_or_else(|| {
            VoicesError::BadRequest("gender must be \"male\", \"female\" or \"other\"".into())
        }),
        Some(_) => Err(VoicesError::BadRequest(
            "gender must be \"male\", \"female\" or \"other\"".into(),
        )),
        None => Err(VoicesError::BadRequest("gender is required".into())),
    }
}

/// The account's age: a whole number from 0 to 150, as a JSON number or a string of digits.
fn age_of(params: &Params) -> Result<i64, VoicesError> {
    match params.get("age") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        None => return Err(VoicesError::BadRequest("age is required".into())),
        Some(_) => None,
    }
    .filter(|age| (0..=150).contains(age))
    .ok_or_else(|| VoicesError::BadRequest("age must be a whole number from 0 to 150".into()))
}

/// Creates a voice account (VocaliD `account/register`).
#[utoipa::path(post, path = "/api/v1/external/account/register/", tag = "voices",
    security(("bearer" = ["external_account"])),
    request_body(content = RegisterAccount, description = "JSON, or a form whose data field holds it"),
    responses(
        (status = 200, body = AccountCreated),
        (status = 400, description = "gender or age invalid", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, description = "the user has quotas.voice_accounts_per_user accounts", body = ErrorBody)))]
pub async fn register_account(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<ExternalAccountScope>,
    params: Params,
) -> Result<Json<AccountCreated>, ApiError> {
    let (gender, age) = (gender_of(&params)?, age_of(&params)?);
    let account_id = state
        .voices
        .register_account(principal.user_id, gender, age)
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

/// What a `recording/save` form carries, read from its parameters.
#[derive(Debug)]
pub struct RecordingUpload {
    /// The account the recording is for (`account_id`).
    pub account: AccountId,
    /// The sentence read, trimmed (`sentence`).
    pub sentence: String,
    /// The file's bytes (`file`), not empty; not decoded yet.
    pub wav: Bytes,
}

impl RecordingUpload {
    /// Reads an upload from a multipart form (415 otherwise): `account_id` and `sentence` (at
    /// most `max_sentence_chars` characters once trimmed) from the query, the form or its `data`
    /// field, and the `file` part, taken out of `params`. A missing or bad field is a 400 naming it.
    pub fn read(params: &mut Params, max_sentence_chars: usize) -> Result<Self, ApiError> {
        params.require_multipart("a file field (WAV) and a data field (JSON)")?;
        let account = AccountId::new(params.required_text("account_id")?);
        let sentence = params.required_text("sentence")?.trim().to_string();
        if sentence.chars().count() > max_sentence_chars {
            return Err(ApiError::bad_request(format!(
                "sentence: longer than {max_sentence_chars} characters"
            )));
        }
        let file = params.take_part("file").ok_or_else(|| {
            ApiError::bad_request("file: the form needs a file field holding a WAV recording")
        })?;
        if file.bytes.is_empty() {
            return Err(ApiError::bad_request("file: the recording is empty"));
        }
        Ok(Self {
            account,
            sentence,
            wav: file.bytes,
        })
    }
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
        (status = 413, description = "larger than voices.max_upload_bytes", body = ErrorBody),
        (status = 415, description = "not a multipart form", body = ErrorBody),
        (status = 429, description = "the account has quotas.recordings_per_account recordings", body = ErrorBody),
        (status = 507, description = "the user's recordings would pass quotas.recording_bytes_per_user, or the server's disk is full", body = ErrorBody)))]
pub async fn save_recording(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<ExternalAccountScope>,
    mut params: Params,
) -> Result<Json<RecordingSaved>, ApiError> {
    let upload = RecordingUpload::read(&mut params, state.voices.config().max_sentence_chars)?;
    let status = state
        .voices
        .save_recording(
            principal.user_id,
            &upload.account,
            &upload.sentence,
            upload.wav.to_vec(),
        )
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
#[into_params(parameter_in = Query)]
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
    params: Params,
) -> Result<Json<AccountInfo>, ApiError> {
    let account = AccountId::new(params.required_text("account_id")?);
    let sentences_recorded = state
        .voices
        .sentences_recorded(principal.user_id, &account)
        .await?;
    Ok(Json(AccountInfo { sentences_recorded }))
}

/// One account in `account/list`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountEntry {
    /// The account.
    pub account_id: String,
    /// `male`, `female` or `other`.
    pub gender: String,
    /// The speaker's age.
    pub age: i64,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Distinct sentences recorded at a good level.
    pub sentences_recorded: i64,
}

/// Answer of `account/list`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountList {
    /// The caller's accounts, oldest first.
    pub accounts: Vec<AccountEntry>,
}

/// The caller's voice accounts with their progress (voicegate addition: the contract has no
/// way to find an account again but its id).
#[utoipa::path(get, path = "/api/v1/external/account/list/", tag = "voices",
    security(("bearer" = ["external_account"])),
    responses((status = 200, body = AccountList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_accounts(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<ExternalAccountScope>,
) -> Result<Json<AccountList>, ApiError> {
    let rows = state.voices.accounts(principal.user_id).await?;
    Ok(Json(AccountList {
        accounts: rows
            .into_iter()
            .map(|row| AccountEntry {
                account_id: row.id.to_string(),
                gender: row.gender,
                age: row.age,
                created_at: row.created_at,
                sentences_recorded: row.sentences_recorded,
            })
            .collect(),
    }))
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
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let account = AccountId::new(params.required_text("account_id")?);
    Ok(Json(
        match state
            .voices
            .request_build(principal.user_id, &account)
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
#[into_params(parameter_in = Query)]
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
pub struct BuildInfo {
    /// The account.
    #[schema(value_type = String)]
    pub account_id: AccountId,
    /// The build.
    #[schema(value_type = String)]
    pub build_id: BuildId,
    /// PENDING, COMPLETE or ERROR.
    #[schema(value_type = String)]
    pub status: BuildStatus,
    /// The voice, when COMPLETE.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub voice_id: Option<VoiceId>,
    /// Why it failed, when ERROR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Lists voice builds (VocaliD `build/status`).
#[utoipa::path(get, path = "/api/v1/external/build/status/", tag = "voices",
    security(("bearer" = ["voice_build"])), params(BuildQuery),
    responses((status = 200, body = Vec<BuildInfo>), (status = 400, body = ErrorBody)))]
pub async fn build_status(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<VoiceBuildScope>,
    params: Params,
) -> Result<Json<Vec<BuildInfo>>, ApiError> {
    let status = params
        .text("status")?
        .map(|s| {
            BuildStatus::parse(s)
                .ok_or_else(|| ApiError::bad_request("status must be PENDING, COMPLETE or ERROR"))
        })
        .transpose()?;
    let account = params.text("account_id")?.map(AccountId::new);
    let build = params.text("build_id")?.map(BuildId::new);
    let rows = state
        .voices
        .builds(principal.user_id, account.as_ref(), build.as_ref(), status)
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|b| BuildInfo {
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
