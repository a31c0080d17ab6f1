//! Fundamental-frequency (F0) estimation with the McLeod pitch method: a normalized square
//! difference function per frame, the first key maximum within 90 % of the highest one, refined
//! by parabolic interpolation. Audio is analysed at 16 kHz in 40 ms frames every 10 ms.

use crate::SpeechError;
use crate::audio::{Audio, rms_dbfs};
use crate::resample::resample;

/// The analysis rate.
const RATE: u32 = 16000;
/// Frame length (40 ms) and hop (10 ms) at [`RATE`].
const FRAME: usize = 640;
const HOP: usize = 160;
/// Lowest and highest F0 searched.
const MIN_F0: f32 = 55.0;
const MAX_F0: f32 = 500.0;
/// A key maximum within this fraction of the highest is taken (the first such one).
const KEY_THRESHOLD: f32 = 0.9;
/// Frames whose best maximum is below this clarity are unvoiced.
const MIN_CLARITY: f32 = 0.7;
/// Frames quieter than this (absolute) or than the loudest frame minus [`RELATIVE_GATE_DB`] are
/// not analysed.
const ABSOLUTE_GATE_DBFS: f32 = -55.0;
const RELATIVE_GATE_DB: f32 = 30.0;

/// F0 per 10 ms frame: `Some(hz)` where voiced.
#[derive(Debug, Clone, PartialEq)]
pub struct F0Track {
    /// One entry per hop.
    pub frames: Vec<Option<f32>>,
}

/// Summary of voiced frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct F0Stats {
    /// Median F0 in Hz.
    pub median_hz: f32,
    /// 10th percentile in Hz.
    pub p10_hz: f32,
    /// 90th percentile in Hz.
    pub p90_hz: f32,
    /// How many frames were voiced.
    pub voiced_frames: usize,
}

impl F0Stats {
    /// The pitch range from the 10th to the 90th percentile, in semitones.
    pub fn range_semitones(&self) -> f32 {
        12.0 * (self.p90_hz / self.p10_hz).log2()
    }
}

impl F0Track {
    /// The voiced frames' F0 values.
    pub fn voiced(&self) -> Vec<f32> {
        self.frames.iter().flatten().copied().collect()
    }

    /// Median and spread of the voiced frames, or `None` when fewer than `min_voiced` are voiced.
    pub fn stats(&self, min_voiced: usize) -> Option<F0Stats> {
        stats_of(self.voiced(), min_voiced)
    }
}

/// Median and spread of F0 values pooled from any number of tracks.
pub fn stats_of(mut values: Vec<f32>, min_voiced: usize) -> Option<F0Stats> {
    if values.len() < min_voiced.max(1) {
        return None;
    }
    values.sort_by(f32::total_cmp);
    let at = |q: f32| values[((values.len() - 1) as f32 * q).round() as usize];
    Some(F0Stats {
        median_hz: at(0.5),
        p10_hz: at(0.1),
        p90_hz: at(0.9),
        voiced_frames: values.len(),
    })
}

/// Estimates F0 over `audio`.
pub fn track(audio: &Audio) -> Result<F0Track, SpeechError> {
    let samples = if audio.sample_rate == RATE {
        audio.samples.clone()
    } else {
        resample(&audio.samples, audio.sample_rate, RATE)?
    };
    if samples.len() < FRAME {
        return Ok(F0Track { frames: Vec::new() });
    }
    let starts: Vec<usize> = (0..=samples.len() - FRAME).step_by(HOP).collect();
    let levels: Vec<f32> = starts
        .iter()
        .map(|&s| rms_dbfs(&samples[s..s + FRAME]))
        .collect();
    let loudest = levels.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let gate = ABSOLUTE_GATE_DBFS.max(loudest - RELATIVE_GATE_DB);
    let min_lag = (RATE as f32 / MAX_F0).floor() as usize;
    let max_lag = (RATE as f32 / MIN_F0).ceil() as usize;
    let mut nsdf = vec![0f32; max_lag + 2];
    let frames = starts
        .iter()
        .zip(&levels)
        .map(|(&start, &level)| {
            if level < gate {
                return None;
            }
            frame_f0(&samples[start..start + FRAME], min_lag, max_lag, &mut nsdf)
        })
        .collect();
    Ok(F0Track { frames })
}

