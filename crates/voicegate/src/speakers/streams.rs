//! The pool of stream sources sessions play into: one feeder per source, each held by at most
//! one session at a time (snapserver 0.26 cannot add streams at run time, so the pool is what
//! its configuration declares; this machine's output is a pool of one).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::speakers::error::SpeakerError;
use crate::speakers::feeder::{Feeder, FeederSettings};

/// One stream source and who holds it.
struct Slot {
    name: String,
    feeder: Feeder,
    holder: Option<String>,
    /// When the holder last paused (and muted) it.
    paused_at: Option<Instant>,
    /// What its track is (`hub:<PersistentID>`, `web`), if known.
    label: Option<String>,
    /// Counts the playbacks started on it (so that a follower of one knows when it is over).
    generation: Arc<AtomicU64>,
}

/// The stream sources.
pub struct Streams {
    slots: Mutex<Vec<Slot>>,
}

impl Streams {
    /// A pool over `sources` (each a name and its feeder's settings); the feeders open their
    /// sinks when they first play.
    pub fn new(sources: Vec<(String, FeederSettings)>) -> Self {
        Self::of(
            sources
                .into_iter()
                .map(|(name, settings)| (name, Feeder::start(settings)))
                .collect(),
        )
    }

    /// A pool over running feeders.
    pub fn of(feeders: Vec<(String, Feeder)>) -> Self {
        let slots = feeders
            .into_iter()
            .map(|(name, feeder)| Slot {
                name,
                feeder,
                holder: None,
                paused_at: None,
                label: None,
                generation: Arc::new(AtomicU64::new(0)),
            })
            .collect();
        Self {
            slots: Mutex::new(slots),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stream `session` holds, taking a free one if it holds none: its index and name.
    pub fn take(&self, session: &str) -> Result<(usize, String), SpeakerError> {
        let mut slots = self.lock();
        if slots.is_empty() {
            return Err(SpeakerError::Unavailable(
                "no stream sources are configured (speakers.snapcast_streams)".into(),
            ));
        }
        if let Some(at) = slots
            .iter()
            .position(|s| s.holder.as_deref() == Some(session))
        {
            return Ok((at, slots[at].name.clone()));
        }
        let at = slots
            .iter()
            .position(|s| s.holder.is_none())
            .ok_or(SpeakerError::AllStreamsBusy(slots.len()))?;
        slots[at].holder = Some(session.to_string());
        Ok((at, slots[at].name.clone()))
    }

    /// The stream `session` holds, if any: its index and name.
    pub fn held_by(&self, session: &str) -> Option<(usize, String)> {
        let slots = self.lock();
        slots
            .iter()
            .position(|s| s.holder.as_deref() == Some(session))
            .map(|at| (at, slots[at].name.clone()))
    }

    /// The feeder of stream `at`.
    pub fn feeder(&self, at: usize) -> Feeder {
        self.lock()[at].feeder.clone()
    }

    /// Every held stream: its session and feeder.
    pub fn held(&self) -> Vec<(String, Feeder)> {
        self.lock()
            .iter()
            .filter_map(|s| s.holder.clone().map(|holder| (holder, s.feeder.clone())))
            .collect()
    }

    /// Frees the stream `session` holds (its feeder stopped), if any.
    pub fn release(&self, session: &str) -> Option<usize> {
        let mut slots = self.lock();
        let at = slots
            .iter()
            .position(|s| s.holder.as_deref() == Some(session))?;
        slots[at].holder = None;
        slots[at].paused_at = None;
        slots[at].label = None;
        Some(at)
    }

    /// Starts a new playback on the stream `at`: a check that says whether it is still the
    /// latest.
    pub fn begin(&self, at: usize) -> impl Fn() -> bool + Send + 'static {
        let generation = self
            .lock()
            .get(at)
            .map(|slot| slot.generation.clone())
            .unwrap_or_default();
        let mine = generation.fetch_add(1, Ordering::SeqCst) + 1;
        move || generation.load(Ordering::SeqCst) == mine
    }

    /// Notes (`Some`) or forgets (`None`) when the stream `at` was paused.
    pub fn set_paused_at(&self, at: usize, when: Option<Instant>) {
        if let Some(slot) = self.lock().get_mut(at) {
            slot.paused_at = when;
        }
    }

    /// Notes what the track on the stream `at` is.
    pub fn set_label(&self, at: usize, label: Option<String>) {
        if let Some(slot) = self.lock().get_mut(at) {
            slot.label = label;
        }
    }

    /// What the track on the stream `at` is, if known.
    pub fn label(&self, at: usize) -> Option<String> {
        self.lock().get(at).and_then(|slot| slot.label.clone())
    }

    /// When the stream `at` was paused, if it is.
    pub fn paused_at(&self, at: usize) -> Option<Instant> {
        self.lock().get(at).and_then(|slot| slot.paused_at)
    }
}
