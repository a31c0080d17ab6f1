//! Time-stretching (WSOLA: waveform-similarity overlap-add) and pitch shifting (stretch, then
//! resample back to the original rate), for what an engine's own parameters cannot reach.

use crate::SpeechError;
use crate::resample::resample;

/// Changes duration by `factor` (2.0 = twice as long) keeping the pitch.
pub fn time_stretch(samples: &[f32], sample_rate: u32, factor: f64) -> Vec<f32> {
    if samples.is_empty() || (factor - 1.0).abs() < 1e-6 {
        return samples.to_vec();
    }
    // 30 ms windows, 50 % overlap, ±7.5 ms of search for the best-matching continuation.
    let window = ((sample_rate as usize * 3 / 100) & !1).max(16);
    let hop_out = window / 2;
    let hop_in = hop_out as f64 / factor;
    let tolerance = (window / 4) as isize;
    let hann: Vec<f32> = (0..window)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / window as f32).cos())
        .collect();
    let out_len = (samples.len() as f64 * factor).round() as usize;
    let mut out = vec![0f32; out_len + window];
    let at = |i: isize| -> f32 {
        if i >= 0 && (i as usize) < samples.len() {
            samples[i as usize]
        } else {
            0.0
        }
    };
    let mut previous: isize = 0;
    let mut k = 0usize;
    while k * hop_out < out_len {
        let nominal = (k as f64 * hop_in).round() as isize;
        let position = if k == 0 {
            0
        } else {
            // The segment that would naturally follow the previous one, and the candidate near
            // the nominal position that resembles it most.
            let natural = previous + hop_out as isize;
            let mut best = nominal;
            let mut best_score = f32::NEG_INFINITY;
            for delta in -tolerance..=tolerance {
                let candidate = nominal + delta;
                let mut score = 0f32;
                for i in (0..hop_out as isize).step_by(2) {
                    score += at(natural + i) * at(candidate + i);
                }
                if score > best_score {
                    best_score = score;
                    best = candidate;
                }
            }
            best
        };
        let base = k * hop_out;
        for (i, w) in hann.iter().enumerate() {
            out[base + i] += w * at(position + i as isize);
        }
        previous = position;
        k += 1;
    }
    out.truncate(out_len);
    out
}

/// Changes duration by `1 / rate` and pitch by `pitch` in one pass: stretch by `pitch / rate`,
/// then resample by `1 / pitch`.
pub fn modify(
    samples: &[f32],
    sample_rate: u32,
    rate: f64,
    pitch: f64,
) -> Result<Vec<f32>, SpeechError> {
    let stretched = time_stretch(samples, sample_rate, pitch / rate);
    if (pitch - 1.0).abs() < 1e-6 {
        return Ok(stretched);
    }
    let virtual_rate = (f64::from(sample_rate) * pitch).round() as u32;
    resample(&stretched, virtual_rate, sample_rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Audio;
    use crate::pitch;

    fn tone(f0: f32, rate: u32, seconds: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize)
            .map(|i| {
                let t = i as f32 / rate as f32;
                0.3 * (2.0 * std::f32::consts::PI * f0 * t).sin()
                    + 0.15 * (4.0 * std::f32::consts::PI * f0 * t).sin()
            })
            .collect()
    }

    fn f0(samples: Vec<f32>, rate: u32) -> f32 {
        pitch::track(&Audio {
            sample_rate: rate,
            samples,
        })
        .unwrap()
        .stats(10)
        .unwrap()
        .median_hz
    }

    #[test]
    fn stretch_changes_length_not_pitch() {
        let input = tone(150.0, 22050, 1.0);
        for factor in [0.3, 0.5, 2.0] {
            let out = time_stretch(&input, 22050, factor);
            assert_eq!(out.len(), (input.len() as f64 * factor).round() as usize);
            let measured = f0(out, 22050);
            assert!((measured - 150.0).abs() < 5.0, "×{factor}: {measured} Hz");
        }
    }

    #[test]
    fn pitch_shift_keeps_length() {
        let input = tone(150.0, 22050, 1.0);
        let out = modify(&input, 22050, 1.0, 1.5).unwrap();
        assert!((out.len() as f64 / input.len() as f64 - 1.0).abs() < 0.01);
        let measured = f0(out, 22050);
        assert!((measured - 225.0).abs() < 8.0, "{measured} Hz");
    }
}
