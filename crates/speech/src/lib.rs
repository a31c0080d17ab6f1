//! Speech for voicegate: the engines (espeak-ng and flite, through their C libraries), the DSP
//! that takes their output to what a client asked for (rate, pitch, sample rate, WAV or raw PCM,
//! streamed in chunks), and the analysis behind recordings and voice builds (levels, F0, speaking
//! rate, prosody profiles).
//!
//! No async runtime: every call is blocking and meant for a worker thread. A voice "build" here is
//! a prosody profile (pitch level, pitch range, speaking rate) applied to a base engine voice; it
//! is not a clone of anybody's voice.

pub mod audio;
pub mod calibration;
pub mod cmu;
pub mod engine;
pub mod espeak;
pub mod flite;
pub mod levels;
pub mod pitch;
pub mod pocketsphinx;
pub mod profile;
pub mod resample;
pub mod settings;
pub mod speaking_rate;
pub mod stretch;
pub mod synth;
pub mod wav;

pub use audio::Audio;
pub use engine::{Engine, Gender, NativeSettings, VoiceInfo};
pub use profile::ProsodyProfile;
pub use settings::{Factor, Modifiers, SampleRate};
pub use synth::{Container, SynthesisRequest, Synthesizer};

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// The engine library could not start (missing data files, for instance).
    #[error("{engine} could not start: {detail}")]
    EngineInit {
        /// The engine's name.
        engine: &'static str,
        /// What it said.
        detail: String,
    },
    /// No engine has a voice of that id.
    #[error("unknown voice {0:?}")]
    UnknownVoice(String),
    /// The engine failed while synthesizing.
    #[error("{engine} failed: {detail}")]
    Synthesis {
        /// The engine's name.
        engine: &'static str,
        /// What failed.
        detail: String,
    },
    /// A parameter is out of its range.
    #[error("{name}: {detail}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why it is refused.
        detail: String,
    },
    /// The audio could not be read (not a WAV file, unsupported format, empty, too long).
    #[error("{0}")]
    BadAudio(String),
    /// The resampler failed.
    #[error("resampling: {0}")]
    Resample(String),
    /// The consumer of a stream stopped reading.
    #[error("the output was closed")]
    Cancelled,
}
