//! How the engines' syntheses went, for `GET /metrics`: the time each spent in its slot, the
//! audio it made and the real-time factor (synthesis seconds per audio second; below 1 is faster
//! than real time). Recorded by the slot when the synthesis finishes; one that fails or is
//! cancelled is not counted.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

/// Upper bounds of the synthesis-time buckets, in seconds.
pub const SECONDS_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Upper bounds of the real-time-factor buckets.
pub const FACTOR_BUCKETS: [f64; 10] = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];

/// The synthesis instruments. Cheap to clone; clones record into the same series.
#[derive(Debug, Clone)]
pub struct SynthesisMeasures {
    /// Seconds each finished synthesis spent in its slot.
    pub seconds: Histogram,
    /// Synthesis seconds per audio second, per finished synthesis that made audio.
    pub real_time_factor: Histogram,
    /// Seconds of audio made, in all.
    pub audio_seconds: Counter<f64>,
}

impl Default for SynthesisMeasures {
    fn default() -> Self {
        Self {
            seconds: Histogram::new(SECONDS_BUCKETS),
            real_time_factor: Histogram::new(FACTOR_BUCKETS),
            audio_seconds: Counter::default(),
        }
    }
}

impl SynthesisMeasures {
    /// Records a synthesis that took `took` and made `audio_secs` seconds of audio.
    pub fn observe(&self, took: Duration, audio_secs: f64) {
        let took = took.as_secs_f64();
        self.seconds.observe(took);
        if audio_secs > 0.0 {
            self.audio_seconds.inc_by(audio_secs);
            self.real_time_factor.observe(took / audio_secs);
        }
    }
}
