//! Background jobs: a table-backed queue (`queue`) and workers that run them (`worker`). Each
//! domain registers its job kinds with the queue ([`Jobs::register`]): the scope that sees a
//! kind's events and the function that runs one job. Voice builds are a kind; NLU training and
//! language models will be others.
//!
//! A job belongs to the user it works for; every change of its life (queued, started, progress
//! in percent with a phase, done, failed) is published on the events hub as
//! `jobs.<kind>.<change>` for that user.

pub mod queue;
pub mod worker;

use serde::Serialize;

pub use queue::{Job, JobError, JobId, JobStatus, Jobs};
pub use worker::{JobHandler, ProgressReporter, Workers};

/// A job run's progress: percent done and what it is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// 0 to 100.
    pub percent: u8,
    /// A short name of the current step (`analysing recordings`, `training intents`).
    pub phase: Option<String>,
}
