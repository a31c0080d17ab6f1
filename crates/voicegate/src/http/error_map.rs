//! The one mapping of domain errors to answers: each domain's error type becomes an
//! [`ApiError`] (status, code, detail, challenge) here and nowhere else.

use axum::http::StatusCode;

use crate::assistants::AssistantsError;
use crate::http::error::ApiError;
use crate::identity::IdentityError;
use crate::identity::oauth_error::OAuthError;
use crate::ovos::OvosError;
use crate::ovos::bus::BusError;
use crate::speakers::error::SpeakerError;
use crate::store::BAD_TEXT;
use crate::voices::VoicesError;

/// The answer when the disk under the store is full: 507, nothing stored, the server goes on
/// (reads work; writes work again once space is freed).
fn disk_full(detail: &str) -> ApiError {
    tracing::error!(error = %detail, "disk full");
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        "insufficient_storage",
        "the server's disk is full: nothing was stored; retry once space is freed",
    )
}

/// The challenge of every 401 that a token would have avoided.
const BEARER: &str = r#"Bearer realm="voicegate""#;

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        use IdentityError as E;
        let detail = e.to_string();
        match e {
            E::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "invalid user or password",
            )
            .with_challenge(BEARER),
            E::MissingCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "authentication required: send Authorization: Bearer <access token>",
            )
            .with_challenge(BEARER),
            E::InvalidToken => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token is invalid, expired or revoked",
            )
            .with_challenge(r#"Bearer realm="voicegate", error="invalid_token""#),
            E::InsufficientScope(scope) => Self::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("the token lacks the {scope} scope"),
            )
            .with_challenge(format!(
                r#"Bearer realm="voicegate", error="insufficient_scope", scope="{scope}""#
            )),
            E::ScopeEscalation(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_scope", detail),
            E::ShuttingDown | E::Unavailable(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
            }
            E::RateLimited { retry_after } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
                    .with_retry_after(retry_after)
            }
            E::QuotaExceeded(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", detail)
            }
            E::Validation(detail) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            ),
            E::UserExists(_) | E::ManagedByUsersDb(_) | E::AliasExists(_) => {
                Self::new(StatusCode::CONFLICT, "conflict", detail)
            }
            E::AliasNotFound(_) | E::ApiKeyNotFound(_) | E::UserNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", detail)
            }
            E::InvalidSignature => Self::new(StatusCode::UNAUTHORIZED, "invalid_signature", detail),
            E::OtherUser | E::NotInteractive => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
            }
            E::CsrfMismatch => Self::new(StatusCode::FORBIDDEN, "csrf_failed", detail),
            E::UsersFile { .. }
            | E::Password(crate::identity::password::PasswordError::TooLongForBcrypt) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            ),
            E::Store(store) if store.is_bad_text() => Self::bad_request(BAD_TEXT),
            E::Store(store) if store.is_disk_full() => disk_full(&detail),
            E::Store(store) => {
                tracing::error!(error = %store, "store failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database is unavailable",
                )
            }
            E::Password(_) | E::SigningKey(_) => {
                tracing::error!(error = %detail, "internal failure");
                Self::internal()
            }
        }
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        let detail = e.to_string();
        match e {
            OAuthError::Identity(inner) => inner.into(),
            OAuthError::InvalidClient => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_client", detail)
                    .with_challenge(r#"Basic realm="voicegate""#)
            }
            other => Self::new(StatusCode::BAD_REQUEST, other.code(), detail),
        }
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
            OvosError::BadAnswer(_) => Self::new(StatusCode::BAD_GATEWAY, "bad_answer", detail),
            OvosError::NoApiKey | OvosError::SkillKeyUnset | OvosError::SkillNotInstalled(_) => {
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

impl From<SpeakerError> for ApiError {
    fn from(e: SpeakerError) -> Self {
        let detail = e.to_string();
        match e {
            SpeakerError::BadRequest(_) => {
                Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
            }
            SpeakerError::UnknownDevice(_) => {
                Self::new(StatusCode::NOT_FOUND, "unknown_device", detail)
            }
            SpeakerError::UnknownSession => {
                Self::new(StatusCode::NOT_FOUND, "unknown_session", detail)
            }
            SpeakerError::TooManySessions(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_sessions", detail)
            }
            SpeakerError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "speakers_unavailable",
                detail,
            )
            .with_retry_after(1),
            SpeakerError::Backend(_) => {
                Self::new(StatusCode::BAD_GATEWAY, "speakers_failed", detail)
            }
            SpeakerError::AllStreamsBusy(_) => {
                Self::new(StatusCode::CONFLICT, "streams_busy", detail)
            }
            SpeakerError::NoSpeakers => Self::new(StatusCode::BAD_REQUEST, "no_speakers", detail),
            SpeakerError::UnknownMedia(_) => {
                Self::new(StatusCode::NOT_FOUND, "unknown_media", detail)
            }
            SpeakerError::BadMedia(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_media", detail)
            }
            SpeakerError::MediaUnavailable(_) => {
                Self::new(StatusCode::FAILED_DEPENDENCY, "media_unavailable", detail)
            }
            SpeakerError::OwnerGone(_) => Self::new(StatusCode::CONFLICT, "owner_gone", detail),
            SpeakerError::OwnerSilent(..) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "owner_unavailable", detail)
                    .with_retry_after(1)
            }
            SpeakerError::NothingPaused => {
                Self::new(StatusCode::CONFLICT, "nothing_paused", detail)
            }
            SpeakerError::Speech(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "speech_unavailable",
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
            VoicesError::QuotaExceeded(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", detail)
            }
            VoicesError::StorageFull(_) => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                detail,
            ),
            VoicesError::Busy => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", detail).with_retry_after(1)
            }
            VoicesError::PutUrl(_) => Self::new(StatusCode::BAD_GATEWAY, "put_url_failed", detail),
            VoicesError::PutUrlBusy(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", detail).with_retry_after(1)
            }
            VoicesError::Speech(_) => {
                tracing::error!(error = %detail, "speech failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "speech_unavailable",
                    detail,
                )
            }
            VoicesError::DiskFull(_) => disk_full(&detail),
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

impl From<AssistantsError> for ApiError {
    fn from(e: AssistantsError) -> Self {
        let detail = e.to_string();
        match e {
            AssistantsError::BadRequest(_) => {
                Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
            }
            AssistantsError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "not_found", detail),
            AssistantsError::Conflict(_) => Self::new(StatusCode::CONFLICT, "conflict", detail),
            AssistantsError::QuotaExceeded(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", detail)
            }
            AssistantsError::Model(_) => {
                tracing::error!(error = %detail, "a stored model does not read back");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "model_unavailable",
                    "the trained model cannot be read: train the assistant again",
                )
            }
            AssistantsError::DiskFull(_) => disk_full(&detail),
            AssistantsError::Store(_) => {
                tracing::error!(error = %detail, "store failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database or model store is unavailable",
                )
            }
        }
    }
}
