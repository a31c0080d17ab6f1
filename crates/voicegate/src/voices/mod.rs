//! The vocalid-api voices surface: accounts and recordings, voice builds (prosody profiles run
//! as jobs), the voice list, synthesis, devices, voice downloads and signed licences.

mod error;
pub mod licence;
pub mod put_url;
pub mod repo;
pub mod routes;
pub mod service;
pub mod streaming;

use std::sync::Arc;

pub use error::VoicesError;
pub use service::VoicesService;

use crate::app::AppState;
use crate::store::jobs::{Job, ProgressReporter, Workers, spawn_workers};

/// Starts `concurrency` workers that run voice builds with the app's voices service.
pub fn spawn_build_workers(state: &AppState, concurrency: usize) -> Workers {
    let voices = state.voices.clone();
    let handler = move |job: Job, _progress: ProgressReporter| {
        let voices = voices.clone();
        async move {
            let build = job.payload["build_id"]
                .as_str()
                .ok_or("the job has no build_id")?
                .to_string();
            voices.run_build(&build).await
        }
    };
    spawn_workers(
        state.voices.jobs(),
        service::BUILD_JOB,
        concurrency,
        Arc::new(handler),
    )
}
