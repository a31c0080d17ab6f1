//! The WAV reader of uploads and builds (PCM 8 to 32 bits or float, any channels, stream
//! headers), and the level check every upload goes through.
//!
//! A read recording has a supported rate, is not empty, not longer than the limit, and holds
//! numbers only; written again as 16-bit WAV it reads back within one quantization step; the
//! level check on it gives a verdict from measures in range. Anything else is `BadAudio`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use speech::SpeechError;
use speech::levels::{LevelThresholds, check};
use speech::wav::{ReadLimits, encode_wav, read_wav};

const LIMITS: ReadLimits = ReadLimits { max_seconds: 2.0 };

fuzz_target!(|data: &[u8]| {
    let audio = match read_wav(data, LIMITS) {
        Ok(audio) => audio,
        Err(SpeechError::BadAudio(_)) => return,
        Err(other) => panic!("not a BadAudio: {other:?}"),
    };
    assert!((4000..=192_000).contains(&audio.sample_rate));
    assert!(!audio.samples.is_empty());
    assert!(audio.samples.len() as f64 / f64::from(audio.sample_rate) <= LIMITS.max_seconds);
    assert!(
        audio.samples.iter().all(|s| s.is_finite()),
        "a sample that is not a number"
    );
    let report = check(&audio, &LevelThresholds::default());
    assert!((0.0..=1.0).contains(&report.clipped_ratio), "{report:?}");
    assert!(
        !report.peak_block_dbfs.is_nan() && !report.active_rms_dbfs.is_nan(),
        "{report:?}"
    );
    if audio.samples.iter().all(|s| s.abs() <= 1.0) {
        let again = read_wav(&encode_wav(&audio), LIMITS).expect("our own WAV reads back");
        assert_eq!(again.sample_rate, audio.sample_rate);
        assert_eq!(again.samples.len(), audio.samples.len());
        for (a, b) in audio.samples.iter().zip(&again.samples) {
            assert!(
                (a - b).abs() <= 1.0 / 32768.0 + 1e-6,
                "{a} read back as {b}"
            );
        }
    }
});
