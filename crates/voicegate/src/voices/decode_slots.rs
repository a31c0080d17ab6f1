//! A bound on WAV decoding at once. A decode holds the file and its samples as `f32` (two to eight
//! times the file's size) on a blocking-pool thread, so uploads arriving together would otherwise
//! hold many times `voices.max_upload_bytes` and take every core. Past
//! `voices.max_concurrent_decodes` a decode waits for a slot (within its request's time limit).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::voices::error::VoicesError;

/// The decode slots: a semaphore, and the number of decodes running with its peak.
#[derive(Debug, Clone)]
pub struct DecodeSlots {
    permits: Arc<Semaphore>,
    gauge: Arc<Gauge>,
}

/// Decodes running now, and the most that ever ran at once.
#[derive(Debug, Default)]
struct Gauge {
    running: AtomicUsize,
    peak: AtomicUsize,
}

/// One decode counted as running while it lives (also when its work panics).
struct Running<'a>(&'a Gauge);

impl<'a> Running<'a> {
    fn start(gauge: &'a Gauge) -> Self {
        let now = gauge.running.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.peak.fetch_max(now, Ordering::SeqCst);
        Self(gauge)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl DecodeSlots {
    /// `slots` decodes at once (at least one).
    pub fn new(slots: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(slots.max(1))),
            gauge: Arc::default(),
        }
    }

    /// Runs `work` (a decode and what reads its samples) on the blocking pool once a slot is
    /// free. The slot is held until `work` ends, even when the caller stops waiting for it (a
    /// request that timed out), because the blocking thread still holds the memory.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, VoicesError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| VoicesError::Speech("WAV decoding has stopped".into()))?;
        let gauge = self.gauge.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            let _running = Running::start(&gauge);
            work()
        })
        .await
        .map_err(|e| VoicesError::Speech(e.to_string()))
    }

    /// The most decodes that ran at once so far.
    pub fn peak(&self) -> usize {
        self.gauge.peak.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Eight decodes asked for together run at most two at a time, and all of them run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_decodes_run_at_once_than_there_are_slots() {
        let slots = DecodeSlots::new(2);
        let decodes: Vec<_> = (0..8)
            .map(|i| {
                let slots = slots.clone();
                tokio::spawn(async move {
                    slots
                        .run(move || {
                            std::thread::sleep(Duration::from_millis(40));
                            i
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut done = Vec::new();
        for decode in decodes {
            done.push(decode.await.unwrap());
        }
        assert_eq!(done, (0..8).collect::<Vec<_>>());
        assert_eq!(slots.peak(), 2);
        assert_eq!(slots.gauge.running.load(Ordering::SeqCst), 0);
    }

    /// A caller that stops waiting does not free the slot while its decode still runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slot_is_held_until_the_decode_ends_even_when_its_caller_gives_up() {
        let slots = DecodeSlots::new(1);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();
        let first = {
            let slots = slots.clone();
            tokio::spawn(async move {
                slots
                    .run(move || {
                        started_tx.send(()).unwrap();
                        finish_rx.recv().unwrap();
                    })
                    .await
            })
        };
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        first.abort();
        let second = tokio::time::timeout(Duration::from_millis(100), slots.run(|| ())).await;
        assert!(second.is_err(), "the second decode waits for the slot");
        finish_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), slots.run(|| ()))
            .await
            .expect("the slot is free once the first decode ended")
            .unwrap();
        assert_eq!(slots.peak(), 1);
    }
}
