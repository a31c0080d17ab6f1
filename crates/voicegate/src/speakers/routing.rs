//! Where a session's playback commands run: on the instance that owns the session (it holds the
//! session's feeder). Arriving elsewhere, a command is forwarded to the owner through the
//! database and its answer returned unchanged. When the owner is gone (its lease lapsed), the
//! session's playback is stopped: its status says so, pause and resume answer
//! [`SpeakerError::OwnerGone`], stop succeeds, and a new play takes the session over (the asking
//! instance becomes its owner and plays it).
//!
//! The owner side is [`spawn_owner`]: it renews this instance's leases and runs the commands
//! forwarded to it.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use speech::{Factor, Modifiers};

use crate::ids::UserId;
use crate::speakers::error::SpeakerError;
use crate::speakers::forward::{Claimed, Waited};
use crate::speakers::playback::STOPPED;
use crate::speakers::service::{Playback, Speakers, SpeakersService, Voice};
use crate::speakers::sessions::{Session, now_ms, session_key};

/// A playback command, as it travels to the session's owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// An announcement.
    PlayTts {
        /// Its text.
        text: String,
        /// Its voice (engine voice id and prosody), if not the configured one.
        voice: Option<WireVoice>,
        /// Its volume, 0–50.
        volume: Option<u8>,
        /// Where.
        speakers: Speakers,
    },
    /// Hub media.
    PlayHub {
        /// Its PersistentID.
        persistent_id: String,
        /// Where.
        speakers: Speakers,
    },
    /// Web media.
    PlayWeb {
        /// Its URL.
        url: String,
        /// Where.
        speakers: Speakers,
    },
    /// Pause.
    Pause,
    /// Resume (or play hub media `persistent_id`).
    Resume {
        /// Hub media to play instead of the paused track.
        persistent_id: Option<String>,
        /// Where.
        speakers: Speakers,
    },
    /// Stop.
    Stop,
    /// The playback's state.
    Status,
}

impl Command {
    /// Whether it starts a playback (a gone owner's session is then taken over).
    fn plays(&self) -> bool {
        match self {
            Self::PlayTts { .. } | Self::PlayHub { .. } | Self::PlayWeb { .. } => true,
            Self::Resume { persistent_id, .. } => persistent_id.is_some(),
            Self::Pause | Self::Stop | Self::Status => false,
        }
    }
}

/// A voice as it travels: an engine voice and its prosody factors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireVoice {
    engine: String,
    pitch: f32,
    rate: f32,
    range: f32,
}

impl From<Voice> for WireVoice {
    fn from(voice: Voice) -> Self {
        Self {
            engine: voice.engine,
            pitch: voice.modifiers.pitch.get(),
            rate: voice.modifiers.rate.get(),
            range: voice.modifiers.range.get(),
        }
    }
}

impl From<WireVoice> for Voice {
    fn from(wire: WireVoice) -> Self {
        Self {
            engine: wire.engine,
            modifiers: Modifiers {
                pitch: Factor::clamped(wire.pitch),
                rate: Factor::clamped(wire.rate),
                range: Factor::clamped(wire.range),
            },
        }
    }
}

/// A command's answer: done, or the playback's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Done.
    Done,
    /// The playback's state.
    Playback(Playback),
}

impl SpeakersService {
    /// Opens a session for `user`, played by this instance.
    pub async fn init_session(&self, user: UserId) -> Result<String, SpeakerError> {
        self.sessions.open(user).await
    }

    /// Ends a session and its playback (on whichever instance plays it).
    pub async fn close_session(&self, user: UserId, token: &str) -> Result<(), SpeakerError> {
        match self.route(user, token, Command::Stop).await {
            Ok(_) | Err(SpeakerError::OwnerGone(_) | SpeakerError::OwnerSilent(..)) => {}
            Err(e) => return Err(e),
        }
        self.sessions.close(user, &session_key(token)).await
    }

