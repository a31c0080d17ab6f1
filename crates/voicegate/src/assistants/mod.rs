//! The Snips console assistants surface: assistants made from Snips NLU datasets, NLU training
//! as a job with progress, the training status, the assistant's download (a zip) and parsing
//! with the trained model.

pub mod error;
pub mod model;
pub mod model_files;
pub mod package;
pub mod repo;
pub mod routes;
pub mod service;
pub mod training;

use std::sync::Arc;

pub use error::AssistantsError;
pub use service::{AssistantsParts, AssistantsService};

use crate::assistants::model::{AssistantId, TRAINING_JOB};
use crate::identity::scopes::Scope;
use crate::jobs::progress::ProgressReporter;
use crate::jobs::queue::{Job, Jobs};

/// Registers the NLU training job kind: seen with the `assistant` scope, run by `assistants`.
pub fn register_jobs(jobs: &Jobs, assistants: Arc<AssistantsService>) {
    let handler = move |job: Job, progress: ProgressReporter| {
        let assistants = assistants.clone();
        async move {
            let id = job.payload["assistant_id"]
                .as_str()
                .map(AssistantId::new)
                .ok_or("the job has no assistant_id")?;
            assistants.run_training(&id, &progress).await
        }
    };
    jobs.register(TRAINING_JOB, Scope::Assistant, Arc::new(handler));
}
