//! The assistants surface's one error type; the HTTP edge maps it to status codes.

use crate::jobs::JobError;
use crate::store::StoreError;

/// What can go wrong on the assistants surface.
#[derive(Debug, thiserror::Error)]
pub enum AssistantsError {
    /// A parameter or the dataset is missing or invalid; the text names the field.
    #[error("{0}")]
    BadRequest(String),
    /// No such assistant (or it belongs to another user).
    #[error("{0}")]
    NotFound(String),
    /// The request does not fit the assistant's state: a training runs already, or nothing
    /// was trained yet.
    #[error("{0}")]
    Conflict(String),
    /// The user has as many assistants as allowed; the text names the setting.
    #[error("{0}")]
    QuotaExceeded(String),
    /// A stored model does not read back (written by another version).
    #[error("model: {0}")]
    Model(String),
    /// The database, the model files or the job queue failed.
    #[error("store: {0}")]
    Store(String),
}

impl From<StoreError> for AssistantsError {
    fn from(e: StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<sqlx::Error> for AssistantsError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<JobError> for AssistantsError {
    fn from(e: JobError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<std::io::Error> for AssistantsError {
    fn from(e: std::io::Error) -> Self {
        Self::Store(e.to_string())
    }
}
