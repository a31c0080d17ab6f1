//! The media operations of [`SpeakersService`]: the hub media list, and hub and web media
//! played on a session's speakers.
//!
//! A play request opens its media before it touches the session's playback: a media file
//! that is gone or a URL that cannot be used or played is an error to the request (4xx),
//! and the session is then stopped (its earlier playback too) and stays usable.

use crate::ids::UserId;
use crate::speakers::SpeakersService;
use crate::speakers::audio::{Audio, PcmStream};
use crate::speakers::error::SpeakerError;
use crate::speakers::media::decode::{self, Format, Source};
use crate::speakers::media::library::MediaItem;
use crate::speakers::service::Speakers;

impl SpeakersService {
    /// The hub media list (the session must be the user's).
    pub async fn media_list(
        &self,
        user: UserId,
        token: &str,
    ) -> Result<Vec<MediaItem>, SpeakerError> {
        self.sessions
            .get(user, &crate::speakers::sessions::session_key(token))
            .await?;
        Ok(self.media.library.scan().await)
    }

    /// Plays the hub media file `persistent_id` on `speakers`, replacing what the session (named
    /// by its key) was playing.
    pub(crate) async fn play_hub_media_here(
        &self,
        user: UserId,
        key: &str,
        persistent_id: &str,
        speakers: Speakers,
    ) -> Result<(), SpeakerError> {
        self.check_speakers(user, key, &speakers).await?;
        let item = self
            .media
            .library
            .find(persistent_id)
            .await
            .ok_or_else(|| SpeakerError::UnknownMedia(persistent_id.to_string()))?;
        let opened = self.open_file(&item).await;
        let label = format!("hub:{}", item.persistent_id);
        self.play_opened(user, key, opened, label, speakers).await
    }

    /// Plays the http or https media at `url` on `speakers` while it downloads, replacing what
    /// the session (named by its key) was playing.
    pub(crate) async fn play_web_media_here(
        &self,
        user: UserId,
        key: &str,
        url: &str,
        speakers: Speakers,
    ) -> Result<(), SpeakerError> {
        crate::speakers::media::web::parse(url)?;
        self.check_speakers(user, key, &speakers).await?;
        let opened = match self.media.web.open(url).await {
            Ok(download) => decode::open(
                Source::Stream(Box::new(download.body)),
                download.format,
                self.media.ahead,
            )
            .await
            .map_err(SpeakerError::BadMedia),
            Err(e) => Err(e),
        };
        self.play_opened(user, key, opened, "web".into(), speakers)
            .await
    }

    /// Fails at once (before any media is opened) when the session is not the user's, or
    /// when it is to play on its own speakers and has none.
    async fn check_speakers(
        &self,
        user: UserId,
        key: &str,
        speakers: &Speakers,
    ) -> Result<(), SpeakerError> {
        let session = self.sessions.get(user, key).await?;
        if *speakers == Speakers::Session && session.devices.is_empty() {
            return Err(SpeakerError::NoSpeakers);
        }
        Ok(())
    }

    /// The hub media file, decoding.
    async fn open_file(&self, item: &MediaItem) -> Result<PcmStream, SpeakerError> {
        let path = item.path.clone();
        let file = tokio::task::spawn_blocking(move || std::fs::File::open(path))
            .await
            .map_err(|e| SpeakerError::BadMedia(e.to_string()))?
            .map_err(|_| SpeakerError::UnknownMedia(item.persistent_id.clone()))?;
        let format = Format {
            extension: item
                .path
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase()),
            mime: None,
        };
        decode::open(Source::File(file), format, self.media.ahead)
            .await
            .map_err(SpeakerError::BadMedia)
    }

    /// Plays opened media (`label` says what it is); media that could not be opened stops the
    /// session's playback and is the request's error.
    async fn play_opened(
        &self,
        user: UserId,
        key: &str,
        opened: Result<PcmStream, SpeakerError>,
        label: String,
        speakers: Speakers,
    ) -> Result<(), SpeakerError> {
        match opened {
            Ok(stream) => {
                self.play_as(user, key, Audio::Stream(stream), Some(label), speakers)
                    .await
            }
            Err(e) => {
                self.stop_here(user, key).await?;
                Err(e)
            }
        }
    }
}
