//! The assistants' language-model columns: the latest build job and the model in use. Reads by
//! id alone: the service has checked the owner first.

use sqlx::Row;

use crate::assistants::error::AssistantsError;
use crate::assistants::model::AssistantId;
use crate::assistants::repo::AssistantsRepo;

/// An assistant's language-model state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AsrRow {
    /// The latest build job.
    pub job_id: Option<String>,
    /// The dataset version the model in use was built from.
    pub model_version: Option<i64>,
    /// The SHA-256 naming the model in use.
    pub sha256: Option<String>,
    /// When the model in use was built, Unix milliseconds.
    pub built_at: Option<i64>,
}

/// An assistant whose language model is built: what a recogniser is offered as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecognizerRow {
    /// The assistant.
    pub id: AssistantId,
    /// Its title.
    pub title: String,
    /// Its language.
    pub language: String,
}

impl AssistantsRepo {
    /// Every user's assistants with a built language model, by title then id, at most `limit`.
    /// For a protocol without users (Wyoming), which offers what the configuration exposes.
    pub async fn with_language_model(
        &self,
        limit: i64,
    ) -> Result<Vec<RecognizerRow>, AssistantsError> {
        let rows = sqlx::query(
            "SELECT id, title, language FROM assistants WHERE asr_model_sha256 IS NOT NULL
             ORDER BY title, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.db().pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RecognizerRow {
                    id: AssistantId::new(row.try_get::<String, _>("id")?),
                    title: row.try_get("title")?,
                    language: row.try_get("language")?,
                })
            })
            .collect()
    }

    /// The assistant's language-model state (default when it is gone).
    pub async fn asr_row(&self, id: &AssistantId) -> Result<AsrRow, AssistantsError> {
        let row = sqlx::query(
            "SELECT asr_job_id, asr_model_version, asr_model_sha256, asr_built_at
             FROM assistants WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.db().pool())
        .await?;
        let Some(row) = row else {
            return Ok(AsrRow::default());
        };
        Ok(AsrRow {
            job_id: row.try_get("asr_job_id")?,
            model_version: row.try_get("asr_model_version")?,
            sha256: row.try_get("asr_model_sha256")?,
            built_at: row.try_get("asr_built_at")?,
        })
    }

    /// Records the assistant's latest language-model job.
    pub async fn set_asr_job(&self, id: &AssistantId, job: &str) -> Result<(), AssistantsError> {
        sqlx::query("UPDATE assistants SET asr_job_id = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(job)
            .execute(self.db().pool())
            .await?;
        Ok(())
    }

    /// Puts a built language model in use unless one of a later dataset version is; `false`
    /// when it was not (or the assistant is gone).
    pub async fn set_asr_model(
        &self,
        id: &AssistantId,
        version: i64,
        sha256: &str,
        now: i64,
    ) -> Result<bool, AssistantsError> {
        let updated = sqlx::query(
            "UPDATE assistants SET asr_model_version = $2, asr_model_sha256 = $3, asr_built_at = $4
             WHERE id = $1 AND (asr_model_version IS NULL OR asr_model_version <= $2)",
        )
        .bind(id.as_str())
        .bind(version)
        .bind(sha256)
        .bind(now)
        .execute(self.db().pool())
        .await?
        .rows_affected();
        Ok(updated == 1)
    }
}
