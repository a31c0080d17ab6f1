//! The speech engines, shared by every surface that speaks (voices' synthesis and builds; later
//! speakers' announcements and Home Assistant): started at first use, so that a server that never
//! speaks does not pay their memory, and bounded by synthesis slots, so that a burst of requests
//! queues for a while and then answers "busy" instead of taking every core.

pub mod measures;
pub mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use speech::synth::SynthesisRequest;
use speech::{Audio, SpeechError, Synthesizer};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::engines::measures::SynthesisMeasures;

/// Why the engines cannot take a synthesis now.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EnginesError {
    /// The engines could not start (a missing library or data files).
    #[error("the speech engines are unavailable: {0}")]
    Unavailable(String),
    /// Every synthesis slot stayed taken for the whole queueing time.
    #[error("the speech engines are busy; retry shortly")]
    Busy,
}

/// A held synthesis slot; dropping it frees the slot. A synthesis that finishes says how much
/// audio it made ([`SynthesisSlot::finished`], or [`SynthesisSlot::render`]), and its time in
/// the slot is measured.
#[derive(Debug)]
pub struct SynthesisSlot {
    _permit: OwnedSemaphorePermit,
    taken: Instant,
    measures: SynthesisMeasures,
}

impl SynthesisSlot {
    /// Records a finished synthesis of `audio_secs` seconds of audio, timed from when the slot
    /// was taken, and frees the slot.
    pub fn finished(self, audio_secs: f64) {
        self.measures.observe(self.taken.elapsed(), audio_secs);
    }

    /// Renders `request` whole in this slot (on the calling thread: call it on the blocking
    /// pool), records it and frees the slot.
    pub fn render(
        self,
        synth: &Synthesizer,
        request: &SynthesisRequest<'_>,
    ) -> Result<Audio, SpeechError> {
        let audio = synth.render(request)?;
        let rate = f64::from(audio.sample_rate.max(1));
        self.finished(audio.samples.len() as f64 / rate);
        Ok(audio)
    }
}

/// The engines and their synthesis slots.
pub struct Engines {
    synth: OnceCell<Result<Arc<Synthesizer>, String>>,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    queue_wait: Duration,
    measures: SynthesisMeasures,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engines")
            .field("started", &self.synth.initialized())
            .field("free_slots", &self.slots.available_permits())
            .field("queue_wait", &self.queue_wait)
            .finish()
    }
}

impl Engines {
    /// Engines that run at most `max_concurrent` syntheses at once; a synthesis waits up to
    /// `queue_wait` for a slot. Nothing starts until the first use.
    pub fn new(max_concurrent: usize, queue_wait: Duration) -> Self {
        Self {
            synth: OnceCell::new(),
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            max_concurrent: max_concurrent.max(1),
            queue_wait,
            measures: SynthesisMeasures::default(),
        }
    }

    /// How syntheses went: their times, audio lengths and real-time factors.
    pub fn measures(&self) -> &SynthesisMeasures {
        &self.measures
    }

    /// Synthesis slots taken now.
    pub fn slots_in_use(&self) -> usize {
        self.max_concurrent
            .saturating_sub(self.slots.available_permits())
    }

    /// The engines, started on the blocking pool at the first call; the same answer afterwards
    /// (engines that could not start stay unavailable until the server restarts).
    pub async fn synthesizer(&self) -> Result<Arc<Synthesizer>, EnginesError> {
        let started = self
            .synth
            .get_or_init(|| async {
                match tokio::task::spawn_blocking(Synthesizer::new).await {
                    Ok(Ok(synth)) => {
                        tracing::info!(voices = synth.voices().len(), "speech engines started");
                        Ok(Arc::new(synth))
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "the speech engines could not start");
                        Err(e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                }
            })
            .await;
        started.clone().map_err(EnginesError::Unavailable)
    }

    /// A synthesis slot: waits at most the queueing time, then answers busy.
    pub async fn slot(&self) -> Result<SynthesisSlot, EnginesError> {
        match tokio::time::timeout(self.queue_wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(SynthesisSlot {
                _permit: permit,
                taken: Instant::now(),
                measures: self.measures.clone(),
            }),
            _ => Err(EnginesError::Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_synthesis_waits_for_a_slot_then_is_told_busy() {
        let engines = Engines::new(1, Duration::from_millis(50));
        let held = engines.slot().await.unwrap();
        let started = tokio::time::Instant::now();
        assert!(matches!(engines.slot().await, Err(EnginesError::Busy)));
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(held);
        engines.slot().await.unwrap();
    }
}
