//! The vocalid-api voices surface: accounts and recordings, voice builds (prosody profiles run
//! as jobs), the voice catalogue, synthesis, devices, voice downloads and signed licences.

pub mod builds;
pub mod catalog;
pub mod decode_slots;
pub mod delivery_routes;
pub mod devices;
pub mod error;
pub mod licence;
pub mod model;
pub mod offered;
pub mod put_url;
pub mod recordings_repo;
pub mod repo;
pub mod routes;
pub mod service;
pub mod synthesis;

use std::sync::Arc;

pub use error::VoicesError;
pub use service::{VoicesParts, VoicesService};

use crate::identity::scopes::Scope;
use crate::jobs::progress::ProgressReporter;
use crate::jobs::queue::{Job, Jobs};
use crate::voices::model::BuildId;

/// Registers the voice-build job kind: seen with the `voice_build` scope, run by `voices`.
pub fn register_jobs(jobs: &Jobs, voices: Arc<VoicesService>) {
    let handler = move |job: Job, progress: ProgressReporter| {
        let voices = voices.clone();
        async move {
            let build = job.payload["build_id"]
                .as_str()
                .map(BuildId::new)
                .ok_or("the job has no build_id")?;
            voices.run_build(&build, &progress).await
        }
    };
    jobs.register(builds::BUILD_JOB, Scope::VoiceBuild, Arc::new(handler));
}
