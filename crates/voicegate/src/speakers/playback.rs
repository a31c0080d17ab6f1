//! The playback operations of [`SpeakersService`] on this instance's feeders: pause, resume,
//! stop and the playback's state, for a session named by its key. `routing.rs` calls them on the
//! instance owning the session.

use crate::ids::UserId;
use crate::speakers::error::SpeakerError;
use crate::speakers::feeder::{FeedState, Feeder};
use crate::speakers::service::{Playback, Speakers, SpeakersService};

impl SpeakersService {
    /// The session's feeder, if it holds a stream.
    fn feeder_of(&self, key: &str) -> Option<Feeder> {
        self.streams
            .held_by(key)
            .map(|(at, _)| self.streams.feeder(at))
    }

    /// Pauses the session's playback, keeping the place heard: the speakers are muted at once
    /// (the audio already on its way to them is not heard) and the feeder stops writing.
    pub(crate) async fn pause_here(&self, user: UserId, key: &str) -> Result<(), SpeakerError> {
        self.sessions.get(user, key).await?;
        if let Some((at, stream)) = self.streams.held_by(key) {
            let feeder = self.streams.feeder(at);
            if feeder.status().state == FeedState::Playing {
                self.backend.mute(&stream, true).await?;
                feeder.pause().await;
                self.streams
                    .set_paused_at(at, Some(tokio::time::Instant::now()));
            }
        }
        Ok(())
    }

    /// Continues the session's paused playback from the place heard, on `speakers`. The
    /// speakers are unmuted once what was muted at the pause has drained from their buffers.
    /// With `persistent_id`, hub media other than the paused track (or with nothing paused)
    /// plays from its start instead.
    pub(crate) async fn resume_here(
        &self,
        user: UserId,
        key: &str,
        persistent_id: Option<&str>,
        speakers: Speakers,
    ) -> Result<(), SpeakerError> {
        self.sessions.get(user, key).await?;
        let held = self.streams.held_by(key).and_then(|(at, stream)| {
            let feeder = self.streams.feeder(at);
            let state = feeder.status().state;
            (state != FeedState::Stopped).then_some((at, stream, feeder, state))
        });
        if let Some(id) = persistent_id {
            let other = held.as_ref().is_none_or(|(at, ..)| {
                self.streams
                    .label(*at)
                    .is_some_and(|label| label.starts_with("hub:") && label[4..] != *id)
            });
            if other {
                return self.play_hub_media_here(user, key, id, speakers).await;
            }
        }
        let Some((at, stream, feeder, state)) = held else {
            return Err(SpeakerError::NothingPaused);
        };
        let devices = self.targets(user, key, speakers).await?;
        if state == FeedState::Paused {
            feeder.resume().await;
            if let Some(paused_at) = self.streams.paused_at(at) {
                tokio::time::sleep_until(paused_at + self.latency).await;
            }
            self.streams.set_paused_at(at, None);
        }
        self.follow(user, at, &devices, &feeder, 0);
        self.backend.join(&stream, &devices).await
    }

    /// Stops the session's playback and frees its stream.
    pub(crate) async fn stop_here(&self, user: UserId, key: &str) -> Result<(), SpeakerError> {
        self.sessions.get(user, key).await?;
        self.stop_stream(key).await;
        Ok(())
    }

    /// Stops the playback of the session `key` on this instance, if it has one.
    pub(crate) async fn stop_stream(&self, key: &str) {
        if let Some(feeder) = self.feeder_of(key) {
            feeder.stop().await;
        }
        self.streams.release(key);
    }

    /// The session's playback state and the seconds heard so far.
    pub(crate) async fn playback_here(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Playback, SpeakerError> {
        self.sessions.get(user, key).await?;
        let status = self.feeder_of(key).map(|feeder| feeder.status());
        Ok(match status {
            Some(status) if status.state != FeedState::Stopped => Playback {
                state: status.state,
                elapsed: Some(status.seconds() as u64),
            },
            _ => STOPPED,
        })
    }
}

/// A playback that is not playing.
pub const STOPPED: Playback = Playback {
    state: FeedState::Stopped,
    elapsed: None,
};
