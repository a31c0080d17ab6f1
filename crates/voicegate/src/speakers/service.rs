//! `SpeakersService`: the HK Omni operations over a speaker backend and the sessions.
//!
//! Operations that need a session's feeder (plays, pause, resume, stop, its status) run on the
//! instance owning the session: their public forms are in `routing.rs`, which forwards them
//! there; the `*_here` forms in this file and `playback.rs` run them on this instance, for a
//! session named by its key ([`session_key`]).

use std::sync::Arc;
use std::time::Duration;

use speech::{Modifiers, SampleRate, SynthesisRequest};

use crate::config::SpeakersConfig;
use crate::engines::Engines;
use crate::events::EventHub;
use crate::ids::UserId;
use crate::speakers::audio::{Audio, Pcm, RATE};
use crate::speakers::backend::SpeakerBackend;
use crate::speakers::device::{Device, MAX_WIRE_VOLUME, wire_to_percent};
use crate::speakers::error::SpeakerError;
use crate::speakers::events::follow_playback;
use crate::speakers::feeder::{FeedState, Feeder};
use crate::speakers::forward::Commands;
use crate::speakers::media::Media;
use crate::speakers::sessions::{Sessions, session_key};
use crate::speakers::streams::Streams;
use crate::store::Db;

/// Which speakers a play request is for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speakers {
    /// The session's own.
    Session,
    /// Every speaker (they become the session's).
    Party,
    /// These DeviceIDs (they become the session's).
    Selected(Vec<String>),
}

/// The voice an announcement speaks with: an engine voice and how a built voice shapes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    /// The engine voice id (`espeak:en-us`).
    pub engine: String,
    /// Pitch, rate and range (neutral for an engine voice).
    pub modifiers: Modifiers,
}

/// A session's playback as the contract reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Playback {
    /// Playing, paused or stopped.
    pub state: FeedState,
    /// Whole seconds heard so far, when not stopped.
    pub elapsed: Option<u64>,
}

/// The speakers surface's operations.
pub struct SpeakersService {
    pub(super) backend: Arc<dyn SpeakerBackend>,
    engines: Arc<Engines>,
    pub(super) events: EventHub,
    pub(super) sessions: Sessions,
    /// Commands forwarded to the instances owning sessions, and from others to this one.
    pub(super) commands: Commands,
    pub(super) streams: Streams,
    /// Hub and web media.
    pub(super) media: Media,
    max_volume: u8,
    tts_voice: String,
    max_tts_chars: usize,
    /// How far behind the writing the speakers play.
    pub(super) latency: Duration,
    /// How long a command forwarded to the session's owner waits for its answer.
    pub(super) forward_timeout: Duration,
    /// How often the owner looks for forwarded commands, and the forwarder for answers.
    pub(super) command_poll: Duration,
    /// Announcements' volume (0–50) when the request gives none; 0 leaves the volumes.
    announce_volume: u8,
}

impl SpeakersService {
    /// Whether the speaker system's connection (Snapcast's control port) is up; `None` for a
    /// backend without one.
    pub fn backend_connected(&self) -> Option<bool> {
        self.backend.connected()
    }

    /// The service over `backend` and its `streams`, speaking with `engines`, publishing on
    /// `events`, playing `media`, its sessions in `db`, with the limits of `config`.
    pub fn new(
        backend: Arc<dyn SpeakerBackend>,
        streams: Streams,
        engines: Arc<Engines>,
        events: EventHub,
        media: Media,
        db: Db,
        config: &SpeakersConfig,
    ) -> Self {
        Self {
            backend,
            streams,
            engines,
            events,
            media,
            commands: Commands::new(db.clone()),
            sessions: Sessions::new(
                db,
                Duration::from_secs(config.session_idle_secs),
                config.max_sessions_per_user,
                Duration::from_millis(config.owner_lease_ms),
            ),
            forward_timeout: Duration::from_millis(config.forward_timeout_ms),
            command_poll: Duration::from_millis(config.command_poll_ms),
            max_volume: config.max_volume.min(MAX_WIRE_VOLUME),
            tts_voice: config.tts_voice.clone(),
            max_tts_chars: config.max_tts_chars,
            latency: config.latency(),
            announce_volume: config.announce_volume,
        }
    }

    /// Plays `audio` on `speakers` through this instance's streams, replacing what the
    /// session was playing.
    pub async fn play(
        &self,
        user: UserId,
        token: &str,
        audio: Audio,
        speakers: Speakers,
    ) -> Result<(), SpeakerError> {
        self.play_as(user, &session_key(token), audio, None, speakers)
            .await
    }

