//! The assistants' SQL: one struct over `Db`. Every read and write a user makes names its owner,
//! so another user's assistant is never seen or touched.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::assistants::error::AssistantsError;
use crate::assistants::model::{AssistantId, AssistantRow};
use crate::ids::UserId;
use crate::store::{Db, sql_integer};

/// The columns of an [`AssistantRow`], in the order [`row_of`] reads them.
macro_rules! assistant_columns {
    () => {
        "id, title, language, dataset_version, created_at, updated_at, nlu_job_id, \
         nlu_model_version, nlu_model_sha256, nlu_trained_at"
    };
}

/// A new assistant, or a dataset replacing an assistant's.
#[derive(Debug)]
pub struct DatasetWrite<'a> {
    /// The assistant.
    pub id: &'a AssistantId,
    /// Its owner.
    pub owner: UserId,
    /// Its title.
    pub title: &'a str,
    /// The dataset's language.
    pub language: &'a str,
    /// The dataset, JSON.
    pub dataset: &'a str,
    /// Unix milliseconds.
    pub now: i64,
}

/// A dataset to train, with the version it is.
#[derive(Debug)]
pub struct StoredDataset {
    /// The owner.
    pub owner: UserId,
    /// The dataset, JSON.
    pub json: String,
    /// Its version.
    pub version: i64,
    /// The dataset version of the model in use.
    pub model_version: Option<i64>,
}

/// The assistants tables.
#[derive(Debug, Clone)]
pub struct AssistantsRepo {
    db: Db,
}

