//! Mono audio buffers and level arithmetic.

/// Mono audio as floating-point samples in [-1, 1] at a sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Samples per second.
    pub sample_rate: u32,
    /// The samples, full scale = 1.0.
    pub samples: Vec<f32>,
}

impl Audio {
    /// Audio from 16-bit PCM samples.
    pub fn from_i16(sample_rate: u32, samples: &[i16]) -> Self {
        Self {
            sample_rate,
            samples: samples.iter().map(|&s| f32::from(s) / 32768.0).collect(),
        }
    }

    /// Length in seconds.
    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }

    /// The same audio made `db` decibels louder (or quieter when negative), saturating at full
    /// scale as a 16-bit recorder would.
    pub fn with_gain_db(&self, db: f32) -> Self {
        let gain = db_to_amplitude(db);
        Self {
            sample_rate: self.sample_rate,
            samples: self
                .samples
                .iter()
                .map(|s| (s * gain).clamp(-1.0, 32767.0 / 32768.0))
                .collect(),
        }
    }

    /// The samples as 16-bit PCM (rounded, saturating).
    pub fn to_i16(&self) -> Vec<i16> {
        self.samples.iter().map(|&s| f32_to_i16(s)).collect()
    }
}

/// One sample as 16-bit PCM, rounded and saturating.
pub fn f32_to_i16(sample: f32) -> i16 {
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Decibels to an amplitude factor.
pub fn db_to_amplitude(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Root mean square of samples, in dB relative to full scale (a full-scale square wave is 0 dBFS);
/// silence is −∞.
pub fn rms_dbfs(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return f32::NEG_INFINITY;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (energy / samples.len() as f64).sqrt();
    if rms <= 0.0 {
        f32::NEG_INFINITY
    } else {
        (20.0 * rms.log10()) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_saturates_and_levels_are_in_dbfs() {
        let audio = Audio {
            sample_rate: 8000,
            samples: vec![0.5, -0.5, 0.5, -0.5],
        };
        assert!((rms_dbfs(&audio.samples) - (-6.02)).abs() < 0.01);
        let louder = audio.with_gain_db(12.0);
        assert!(louder.samples.iter().all(|s| s.abs() >= 0.999));
        assert_eq!(f32_to_i16(2.0), 32767);
        assert_eq!(f32_to_i16(-2.0), -32768);
        assert_eq!(rms_dbfs(&[0.0; 4]), f32::NEG_INFINITY);
    }
}
