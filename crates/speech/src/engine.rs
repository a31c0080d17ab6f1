//! The engine trait: what every speech engine offers to the synthesizer.

use crate::SpeechError;

/// A voice's gender as the engine declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    /// Male.
    Male,
    /// Female.
    Female,
    /// Not declared.
    Unknown,
}

impl Gender {
    /// The lowercase name used on the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
            Gender::Unknown => "unknown",
        }
    }
}

/// One voice an engine can speak with.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceInfo {
    /// Stable id across engines: `<engine>:<voice>`, e.g. `espeak:en-us`, `flite:slt`.
    pub id: String,
    /// The engine's name.
    pub engine: &'static str,
    /// A human-readable name.
    pub name: String,
    /// Language tag (BCP 47 style, lowercase), e.g. `en-us`.
    pub language: String,
    /// Declared gender.
    pub gender: Gender,
    /// The rate the engine produces, in Hz.
    pub sample_rate: u32,
}

/// Bounds and default of one native engine parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeRange {
    /// Lowest accepted value.
    pub min: f32,
    /// Highest accepted value.
    pub max: f32,
    /// The voice's default.
    pub default: f32,
}

impl NativeRange {
    /// `value` clamped into the range.
    pub fn clamp(&self, value: f32) -> f32 {
        value.clamp(self.min, self.max)
    }
}

/// An engine's own prosody parameters, in its own units. Higher `rate` is faster speech, higher
/// `pitch` a higher voice, higher `range` a livelier intonation; the calibration learns how each
/// maps to measured speed and F0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeSettings {
    /// Speed (espeak-ng: words per minute; flite: 1 / duration_stretch).
    pub rate: f32,
    /// Pitch level (espeak-ng: 0–100; flite: target mean F0 in Hz).
    pub pitch: f32,
    /// Pitch range (espeak-ng: 0–100; flite: target F0 deviation in Hz).
    pub range: f32,
}

/// The native parameters' bounds for one voice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeRanges {
    /// See [`NativeSettings::rate`].
    pub rate: NativeRange,
    /// See [`NativeSettings::pitch`].
    pub pitch: NativeRange,
    /// See [`NativeSettings::range`].
    pub range: NativeRange,
}

impl NativeRanges {
    /// The voice's defaults.
    pub fn defaults(&self) -> NativeSettings {
        NativeSettings {
            rate: self.rate.default,
            pitch: self.pitch.default,
            range: self.range.default,
        }
    }
}

/// Receives audio as it is produced: 16-bit mono PCM at the voice's rate; returning `false`
/// stops the synthesis (the client went away).
pub type PcmSink<'a> = dyn FnMut(&[i16]) -> bool + 'a;

/// A speech engine.
pub trait Engine: Send + Sync {
    /// The engine's name, the prefix of its voice ids.
    fn name(&self) -> &'static str;

    /// Every voice it has.
    fn voices(&self) -> Vec<VoiceInfo>;

    /// The native parameters' bounds for `voice` (an id without the engine prefix).
    fn native_ranges(&self, voice: &str) -> Result<NativeRanges, SpeechError>;

    /// Speaks `text` with `voice` (an id without the engine prefix) into `sink`, in chunks as they
    /// are produced. Returns [`SpeechError::Cancelled`] when the sink stopped it.
    fn synthesize(
        &self,
        voice: &str,
        text: &str,
        settings: NativeSettings,
        sink: &mut PcmSink<'_>,
    ) -> Result<(), SpeechError>;
}
