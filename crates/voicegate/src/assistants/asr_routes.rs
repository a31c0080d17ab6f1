//! HTTP handlers of the assistants' speech recognition: the language-model build (a job) and its
//! status, and speech to intent. Thin: each reads its parameters, calls the service once and
//! shapes the JSON.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::assistants::model::{AssistantId, NluStatus};
use crate::assistants::recognize::AudioFormat;
use crate::assistants::routes::assistant_id_param;
use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::params::Params;
use crate::identity::scopes::AssistantScope;
use crate::state::AppState;

/// A language-model build was queued.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LanguageModelQueued {
    /// The assistant.
    pub assistant_id: String,
    /// The build job (its progress is published as `jobs.asr_training.*`).
    pub job_id: String,
    /// The status now.
    pub asr_status: NluStatus,
}

/// An assistant's language-model status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LanguageModelStatus {
    /// The assistant.
    pub assistant_id: String,
    /// The status.
    pub asr_status: NluStatus,
}

/// Starts building the assistant's ASR language model (sentences, 3-gram model, grammar,
/// pronunciation dictionary) as a job.
#[utoipa::path(post, path = "/v1/languagemodel", tag = "console",
    security(("bearer" = ["assistant"])),
    request_body(content = Value, description = "{\"assistantId\"} (or in the query string)"),
    responses(
        (status = 200, description = "Queued", body = LanguageModelQueued),
        (status = 400, description = "assistantId missing", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such assistant of the caller", body = ErrorBody),
        (status = 409, description = "A build of this assistant is in progress", body = ErrorBody)))]
pub async fn start_language_model(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AssistantScope>,
    params: Params,
) -> Result<Json<LanguageModelQueued>, ApiError> {
    let id = assistant_id_param(&params)?;
    let assistants = &state.assistants;
    let job = assistants
        .request_language_model(principal.user_id, &id)
        .await?;
    let status = assistants
        .language_model_status(principal.user_id, &id)
        .await?;
    Ok(Json(LanguageModelQueued {
        assistant_id: id.to_string(),
        job_id: job.to_string(),
        asr_status: status,
    }))
}

/// The ASR language-model status of an assistant.
#[utoipa::path(get, path = "/v1/languagemodel/status", tag = "console",
    security(("bearer" = ["assistant"])),
    params(("assistantId" = String, Query, description = "The assistant (or in a JSON body)")),
    responses(
        (status = 200, body = LanguageModelStatus),
        (status = 400, description = "assistantId missing", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such assistant of the caller", body = ErrorBody)))]
pub async fn language_model_status(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AssistantScope>,
    params: Params,
) -> Result<Json<LanguageModelStatus>, ApiError> {
    let id = assistant_id_param(&params)?;
    let status = state
        .assistants
        .language_model_status(principal.user_id, &id)
        .await?;
    Ok(Json(LanguageModelStatus {
        assistant_id: id.to_string(),
        asr_status: status,
    }))
}

/// The body of `recognize` as the document describes it: bytes (a WAV file or raw PCM).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct AudioBytes(pub Vec<u8>);

/// Speech to intent: a WAV file (any rate and channel count) or raw 16 kHz mono 16-bit
/// little-endian PCM in the body; the text heard, its confidence and the NLU parse of it.
#[utoipa::path(post, path = "/v3/assistant/{assistant_id}/recognize", tag = "console",
    security(("bearer" = ["assistant"])),
    params(("assistant_id" = String, Path, description = "The assistant")),
    request_body(content = AudioBytes, description = "audio/wav, or raw PCM (any other type)", content_type = "audio/wav"),
    responses(
        (status = 200, description = "{text, confidence, intent: {input, intent, slots}}", body = Value),
        (status = 400, description = "The audio cannot be read (the detail says why)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such assistant of the caller", body = ErrorBody),
        (status = 409, description = "No language model or NLU model yet", body = ErrorBody)))]
pub async fn recognize(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AssistantScope>,
    Path(assistant_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let wav_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("wav"));
    let format = if wav_type || body.starts_with(b"RIFF") {
        AudioFormat::Wav
    } else {
        AudioFormat::RawPcm
    };
    let id = AssistantId::new(assistant_id);
    let heard = state
        .assistants
        .recognize(principal.user_id, &id, &body, format)
        .await?;
    Ok(Json(heard))
}
