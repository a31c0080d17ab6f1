//! Audio files the media tests make: WAV written here, FLAC and MP3 by sox, tags by lofty.

use std::path::Path;
use std::process::Command;

use lofty::config::WriteOptions;
use lofty::file::TaggedFileExt;
use lofty::tag::{Accessor, Tag, TagExt};

/// A 16-bit PCM WAV of a `hz` sine at half scale: `seconds` long at `rate`, `channels` wide.
pub fn wav_bytes(rate: u32, channels: u16, seconds: f64, hz: f64) -> Vec<u8> {
    let frames = (f64::from(rate) * seconds).round() as usize;
    let data_len = frames * usize::from(channels) * 2;
    let mut out = Vec::with_capacity(44 + data_len);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len as u32).to_le_bytes());
    for n in 0..frames {
        let t = n as f64 / f64::from(rate);
        let value = (16_000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()).round() as i16;
        for _ in 0..channels {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    out
}

/// Writes [`wav_bytes`] (mono) to `path`.
pub fn wav(path: &Path, rate: u32, seconds: f64) {
    std::fs::write(path, wav_bytes(rate, 1, seconds, 440.0)).expect("a WAV file");
}

/// A 44.1 kHz mono 440 Hz sine of `seconds` made by sox, in the format of `path`'s extension
/// (flac, mp3, ogg, wav).
pub fn sox(path: &Path, seconds: f64) {
    let status = Command::new("sox")
        .args(["-n", "-r", "44100", "-c", "1"])
        .arg(path)
        .args(["synth", &seconds.to_string(), "sine", "440", "vol", "0.5"])
        .status()
        .expect("sox runs (the test command installs it)");
    assert!(status.success(), "sox made {}", path.display());
}

/// Writes the file's primary tag with these values.
pub fn tag(path: &Path, title: &str, artist: &str, album: &str) {
    let tagged = lofty::read_from_path(path).expect("a file lofty reads");
    let mut tag = Tag::new(tagged.primary_tag_type());
    tag.set_title(title.into());
    tag.set_artist(artist.into());
    tag.set_album(album.into());
    tag.save_to_path(path, WriteOptions::default())
        .expect("the tag is written");
}
