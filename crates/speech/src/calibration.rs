//! Engine calibration: how a voice's native rate and pitch parameters change measured speed and
//! F0, learnt by synthesizing a sentence at a few settings and measuring the output. The tables
//! turn a client's modifiers ("pitch 1.5") into native settings, and leave the remainder (what the
//! native range cannot reach) to DSP.

use crate::SpeechError;
use crate::audio::Audio;
use crate::engine::{Engine, NativeRange, NativeRanges, NativeSettings};
use crate::pitch;
use crate::speaking_rate::{active_speech_secs, syllables_per_second};

/// The sentence every voice is measured with.
pub const CALIBRATION_TEXT: &str =
    "The quick brown fox jumps over the lazy dog, and then it runs back home again.";

/// Fewest voiced frames for a calibration point to count.
const MIN_VOICED: usize = 20;

/// A voice's own prosody at its default settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaseProsody {
    /// Median F0, Hz.
    pub median_f0_hz: f32,
    /// 10th–90th percentile F0 range, semitones.
    pub range_semitones: f32,
    /// Syllables per second of active speech.
    pub syllables_per_second: f32,
}

/// The measured tables of one voice.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The voice id (with engine prefix).
    pub voice: String,
    /// The engine's parameter bounds for it.
    pub ranges: NativeRanges,
    /// (native pitch value, median F0 in Hz), ascending in both.
    pub pitch_points: Vec<(f32, f32)>,
    /// (native rate value, speed relative to the default), ascending in both.
    pub rate_points: Vec<(f32, f32)>,
    /// The voice at its defaults.
    pub base: BaseProsody,
}

fn render(
    engine: &dyn Engine,
    voice: &str,
    settings: NativeSettings,
    sample_rate: u32,
) -> Result<Audio, SpeechError> {
    let mut samples = Vec::new();
    engine.synthesize(voice, CALIBRATION_TEXT, settings, &mut |chunk| {
        samples.extend(chunk.iter().map(|&s| f32::from(s) / 32768.0));
        true
    })?;
    Ok(Audio {
        sample_rate,
        samples,
    })
}

fn points(range: &NativeRange) -> [f32; 5] {
    let (lo, hi, mid) = (range.min, range.max, range.default);
    [lo, (lo + mid) / 2.0, mid, (mid + hi) / 2.0, hi]
}

/// Makes a table ascending in its measured value (a measurement that goes backwards takes the
/// previous value) so that it can be inverted.
fn monotone(mut table: Vec<(f32, f32)>) -> Vec<(f32, f32)> {
    for i in 1..table.len() {
        if table[i].1 <= table[i - 1].1 {
            table[i].1 = table[i - 1].1 * 1.0001;
        }
    }
    table
}

/// The native value giving `target` (interpolated in log space) and the factor left over when
/// the target is outside what the table reaches.
fn invert(table: &[(f32, f32)], target: f32) -> (f32, f32) {
    let (first, last) = (table[0], table[table.len() - 1]);
    if target <= first.1 {
        return (first.0, target / first.1);
    }
    if target >= last.1 {
        return (last.0, target / last.1);
    }
    for pair in table.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        if target <= y1 {
            let t = (target.ln() - y0.ln()) / (y1.ln() - y0.ln());
            return (x0 + t * (x1 - x0), 1.0);
        }
    }
    (last.0, 1.0)
}

impl Calibration {
    /// Measures `voice` (an id without prefix) of `engine`; `syllables` is the syllable count of
    /// [`CALIBRATION_TEXT`].
    pub fn measure(
        engine: &dyn Engine,
        voice: &str,
        sample_rate: u32,
        syllables: usize,
    ) -> Result<Self, SpeechError> {
        let ranges = engine.native_ranges(voice)?;
        let defaults = ranges.defaults();
        let failed = |what: String| SpeechError::Synthesis {
            engine: engine.name(),
            detail: format!("calibration of {voice}: {what}"),
        };
        let mut pitch_points = Vec::new();
        let mut base = None;
        for value in points(&ranges.pitch) {
            let audio = render(
                engine,
                voice,
                NativeSettings {
                    pitch: value,
                    ..defaults
                },
                sample_rate,
            )?;
            let stats = pitch::track(&audio)?
                .stats(MIN_VOICED)
                .ok_or_else(|| failed(format!("no voiced speech at pitch {value}")))?;
            pitch_points.push((value, stats.median_hz));
            if value == defaults.pitch {
                let speed = syllables_per_second(&audio, syllables)
                    .ok_or_else(|| failed("no speech at the defaults".into()))?;
                base = Some((stats, speed, active_speech_secs(&audio)));
            }
        }
        let (stats, speed, default_secs) = base.ok_or_else(|| failed("no default point".into()))?;
        let mut rate_points = Vec::new();
        for value in points(&ranges.rate) {
            let relative = if value == defaults.rate {
                1.0
            } else {
                let audio = render(
                    engine,
                    voice,
                    NativeSettings {
                        rate: value,
                        ..defaults
                    },
                    sample_rate,
                )?;
                (default_secs / active_speech_secs(&audio).max(1e-3)) as f32
            };
            rate_points.push((value, relative));
        }
        Ok(Self {
            voice: format!("{}:{voice}", engine.name()),
            ranges,
            pitch_points: monotone(pitch_points),
            rate_points: monotone(rate_points),
            base: BaseProsody {
                median_f0_hz: stats.median_hz,
                range_semitones: stats.range_semitones(),
                syllables_per_second: speed as f32,
            },
        })
    }

    /// The native pitch for a pitch modifier (1 = the voice's own), and the factor left to DSP.
    pub fn pitch_for(&self, factor: f32) -> (f32, f32) {
        invert(&self.pitch_points, self.base.median_f0_hz * factor)
    }

    /// The native rate for a rate modifier (2 = twice as fast), and the factor left to DSP.
    pub fn rate_for(&self, factor: f32) -> (f32, f32) {
        invert(&self.rate_points, factor)
    }

    /// The native pitch range for a range modifier (proportional to the default).
    pub fn range_for(&self, factor: f32) -> f32 {
        self.ranges.range.clamp(self.ranges.range.default * factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverts_tables_and_reports_the_remainder() {
        let table = vec![(0.0, 100.0), (50.0, 120.0), (100.0, 160.0)];
        assert_eq!(invert(&table, 120.0), (50.0, 1.0));
        let (value, rest) = invert(&table, 140.0);
        assert!(value > 50.0 && value < 100.0 && rest == 1.0);
        let (value, rest) = invert(&table, 240.0);
        assert_eq!(value, 100.0);
        assert!((rest - 1.5).abs() < 1e-6);
        let (value, rest) = invert(&table, 50.0);
        assert_eq!((value, rest), (0.0, 0.5));
        assert_eq!(monotone(vec![(0.0, 2.0), (1.0, 1.0)])[1].1, 2.0002);
    }
}
