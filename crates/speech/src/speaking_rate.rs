//! Speaking rate: syllables per second of active speech. Syllables come from the engine's
//! phonemes of the sentence (vowel nuclei in espeak-ng's mnemonics), active speech from the 20 ms
//! frames within 35 dB of the loudest one, so pauses do not count.

use crate::audio::{Audio, rms_dbfs};

/// Vowel symbols of espeak-ng's ASCII phoneme mnemonics (a run of them is one nucleus).
const VOWELS: &str = "aAeEiIoOuUV@3yYQ0&";

/// Counts syllables (vowel nuclei) in espeak-ng ASCII phonemes; length marks (`:`) and stress
/// marks inside a nucleus do not split it.
pub fn count_syllables(phonemes: &str) -> usize {
    let mut count = 0;
    let mut in_nucleus = false;
    for c in phonemes.chars() {
        if VOWELS.contains(c) {
            if !in_nucleus {
                count += 1;
            }
            in_nucleus = true;
        } else if c != ':' {
            in_nucleus = false;
        }
    }
    count
}

/// Seconds of active speech in `audio`.
pub fn active_speech_secs(audio: &Audio) -> f64 {
    let frame = (audio.sample_rate as usize / 50).max(1);
    let levels: Vec<f32> = audio.samples.chunks(frame).map(rms_dbfs).collect();
    let loudest = levels.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let gate = (loudest - 35.0).max(-60.0);
    let active = levels.iter().filter(|&&l| l >= gate).count();
    active as f64 * frame as f64 / f64::from(audio.sample_rate)
}

/// Syllables per second of active speech, or `None` for silence.
pub fn syllables_per_second(audio: &Audio, syllables: usize) -> Option<f64> {
    let seconds = active_speech_secs(audio);
    (seconds > 0.05 && syllables > 0).then(|| syllables as f64 / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nuclei() {
        // espeak-ng en-us for "hello world" and "this is my vocal identity".
        assert_eq!(count_syllables("h@l'oU w'3:ld"), 3);
        assert_eq!(count_syllables("DIs Iz maI v'oUk@L aId'EntI2i"), 9);
        assert_eq!(count_syllables(""), 0);
    }

    #[test]
    fn pauses_are_not_speech() {
        let mut samples = vec![0.0f32; 8000];
        samples.extend((0..8000).map(|i| 0.3 * (i as f32 * 0.07).sin()));
        samples.extend(vec![0.0f32; 8000]);
        let audio = Audio {
            sample_rate: 16000,
            samples,
        };
        let seconds = active_speech_secs(&audio);
        assert!((seconds - 0.5).abs() < 0.03, "{seconds}");
        assert!((syllables_per_second(&audio, 2).unwrap() - 4.0).abs() < 0.3);
    }
}
