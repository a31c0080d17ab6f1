//! The assistants surface's one error type; the HTTP edge maps it to status codes.

use crate::jobs::JobError;
use crate::store::{BAD_TEXT, StoreError, io_disk_full, sqlx_bad_text, sqlx_disk_full};

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
    /// The disk under the database or the model files is full: nothing was stored.
    #[error("disk full: {0}")]
    DiskFull(String),
}

impl AssistantsError {
    fn store(e: impl ToString, disk_full: bool) -> Self {
        if disk_full {
            Self::DiskFull(e.to_string())
        } else {
            Self::Store(e.to_string())
        }
    }
}

impl From<StoreError> for AssistantsError {
    fn from(e: StoreError) -> Self {
        if e.is_bad_text() {
            return Self::BadRequest(BAD_TEXT.into());
        }
        let full = e.is_disk_full();
        Self::store(e, full)
    }
}

impl From<sqlx::Error> for AssistantsError {
    fn from(e: sqlx::Error) -> Self {
        if sqlx_bad_text(&e) {
            return Self::BadRequest(BAD_TEXT.into());
        }
        let full = sqlx_disk_full(&e);
        Self::store(e, full)
    }
}

impl From<JobError> for AssistantsError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Store(store) => store.into(),
            other => Self::Store(other.to_string()),
        }
    }
}

impl From<std::io::Error> for AssistantsError {
    fn from(e: std::io::Error) -> Self {
        let full = io_disk_full(&e);
        Self::store(e, full)
    }
}
