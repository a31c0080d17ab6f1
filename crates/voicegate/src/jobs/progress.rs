//! A job run's progress, as its handler reports it and the worker writes and publishes it.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::Notify;

/// A job run's progress: percent done and what it is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// 0 to 100.
    pub percent: u8,
    /// A short name of the current step (`analysing recordings`, `training intents`).
    pub phase: Option<String>,
}

/// Where a running job reports its progress. Cheap to clone and synchronous, so CPU work on the
/// blocking pool can report too; the worker writes (and publishes) the latest value with its
/// next lease renewal, within a fraction of a second.
#[derive(Debug, Clone)]
pub struct ProgressReporter {
    shared: Arc<ProgressCell>,
}

#[derive(Debug, Default)]
struct ProgressCell {
    latest: Mutex<Progress>,
    changed: Notify,
}

impl ProgressReporter {
    pub(super) fn new() -> Self {
        Self {
            shared: Arc::default(),
        }
    }

    /// Records the progress of the run: `percent` (at most 100) and what it is doing now.
    pub fn set(&self, percent: u8, phase: &str) {
        let progress = Progress {
            percent: percent.min(100),
            phase: Some(phase.to_string()),
        };
        *self.shared.latest.lock().unwrap_or_else(|e| e.into_inner()) = progress;
        self.shared.changed.notify_one();
    }

    /// The progress last recorded.
    pub fn get(&self) -> Progress {
        self.shared
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ProgressReporter {
    /// Completes when the progress changes (after the last wait).
    pub(super) async fn changed(&self) {
        self.shared.changed.notified().await;
    }
}
