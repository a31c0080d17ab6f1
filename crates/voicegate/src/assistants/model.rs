//! The assistants surface's types: the assistant's id, an assistant as listed, and its training
//! status as the console shows it.

use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::text_id;

text_id! {
    /// An assistant's id (32 hex digits).
    AssistantId
}

/// Job kind of NLU training.
pub const TRAINING_JOB: &str = "nlu_training";

/// Job kind of an ASR language-model build.
pub const LANGUAGE_MODEL_JOB: &str = "asr_training";

/// An assistant as stored, without its dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct AssistantRow {
    /// Its id.
    pub id: AssistantId,
    /// Its title.
    pub title: String,
    /// The dataset's language (`en`, `fr`, …).
    pub language: String,
    /// Grows by one at every change of the dataset.
    pub dataset_version: i64,
    /// Created, Unix milliseconds.
    pub created_at: i64,
    /// Last changed, Unix milliseconds.
    pub updated_at: i64,
    /// The latest NLU training job.
    pub nlu_job_id: Option<String>,
    /// The dataset version the model in use was trained from.
    pub nlu_model_version: Option<i64>,
    /// The SHA-256 (hex) of the model in use.
    pub nlu_model_sha256: Option<String>,
    /// When the model in use was trained, Unix milliseconds.
    pub nlu_trained_at: Option<i64>,
}

impl AssistantRow {
    /// Whether the dataset changed since the model in use was trained (or nothing was trained).
    pub fn needs_training(&self) -> bool {
        self.nlu_model_version != Some(self.dataset_version)
    }
}

/// The NLU training status of an assistant (`nluStatus`), and the language model's
/// (`asrStatus`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NluStatus {
    /// A training job is queued or running.
    pub in_progress: bool,
    /// The dataset changed since the last training (or it was never trained).
    pub need_training: bool,
    /// Percent done of the training in progress (100 when none runs and a model exists).
    pub progress: u8,
    /// Why the latest training failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the model in use was trained (RFC 3339, UTC), or null.
    pub trained_at: Option<String>,
}

/// Both statuses of an assistant, as `GET /v3/assistant/{id}/status` answers.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingStatus {
    /// NLU training.
    pub nlu_status: NluStatus,
    /// ASR language model.
    pub asr_status: NluStatus,
}

/// Unix milliseconds as RFC 3339 in UTC, to the millisecond (`2024-05-01T12:00:00.000Z`).
pub fn rfc3339(unix_ms: i64) -> String {
    let (secs, ms) = (unix_ms.div_euclid(1000), unix_ms.rem_euclid(1000));
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // The civil date of a day count (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_825_600_123), "2000-02-29T12:00:00.123Z");
        assert_eq!(rfc3339(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
    }
}