    /// Speaks `text` on `speakers` (see `play_tts_here`).
    pub async fn play_tts(
        &self,
        user: UserId,
        token: &str,
        text: &str,
        voice: Option<Voice>,
        volume: Option<u8>,
        speakers: Speakers,
    ) -> Result<(), SpeakerError> {
        let command = Command::PlayTts {
            text: text.to_string(),
            voice: voice.map(WireVoice::from),
            volume,
            speakers,
        };
        self.route(user, token, command).await.map(|_| ())
    }

    /// Plays the hub media file `persistent_id` on `speakers`, replacing what the session was
    /// playing.
    pub async fn play_hub_media(
        &self,
        user: UserId,
        token: &str,
        persistent_id: &str,
        speakers: Speakers,
    ) -> Result<(), SpeakerError> {
        let command = Command::PlayHub {
            persistent_id: persistent_id.to_string(),
            speakers,
        };
        self.route(user, token, command).await.map(|_| ())
    }

    /// Plays the http or https media at `url` on `speakers` while it downloads, replacing what
    /// the session was playing.
    pub async fn play_web_media(
        &self,
        user: UserId,
        token: &str,
        url: &str,
        speakers: Speakers,
    ) -> Result<(), SpeakerError> {
        crate::speakers::media::web::parse(url)?;
        let command = Command::PlayWeb {
            url: url.to_string(),
            speakers,
        };
        self.route(user, token, command).await.map(|_| ())
    }

    /// Pauses the session's playback, keeping the place heard.
    pub async fn pause_play(&self, user: UserId, token: &str) -> Result<(), SpeakerError> {
        self.route(user, token, Command::Pause).await.map(|_| ())
    }

    /// Continues the session's paused playback (see `resume_here`).
    pub async fn resume(
        &self,
        user: UserId,
        token: &str,
        persistent_id: Option<&str>,
        speakers: Speakers,
    ) -> Result<(), SpeakerError> {
        let command = Command::Resume {
            persistent_id: persistent_id.map(str::to_string),
            speakers,
        };
        self.route(user, token, command).await.map(|_| ())
    }

    /// Stops the session's playback and frees its stream.
    pub async fn stop_play(&self, user: UserId, token: &str) -> Result<(), SpeakerError> {
        self.route(user, token, Command::Stop).await.map(|_| ())
    }

    /// The session's playback state and the seconds heard so far.
    pub async fn playback(&self, user: UserId, token: &str) -> Result<Playback, SpeakerError> {
        match self.route(user, token, Command::Status).await? {
            Answer::Playback(playback) => Ok(playback),
            Answer::Done => Ok(STOPPED),
        }
    }

    /// Runs `command` where the session's playback is.
    async fn route(
        &self,
        user: UserId,
        token: &str,
        command: Command,
    ) -> Result<Answer, SpeakerError> {
        let key = session_key(token);
        let mut session = self.sessions.get(user, &key).await?;
        // A take-over lost to another instance: look again (once) where the session is now.
        for _ in 0..2 {
            if session.instance == self.sessions.instance() {
                return self.execute(user, &key, command).await;
            }
            if session.owner_alive(now_ms()) {
                return self.forward(&session, command).await;
            }
            if !command.plays() {
                return gone_owner_answer(&session, &command);
            }
            if self.sessions.take_over(&session).await? {
                tracing::info!(gone = %session.instance, "a speakers session taken over from a gone instance");
                return self.execute(user, &key, command).await;
            }
            session = self.sessions.get(user, &key).await?;
        }
        Err(SpeakerError::OwnerGone(session.instance))
    }

    /// Runs `command` on this instance's feeders.
    async fn execute(
        &self,
        user: UserId,
        key: &str,
        command: Command,
    ) -> Result<Answer, SpeakerError> {
        match command {
            Command::PlayTts {
                text,
                voice,
                volume,
                speakers,
            } => {
                let voice = voice.map(Voice::from);
                self.play_tts_here(user, key, &text, voice, volume, speakers)
                    .await?;
            }
            Command::PlayHub {
                persistent_id,
                speakers,
            } => {
                self.play_hub_media_here(user, key, &persistent_id, speakers)
                    .await?;
            }
            Command::PlayWeb { url, speakers } => {
                self.play_web_media_here(user, key, &url, speakers).await?;
            }
            Command::Pause => self.pause_here(user, key).await?,
            Command::Resume {
                persistent_id,
                speakers,
            } => {
                self.resume_here(user, key, persistent_id.as_deref(), speakers)
                    .await?;
            }
            Command::Stop => self.stop_here(user, key).await?,
            Command::Status => return Ok(Answer::Playback(self.playback_here(user, key).await?)),
        }
        Ok(Answer::Done)
    }

