//! ASR language models, the job's work and its status: the assistant's dataset made into
//! sentences, a 3-gram model, a grammar and a dictionary (words from the acoustic model's
//! dictionary, others pronounced by espeak-ng), written whole, then put in use by one update of
//! the assistant's row. The outcome is published for the owner (`assistants.asr.built`,
//! `assistants.asr.failed`).

use std::path::Path;

use serde_json::{Value, json};

use crate::assistants::asr_files::{ARPA, AsrFiles, DICTIONARY, GRAMMAR, SENTENCES};
use crate::assistants::error::AssistantsError;
use crate::assistants::model::{AssistantId, AssistantRow, LANGUAGE_MODEL_JOB, NluStatus, rfc3339};
use crate::assistants::service::AssistantsService;
use crate::config::AssistantsConfig;
use crate::ids::UserId;
use crate::jobs::progress::ProgressReporter;
use crate::jobs::queue::{JobId, JobStatus};

/// Builds the language model's files from a stored dataset (blocking: CPU and file work).
pub fn build_files(
    dataset_json: &[u8],
    config: &AssistantsConfig,
) -> Result<nlu::language_model::LanguageModel, String> {
    let dataset =
        nlu::Dataset::from_json(dataset_json).map_err(|e| format!("the stored dataset: {e}"))?;
    let dictionary = read_dictionary(&config.asr_dictionary)?;
    let espeak = speech::espeak::Espeak::new().map_err(|e| e.to_string())?;
    let voice = config.asr_espeak_voice.clone();
    // espeak-ng says a word of another script as "chinese letter" and the like: only words of
    // Latin letters, digits and apostrophes are given to it.
    let mut fallback = |word: &str| {
        let latin = word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '\'' || ('\u{c0}'..='\u{24f}').contains(&c));
        if !latin {
            return None;
        }
        speech::cmu::pronounce(&espeak, &voice, word).ok().flatten()
    };
    let options = nlu::language_model::SentenceOptions {
        max_sentences: config.asr_max_sentences,
    };
    nlu::language_model::build(&dataset, &options, &dictionary, &mut fallback)
        .map_err(|e| format!("building the language model: {e}"))
}

/// Reads the acoustic model's dictionary.
fn read_dictionary(path: &Path) -> Result<nlu::language_model::PhoneDictionary, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "the pronunciation dictionary {} (assistants.asr_dictionary): {e}",
            path.display()
        )
    })?;
    Ok(nlu::language_model::PhoneDictionary::parse(&text))
}

/// Writes a built model's files; answers the SHA-256 naming them.
pub fn write_files(
    files: &AsrFiles,
    id: &AssistantId,
    model: &nlu::language_model::LanguageModel,
) -> std::io::Result<String> {
    let sentences = model.sentences.join("\n") + "\n";
    files.write(
        id,
        &[
            (SENTENCES, sentences.as_bytes()),
            (ARPA, model.arpa.as_bytes()),
            (GRAMMAR, model.jsgf.as_bytes()),
            (DICTIONARY, model.dictionary.as_bytes()),
        ],
    )
}

impl AssistantsService {
    /// `POST /v1/languagemodel`: queues the assistant's language-model build; a conflict while
    /// one is queued or running.
    pub async fn request_language_model(
        &self,
        owner: UserId,
        id: &AssistantId,
    ) -> Result<JobId, AssistantsError> {
        let _one_at_a_time = self.language_model_requests.lock().await;
        let row = self.owned(owner, id).await?;
        if self.asr_status_of(&row).await?.in_progress {
            return Err(AssistantsError::Conflict(format!(
                "assistantId: a language model of assistant {:?} is being built",
                id.as_str()
            )));
        }
        let job = self
            .parts
            .jobs
            .enqueue(
                LANGUAGE_MODEL_JOB,
                Some(owner),
                json!({ "assistant_id": id }),
            )
            .await?;
        self.parts.repo.set_asr_job(id, job.as_str()).await?;
        Ok(job)
    }

    /// The language-model status of an assistant (the NLU status's shape).
    pub(super) async fn asr_status_of(
        &self,
        row: &AssistantRow,
    ) -> Result<NluStatus, AssistantsError> {
        let asr = self.parts.repo.asr_row(&row.id).await?;
        let job = match &asr.job_id {
            Some(job) => self.parts.jobs.get(&JobId::new(job.as_str())).await?,
            None => None,
        };
        let in_progress = job
            .as_ref()
            .is_some_and(|j| matches!(j.status, JobStatus::Queued | JobStatus::Running));
        let progress = match &job {
            Some(job) if in_progress => job.progress.min(99),
            _ if asr.sha256.is_some() => 100,
            _ => 0,
        };
        let error = job
            .filter(|j| j.status == JobStatus::Failed)
            .map(|j| j.error.unwrap_or_else(|| "the build failed".into()));
        Ok(NluStatus {
            in_progress,
            need_training: asr.model_version != Some(row.dataset_version),
            progress,
            error,
            trained_at: asr.built_at.map(rfc3339),
        })
    }

    /// `GET /v1/languagemodel/status`.
    pub async fn language_model_status(
        &self,
        owner: UserId,
        id: &AssistantId,
    ) -> Result<NluStatus, AssistantsError> {
        let row = self.owned(owner, id).await?;
        self.asr_status_of(&row).await
    }

    /// Runs one language-model build (the job). An assistant deleted meanwhile ends it.
    pub async fn run_language_model(
        &self,
        id: &AssistantId,
        progress: &ProgressReporter,
    ) -> Result<Value, String> {
        let store = |e: AssistantsError| e.to_string();
        let Some(stored) = self.parts.repo.dataset_to_train(id).await.map_err(store)? else {
            return Ok(json!({ "status": "deleted" }));
        };
        progress.set(1, "building the language model");
        let (config, files, assistant) = (
            self.parts.config.clone(),
            self.parts.asr.clone(),
            id.clone(),
        );
        let built = tokio::task::spawn_blocking(move || {
            let model = build_files(stored.json.as_bytes(), &config)?;
            write_files(&files, &assistant, &model)
                .map(|sha| (sha, model.sentences.len()))
                .map_err(|e| format!("storing the language model: {e}"))
        })
        .await
        .map_err(|e| format!("the build stopped: {e}"))
        .and_then(|outcome| outcome);
        let (sha256, sentences) = match built {
            Ok(built) => built,
            Err(reason) => {
                self.publish(
                    "assistants.asr.failed",
                    stored.owner,
                    &json!({ "assistantId": id, "error": reason }),
                );
                return Err(reason);
            }
        };
        progress.set(95, "storing the language model");
        let now = self.parts.clock.now_ms();
        let repo = &self.parts.repo;
        let in_use = repo
            .set_asr_model(id, stored.version, &sha256, now)
            .await
            .map_err(store)?;
        let keep = repo.asr_row(id).await.map_err(store)?.sha256;
        let (files, assistant) = (self.parts.asr.clone(), id.clone());
        let tidied = tokio::task::spawn_blocking(move || match keep {
            Some(keep) => files.remove_others(&assistant, &keep),
            None => files.remove_all(&assistant),
        })
        .await;
        if let Ok(Err(e)) = tidied {
            tracing::warn!(assistant = %id, error = %e, "removing older language models failed");
        }
        if in_use {
            self.publish(
                "assistants.asr.built",
                stored.owner,
                &json!({ "assistantId": id, "datasetVersion": stored.version, "sha256": sha256 }),
            );
        }
        Ok(json!({
            "datasetVersion": stored.version,
            "sha256": sha256,
            "sentences": sentences,
            "inUse": in_use,
        }))
    }
}