fn row_of(row: &AnyRow) -> Result<AssistantRow, sqlx::Error> {
    Ok(AssistantRow {
        id: AssistantId::new(row.try_get::<String, _>("id")?),
        title: row.try_get("title")?,
        language: row.try_get("language")?,
        dataset_version: row.try_get("dataset_version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        nlu_job_id: row.try_get("nlu_job_id")?,
        nlu_model_version: row.try_get("nlu_model_version")?,
        nlu_model_sha256: row.try_get("nlu_model_sha256")?,
        nlu_trained_at: row.try_get("nlu_trained_at")?,
    })
}

impl AssistantsRepo {
    /// The repository over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database (the language models' queries, in `asr_repo.rs`).
    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    /// Stores a new assistant unless its owner has `max` already (counted in the same
    /// statement); `false` when the quota refused it.
    pub async fn create(&self, new: &DatasetWrite<'_>, max: u64) -> Result<bool, AssistantsError> {
        let inserted = self.db.insert_below_quota(new.owner.get(), sqlx::query(
            "INSERT INTO assistants (id, owner_id, title, language, dataset, created_at, updated_at)
             SELECT $1, $2, $3, $4, $5, $6, $6
             WHERE (SELECT COUNT(*) FROM assistants WHERE owner_id = $2) < $7",
        )
        .bind(new.id.as_str())
        .bind(new.owner.get())
        .bind(new.title)
        .bind(new.language)
        .bind(new.dataset)
        .bind(new.now)
        .bind(sql_integer(max)))
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// The owner's assistants, oldest first.
    pub async fn list(&self, owner: UserId) -> Result<Vec<AssistantRow>, AssistantsError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            assistant_columns!(),
            " FROM assistants WHERE owner_id = $1 ORDER BY created_at, id"
        ))
        .bind(owner.get())
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(row_of).collect::<Result<_, _>>()?)
    }

    /// The assistant, when `owner` owns it.
    pub async fn get(
        &self,
        owner: UserId,
        id: &AssistantId,
    ) -> Result<Option<AssistantRow>, AssistantsError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            assistant_columns!(),
            " FROM assistants WHERE id = $1 AND owner_id = $2"
        ))
        .bind(id.as_str())
        .bind(owner.get())
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(row_of).transpose()?)
    }

    /// The assistant's dataset as stored (JSON), when `owner` owns it.
    pub async fn dataset_json(
        &self,
        owner: UserId,
        id: &AssistantId,
    ) -> Result<Option<String>, AssistantsError> {
        Ok(
            sqlx::query_scalar("SELECT dataset FROM assistants WHERE id = $1 AND owner_id = $2")
                .bind(id.as_str())
                .bind(owner.get())
                .fetch_optional(self.db.pool())
                .await?,
        )
    }

    /// The dataset to train (the training job's read: any owner).
    pub async fn dataset_to_train(
        &self,
        id: &AssistantId,
    ) -> Result<Option<StoredDataset>, AssistantsError> {
        let row = sqlx::query(
            "SELECT owner_id, dataset, dataset_version, nlu_model_version
             FROM assistants WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(StoredDataset {
            owner: UserId::new(row.try_get("owner_id")?),
            json: row.try_get("dataset")?,
            version: row.try_get("dataset_version")?,
            model_version: row.try_get("nlu_model_version")?,
        }))
    }

    /// Replaces the dataset (and title and language) of the owner's assistant; its version
    /// grows by one. `false` when there is no such assistant of this owner.
    pub async fn replace_dataset(&self, write: &DatasetWrite<'_>) -> Result<bool, AssistantsError> {
        let updated = sqlx::query(
            "UPDATE assistants SET title = $3, language = $4, dataset = $5,
                 dataset_version = dataset_version + 1, updated_at = $6
             WHERE id = $1 AND owner_id = $2",
        )
        .bind(write.id.as_str())
        .bind(write.owner.get())
        .bind(write.title)
        .bind(write.language)
        .bind(write.dataset)
        .bind(write.now)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Renames the owner's assistant (its dataset and models stay); `false` when there is no
    /// such assistant of this owner.
    pub async fn set_title(
        &self,
        owner: UserId,
        id: &AssistantId,
        title: &str,
        now: i64,
    ) -> Result<bool, AssistantsError> {
        let updated = sqlx::query(
            "UPDATE assistants SET title = $3, updated_at = $4 WHERE id = $1 AND owner_id = $2",
        )
        .bind(id.as_str())
        .bind(owner.get())
        .bind(title)
        .bind(now)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Deletes the owner's assistant; `false` when there is no such assistant of this owner.
    pub async fn delete(&self, owner: UserId, id: &AssistantId) -> Result<bool, AssistantsError> {
        let deleted = sqlx::query("DELETE FROM assistants WHERE id = $1 AND owner_id = $2")
            .bind(id.as_str())
            .bind(owner.get())
            .execute(self.db.pool())
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }

    /// Records the assistant's latest training job.
    pub async fn set_training_job(
        &self,
        id: &AssistantId,
        job: &str,
    ) -> Result<(), AssistantsError> {
        sqlx::query("UPDATE assistants SET nlu_job_id = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(job)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Puts a trained model in use: the one trained from dataset `version`, unless a model of a
    /// later version is in use already. `false` when it was not put in use (or the assistant is
    /// gone).
    pub async fn set_model(
        &self,
        id: &AssistantId,
        version: i64,
        sha256: &str,
        now: i64,
    ) -> Result<bool, AssistantsError> {
        let updated = sqlx::query(
            "UPDATE assistants SET nlu_model_version = $2, nlu_model_sha256 = $3, nlu_trained_at = $4
             WHERE id = $1 AND (nlu_model_version IS NULL OR nlu_model_version <= $2)",
        )
        .bind(id.as_str())
        .bind(version)
        .bind(sha256)
        .bind(now)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// The SHA-256 of the model in use, for whoever owns the assistant (the model files' tidy-up).
    pub async fn model_in_use(&self, id: &AssistantId) -> Result<Option<String>, AssistantsError> {
        Ok(
            sqlx::query_scalar("SELECT nlu_model_sha256 FROM assistants WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(self.db.pool())
                .await?
                .flatten(),
        )
    }
}
