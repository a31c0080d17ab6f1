//! Voice builds: a prosody profile (pitch level, pitch range, speaking rate) fitted from an
//! account's recordings and expressed as modifiers of a base engine voice. This is not a clone of
//! the speaker's voice: the timbre stays the base voice's.

use serde::{Deserialize, Serialize};

use crate::SpeechError;
use crate::audio::Audio;
use crate::calibration::BaseProsody;
use crate::pitch::{self, stats_of};
use crate::settings::{Factor, Modifiers};
use crate::speaking_rate::active_speech_secs;

/// What one recording contributes to a build.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingProsody {
    /// F0 of its voiced frames, Hz.
    pub f0_hz: Vec<f32>,
    /// Syllables in its sentence.
    pub syllables: usize,
    /// Seconds of active speech.
    pub active_secs: f64,
}

/// Measures a recording; `syllables` comes from the sentence's phonemes.
pub fn analyze(audio: &Audio, syllables: usize) -> Result<RecordingProsody, SpeechError> {
    Ok(RecordingProsody {
        f0_hz: pitch::track(audio)?.voiced(),
        syllables,
        active_secs: active_speech_secs(audio),
    })
}

/// A built voice: the base voice plus these modifiers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProsodyProfile {
    /// The engine voice it speaks with.
    pub base_voice: String,
    /// Median F0 of the recordings, Hz.
    pub median_f0_hz: f32,
    /// 10th–90th percentile F0 range of the recordings, semitones.
    pub range_semitones: f32,
    /// Syllables per second of active speech in the recordings.
    pub syllables_per_second: f32,
    /// Pitch modifier of the base voice (1 = unchanged).
    pub pitch: f32,
    /// Pitch-range modifier of the base voice.
    pub range: f32,
    /// Rate modifier of the base voice.
    pub rate: f32,
    /// Recordings the profile was fitted from.
    pub recordings: usize,
}

impl ProsodyProfile {
    /// The modifiers that apply the profile to its base voice (each kept within the factors a
    /// synthesis accepts).
    pub fn modifiers(&self) -> Modifiers {
        Modifiers {
            pitch: Factor::clamped(self.pitch),
            rate: Factor::clamped(self.rate),
            range: Factor::clamped(self.range),
        }
    }
}

/// Requirements on the recordings of a build.
#[derive(Debug, Clone, Copy)]
pub struct FitLimits {
    /// Fewest usable recordings.
    pub min_recordings: usize,
    /// Fewest voiced 10 ms frames for a recording to be usable.
    pub min_voiced_frames: usize,
}

/// Fits a profile over the usable recordings against the base voice's own prosody. The error
/// says why no profile could be made.
pub fn fit(
    recordings: &[RecordingProsody],
    base_voice: &str,
    base: &BaseProsody,
    limits: FitLimits,
) -> Result<ProsodyProfile, String> {
    let usable: Vec<&RecordingProsody> = recordings
        .iter()
        .filter(|r| r.f0_hz.len() >= limits.min_voiced_frames && r.syllables > 0)
        .collect();
    if usable.len() < limits.min_recordings {
        return Err(format!(
            "{} usable recording(s) (level OK and at least {} voiced frames); a build needs {}",
            usable.len(),
            limits.min_voiced_frames,
            limits.min_recordings
        ));
    }
    let pooled: Vec<f32> = usable
        .iter()
        .flat_map(|r| r.f0_hz.iter().copied())
        .collect();
    let stats = stats_of(pooled, 1).ok_or("no voiced speech in the recordings")?;
    let syllables: usize = usable.iter().map(|r| r.syllables).sum();
    let seconds: f64 = usable.iter().map(|r| r.active_secs).sum();
    let speed = (syllables as f64 / seconds.max(1e-3)) as f32;
    let bounded = |x: f32| x.clamp(0.25, 4.0);
    Ok(ProsodyProfile {
        base_voice: base_voice.to_string(),
        median_f0_hz: stats.median_hz,
        range_semitones: stats.range_semitones(),
        syllables_per_second: speed,
        pitch: bounded(stats.median_hz / base.median_f0_hz),
        range: bounded(stats.range_semitones() / base.range_semitones.max(0.5)),
        rate: bounded(speed / base.syllables_per_second),
        recordings: usable.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_relative_to_the_base_and_refuses_too_few() {
        let base = BaseProsody {
            median_f0_hz: 100.0,
            range_semitones: 4.0,
            syllables_per_second: 5.0,
        };
        let recording = RecordingProsody {
            f0_hz: (0..100).map(|i| 140.0 + (i % 20) as f32).collect(),
            syllables: 10,
            active_secs: 2.5,
        };
        let limits = FitLimits {
            min_recordings: 2,
            min_voiced_frames: 50,
        };
        let profile = fit(
            &[recording.clone(), recording.clone()],
            "espeak:en-us",
            &base,
            limits,
        )
        .unwrap();
        assert!((profile.pitch - 1.5).abs() < 0.05, "{profile:?}");
        assert!((profile.rate - 0.8).abs() < 0.01);
        assert_eq!(profile.recordings, 2);
        let error = fit(&[recording], "espeak:en-us", &base, limits).unwrap_err();
        assert!(error.contains("needs 2"), "{error}");
    }
}
