//! Sample-rate conversion with rubato's synchronous FFT resampler (band-limited: no aliasing),
//! whole buffers or streamed chunk by chunk.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::SpeechError;

/// Rates a client may ask for.
pub const SUPPORTED_RATES: [u32; 7] = [8000, 11025, 16000, 22050, 32000, 44100, 48000];

/// Input frames per resampler call.
const CHUNK: usize = 1024;

fn error(e: impl std::fmt::Display) -> SpeechError {
    SpeechError::Resample(e.to_string())
}

/// A streaming resampler: push input chunks of any size, get output as soon as a block is ready;
/// `finish` flushes the tail. The resampler's delay is trimmed, so the output has exactly
/// round(input × ratio) samples and is aligned with the input.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    ratio: f64,
    pending: Vec<f32>,
    out_block: Vec<f32>,
    to_skip: usize,
    consumed: u64,
    produced: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("ratio", &self.ratio)
            .finish()
    }
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz (a pass-through when they are equal).
    pub fn new(from: u32, to: u32) -> Result<Self, SpeechError> {
        let inner = if from == to {
            None
        } else {
            Some(
                Fft::<f32>::new(from as usize, to as usize, CHUNK, 1, FixedSync::Input)
                    .map_err(error)?,
            )
        };
        let (out_len, to_skip) = inner
            .as_ref()
            .map(|r| (r.output_frames_max(), r.output_delay()))
            .unwrap_or((0, 0));
        Ok(Self {
            inner,
            ratio: f64::from(to) / f64::from(from),
            pending: Vec::with_capacity(CHUNK),
            out_block: vec![0.0; out_len],
            to_skip,
            consumed: 0,
            produced: 0,
        })
    }

    fn emit(&mut self, produced: usize, out: &mut Vec<f32>, limit: Option<u64>) {
        let mut block = &self.out_block[..produced];
        let skip = self.to_skip.min(block.len());
        self.to_skip -= skip;
        block = &block[skip..];
        if let Some(limit) = limit {
            let room = limit.saturating_sub(self.produced) as usize;
            block = &block[..block.len().min(room)];
        }
        self.produced += block.len() as u64;
        out.extend_from_slice(block);
    }

    fn run(
        &mut self,
        partial: Option<usize>,
        out: &mut Vec<f32>,
        limit: Option<u64>,
    ) -> Result<(), SpeechError> {
        let Some(inner) = self.inner.as_mut() else {
            return Ok(());
        };
        if self.pending.len() < CHUNK {
            self.pending.resize(CHUNK, 0.0);
        }
        let input = InterleavedSlice::new(&self.pending[..CHUNK], 1, CHUNK).map_err(error)?;
        let frames = self.out_block.len();
        let mut output =
            InterleavedSlice::new_mut(&mut self.out_block[..], 1, frames).map_err(error)?;
        let indexing = Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: partial,
            active_channels_mask: None,
        };
        let (_, produced) = inner
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(error)?;
        self.emit(produced, out, limit);
        Ok(())
    }

    /// Feeds input; appends whatever output is ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), SpeechError> {
        self.consumed += input.len() as u64;
        if self.inner.is_none() {
            out.extend_from_slice(input);
            self.produced += input.len() as u64;
            return Ok(());
        }
        let mut rest = input;
        while !rest.is_empty() {
            let take = (CHUNK - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == CHUNK {
                self.run(None, out, None)?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    /// Flushes the remaining input and the resampler's delay; appends the tail to `out`.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), SpeechError> {
        if self.inner.is_none() {
            return Ok(());
        }
        let expected = (self.consumed as f64 * self.ratio).round() as u64;
        let partial = self.pending.len();
        if partial > 0 {
            self.run(Some(partial), out, Some(expected))?;
            self.pending.clear();
        }
        let mut guard = 0;
        while self.produced < expected && guard < 64 {
            self.run(Some(0), out, Some(expected))?;
            guard += 1;
        }
        Ok(())
    }
}

/// Resamples a whole buffer from `from` Hz to `to` Hz.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, SpeechError> {
    let mut resampler = StreamResampler::new(from, to)?;
    let mut out = Vec::with_capacity(
        (samples.len() as f64 * f64::from(to) / f64::from(from)) as usize + CHUNK,
    );
    resampler.push(samples, &mut out)?;
    resampler.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, seconds: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    /// Frequency from zero crossings (good enough for a clean sine).
    fn frequency(samples: &[f32], rate: u32) -> f32 {
        let crossings = samples
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        crossings as f32 * rate as f32 / samples.len() as f32
    }

    #[test]
    fn keeps_length_and_frequency_at_every_rate() {
        let input = sine(440.0, 22050, 1.0);
        for &rate in &SUPPORTED_RATES {
            let out = resample(&input, 22050, rate).unwrap();
            let expected = (input.len() as f64 * f64::from(rate) / 22050.0).round() as usize;
            assert_eq!(out.len(), expected, "{rate}");
            let f = frequency(&out[rate as usize / 10..], rate);
            assert!((f - 440.0).abs() < 5.0, "{rate}: {f}");
        }
    }

    #[test]
    fn streaming_in_odd_chunks_equals_whole() {
        let input = sine(300.0, 22050, 0.7);
        let whole = resample(&input, 22050, 48000).unwrap();
        let mut resampler = StreamResampler::new(22050, 48000).unwrap();
        let mut streamed = Vec::new();
        for chunk in input.chunks(333) {
            resampler.push(chunk, &mut streamed).unwrap();
        }
        resampler.finish(&mut streamed).unwrap();
        assert_eq!(whole.len(), streamed.len());
        assert!(
            whole
                .iter()
                .zip(&streamed)
                .all(|(a, b)| (a - b).abs() < 1e-5)
        );
    }

    #[test]
    fn downsampling_removes_what_the_new_rate_cannot_hold() {
        // 6 kHz cannot exist at 8 kHz (Nyquist 4 kHz): it must vanish, not alias to 2 kHz.
        let input = sine(6000.0, 22050, 0.5);
        let out = resample(&input, 22050, 8000).unwrap();
        let level = crate::audio::rms_dbfs(&out[800..out.len() - 800]);
        assert!(level < -40.0, "{level} dBFS left");
    }
}
