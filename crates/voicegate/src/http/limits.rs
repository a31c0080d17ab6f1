//! Request limits and the safety net that gives every error answer the JSON shape.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;

/// Answers 503 when a handler has not produced its response within `timeout`. A streaming body
/// (server-sent events, audio) is not cut: the limit covers producing the response head.
pub async fn request_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took longer than the configured request timeout",
        )
        .into_response(),
    }
}

/// Replaces the empty body of an error answer that no handler shaped (the router's 404 and 405,
/// a body-limit 413) with the JSON error shape, keeping its headers (`Allow`, …).
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(CONTENT_TYPE)
    {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut shaped = ApiError::from_status(status).into_response();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name, value.clone());
        }
    }
    shaped
}