    /// [`Self::play`], noting what the track is (`hub:<PersistentID>`, `web`).
    pub(crate) async fn play_as(
        &self,
        user: UserId,
        key: &str,
        audio: Audio,
        label: Option<String>,
        speakers: Speakers,
    ) -> Result<(), SpeakerError> {
        let devices = self.targets(user, key, speakers).await?;
        let (at, stream) = self.streams.take(key)?;
        self.backend.join(&stream, &devices).await?;
        self.streams.set_paused_at(at, None);
        self.streams.set_label(at, label);
        let feeder = self.streams.feeder(at);
        let plays = feeder.play(audio).await;
        self.follow(user, at, &devices, &feeder, plays);
        Ok(())
    }

    /// Speaks `text` (with `voice`, else the configured engine voice) on `speakers`. Over a track (music
    /// playing or paused) it is an announcement: the track holds its place, and once the
    /// announcement has been heard the track's speakers are the session's again and it
    /// continues (a paused one stays paused).
    pub(crate) async fn play_tts_here(
        &self,
        user: UserId,
        key: &str,
        text: &str,
        voice: Option<Voice>,
        volume: Option<u8>,
        speakers: Speakers,
    ) -> Result<(), SpeakerError> {
        let volume = match volume {
            Some(volume) => Some(self.percent(volume)?),
            None if self.announce_volume > 0 => Some(self.percent(self.announce_volume)?),
            None => None,
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(SpeakerError::BadRequest("Text is required".into()));
        }
        if text.chars().count() > self.max_tts_chars {
            return Err(SpeakerError::BadRequest(format!(
                "Text is longer than {} characters (speakers.max_tts_chars)",
                self.max_tts_chars
            )));
        }
        let before = self.sessions.get(user, key).await?.devices;
        let devices = self.targets(user, key, speakers).await?;
        let voice = voice.unwrap_or_else(|| Voice {
            engine: self.tts_voice.clone(),
            modifiers: Modifiers::default(),
        });
        let pcm = self.speak(text, voice).await?;
        let (at, stream) = self.streams.take(key)?;
        let feeder = self.streams.feeder(at);
        let status = feeder.status();
        let over_track = status.has_track && status.state != FeedState::Stopped;
        self.backend.join(&stream, &devices).await?;
        self.streams.set_paused_at(at, None);
        // At the announcement's volume until it has been heard, then at their own again.
        let mut restore = Vec::new();
        if let Some(percent) = volume {
            for device in &devices {
                self.backend.set_volume(device, percent).await?;
                restore.push(device.clone());
            }
        }
        let plays = feeder.announce(pcm).await;
        self.follow(user, at, &devices, &feeder, plays);
        let moved = over_track && {
            let mut now: Vec<&String> = devices.iter().map(|d| &d.backend_id).collect();
            let mut then: Vec<&String> = before.iter().collect();
            now.sort();
            then.sort();
            now != then
        };
        let mut rejoin = None;
        if moved {
            // The track's speakers are the session's again, and get it back once the
            // announcement has been heard.
            self.sessions.set_devices(user, key, &before).await?;
            let all = self.backend.devices().await?;
            rejoin = Some(
                all.into_iter()
                    .filter(|d| before.contains(&d.backend_id))
                    .collect(),
            );
        }
        if rejoin.is_some() || !restore.is_empty() {
            tokio::spawn(after_announcement(
                self.backend.clone(),
                feeder,
                AfterAnnouncement {
                    stream,
                    plays,
                    rejoin,
                    restore,
                    latency: self.latency,
                },
            ));
        }
        Ok(())
    }

    /// Publishes the playback on stream `at` (its state changes, from its `plays`th track or
    /// announcement on) to `user` until it ends or another takes its place.
    pub(super) fn follow(
        &self,
        user: UserId,
        at: usize,
        devices: &[Device],
        feeder: &Feeder,
        plays: u64,
    ) {
        follow_playback(
            self.events.clone(),
            user,
            devices.iter().map(|d| d.device_id.clone()).collect(),
            feeder.watch(),
            plays,
            self.streams.begin(at),
        );
    }

