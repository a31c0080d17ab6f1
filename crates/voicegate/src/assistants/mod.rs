//! The Snips console assistants surface: assistants made from Snips NLU datasets, NLU training
//! as a job with progress, the training status, the assistant's download (a zip) and parsing
//! with the trained model; ASR language models built as a job, and speech to intent.

pub mod asr;
pub mod asr_files;
pub mod asr_repo;
pub mod asr_routes;
pub mod decoders;
pub mod error;
pub mod model;
pub mod model_files;
pub mod package;
pub mod recognize;
pub mod repo;
pub mod routes;
pub mod service;
pub mod training;

use std::sync::Arc;

pub use error::AssistantsError;
pub use service::{AssistantsParts, AssistantsService};

use crate::assistants::model::{AssistantId, LANGUAGE_MODEL_JOB, TRAINING_JOB};
use crate::identity::scopes::Scope;
use crate::jobs::progress::ProgressReporter;
use crate::jobs::queue::{Job, Jobs};

/// Registers the NLU training and language-model job kinds: seen with the `assistant` scope,
/// run by `assistants`.
pub fn register_jobs(jobs: &Jobs, assistants: Arc<AssistantsService>) {
    let builder = assistants.clone();
    let build = move |job: Job, progress: ProgressReporter| {
        let assistants = builder.clone();
        async move {
            let id = job.payload["assistant_id"]
                .as_str()
                .map(AssistantId::new)
                .ok_or("the job has no assistant_id")?;
            assistants.run_language_model(&id, &progress).await
        }
    };
    jobs.register(LANGUAGE_MODEL_JOB, Scope::Assistant, Arc::new(build));
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
