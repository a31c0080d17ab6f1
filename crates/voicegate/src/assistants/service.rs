//! The assistants service: assistants created from Snips datasets (or the 2017 benchmark's
//! files), their status, their download and parsing with the model in use. Training, the job's
//! work, lives in `training.rs`; handlers call one function each.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};

use crate::assistants::asr_files::{ARPA, AsrFiles, DICTIONARY, GRAMMAR, SENTENCES};
use crate::assistants::decoders::DecoderPool;
use crate::assistants::error::AssistantsError;
use crate::assistants::model::{
    AssistantId, AssistantRow, NluStatus, TRAINING_JOB, TrainingStatus, rfc3339,
};
use crate::assistants::model_files::{ModelFiles, sha256_hex};
use crate::assistants::package::{Entry, zip};
use crate::assistants::repo::{AssistantsRepo, DatasetWrite};
use crate::clock::SharedClock;
use crate::config::AssistantsConfig;
use crate::events::{Event, EventHub};
use crate::identity::scopes::Scope;
use crate::ids::{UserId, new_hex_id};
use crate::jobs::queue::{JobId, JobStatus, Jobs};

/// What the assistants service is built from.
pub struct AssistantsParts {
    /// The assistants table.
    pub repo: AssistantsRepo,
    /// Where trained models are kept.
    pub models: ModelFiles,
    /// Where built language models are kept.
    pub asr: AsrFiles,
    /// The shared job queue (training runs on it).
    pub jobs: Jobs,
    /// The shared events hub.
    pub events: EventHub,
    /// The server's clock.
    pub clock: SharedClock,
    /// Limits.
    pub config: AssistantsConfig,
}

/// A model read from its file, with the hash it was stored under.
pub(super) struct LoadedModel {
    pub(super) sha256: String,
    pub(super) model: nlu::Model,
}

/// An assistant as the console lists it: its row and its training status.
#[derive(Debug, Clone)]
pub struct AssistantView {
    /// The row.
    pub row: AssistantRow,
    /// Its NLU and ASR status.
    pub status: TrainingStatus,
}

/// A dataset given to create or replace an assistant: the Snips dataset JSON, or the 2017
/// benchmark's `{"Intent": [{"data": […]}]}`.
#[derive(Debug)]
pub struct DatasetInput {
    /// The JSON value.
    pub value: Value,
    /// The parameter it came in (`dataset`), named in errors; empty when the body itself was the
    /// dataset.
    pub field: String,
}

/// The assistants service.
pub struct AssistantsService {
    pub(super) parts: AssistantsParts,
    /// The models parsing uses, one per assistant, replaced whole when a newer one is in use.
    pub(super) loaded: RwLock<HashMap<AssistantId, Arc<LoadedModel>>>,
    /// One training request at a time, so that two cannot both find none running.
    training_requests: tokio::sync::Mutex<()>,
    /// The same for language-model builds.
    pub(super) language_model_requests: tokio::sync::Mutex<()>,
    /// The speech decoders kept loaded.
    pub(super) decoders: Arc<DecoderPool>,
}

impl std::fmt::Debug for AssistantsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssistantsService").finish_non_exhaustive()
    }
}

/// The files of a language model, in the download's `asr/` folder.
const ASR_FILES: [&str; 4] = [SENTENCES, ARPA, GRAMMAR, DICTIONARY];

fn not_found(id: &AssistantId) -> AssistantsError {
    AssistantsError::NotFound(format!("assistantId: no assistant {:?}", id.as_str()))
}

/// Reads and validates a dataset (CPU work: call it on the blocking pool).
fn read_dataset(input: &DatasetInput) -> Result<nlu::Dataset, AssistantsError> {
    let at = |path: &str| match (input.field.is_empty(), path.is_empty()) {
        (true, true) => "dataset".to_string(),
        (true, false) => path.to_string(),
        (false, true) => input.field.clone(),
        (false, false) => format!("{}.{path}", input.field),
    };
    let Value::Object(map) = &input.value else {
        return Err(AssistantsError::BadRequest(format!(
            "{}: must be a JSON object (a Snips dataset or a benchmark file)",
            at("")
        )));
    };
    let snips = map.contains_key("intents") || map.contains_key("language");
    let dataset = if snips {
        nlu::Dataset::from_value(&input.value)
    } else {
        let bytes = serde_json::to_vec(&input.value)
            .map_err(|e| AssistantsError::BadRequest(format!("{}: {e}", at(""))))?;
        nlu::benchmark::import_benchmark(&[(at("").as_str(), &bytes)])
    };
    dataset.map_err(|e| {
        let path = if snips { at(&e.path) } else { e.path.clone() };
        AssistantsError::BadRequest(format!("{path}: {}", e.message))
    })
}