    /// The devices a play request is for; the session's devices become them.
    pub(super) async fn targets(
        &self,
        user: UserId,
        key: &str,
        speakers: Speakers,
    ) -> Result<Vec<Device>, SpeakerError> {
        let all = self.devices_here(user, key).await?;
        let chosen: Vec<Device> = match speakers {
            Speakers::Session => {
                let session = self.sessions.get(user, key).await?;
                all.into_iter()
                    .filter(|d| session.devices.contains(&d.backend_id))
                    .collect()
            }
            Speakers::Party => all,
            Speakers::Selected(ids) => {
                let mut chosen = Vec::with_capacity(ids.len());
                for id in &ids {
                    let device = all
                        .iter()
                        .find(|d| &d.device_id == id)
                        .ok_or_else(|| SpeakerError::UnknownDevice(id.clone()))?;
                    chosen.push(device.clone());
                }
                chosen
            }
        };
        if chosen.is_empty() {
            return Err(SpeakerError::NoSpeakers);
        }
        let ids: Vec<String> = chosen.iter().map(|d| d.backend_id.clone()).collect();
        self.sessions.set_devices(user, key, &ids).await?;
        Ok(chosen)
    }

    /// `text` spoken by `voice` as the streams' PCM (48 kHz, 16-bit, stereo).
    async fn speak(&self, text: &str, voice: Voice) -> Result<Pcm, SpeakerError> {
        let speech = |e: &dyn std::fmt::Display| SpeakerError::Speech(e.to_string());
        let synth = self.engines.synthesizer().await.map_err(|e| speech(&e))?;
        let slot = self.engines.slot().await.map_err(|e| speech(&e))?;
        let text = text.to_string();
        let rate = SampleRate::new(RATE).expect("the streams' rate is supported");
        let audio = tokio::task::spawn_blocking(move || {
            slot.render(
                &synth,
                &SynthesisRequest {
                    voice: &voice.engine,
                    text: &text,
                    modifiers: voice.modifiers,
                    sample_rate: rate,
                },
            )
        })
        .await
        .map_err(|e| speech(&e))?
        .map_err(|e| match e {
            speech::SpeechError::UnknownVoice(_) => SpeakerError::BadRequest(format!(
                "Voice: {e} (an engine voice id such as espeak:en-us)"
            )),
            other => speech(&other),
        })?;
        let samples: Vec<i16> = audio
            .samples
            .iter()
            .flat_map(|s| {
                let sample = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
                [sample, sample]
            })
            .collect();
        Ok(Pcm(samples.into()))
    }

    /// Every device (the session must be the user's).
    pub async fn devices(&self, user: UserId, token: &str) -> Result<Vec<Device>, SpeakerError> {
        self.devices_here(user, &session_key(token)).await
    }

    /// Every device, the session named by its key.
    async fn devices_here(&self, user: UserId, key: &str) -> Result<Vec<Device>, SpeakerError> {
        self.sessions.get(user, key).await?;
        let mut devices = self.backend.devices().await?;
        let mut playing: Vec<String> = Vec::new();
        for (session, feeder) in self.streams.held() {
            if feeder.status().state == FeedState::Playing {
                playing.extend(self.sessions.devices_of(&session).await);
            }
        }
        for device in &mut devices {
            device.playing = playing.contains(&device.backend_id);
        }
        Ok(devices)
    }

    /// One device.
    pub async fn device(
        &self,
        user: UserId,
        token: &str,
        device_id: &str,
    ) -> Result<Device, SpeakerError> {
        let devices = self.devices(user, token).await?;
        find(devices, device_id)
    }

    /// Adds a device to the session.
    pub async fn add_device(
        &self,
        user: UserId,
        token: &str,
        device_id: &str,
    ) -> Result<(), SpeakerError> {
        let device = self.device(user, token, device_id).await?;
        let key = session_key(token);
        let mut devices = self.sessions.get(user, &key).await?.devices;
        if !devices.contains(&device.backend_id) {
            devices.push(device.backend_id);
        }
        self.sessions.set_devices(user, &key, &devices).await
    }

    /// Takes a device out of the session.
    pub async fn remove_device(
        &self,
        user: UserId,
        token: &str,
        device_id: &str,
    ) -> Result<(), SpeakerError> {
        let device = self.device(user, token, device_id).await?;
        let key = session_key(token);
        let mut devices = self.sessions.get(user, &key).await?.devices;
        devices.retain(|id| *id != device.backend_id);
        self.sessions.set_devices(user, &key, &devices).await
    }