    /// Sends `command` to the instance owning `session` and returns its answer.
    async fn forward(&self, session: &Session, command: Command) -> Result<Answer, SpeakerError> {
        let text = serde_json::to_string(&command)
            .map_err(|e| SpeakerError::Backend(format!("a command could not be written: {e}")))?;
        let id = self
            .commands
            .send(&session.key, session.owner, &session.instance, &text)
            .await?;
        let waited = self
            .commands
            .wait(id, self.forward_timeout, self.command_poll)
            .await?;
        match waited {
            Waited::Answered(result) => {
                serde_json::from_str::<Result<Answer, SpeakerError>>(&result).map_err(|e| {
                    SpeakerError::Backend(format!("the owner's answer could not be read: {e}"))
                })?
            }
            Waited::OwnerGone => gone_owner_answer(session, &command),
            Waited::TimedOut => Err(SpeakerError::OwnerSilent(
                session.instance.clone(),
                u64::try_from(self.forward_timeout.as_millis()).unwrap_or(u64::MAX),
            )),
        }
    }

    /// Runs a command forwarded to this instance and writes its answer.
    async fn run_forwarded(&self, claimed: Claimed) {
        let result = match serde_json::from_str::<Command>(&claimed.command) {
            Ok(command) => self.execute(claimed.user, &claimed.session, command).await,
            Err(e) => Err(SpeakerError::BadRequest(format!(
                "a forwarded command could not be read: {e}"
            ))),
        };
        let text = serde_json::to_string(&result).unwrap_or_else(|_| "null".into());
        if let Err(e) = self.commands.answer(claimed.id, &text).await {
            tracing::warn!(error = %e, "a forwarded speakers command could not be answered");
        }
    }
}

/// The answer to `command` for a session whose owner is gone: its playback is stopped.
fn gone_owner_answer(session: &Session, command: &Command) -> Result<Answer, SpeakerError> {
    match command {
        Command::Status => Ok(Answer::Playback(STOPPED)),
        Command::Stop => Ok(Answer::Done),
        _ => Err(SpeakerError::OwnerGone(session.instance.clone())),
    }
}

/// The owner's side, until aborted: renews this instance's leases on its sessions (three times
/// a lease), and while it owns any, runs the commands forwarded to it (looking every
/// `speakers.command_poll_ms`), each in its own task.
pub fn spawn_owner(service: Arc<SpeakersService>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let renew_every = (service.sessions.lease() / 3).max(Duration::from_millis(10));
        let poll = service.command_poll.max(Duration::from_millis(1));
        let mut renewed_at: Option<tokio::time::Instant> = None;
        let mut owns = 0;
        loop {
            if service.sessions.take_opened() {
                owns = owns.max(1);
            }
            if renewed_at.is_none_or(|at| at.elapsed() >= renew_every) {
                renewed_at = Some(tokio::time::Instant::now());
                match service.sessions.renew().await {
                    Ok(count) => owns = count,
                    Err(e) => tracing::warn!(error = %e, "speakers sessions' leases not renewed"),
                }
                let _ = service.commands.sweep(Duration::from_secs(60)).await;
            }
            if owns > 0 {
                match service.commands.claim().await {
                    Ok(claimed) => {
                        for command in claimed {
                            tokio::spawn({
                                let service = service.clone();
                                async move { service.run_forwarded(command).await }
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "forwarded speakers commands not read"),
                }
            }
            tokio::time::sleep(poll).await;
        }
    })
}
