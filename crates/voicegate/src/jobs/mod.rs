//! Background jobs: a table-backed queue (`queue`) and workers that run them (`worker`). Each
//! domain registers its job kinds with the queue ([`Jobs::register`]): the scope that sees a
//! kind's events and the function that runs one job. Voice builds are a kind; NLU training and
//! language models will be others.
//!
//! A job belongs to the user it works for; every change of its life (queued, started, progress
//! in percent with a phase, done, failed) is published on the events hub as
//! `jobs.<kind>.<change>` for that user.

pub mod depth;
pub mod measures;
pub mod progress;
pub mod queue;
pub mod worker;

pub use progress::{Progress, ProgressReporter};
pub use queue::{Job, JobError, JobHandler, JobId, JobStatus, Jobs};
pub use worker::Workers;