/// The McLeod pitch of one frame, or `None` when unvoiced.
fn frame_f0(frame: &[f32], min_lag: usize, max_lag: usize, nsdf: &mut [f32]) -> Option<f32> {
    let n = frame.len();
    let top = (max_lag + 1).min(n - 1);
    for (lag, slot) in nsdf.iter_mut().enumerate().take(top + 1) {
        let (mut acf, mut energy) = (0f32, 0f32);
        for j in 0..n - lag {
            acf += frame[j] * frame[j + lag];
            energy += frame[j] * frame[j] + frame[j + lag] * frame[j + lag];
        }
        *slot = if energy > 0.0 {
            2.0 * acf / energy
        } else {
            0.0
        };
    }
    // Key maxima: the highest point of each positive region after the first negative crossing.
    let mut keys: Vec<(usize, f32)> = Vec::new();
    let mut lag = 1;
    while lag <= top && nsdf[lag] > 0.0 {
        lag += 1;
    }
    let mut best: Option<(usize, f32)> = None;
    while lag <= top {
        let positive = nsdf[lag] > 0.0;
        if positive {
            if best.is_none_or(|(_, v)| nsdf[lag] > v) {
                best = Some((lag, nsdf[lag]));
            }
        } else if let Some(key) = best.take() {
            keys.push(key);
        }
        lag += 1;
    }
    if let Some(key) = best {
        keys.push(key);
    }
    keys.retain(|&(l, _)| l >= min_lag && l < top);
    let highest = keys.iter().map(|&(_, v)| v).fold(0.0, f32::max);
    if highest < MIN_CLARITY {
        return None;
    }
    let &(lag, _) = keys.iter().find(|&&(_, v)| v >= KEY_THRESHOLD * highest)?;
    // Parabolic interpolation around the peak.
    let (a, b, c) = (nsdf[lag - 1], nsdf[lag], nsdf[lag + 1]);
    let denominator = a - 2.0 * b + c;
    let shift = if denominator.abs() > f32::EPSILON {
        0.5 * (a - c) / denominator
    } else {
        0.0
    };
    let period = lag as f32 + shift.clamp(-0.5, 0.5);
    let f0 = RATE as f32 / period;
    (MIN_F0..=MAX_F0).contains(&f0).then_some(f0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voiced_like(f0: f32, rate: u32, seconds: f32) -> Audio {
        // A harmonic-rich tone: a crude glottal pulse train through a few harmonics.
        let samples = (0..(rate as f32 * seconds) as usize)
            .map(|i| {
                let t = i as f32 / rate as f32;
                (1..6)
                    .map(|h| (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32)
                    .sum::<f32>()
                    * 0.3
            })
            .collect();
        Audio {
            sample_rate: rate,
            samples,
        }
    }

    #[test]
    fn finds_the_fundamental_of_harmonic_tones() {
        for (f0, rate) in [(110.0, 22050), (180.0, 16000), (240.0, 48000), (80.0, 8000)] {
            let stats = track(&voiced_like(f0, rate, 0.5))
                .unwrap()
                .stats(10)
                .unwrap();
            assert!(
                (stats.median_hz - f0).abs() / f0 < 0.02,
                "{f0} Hz at {rate}: {stats:?}"
            );
        }
    }

    #[test]
    fn silence_and_noise_are_unvoiced() {
        let silence = Audio {
            sample_rate: 16000,
            samples: vec![0.0; 16000],
        };
        assert!(track(&silence).unwrap().stats(1).is_none());
        let mut state = 12345u32;
        let noise = Audio {
            sample_rate: 16000,
            samples: (0..16000)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
                })
                .collect(),
        };
        let voiced = track(&noise).unwrap().voiced().len();
        assert!(voiced < 5, "{voiced} noise frames voiced");
    }
}
