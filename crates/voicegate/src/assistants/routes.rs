//! HTTP handlers of the Snips console assistants surface: thin, each reads its parameters (the
//! query string or a JSON body alike: the console's clients send JSON even on GET), calls the
//! service once and shapes the console's JSON. Errors are written in the console's dialect by the
//! route group.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::assistants::model::{AssistantId, NluStatus, TrainingStatus, rfc3339};
use crate::assistants::service::{AssistantView, DatasetInput};
use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::params::Params;
use crate::identity::scopes::AssistantScope;
use crate::identity::{IdentityError, Principal};
use crate::state::AppState;

/// An assistant as the console lists it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssistantEntry {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The dataset's language.
    pub language: String,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub updated_at: String,
    /// Grows by one at every dataset change.
    pub dataset_version: i64,
    /// NLU training.
    pub nlu_status: NluStatus,
    /// ASR language model.
    pub asr_status: NluStatus,
}

impl From<AssistantView> for AssistantEntry {
    fn from(view: AssistantView) -> Self {
        Self {
            id: view.row.id.to_string(),
            title: view.row.title,
            language: view.row.language,
            created_at: rfc3339(view.row.created_at),
            updated_at: rfc3339(view.row.updated_at),
            dataset_version: view.row.dataset_version,
            nlu_status: view.status.nlu_status,
            asr_status: view.status.asr_status,
        }
    }
}

/// The answer of `GET /v3/assistant`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssistantList {
    /// The caller's assistants, oldest first.
    pub assistants: Vec<AssistantEntry>,
}

/// The answer of `POST /v1/training`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingQueued {
    /// The assistant.
    pub assistant_id: String,
    /// The training job (its progress is published as `jobs.nlu_training.*`).
    pub job_id: String,
    /// The status now.
    pub nlu_status: NluStatus,
}

/// `userId`, when given, must be the caller's own id.
fn check_user_id(params: &Params, principal: &Principal) -> Result<(), ApiError> {
    let given = match params.get("userId") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(ApiError::bad_request("userId must be a string")),
    };
    if given.is_empty() || given == principal.user_id.to_string() {
        Ok(())
    } else {
        Err(IdentityError::OtherUser.into())
    }
}

/// The dataset of a creation or replacement: the `dataset` parameter, or the body itself when it
/// is a Snips dataset (it has `language` and `intents`).
fn dataset_of(params: &Params) -> Result<DatasetInput, ApiError> {
    if let Some(value) = params.get("dataset") {
        return Ok(DatasetInput {
            value: value.clone(),
            field: "dataset".into(),
        });
    }
    let fields = params.fields();
    if fields.contains_key("intents") || fields.contains_key("language") {
        let mut dataset = fields.clone();
        dataset.remove("title");
        dataset.remove("userId");
        return Ok(DatasetInput {
            value: Value::Object(dataset),
            field: String::new(),
        });
    }
    Err(ApiError::bad_request(
        "dataset is required: a Snips NLU dataset (language, intents, entities) or a 2017 \
         benchmark file ({\"Intent\": [{\"data\": [...]}]})",
    ))
}

/// The assistant named by `assistantId`.
pub(super) fn assistant_id_param(params: &Params) -> Result<AssistantId, ApiError> {
    Ok(AssistantId::new(params.required_text("assistantId")?))
}

/// Lists the caller's assistants with their NLU and ASR status (`userId`, if given, must be the
/// caller's).
#[utoipa::path(get, path = "/v3/assistant", tag = "console",
    security(("bearer" = ["assistant"])),
    params(("userId" = Option<String>, Query, description = "The caller's user id (or in a JSON body)")),
    responses(
        (status = 200, body = AssistantList),
        (status = 401, body = ErrorBody), (status = 403, description = "Another user's id, or no assistant scope", body = ErrorBody)))]
pub async fn list_assistants(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AssistantScope>,
    params: Params,
) -> Result<Json<AssistantList>, ApiError> {
    check_user_id(&params, &principal)?;
    let views = state.assistants.list(principal.user_id).await?;
    Ok(Json(AssistantList {
        assistants: views.into_iter().map(AssistantEntry::from).collect(),
    }))
}

/// Creates an assistant from a Snips NLU dataset (`dataset`, or the body itself) or a 2017
/// benchmark file, with an optional `title`.
#[utoipa::path(post, path = "/v3/assistant", tag = "console",
    security(("bearer" = ["assistant"])),
    request_body(content = Value, description = "{\"title\"?, \"dataset\": Snips dataset or benchmark file}, or the Snips dataset itself"),
    responses(
        (status = 201, body = AssistantEntry),
        (status = 400, description = "The dataset or title is invalid; the detail names the field", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, description = "Larger than assistants.body_limit", body = ErrorBody),
        (status = 429, description = "The user has assistants.max_per_user assistants", body = ErrorBody)))]
