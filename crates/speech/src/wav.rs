//! WAV and raw PCM: the 44-byte header of 16-bit mono WAV (exact, or for a stream whose length is
//! not known yet), sample encoding, and reading uploaded WAV files of any common PCM format.

use std::io::Cursor;

use crate::SpeechError;
use crate::audio::{Audio, f32_to_i16};

/// Size of the header [`header`] writes.
pub const HEADER_LEN: usize = 44;

/// The header of a 16-bit mono PCM WAV file. With `data_bytes = None` (a stream) the RIFF and
/// data sizes are 0xFFFFFFFF, the usual marker for "until the end of the stream".
pub fn header(sample_rate: u32, data_bytes: Option<u32>) -> [u8; HEADER_LEN] {
    let data = data_bytes.unwrap_or(u32::MAX);
    let riff = data_bytes.map_or(u32::MAX, |d| d.saturating_add(36));
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&(sample_rate * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// Appends samples as 16-bit little-endian PCM.
pub fn encode_pcm(samples: &[f32], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for &s in samples {
        out.extend_from_slice(&f32_to_i16(s).to_le_bytes());
    }
}

/// A complete WAV file (exact sizes) of `audio`.
pub fn encode_wav(audio: &Audio) -> Vec<u8> {
    let data = (audio.samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(HEADER_LEN + data as usize);
    out.extend_from_slice(&header(audio.sample_rate, Some(data)));
    encode_pcm(&audio.samples, &mut out);
    out
}

/// Limits on a WAV file to read.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Longest accepted duration, in seconds.
    pub max_seconds: f64,
}

/// Reads a WAV file (PCM 8/16/24/32-bit or 32-bit float, any channel count: channels are mixed
/// to mono). A stream header (sizes 0xFFFFFFFF) is read up to the end of the bytes.
pub fn read_wav(bytes: &[u8], limits: ReadLimits) -> Result<Audio, SpeechError> {
    if bytes.len() >= HEADER_LEN && bytes[4..8] == [0xFF; 4] && bytes[40..44] == [0xFF; 4] {
        let mut fixed = bytes.to_vec();
        let data = (bytes.len() - HEADER_LEN) as u32 & !1;
        fixed[4..8].copy_from_slice(&(data + 36).to_le_bytes());
        fixed[40..44].copy_from_slice(&data.to_le_bytes());
        fixed.truncate(HEADER_LEN + data as usize);
        return read_wav(&fixed, limits);
    }
    let bad = |e: hound::Error| SpeechError::BadAudio(format!("not a readable WAV file: {e}"));
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(bad)?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate < 4000 || spec.sample_rate > 192_000 {
        return Err(SpeechError::BadAudio(format!(
            "unsupported WAV format: {} channels at {} Hz",
            spec.channels, spec.sample_rate
        )));
    }
    let frames = reader.duration() as usize;
    let seconds = frames as f64 / f64::from(spec.sample_rate);
    if seconds > limits.max_seconds {
        return Err(SpeechError::BadAudio(format!(
            "the recording is {seconds:.1} s long; the limit is {} s",
            limits.max_seconds
        )));
    }
    if frames == 0 {
        return Err(SpeechError::BadAudio("the recording is empty".into()));
    }
    let channels = usize::from(spec.channels);
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        hound::SampleFormat::Int => {
            if !(8..=32).contains(&spec.bits_per_sample) {
                return Err(SpeechError::BadAudio(format!(
                    "unsupported WAV format: {} bits per sample",
                    spec.bits_per_sample
                )));
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(bad)?
        }
    };
    // A float file may hold NaN or infinities: not sound, and poison for every measure after.
    if interleaved.iter().any(|sample| !sample.is_finite()) {
        return Err(SpeechError::BadAudio(
            "the recording holds samples that are not numbers (NaN or infinite)".into(),
        ));
    }
    let samples = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok(Audio {
        sample_rate: spec.sample_rate,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ReadLimits = ReadLimits { max_seconds: 30.0 };

    #[test]
    fn round_trip_exact_and_streamed() {
        let audio = Audio {
            sample_rate: 16000,
            samples: vec![0.0, 0.25, -0.25, 0.5],
        };
        let file = encode_wav(&audio);
        let back = read_wav(&file, LIMITS).unwrap();
        assert_eq!(back.sample_rate, 16000);
        assert_eq!(back.samples, audio.samples);
        let mut streamed = header(16000, None).to_vec();
        encode_pcm(&audio.samples, &mut streamed);
        assert_eq!(read_wav(&streamed, LIMITS).unwrap().samples, audio.samples);
    }

    /// Found by the `wav` fuzz target: a 32-bit float file with NaN and infinite samples was
    /// read as a recording (its level check then measured NaN).
    #[test]
    fn refuses_samples_that_are_not_numbers() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut file = Vec::new();
            file.extend_from_slice(b"RIFF");
            file.extend_from_slice(&(36u32 + 16).to_le_bytes());
            file.extend_from_slice(b"WAVEfmt ");
            file.extend_from_slice(&16u32.to_le_bytes());
            file.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
            file.extend_from_slice(&1u16.to_le_bytes());
            file.extend_from_slice(&8000u32.to_le_bytes());
            file.extend_from_slice(&32000u32.to_le_bytes());
            file.extend_from_slice(&4u16.to_le_bytes());
            file.extend_from_slice(&32u16.to_le_bytes());
            file.extend_from_slice(b"data");
            file.extend_from_slice(&16u32.to_le_bytes());
            for sample in [0.25, bad, -0.25, 0.0f32] {
                file.extend_from_slice(&sample.to_le_bytes());
            }
            let error = read_wav(&file, LIMITS).unwrap_err().to_string();
            assert!(error.contains("not numbers"), "{bad}: {error}");
            file[48..52].copy_from_slice(&0.5f32.to_le_bytes());
            assert_eq!(
                read_wav(&file, LIMITS).unwrap().samples,
                [0.25, 0.5, -0.25, 0.0]
            );
        }
    }

    #[test]
    fn refuses_bad_files() {
        assert!(matches!(
            read_wav(b"not a wav", LIMITS),
            Err(SpeechError::BadAudio(_))
        ));
        let empty = encode_wav(&Audio {
            sample_rate: 16000,
            samples: vec![],
        });
        assert!(
            read_wav(&empty, LIMITS)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        let long = encode_wav(&Audio {
            sample_rate: 8000,
            samples: vec![0.0; 8000 * 31],
        });
        assert!(
            read_wav(&long, LIMITS)
                .unwrap_err()
                .to_string()
                .contains("limit")
        );
    }
}
