//! The local backend: one speaker, this machine's sound output (ALSA's `aplay`), or a WAV file
//! or nothing when configured so. It is what `serve` uses when no speaker system is configured.
//! Its volume and mute are a gain on what its one feeder writes.

use std::sync::Mutex;

use crate::events::EventHub;
use crate::speakers::backend::{Pending, SpeakerBackend};
use crate::speakers::device::{DEVICE_ID_DIGITS, Device, decimal_id};
use crate::speakers::error::SpeakerError;
use crate::speakers::events::device_volume;
use crate::speakers::feeder::Feeder;

/// The name of the local backend's one stream.
pub const LOCAL_STREAM: &str = "local";

/// The one speaker's volume and mute.
#[derive(Debug, Clone, Copy)]
struct Level {
    percent: u8,
    muted: bool,
}

/// This machine as the one speaker.
pub struct LocalBackend {
    feeder: Feeder,
    name: String,
    max_percent: u8,
    level: Mutex<Level>,
    events: EventHub,
    /// Why the output cannot play, if it cannot (its program is missing).
    missing: Option<String>,
}

impl LocalBackend {
    /// The speaker called `name` that `feeder` plays on, never louder than `max_percent`; its
    /// volume changes are published on `events`.
    pub fn new(feeder: Feeder, name: String, max_percent: u8, events: EventHub) -> Self {
        let backend = Self {
            feeder,
            name,
            max_percent,
            events,
            missing: None,
            level: Mutex::new(Level {
                percent: max_percent,
                muted: false,
            }),
        };
        backend.apply();
        backend
    }

    /// The same speaker, which cannot play because of `why` (it is listed inactive and a
    /// play answers 503 with `why`).
    pub fn unavailable(mut self, why: String) -> Self {
        self.missing = Some(why);
        self
    }

    fn level(&self) -> std::sync::MutexGuard<'_, Level> {
        self.level.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply(&self) {
        let level = *self.level();
        let gain = if level.muted {
            0.0
        } else {
            f32::from(level.percent) / 100.0
        };
        self.feeder.set_gain(gain);
    }

    fn device(&self) -> Device {
        let level = *self.level();
        Device {
            device_id: decimal_id(LOCAL_STREAM, DEVICE_ID_DIGITS),
            backend_id: LOCAL_STREAM.to_string(),
            name: self.name.clone(),
            active: self.missing.is_none(),
            ip: None,
            mac: None,
            model: Some("voicegate".into()),
            version: Some(env!("CARGO_PKG_VERSION").into()),
            percent: level.percent,
            muted: level.muted,
            group_id: None,
            group_name: None,
            playing: false,
        }
    }
}

impl SpeakerBackend for LocalBackend {
    fn devices(&self) -> Pending<'_, Vec<Device>> {
        Box::pin(async move { Ok(vec![self.device()]) })
    }

    fn set_volume<'a>(&'a self, _device: &'a Device, percent: u8) -> Pending<'a, ()> {
        Box::pin(async move {
            let percent = percent.min(self.max_percent);
            *self.level() = Level {
                percent,
                muted: false,
            };
            self.apply();
            device_volume(&self.events, LOCAL_STREAM, percent);
            Ok(())
        })
    }

    fn join<'a>(&'a self, _stream: &'a str, _devices: &'a [Device]) -> Pending<'a, ()> {
        Box::pin(async move {
            if let Some(why) = &self.missing {
                return Err(SpeakerError::Unavailable(why.clone()));
            }
            self.level().muted = false;
            self.apply();
            Ok(())
        })
    }

    fn mute<'a>(&'a self, _stream: &'a str, muted: bool) -> Pending<'a, ()> {
        Box::pin(async move {
            self.level().muted = muted;
            self.apply();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::speakers::feeder::FeederSettings;
    use crate::speakers::feeder::sink::SinkSpec;

    #[tokio::test]
    async fn one_speaker_whose_volume_and_mute_are_the_feeders_gain() {
        let feeder = Feeder::start(FeederSettings::new(SinkSpec::Null, Duration::ZERO));
        let backend = LocalBackend::new(feeder.clone(), "kitchen".into(), 80, EventHub::new(8));
        let devices = backend.devices().await.expect("devices");
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].name, "kitchen");
        assert!((feeder.gain() - 0.8).abs() < 1e-6);
        backend.set_volume(&devices[0], 100).await.expect("set");
        assert!((feeder.gain() - 0.8).abs() < 1e-6, "clamped to the most");
        backend.set_volume(&devices[0], 50).await.expect("set");
        assert!((feeder.gain() - 0.5).abs() < 1e-6);
        backend.mute(LOCAL_STREAM, true).await.expect("mute");
        assert_eq!(feeder.gain(), 0.0);
        assert_eq!(
            backend.devices().await.expect("devices")[0].wire_volume(),
            0
        );
        backend.join(LOCAL_STREAM, &devices).await.expect("join");
        assert!((feeder.gain() - 0.5).abs() < 1e-6);

        let missing = LocalBackend::new(feeder, "den".into(), 80, EventHub::new(8))
            .unavailable("no aplay".into());
        let devices = missing.devices().await.expect("devices");
        assert!(!devices[0].active);
        assert_eq!(
            missing.join(LOCAL_STREAM, &devices).await,
            Err(SpeakerError::Unavailable("no aplay".into()))
        );
    }
}