pub async fn create_assistant(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AssistantScope>,
    params: Params,
) -> Result<(StatusCode, Json<AssistantEntry>), ApiError> {
    let input = dataset_of(&params)?;
    let view = state
        .assistants
        .create(principal.user_id, params.text("title")?, input)
        .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// Replaces an assistant's dataset (and its title, when given); it then needs training. A body
/// with a title and no dataset only renames it (voicegate addition).
#[utoipa::path(put, path = "/v3/assistant/{assistant_id}", tag = "console",
    security(("bearer" = ["assistant"])),
    params(("assistant_id" = String, Path, description = "The assistant")),
    request_body(content = Value, description = "{\"title\"?, \"dataset\"}, or the Snips dataset itself; {\"title\"} alone renames"),
    responses(
        (status = 200, body = AssistantEntry),
        (status = 400, description = "The dataset or title is invalid; the detail names the field", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such assistant of the caller", body = ErrorBody),
        (status = 413, body = ErrorBody)))]
pub async fn replace_assistant(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AssistantScope>,
    Path(assistant_id): Path<String>,
    params: Params,
) -> Result<Json<AssistantEntry>, ApiError> {
    let id = AssistantId::new(assistant_id);
    let fields = params.fields();
    let only_title = fields.contains_key("title")
        && !["dataset", "intents", "language"]
            .iter()
            .any(|key| fields.contains_key(*key));
    if only_title {
        let title = params.required_text("title")?;
        let view = state
            .assistants
            .rename(principal.user_id, &id, title)
            .await?;
        return Ok(Json(view.into()));
    }
    let input = dataset_of(&params)?;
    let view = state
        .assistants
        .replace(principal.user_id, &id, params.text("title")?, input)
        .await?;
    Ok(Json(view.into()))
}

/// Deletes an assistant and its trained models.
#[utoipa::path(delete, path = "/v3/assistant/{assistant_id}", tag = "console",
    security(("bearer" = ["assistant"])),
    params(("assistant_id" = String, Path, description = "The assistant")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such assistant of the caller", body = ErrorBody)))]
pub async fn delete_assistant(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AssistantScope>,
    Path(assistant_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .assistants
        .delete(principal.user_id, &AssistantId::new(assistant_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The assistant's NLU training status and ASR language-model status.
#[utoipa::path(get, path = "/v3/assistant/{assistant_id}/status", tag = "console",
    security(("bearer" = ["assistant"])),
    params(("assistant_id" = String, Path, description = "The assistant")),
    responses(
        (status = 200, body = TrainingStatus),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such assistant of the caller", body = ErrorBody)))]
pub async fn assistant_status(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AssistantScope>,
    Path(assistant_id): Path<String>,
) -> Result<Json<TrainingStatus>, ApiError> {
    let status = state
        .assistants
        .status(principal.user_id, &AssistantId::new(assistant_id))
        .await?;
    Ok(Json(status))
}

/// Starts the NLU training of an assistant (`assistantId`) as a background job.
#[utoipa::path(post, path = "/v1/training", tag = "console",
    security(("bearer" = ["assistant"])),
    request_body(content = Value, description = "{\"assistantId\"} (or in the query string)"),
    responses(
        (status = 200, description = "Queued", body = TrainingQueued),
        (status = 400, description = "assistantId missing", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such assistant of the caller", body = ErrorBody),
        (status = 409, description = "A training of this assistant is in progress", body = ErrorBody)))]
pub async fn start_training(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AssistantScope>,
    params: Params,
) -> Result<Json<TrainingQueued>, ApiError> {
    let id = assistant_id_param(&params)?;
    let job = state
        .assistants
        .request_training(principal.user_id, &id)
        .await?;
    let status = state.assistants.status(principal.user_id, &id).await?;
    Ok(Json(TrainingQueued {
        assistant_id: id.to_string(),
        job_id: job.to_string(),
        nlu_status: status.nlu_status,
    }))
}

/// Downloads the assistant: a zip of `assistant.json` (manifest with the SHA-256 of every other
/// file), `dataset.json` and the trained NLU model (`nlu_engine.bin`).
#[utoipa::path(get, path = "/v3/assistant/{assistant_id}/download", tag = "console",
    security(("bearer" = ["assistant"])),
    params(("assistant_id" = String, Path, description = "The assistant")),
    responses(
        (status = 200, description = "The zip", content_type = "application/zip", body = Vec<u8>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such assistant of the caller", body = ErrorBody),
        (status = 409, description = "Never trained", body = ErrorBody)))]
pub async fn download_assistant(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AssistantScope>,
    Path(assistant_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = AssistantId::new(assistant_id);
    let archive = state.assistants.download(principal.user_id, &id).await?;
    let mut response = archive.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    // The id is 32 hex digits (or it was not found), so the header value is plain.
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"assistant_{id}.zip\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Parses a text (`text`) with the assistant's trained model: Snips' output shape (`input`,
/// `intent` or null, `slots`).
#[utoipa::path(post, path = "/v3/assistant/{assistant_id}/parse", tag = "console",
    security(("bearer" = ["assistant"])),
    params(("assistant_id" = String, Path, description = "The assistant")),
    request_body(content = Value, description = "{\"text\"}"),
    responses(
        (status = 200, description = "{input, intent: {intentName, probability} | null, slots: [{range, rawValue, value, entity, slotName}]}", body = Value),
        (status = 400, description = "text missing or too long", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such assistant of the caller", body = ErrorBody),
        (status = 409, description = "Never trained", body = ErrorBody)))]
pub async fn parse_text(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AssistantScope>,
    Path(assistant_id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let text = params
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("text is required (a string)"))?;
    let parsed = state
        .assistants
        .parse(principal.user_id, &AssistantId::new(assistant_id), text)
        .await?;
    Ok(Json(parsed))
}
