//! The one JSON error shape of the whole server, `{"error": "<code>", "detail": "<text>"}`, and the
//! single place where domain errors become status codes.

use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::identity::IdentityError;
use crate::identity::oauth::OAuthError;
use crate::ovos::OvosError;
use crate::ovos::bus::BusError;
use crate::voices::VoicesError;

/// The body of every error answer. `detail` keeps FastAPI-style clients (the original ovos-api)
/// working.
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
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    www_authenticate: Option<&'static str>,
    retry_after: Option<i64>,
    oauth: bool,
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
            oauth: false,
        }
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 500 with no detail: for failures that are the server's own.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
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
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        use IdentityError as E;
        let bearer = |mut err: ApiError, header| {
            err.www_authenticate = Some(header);
            err
        };
        match e {
            E::InvalidCredentials => bearer(
                Self::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_credentials",
                    "invalid user or password",
                ),
                r#"Bearer realm="voicegate""#,
            ),
            E::MissingCredentials => bearer(
                Self::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "authentication required: send Authorization: Bearer <access token>",
                ),
                r#"Bearer realm="voicegate""#,
            ),
            E::InvalidToken => bearer(
                Self::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "the token is invalid, expired or revoked",
                ),
                r#"Bearer realm="voicegate", error="invalid_token""#,
            ),
            E::InsufficientScope(scope) => {
                let mut err = Self::new(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    format!("the token lacks the {scope} scope"),
                );
                err.www_authenticate = Some(match scope {
                    "ovos" => {
                        r#"Bearer realm="voicegate", error="insufficient_scope", scope="ovos""#
                    }
                    _ => r#"Bearer realm="voicegate", error="insufficient_scope""#,
                });
                err
            }
            E::ScopeEscalation(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_scope", e.to_string())
            }
            E::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            ),
            E::RateLimited { retry_after } => {
                let mut err =
                    Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string());
                err.retry_after = Some(retry_after);
                err
            }
            E::Validation(detail) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            ),
            E::UserExists(_) | E::ManagedByUsersDb(_) | E::AliasExists(_) => {
                Self::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            E::AliasNotFound(_) | E::ApiKeyNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            E::InvalidSignature => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string())
            }
            E::OtherUser => Self::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            E::UserNotFound(_) => Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            E::UsersFile { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                e.to_string(),
            ),
            E::Password(crate::identity::password::PasswordError::TooLongForBcrypt) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                e.to_string(),
            ),
            E::Store(store) => {
                tracing::error!(error = %store, "store failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database is unavailable",
                )
            }
            E::Password(_) | E::SigningKey(_) => {
                tracing::error!(error = %e, "internal failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error",
                )
            }
        }
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
            Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large",
            )
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

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        let detail = e.to_string();
        let mut err = match e {
            OAuthError::Identity(inner) => return inner.into(),
            OAuthError::InvalidClient => {
                let mut err = Self::new(StatusCode::UNAUTHORIZED, "invalid_client", detail);
                err.www_authenticate = Some(r#"Basic realm="voicegate""#);
                err
            }
            other => Self::new(StatusCode::BAD_REQUEST, other.code(), detail),
        };
        err.oauth = true;
        err
    }
}

impl From<OvosError> for ApiError {
    fn from(e: OvosError) -> Self {
        let detail = e.to_string();
        match e {
            OvosError::Bus(BusError::Unavailable(_)) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "bus_unavailable", detail)
            }
            OvosError::Bus(BusError::Timeout(_)) => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "bus_timeout", detail)
            }
            OvosError::SkillRefused | OvosError::SkillFailed(_) => {
                Self::new(StatusCode::BAD_GATEWAY, "skill_error", detail)
            }
            OvosError::NoApiKey => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_configured", detail)
            }
            OvosError::UnknownSkill(_) => Self::new(StatusCode::NOT_FOUND, "not_found", detail),
            OvosError::Validation(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            ),
        }
    }
}

impl From<VoicesError> for ApiError {
    fn from(e: VoicesError) -> Self {
        let detail = e.to_string();
        match e {
            VoicesError::BadRequest(_) => Self::new(StatusCode::BAD_REQUEST, "bad_request", detail),
            VoicesError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "not_found", detail),
            VoicesError::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, "forbidden", detail),
            VoicesError::TooLarge(_) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail)
            }
            VoicesError::Busy => {
                let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", detail);
                err.retry_after = Some(1);
                err
            }
            VoicesError::PutUrl(_) => Self::new(StatusCode::BAD_GATEWAY, "put_url_failed", detail),
            VoicesError::PutUrlRefused(_) => {
                Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
            }
            VoicesError::Speech(_) => {
                tracing::error!(error = %detail, "speech failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "speech_unavailable",
                    detail,
                )
            }
            VoicesError::Store(_) => {
                tracing::error!(error = %detail, "store failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database or blob store is unavailable",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_string(),
            error_description: self.oauth.then(|| self.detail.clone()),
            detail: self.detail,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(value) = self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if self.oauth
            || self.status == StatusCode::UNAUTHORIZED
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        response
    }
}
