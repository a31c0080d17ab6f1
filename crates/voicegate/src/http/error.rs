//! `ApiError`: the one error answer of the whole server (status, code, detail, and the headers
//! some statuses need). Domain errors become `ApiError`s in one place ([`super::error_map`]); the
//! body is written in the dialect of the route group ([`super::dialect`]), plain
//! `{"error": "<code>", "detail": "<text>"}` unless the group says otherwise.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::dialect::Dialect;

/// The body of a plain error answer. `detail` keeps FastAPI-style clients (the original ovos-api)
/// working. The other dialects add their own fields to these two.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `invalid_token`.
    pub error: String,
    /// Human-readable explanation.
    pub detail: String,
    /// RFC 6749's explanation field, on OAuth endpoints (same text as `detail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// An error answer: status, code, detail and the headers some statuses need.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    www_authenticate: Option<Cow<'static, str>>,
    retry_after: Option<i64>,
}

impl ApiError {
    /// An error with `status`, a code and a human explanation.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            www_authenticate: None,
            retry_after: None,
        }
    }

    /// The same error with a `WWW-Authenticate` challenge.
    pub fn with_challenge(mut self, challenge: impl Into<Cow<'static, str>>) -> Self {
        self.www_authenticate = Some(challenge.into());
        self
    }

    /// The same error with `Retry-After: seconds` (at least one).
    pub fn with_retry_after(mut self, seconds: i64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human explanation.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// 500 with no detail: for failures that are the server's own.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    }

    /// 400 naming what is wrong with a request parameter.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    /// 415: the body is not of a type the route reads.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        )
    }

    /// 413: the body is larger than the route's limit.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        )
    }

    /// 400 for malformed JSON, 422 for JSON of the wrong shape.
    pub fn from_json_error(e: serde_json::Error) -> Self {
        if e.is_data() {
            Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                e.to_string(),
            )
        } else {
            Self::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string())
        }
    }

    /// The generic answer for a status that no handler produced (404, 405, …).
    pub fn from_status(status: StatusCode) -> Self {
        let code = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::REQUEST_TIMEOUT => "request_timeout",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_client_error() => "bad_request",
            _ => "internal_error",
        };
        let detail = status.canonical_reason().unwrap_or("error").to_string();
        Self::new(status, code, detail)
    }

    /// The answer in `dialect`: its body, and the headers every dialect shares.
    pub fn render(&self, dialect: Dialect) -> Response {
        let body = dialect.body(self.code, &self.detail);
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = &self.www_authenticate
            && let Ok(value) = HeaderValue::from_str(challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if self.status == StatusCode::UNAUTHORIZED || self.status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        dialect.headers(headers);
        response
    }
}

/// The error behind a rendered answer, kept in the response's extensions so that a route group
/// of another dialect can write it again in its own shape.
#[derive(Debug, Clone)]
pub struct RenderedError(pub Arc<ApiError>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.render(Dialect::Plain);
        response
            .extensions_mut()
            .insert(RenderedError(Arc::new(self)));
        response
    }
}

/// Writes a route group's error answers in its dialect: a response layer,
/// `middleware::map_response_with_state(dialect, in_dialect)`, that the router puts on the group.
/// Answers that are not errors pass untouched.
pub async fn in_dialect(State(dialect): State<Dialect>, response: Response) -> Response {
    match response.extensions().get::<RenderedError>() {
        Some(RenderedError(error)) if dialect != Dialect::Plain => {
            let error = error.clone();
            let mut rewritten = error.render(dialect);
            rewritten.extensions_mut().insert(RenderedError(error));
            rewritten
        }
        _ => response,
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let text = rejection.body_text();
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::unsupported_media_type(),
            JsonRejection::JsonSyntaxError(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_json", text)
            }
            JsonRejection::JsonDataError(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", text)
            }
            JsonRejection::BytesRejection(bytes) => bytes.into(),
            other => Self::new(other.status(), "bad_request", text),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::payload_too_large()
        } else {
            Self::new(rejection.status(), "bad_request", rejection.body_text())
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            rejection.body_text(),
        )
    }
}
