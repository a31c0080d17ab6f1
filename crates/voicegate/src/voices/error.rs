//! The voices surface's one error type; the HTTP edge maps it to status codes.

use crate::engines::EnginesError;
use crate::jobs::JobError;
use crate::store::blobs::BlobError;
use crate::store::{BAD_TEXT, StoreError, sqlx_bad_text, sqlx_disk_full};
use crate::voices::put_url::PutUrlError;

/// What can go wrong on the voices surface.
#[derive(Debug, thiserror::Error)]
pub enum VoicesError {
    /// A parameter is missing or invalid; the text names it.
    #[error("{0}")]
    BadRequest(String),
    /// No such account, voice, build or token (or it belongs to another user).
    #[error("{0}")]
    NotFound(String),
    /// The device is not registered to this user, or the voice cannot be downloaded/streamed.
    #[error("{0}")]
    Forbidden(String),
    /// The upload is larger than the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// The user has as many of something as its quota allows (voice accounts, devices,
    /// recordings of an account); the text names the quota.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The user's recordings would take more bytes than its quota; the text names it.
    #[error("{0}")]
    StorageFull(String),
    /// Too many syntheses at once.
    #[error("the speech engines are busy; retry shortly")]
    Busy,
    /// The put_url destination was refused, unreachable or did not answer (one message for all).
    #[error("{0}")]
    PutUrl(String),
    /// Every put_url upload slot stayed taken.
    #[error("{0}")]
    PutUrlBusy(String),
    /// The speech engines failed.
    #[error("speech: {0}")]
    Speech(String),
    /// The database or blob store failed.
    #[error("store: {0}")]
    Store(String),
    /// The disk under the database or the blob store is full: nothing was stored.
    #[error("disk full: {0}")]
    DiskFull(String),
}

impl From<EnginesError> for VoicesError {
    fn from(e: EnginesError) -> Self {
        match e {
            EnginesError::Busy => VoicesError::Busy,
            unavailable => VoicesError::Speech(unavailable.to_string()),
        }
    }
}

impl From<PutUrlError> for VoicesError {
    fn from(e: PutUrlError) -> Self {
        let detail = e.to_string();
        match e {
            PutUrlError::BadUrl(_) | PutUrlError::Scheme(_) => VoicesError::BadRequest(detail),
            PutUrlError::Unreachable => VoicesError::PutUrl(detail),
            PutUrlError::Busy => VoicesError::PutUrlBusy(detail),
        }
    }
}

impl From<StoreError> for VoicesError {
    fn from(e: StoreError) -> Self {
        if e.is_bad_text() {
            VoicesError::BadRequest(BAD_TEXT.into())
        } else if e.is_disk_full() {
            VoicesError::DiskFull(e.to_string())
        } else {
            VoicesError::Store(e.to_string())
        }
    }
}

impl From<sqlx::Error> for VoicesError {
    fn from(e: sqlx::Error) -> Self {
        if sqlx_bad_text(&e) {
            VoicesError::BadRequest(BAD_TEXT.into())
        } else if sqlx_disk_full(&e) {
            VoicesError::DiskFull(e.to_string())
        } else {
            VoicesError::Store(e.to_string())
        }
    }
}

impl From<BlobError> for VoicesError {
    fn from(e: BlobError) -> Self {
        if e.is_disk_full() {
            VoicesError::DiskFull(e.to_string())
        } else {
            VoicesError::Store(e.to_string())
        }
    }
}

impl From<JobError> for VoicesError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Store(store) => store.into(),
            other => VoicesError::Store(other.to_string()),
        }
    }
}

impl From<speech::SpeechError> for VoicesError {
    fn from(e: speech::SpeechError) -> Self {
        use speech::SpeechError as E;
        match e {
            E::UnknownVoice(v) => VoicesError::NotFound(format!("unknown voice {v}")),
            E::InvalidParameter { name, detail } => {
                VoicesError::BadRequest(format!("{name}: {detail}"))
            }
            E::BadAudio(detail) => VoicesError::BadRequest(format!("file: {detail}")),
            other => VoicesError::Speech(other.to_string()),
        }
    }
}
