//! The vocalid-api voices surface: accounts and recordings, voice builds (prosody profiles run
//! as jobs), the voice list, synthesis, devices, voice downloads and signed licences.

pub mod error;
pub mod licence;
pub mod put_url;
pub mod repo;
pub mod routes;
pub mod service;

use std::sync::Arc;

pub use error::VoicesError;
pub use service::VoicesService;

use crate::identity::scopes::Scope;
use crate::jobs::{Job, Jobs, ProgressReporter};

/// Registers the voice-build job kind: seen with the `voice_build` scope, run by `voices`.
pub fn register_jobs(jobs: &Jobs, voices: Arc<VoicesService>) {
    let handler = move |job: Job, progress: ProgressReporter| {
        let voices = voices.clone();
        async move {
            let build = job.payload["build_id"]
                .as_str()
                .ok_or("the job has no build_id")?
                .to_string();
            voices.run_build(&build, &progress).await
        }
    };
    jobs.register(service::BUILD_JOB, Scope::VoiceBuild, Arc::new(handler));
}
