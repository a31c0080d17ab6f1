//! Recording level checks: OVERDRIVEN when too many samples sit at full scale or the waveform has
//! flat tops, UNDERDRIVEN when even the loudest 50 ms is quiet or the speech itself is.

use crate::audio::{Audio, rms_dbfs};

/// The thresholds of the checks (the server's config supplies them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelThresholds {
    /// A sample at or above this magnitude (full scale = 1) counts as clipped.
    pub clip_level: f32,
    /// OVERDRIVEN when clipped (or flat-topped) samples exceed this fraction of all samples.
    pub max_clipped_ratio: f32,
    /// A run of at least this many identical loud samples is a flat top.
    pub flat_run_samples: usize,
    /// Samples below this magnitude never count as a flat top.
    pub flat_run_min_level: f32,
    /// UNDERDRIVEN when the loudest 50 ms block's RMS is below this (dBFS).
    pub min_peak_block_dbfs: f32,
    /// UNDERDRIVEN when the RMS of active speech is below this (dBFS).
    pub min_active_rms_dbfs: f32,
}

impl Default for LevelThresholds {
    fn default() -> Self {
        Self {
            clip_level: 0.999,
            max_clipped_ratio: 0.001,
            flat_run_samples: 4,
            flat_run_min_level: 0.5,
            min_peak_block_dbfs: -34.0,
            min_active_rms_dbfs: -40.0,
        }
    }
}

/// The verdict on a recording's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelStatus {
    /// Usable.
    Ok,
    /// Too loud: clipped.
    Overdriven,
    /// Too quiet.
    Underdriven,
}

impl LevelStatus {
    /// The contract's code: `OK`, `OVERDRIVEN` or `UNDERDRIVEN`.
    pub fn code(self) -> &'static str {
        match self {
            LevelStatus::Ok => "OK",
            LevelStatus::Overdriven => "OVERDRIVEN",
            LevelStatus::Underdriven => "UNDERDRIVEN",
        }
    }
}

/// What the check measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelReport {
    /// The verdict.
    pub status: LevelStatus,
    /// Fraction of samples at or above the clip level or inside flat tops.
    pub clipped_ratio: f32,
    /// RMS of the loudest 50 ms block, dBFS.
    pub peak_block_dbfs: f32,
    /// RMS of the active-speech frames, dBFS.
    pub active_rms_dbfs: f32,
}

/// Checks a recording's level.
pub fn check(audio: &Audio, thresholds: &LevelThresholds) -> LevelReport {
    let samples = &audio.samples;
    let mut clipped = vec![false; samples.len()];
    for (flag, &s) in clipped.iter_mut().zip(samples) {
        *flag = s.abs() >= thresholds.clip_level;
    }
    // Flat tops: runs of identical loud samples (clipping that happened before a gain change).
    let mut run_start = 0;
    for i in 1..=samples.len() {
        let same = i < samples.len() && samples[i] == samples[run_start];
        if !same {
            let long = i - run_start >= thresholds.flat_run_samples.max(2);
            if long && samples[run_start].abs() >= thresholds.flat_run_min_level {
                clipped[run_start..i].iter_mut().for_each(|f| *f = true);
            }
            run_start = i;
        }
    }
    let clipped_ratio = if samples.is_empty() {
        0.0
    } else {
        clipped.iter().filter(|&&c| c).count() as f32 / samples.len() as f32
    };
    let block = (audio.sample_rate as usize / 20).max(1);
    let peak_block_dbfs = samples
        .chunks(block)
        .map(rms_dbfs)
        .fold(f32::NEG_INFINITY, f32::max);
    let active_rms_dbfs = active_rms(audio, peak_block_dbfs);
    let status = if clipped_ratio > thresholds.max_clipped_ratio {
        LevelStatus::Overdriven
    } else if peak_block_dbfs < thresholds.min_peak_block_dbfs
        || active_rms_dbfs < thresholds.min_active_rms_dbfs
    {
        LevelStatus::Underdriven
    } else {
        LevelStatus::Ok
    };
    LevelReport {
        status,
        clipped_ratio,
        peak_block_dbfs,
        active_rms_dbfs,
    }
}

/// RMS over the 20 ms frames within 30 dB of the loudest block: the speech, not the pauses.
fn active_rms(audio: &Audio, peak_block_dbfs: f32) -> f32 {
    let frame = (audio.sample_rate as usize / 50).max(1);
    let gate = peak_block_dbfs - 30.0;
    let active: Vec<f32> = audio
        .samples
        .chunks(frame)
        .filter(|f| rms_dbfs(f) >= gate)
        .flatten()
        .copied()
        .collect();
    rms_dbfs(&active)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(amplitude: f32) -> Audio {
        Audio {
            sample_rate: 16000,
            samples: (0..16000)
                .map(|i| amplitude * (i as f32 * 0.05).sin())
                .collect(),
        }
    }

    #[test]
    fn classifies_levels() {
        let t = LevelThresholds::default();
        assert_eq!(check(&tone(0.3), &t).status, LevelStatus::Ok);
        assert_eq!(
            check(&tone(0.3).with_gain_db(12.0), &t).status,
            LevelStatus::Overdriven
        );
        assert_eq!(
            check(&tone(0.3).with_gain_db(-36.0), &t).status,
            LevelStatus::Underdriven
        );
        // Flat tops below full scale: clipped at 0.6 then left there.
        let flat = Audio {
            sample_rate: 16000,
            samples: tone(0.9)
                .samples
                .iter()
                .map(|s| s.clamp(-0.6, 0.6))
                .collect(),
        };
        assert_eq!(check(&flat, &t).status, LevelStatus::Overdriven);
        assert_eq!(LevelStatus::Underdriven.code(), "UNDERDRIVEN");
    }
}
