//! How the queue's runs went, for `GET /metrics`: how long this process's workers ran their
//! jobs, by kind and outcome (the depth of the queue is read from its table: `depth.rs`).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// Upper bounds of the run-time buckets, in seconds (jobs run from seconds to many minutes).
pub const RUN_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunOutcome {
    /// The handler answered; the job is done.
    Done,
    /// The handler failed; the job is failed.
    Failed,
    /// The run lost its lease (another worker may run the job again).
    Lost,
    /// Shutdown put the job back in the queue.
    Released,
}

impl RunOutcome {
    /// The outcome's label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Lost => "lost",
            Self::Released => "released",
        }
    }
}

/// The labels of a run: its job's kind and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RunLabels {
    /// The job kind.
    pub kind: String,
    /// `done`, `failed`, `lost` or `released`.
    pub outcome: &'static str,
}

/// A histogram with the run-time buckets.
fn run_histogram() -> Histogram {
    Histogram::new(RUN_BUCKETS)
}

/// The run-time histograms, one per kind and outcome. Cheap to clone.
pub type RunDurations = Family<RunLabels, Histogram, fn() -> Histogram>;

/// The queue's instruments.
#[derive(Debug, Clone)]
pub struct JobMeasures {
    /// Seconds each run took, by kind and outcome.
    pub runs: RunDurations,
}

impl Default for JobMeasures {
    fn default() -> Self {
        Self {
            runs: Family::new_with_constructor(run_histogram),
        }
    }
}

impl JobMeasures {
    /// Records a run of a `kind` job that ended with `outcome` after `took`.
    pub fn observe(&self, kind: &str, outcome: RunOutcome, took: Duration) {
        let labels = RunLabels {
            kind: kind.to_string(),
            outcome: outcome.as_str(),
        };
        self.runs.get_or_create(&labels).observe(took.as_secs_f64());
    }
}