impl AssistantsService {
    /// The service over the shared queue and hub.
    pub fn new(parts: AssistantsParts) -> Self {
        Self {
            parts,
            loaded: RwLock::default(),
            training_requests: tokio::sync::Mutex::new(()),
            language_model_requests: tokio::sync::Mutex::new(()),
            decoders: Arc::default(),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &AssistantsConfig {
        &self.parts.config
    }

    pub(super) fn publish(&self, topic: &str, owner: UserId, data: &Value) {
        if self.parts.events.has_subscribers() {
            self.parts
                .events
                .publish(Event::new(topic, Scope::Assistant, Some(owner), data));
        }
    }

    /// The title: given (trimmed, within `assistants.max_title_chars`), or made from the
    /// dataset's intents.
    fn title(
        &self,
        given: Option<&str>,
        dataset: &nlu::Dataset,
    ) -> Result<String, AssistantsError> {
        let max = self.parts.config.max_title_chars;
        match given.map(str::trim).filter(|t| !t.is_empty()) {
            Some(title) if title.chars().count() > max => Err(AssistantsError::BadRequest(
                format!("title: longer than {max} characters (assistants.max_title_chars)"),
            )),
            Some(title) => Ok(title.to_string()),
            None => Ok(format!(
                "Assistant ({} intents, {})",
                dataset.intents.len(),
                dataset.language()
            )),
        }
    }

    async fn validated(input: DatasetInput) -> Result<nlu::Dataset, AssistantsError> {
        tokio::task::spawn_blocking(move || read_dataset(&input))
            .await
            .map_err(|e| AssistantsError::Store(e.to_string()))?
    }

    /// Creates an assistant from a dataset, within the user's quota.
    pub async fn create(
        &self,
        owner: UserId,
        title: Option<&str>,
        input: DatasetInput,
    ) -> Result<AssistantView, AssistantsError> {
        let dataset = Self::validated(input).await?;
        let title = self.title(title, &dataset)?;
        let id = AssistantId::new(new_hex_id());
        let json = String::from_utf8(dataset.to_json())
            .map_err(|e| AssistantsError::Store(e.to_string()))?;
        let write = DatasetWrite {
            id: &id,
            owner,
            title: &title,
            language: dataset.language(),
            dataset: &json,
            now: self.parts.clock.now_ms(),
        };
        let max = self.parts.config.max_per_user;
        if !self.parts.repo.create(&write, max).await? {
            return Err(AssistantsError::QuotaExceeded(format!(
                "quota: the user has {max} assistants, the most allowed (assistants.max_per_user)"
            )));
        }
        self.publish("assistants.created", owner, &json!({ "assistantId": id }));
        self.view(owner, &id).await
    }

    /// Replaces an assistant's dataset (and title, when given); it then needs training.
    pub async fn replace(
        &self,
        owner: UserId,
        id: &AssistantId,
        title: Option<&str>,
        input: DatasetInput,
    ) -> Result<AssistantView, AssistantsError> {
        let current = self.owned(owner, id).await?;
        let dataset = Self::validated(input).await?;
        let title = match title {
            Some(_) => self.title(title, &dataset)?,
            None => current.title,
        };
        let json = String::from_utf8(dataset.to_json())
            .map_err(|e| AssistantsError::Store(e.to_string()))?;
        let write = DatasetWrite {
            id,
            owner,
            title: &title,
            language: dataset.language(),
            dataset: &json,
            now: self.parts.clock.now_ms(),
        };
        if !self.parts.repo.replace_dataset(&write).await? {
            return Err(not_found(id));
        }
        self.publish("assistants.updated", owner, &json!({ "assistantId": id }));
        self.view(owner, id).await
    }

    /// Renames an assistant: a title of 1 to `assistants.max_title_chars` characters (trimmed);
    /// the dataset and the trained models stay.
    pub async fn rename(
        &self,
        owner: UserId,
        id: &AssistantId,
        title: &str,
    ) -> Result<AssistantView, AssistantsError> {
        let max = self.parts.config.max_title_chars;
        let title = title.trim();
        if title.is_empty() || title.chars().count() > max {
            return Err(AssistantsError::BadRequest(format!(
                "title: 1 to {max} characters (assistants.max_title_chars)"
            )));
        }
        let now = self.parts.clock.now_ms();
        if !self.parts.repo.set_title(owner, id, title, now).await? {
            return Err(not_found(id));
        }
        self.publish("assistants.updated", owner, &json!({ "assistantId": id }));
        self.view(owner, id).await
    }

    /// Deletes an assistant and its models.
    pub async fn delete(&self, owner: UserId, id: &AssistantId) -> Result<(), AssistantsError> {
        if !self.parts.repo.delete(owner, id).await? {
            return Err(not_found(id));
        }
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.decoders.remove(id);
        let (models, asr, id2) = (
            self.parts.models.clone(),
            self.parts.asr.clone(),
            id.clone(),
        );
        tokio::task::spawn_blocking(move || models.remove_all(&id2).and(asr.remove_all(&id2)))
            .await
            .map_err(|e| AssistantsError::Store(e.to_string()))??;
        self.publish("assistants.deleted", owner, &json!({ "assistantId": id }));
        Ok(())
    }

    /// The owner's assistant, or "no assistant" (another user's looks like an unknown one).
    pub(super) async fn owned(
        &self,
        owner: UserId,
        id: &AssistantId,
    ) -> Result<AssistantRow, AssistantsError> {
        self.parts
            .repo
            .get(owner, id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// The user's assistants with their status, oldest first.
    pub async fn list(&self, owner: UserId) -> Result<Vec<AssistantView>, AssistantsError> {
        let rows = self.parts.repo.list(owner).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            let status = self.status_of(&row).await?;
            views.push(AssistantView { row, status });
        }
        Ok(views)
    }

    /// One of the user's assistants with its status.
    pub async fn view(
        &self,
        owner: UserId,
        id: &AssistantId,
    ) -> Result<AssistantView, AssistantsError> {
        let row = self.owned(owner, id).await?;
        let status = self.status_of(&row).await?;
        Ok(AssistantView { row, status })
    }

    /// The NLU and ASR status of one of the user's assistants.
    pub async fn status(
        &self,
        owner: UserId,
        id: &AssistantId,
    ) -> Result<TrainingStatus, AssistantsError> {
        Ok(self.view(owner, id).await?.status)
    }

    async fn status_of(&self, row: &AssistantRow) -> Result<TrainingStatus, AssistantsError> {
        let job = match &row.nlu_job_id {
            Some(job) => self.parts.jobs.get(&JobId::new(job.as_str())).await?,
            None => None,
        };
        let in_progress = job
            .as_ref()
            .is_some_and(|j| matches!(j.status, JobStatus::Queued | JobStatus::Running));
        let trained = row.nlu_model_sha256.is_some();
        let progress = match &job {
            Some(job) if in_progress => job.progress.min(99),
            _ if trained => 100,
            _ => 0,
        };
        let error = job
            .filter(|j| j.status == JobStatus::Failed)
            .map(|j| j.error.unwrap_or_else(|| "training failed".into()));
        Ok(TrainingStatus {
            nlu_status: NluStatus {
                in_progress,
                need_training: row.needs_training(),
                progress,
                error,
                trained_at: row.nlu_trained_at.map(rfc3339),
            },
            asr_status: self.asr_status_of(row).await?,
        })
    }

    /// `POST /v1/training`: queues the assistant's NLU training; a conflict while one is queued
    /// or running.
    pub async fn request_training(
        &self,
        owner: UserId,
        id: &AssistantId,
    ) -> Result<JobId, AssistantsError> {
        let _one_at_a_time = self.training_requests.lock().await;
        let row = self.owned(owner, id).await?;
        if self.status_of(&row).await?.nlu_status.in_progress {
            return Err(AssistantsError::Conflict(format!(
                "assistantId: a training of assistant {:?} is in progress",
                id.as_str()
            )));
        }
        let job = self
            .parts
            .jobs
            .enqueue(TRAINING_JOB, Some(owner), json!({ "assistant_id": id }))
            .await?;
        self.parts.repo.set_training_job(id, job.as_str()).await?;
        Ok(job)
    }

    /// The model in use for the assistant, read from its file once and kept until a newer one
    /// is in use; a conflict when none was trained.
    pub(super) async fn model(
        &self,
        row: &AssistantRow,
    ) -> Result<Arc<LoadedModel>, AssistantsError> {
        let Some(sha256) = row.nlu_model_sha256.clone() else {
            return Err(AssistantsError::Conflict(format!(
                "assistantId: assistant {:?} was never trained: POST /v1/training first",
                row.id.as_str()
            )));
        };
        if let Some(loaded) = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&row.id)
            .filter(|loaded| loaded.sha256 == sha256)
        {
            return Ok(loaded.clone());
        }
        let (models, id) = (self.parts.models.clone(), row.id.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            let bytes = models.read(&id, &sha256)?;
            let model = nlu::Model::from_bytes(&bytes)
                .map_err(|e| AssistantsError::Model(e.to_string()))?;
            Ok::<_, AssistantsError>(Arc::new(LoadedModel { sha256, model }))
        })
        .await
        .map_err(|e| AssistantsError::Store(e.to_string()))??;
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(row.id.clone(), loaded.clone());
        Ok(loaded)
    }

    /// Parses `text` with the assistant's model in use (Snips' output shape).
    pub async fn parse(
        &self,
        owner: UserId,
        id: &AssistantId,
        text: &str,
    ) -> Result<Value, AssistantsError> {
        let max = self.parts.config.max_parse_chars;
        if text.chars().count() > max {
            return Err(AssistantsError::BadRequest(format!(
                "text: longer than {max} characters (assistants.max_parse_chars)"
            )));
        }
        let row = self.owned(owner, id).await?;
        let loaded = self.model(&row).await?;
        serde_json::to_value(loaded.model.parse(text))
            .map_err(|e| AssistantsError::Model(e.to_string()))
    }

    /// The assistant's zip: `assistant.json` (ids, versions, and the SHA-256 of every other
    /// file), `dataset.json` and the NLU model in use; a conflict when none was trained.
    pub async fn download(
        &self,
        owner: UserId,
        id: &AssistantId,
    ) -> Result<Vec<u8>, AssistantsError> {
        let row = self.owned(owner, id).await?;
        let Some(sha256) = row.nlu_model_sha256.clone() else {
            return Err(AssistantsError::Conflict(format!(
                "assistantId: assistant {:?} was never trained: POST /v1/training first",
                id.as_str()
            )));
        };
        let dataset = self
            .parts
            .repo
            .dataset_json(owner, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let asr = self.parts.repo.asr_row(id).await?;
        let (models, asr_files, id2) = (
            self.parts.models.clone(),
            self.parts.asr.clone(),
            id.clone(),
        );
        let asr_sha = asr.sha256.clone();
        let (model, asr_bytes) = tokio::task::spawn_blocking(move || {
            let model = models.read(&id2, &sha256)?;
            let asr_bytes = match asr_sha {
                Some(sha) => ASR_FILES
                    .iter()
                    .map(|name| Ok((format!("asr/{name}"), asr_files.read(&id2, &sha, name)?)))
                    .collect::<std::io::Result<Vec<_>>>()?,
                None => Vec::new(),
            };
            Ok::<_, std::io::Error>((model, asr_bytes))
        })
        .await
        .map_err(|e| AssistantsError::Store(e.to_string()))??;
        let mut files: Vec<(&str, &[u8])> = vec![
            ("dataset.json", dataset.as_bytes()),
            ("nlu_engine.bin", model.as_slice()),
        ];
        files.extend(asr_bytes.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
        let asr_manifest = asr.sha256.as_ref().map(|_| {
            json!({
                "datasetVersion": asr.model_version,
                "builtAt": asr.built_at.map(rfc3339),
                "engine": "pocketsphinx",
                "languageModel": format!("asr/{ARPA}"),
                "grammar": format!("asr/{GRAMMAR}"),
                "dictionary": format!("asr/{DICTIONARY}"),
                "sentences": format!("asr/{SENTENCES}"),
            })
        });
        let manifest = json!({
            "format": "voicegate-assistant/1",
            "assistantId": row.id,
            "title": row.title,
            "language": row.language,
            "datasetVersion": row.dataset_version,
            "nlu": {
                "datasetVersion": row.nlu_model_version,
                "trainedAt": row.nlu_trained_at.map(rfc3339),
                "engine": "voicegate-nlu",
                "engineVersion": env!("CARGO_PKG_VERSION"),
                "file": "nlu_engine.bin",
            },
            "asr": asr_manifest,
            "voicegateVersion": env!("CARGO_PKG_VERSION"),
            "files": files.iter().map(|(name, bytes)| json!({
                "name": name,
                "size": bytes.len(),
                "sha256": sha256_hex(bytes),
            })).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| AssistantsError::Store(e.to_string()))?;
        let mut entries = vec![Entry {
            name: "assistant.json",
            bytes: &manifest,
        }];
        entries.extend(files.iter().map(|(name, bytes)| Entry { name, bytes }));
        zip(&entries).map_err(AssistantsError::Store)
    }
}