    /// Puts every device in the session.
    pub async fn party_mode(&self, user: UserId, token: &str) -> Result<(), SpeakerError> {
        let devices = self.devices(user, token).await?;
        let ids: Vec<String> = devices.into_iter().map(|d| d.backend_id).collect();
        self.sessions
            .set_devices(user, &session_key(token), &ids)
            .await
    }

    /// The session's devices.
    pub async fn session_devices(
        &self,
        user: UserId,
        token: &str,
    ) -> Result<Vec<Device>, SpeakerError> {
        let session = self.sessions.get(user, &session_key(token)).await?;
        let devices = self.backend.devices().await?;
        Ok(devices
            .into_iter()
            .filter(|d| session.devices.contains(&d.backend_id))
            .collect())
    }

    /// The average volume of every device, 0–50 (0 when there are none).
    pub async fn volume(&self, user: UserId, token: &str) -> Result<u8, SpeakerError> {
        let devices = self.devices(user, token).await?;
        let total: u32 = devices.iter().map(|d| u32::from(d.wire_volume())).sum();
        let count = u32::try_from(devices.len()).unwrap_or(u32::MAX).max(1);
        Ok(u8::try_from((total + count / 2) / count).unwrap_or(MAX_WIRE_VOLUME))
    }

    /// One device's volume, 0–50.
    pub async fn device_volume(
        &self,
        user: UserId,
        token: &str,
        device_id: &str,
    ) -> Result<u8, SpeakerError> {
        Ok(self.device(user, token, device_id).await?.wire_volume())
    }

    /// Sets every device's volume (0–50; above `max_volume` it is lowered to it).
    pub async fn set_volume(
        &self,
        user: UserId,
        token: &str,
        volume: u8,
    ) -> Result<(), SpeakerError> {
        let percent = self.percent(volume)?;
        for device in self.devices(user, token).await? {
            self.backend.set_volume(&device, percent).await?;
        }
        Ok(())
    }

    /// Sets one device's volume.
    pub async fn set_device_volume(
        &self,
        user: UserId,
        token: &str,
        device_id: &str,
        volume: u8,
    ) -> Result<(), SpeakerError> {
        let percent = self.percent(volume)?;
        let device = self.device(user, token, device_id).await?;
        self.backend.set_volume(&device, percent).await
    }

    pub(super) fn percent(&self, volume: u8) -> Result<u8, SpeakerError> {
        if volume > MAX_WIRE_VOLUME {
            return Err(SpeakerError::BadRequest(
                "Volume must be a whole number from 0 to 50".into(),
            ));
        }
        Ok(wire_to_percent(volume.min(self.max_volume)))
    }
}

/// The device with the contract's `device_id`.
fn find(devices: Vec<Device>, device_id: &str) -> Result<Device, SpeakerError> {
    devices
        .into_iter()
        .find(|d| d.device_id == device_id)
        .ok_or_else(|| SpeakerError::UnknownDevice(device_id.to_string()))
}

/// What to do once an announcement has been heard.
struct AfterAnnouncement {
    /// Its stream.
    stream: String,
    /// Its number among the feeder's plays (a later play supersedes it).
    plays: u64,
    /// The track's speakers, to put back on the stream (when the announcement was elsewhere).
    rejoin: Option<Vec<Device>>,
    /// Speakers to set back to their own volumes (as they were before it).
    restore: Vec<Device>,
    /// How far behind the writing the speakers play.
    latency: Duration,
}

/// Waits until the announcement playing on `feeder` has been heard, then sets the speakers'
/// volumes back and, unless the track was stopped or something else was played since, puts the
/// track's speakers back on the stream.
async fn after_announcement(
    backend: Arc<dyn SpeakerBackend>,
    feeder: Feeder,
    after: AfterAnnouncement,
) {
    let mut status = feeder.watch();
    if status
        .wait_for(|s| s.plays != after.plays || !s.announcing || s.state == FeedState::Stopped)
        .await
        .is_err()
    {
        return;
    }
    tokio::time::sleep(after.latency).await;
    let now = feeder.status();
    let track_continues = now.plays == after.plays && now.state != FeedState::Stopped;
    let done = async {
        for device in &after.restore {
            backend.set_volume(device, device.percent).await?;
        }
        if let Some(devices) = &after.rejoin
            && !devices.is_empty()
            && track_continues
        {
            backend.join(&after.stream, devices).await?;
        }
        Ok::<(), SpeakerError>(())
    };
    if let Err(e) = done.await {
        tracing::warn!(error = %e, "the speakers could not be set back after an announcement");
    }
}
