//! Hub media and web media: what `media_list` lists and `play_hub_media*` and
//! `play_web_media*` play.
//!
//! [`library`] scans the hub media folder, [`web`] opens web media URLs, [`decode`] turns
//! either into the streams' PCM while it plays, and [`service`] adds the operations to
//! [`crate::speakers::SpeakersService`].

pub mod decode;
pub mod library;
pub mod service;
#[cfg(test)]
pub mod test_files;
pub mod web;

use std::path::Path;
use std::time::Duration;

use crate::address_policy::AllowEntryError;
use crate::config::SpeakersConfig;
use crate::speakers::media::library::{Library, ScanLimits};
use crate::speakers::media::web::WebMedia;

/// The media sources of the speakers, configured from `[speakers]`.
#[derive(Debug, Clone)]
pub struct Media {
    /// The hub media folder.
    pub library: Library,
    /// Web media.
    pub web: WebMedia,
    /// How far decoding runs ahead of playback.
    pub ahead: Duration,
}

impl Media {
    /// The media of `config`, whose hub media folder defaults to one in `data_dir`.
    pub fn new(config: &SpeakersConfig, data_dir: &Path) -> Result<Self, AllowEntryError> {
        let limits = ScanLimits {
            max_files: config.media_max_files,
            max_depth: config.media_max_depth,
        };
        Ok(Self {
            library: Library::new(config.media_dir(data_dir), limits),
            web: WebMedia::new(config)?,
            ahead: Duration::from_millis(config.media_ahead_ms),
        })
    }
}
