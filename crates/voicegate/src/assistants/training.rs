//! NLU training, the job's work: the assistant's current dataset is trained on the blocking pool
//! (progress reported as it goes), the model written whole beside the previous one, then put in
//! use by one update of the assistant's row; parsing keeps the previous model until then. The
//! outcome is published for the owner (`assistants.nlu.trained`, `assistants.nlu.failed`).

use serde_json::{Value, json};

use crate::assistants::error::AssistantsError;
use crate::assistants::model::AssistantId;
use crate::assistants::service::AssistantsService;
use crate::jobs::progress::ProgressReporter;

/// The share of the progress that training itself takes; storing the model is the rest.
const TRAINING_SHARE: f32 = 95.0;

impl AssistantsService {
    /// Runs one training (the job). A dataset whose model is in use already ends at once; an
    /// assistant deleted meanwhile ends it too. An error fails the job with its message.
    pub async fn run_training(
        &self,
        id: &AssistantId,
        progress: &ProgressReporter,
    ) -> Result<Value, String> {
        let store = |e: AssistantsError| e.to_string();
        let Some(stored) = self.parts.repo.dataset_to_train(id).await.map_err(store)? else {
            return Ok(json!({ "status": "deleted" }));
        };
        if stored.model_version == Some(stored.version) {
            return Ok(json!({ "status": "trained", "datasetVersion": stored.version }));
        }
        progress.set(1, "reading the dataset");
        let seed = self.parts.config.training_seed;
        let (models, assistant) = (self.parts.models.clone(), id.clone());
        let reporter = progress.clone();
        let trained = tokio::task::spawn_blocking(move || {
            let dataset = nlu::Dataset::from_json(stored.json.as_bytes())
                .map_err(|e| format!("the stored dataset: {e}"))?;
            let mut report = |done: f32| {
                let percent = (done.clamp(0.0, 1.0) * TRAINING_SHARE) as u8;
                reporter.set(percent.max(1), "training");
            };
            let model = nlu::train(&dataset, &nlu::TrainOptions { seed }, &mut report)
                .map_err(|e| format!("training: {e}"))?;
            reporter.set(TRAINING_SHARE as u8, "storing the model");
            models
                .write(&assistant, &model.to_bytes())
                .map_err(|e| format!("storing the model: {e}"))
        })
        .await
        .map_err(|e| format!("training stopped: {e}"))
        .and_then(|outcome| outcome);
        let sha256 = match trained {
            Ok(sha256) => sha256,
            Err(reason) => {
                self.publish(
                    "assistants.nlu.failed",
                    stored.owner,
                    &json!({ "assistantId": id, "error": reason }),
                );
                return Err(reason);
            }
        };
        let now = self.parts.clock.now_ms();
        let in_use = self
            .parts
            .repo
            .set_model(id, stored.version, &sha256, now)
            .await
            .map_err(store)?;
        // Older models (and a killed run's temporary file) go; so does this one when a newer
        // model is in use or the assistant was deleted meanwhile.
        let keep = if in_use {
            Some(sha256.clone())
        } else {
            self.parts.repo.model_in_use(id).await.map_err(store)?
        };
        let (models, assistant) = (self.parts.models.clone(), id.clone());
        let tidied = tokio::task::spawn_blocking(move || match keep {
            Some(keep) => models.remove_others(&assistant, &keep),
            None => models.remove_all(&assistant),
        })
        .await;
        if let Ok(Err(e)) = tidied {
            tracing::warn!(assistant = %id, error = %e, "removing older models failed");
        }
        if in_use {
            self.publish(
                "assistants.nlu.trained",
                stored.owner,
                &json!({ "assistantId": id, "datasetVersion": stored.version, "sha256": sha256 }),
            );
        }
        Ok(json!({ "datasetVersion": stored.version, "sha256": sha256, "inUse": in_use }))
    }
}
