//! Audio files and downloads to the streams' PCM (48000 Hz, 16-bit, stereo) while they play:
//! demuxed and decoded by symphonia (mp3, flac, ogg/vorbis, wav), resampled by the speech
//! crate's streaming resampler (rubato), mono doubled to both channels and more than two
//! channels reduced to the first two (front left and right).
//!
//! Decoding runs in a thread of its own and at most the stream's capacity ahead of playback
//! ([`PIECE`] a piece); it ends when the consumer drops the stream. [`open`] returns only once
//! the source has given audio, so that a source that is not playable audio is an error to the
//! request; later failures end the stream with the reason.

use std::io::Read;
use std::time::Duration;

use speech::resample::StreamResampler;
use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;
use tokio::sync::oneshot;

use crate::speakers::audio::{CHANNELS, PcmSender, PcmStream, RATE};

/// Audio per piece handed to the stream.
pub const PIECE: Duration = Duration::from_millis(100);

/// Frames per piece.
const PIECE_FRAMES: usize = (RATE as usize) / 10;

/// Undecodable packets in a row that end a stream (single bad packets are skipped).
const MAX_BAD_PACKETS: u32 = 20;

/// Where the encoded audio comes from.
pub enum Source {
    /// A file (seekable: its trailing tags and length are known).
    File(std::fs::File),
    /// Bytes as they arrive (a download).
    Stream(Box<dyn Read + Send + Sync>),
}

/// What is known of the source's format before reading it.
#[derive(Debug, Clone, Default)]
pub struct Format {
    /// The file name's extension (`mp3`).
    pub extension: Option<String>,
    /// The MIME type (`audio/mpeg`).
    pub mime: Option<String>,
}

/// The number of pieces a stream may hold to run `ahead` of playback.
pub fn capacity(ahead: Duration) -> usize {
    (ahead.as_millis() / PIECE.as_millis()).max(1) as usize
}

/// Starts decoding `source` into a stream that runs at most `ahead` of its consumer. Answers
/// once the source has given its first audio; `Err` (why) when it is not audio that can be
/// played.
pub async fn open(source: Source, format: Format, ahead: Duration) -> Result<PcmStream, String> {
    let (sender, stream) = PcmStream::channel(capacity(ahead));
    let (ready, started) = oneshot::channel();
    std::thread::Builder::new()
        .name("media-decode".into())
        .spawn(move || run(source, &format, &sender, ready))
        .map_err(|e| format!("no decoding thread: {e}"))?;
    match started.await {
        Ok(Ok(())) => Ok(stream),
        Ok(Err(reason)) => Err(reason),
        Err(_) => Err("the decoder stopped".into()),
    }
}

/// The decoding thread: reports whether audio came, then sends pieces until the end, an
/// error or the consumer's leaving.
fn run(
    source: Source,
    format: &Format,
    sender: &PcmSender,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let first = Decoder::open(source, format).and_then(|mut decoder| match decoder.next()? {
        true => Ok(decoder),
        false => Err("it holds no audio".to_string()),
    });
    let mut decoder = match first {
        Ok(decoder) => decoder,
        Err(reason) => {
            let _ = ready.send(Err(reason));
            return;
        }
    };
    if ready.send(Ok(())).is_err() {
        return;
    }
    loop {
        for piece in decoder.pieces(false) {
            if !sender.blocking_send(Ok(piece)) {
                return;
            }
        }
        match decoder.next() {
            Ok(true) => {}
            Ok(false) => break,
            Err(reason) => {
                for piece in decoder.pieces(true) {
                    if !sender.blocking_send(Ok(piece)) {
                        return;
                    }
                }
                tracing::info!(%reason, "media playback ends early");
                let _ = sender.blocking_send(Err(reason));
                return;
            }
        }
    }
    decoder.finish();
    for piece in decoder.pieces(true) {
        if !sender.blocking_send(Ok(piece)) {
            return;
        }
    }
}

/// The two channels' resamplers from one rate.
struct Resampling {
    from: u32,
    channels: [StreamResampler; CHANNELS],
}

/// A source being decoded into interleaved stereo at the streams' rate.
struct Decoder {
    reader: Box<dyn FormatReader>,
    track: u32,
    decoder: Box<dyn AudioDecoder>,
    planes: Vec<Vec<f32>>,
    resampling: Option<Resampling>,
    /// Resampled output per channel, not yet interleaved.
    resampled: [Vec<f32>; CHANNELS],
    /// Interleaved output not yet handed out.
    out: Vec<i16>,
}

impl Decoder {
    /// Finds the source's format and its audio track and readies its decoder.
    fn open(source: Source, format: &Format) -> Result<Self, String> {
        let media: Box<dyn MediaSource> = match source {
            Source::File(file) => Box::new(file),
            Source::Stream(read) => Box::new(ReadOnlySource::new(read)),
        };
        let stream = MediaSourceStream::new(media, Default::default());
        let mut hint = Hint::new();
        if let Some(extension) = &format.extension {
            hint.with_extension(extension);
        }
        if let Some(mime) = &format.mime {
            hint.mime_type(mime);
        }
        let reader = symphonia::default::get_probe()
            .probe(
                &hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymphoniaError::Unsupported(_) => {
                    "it is not audio in a known format (mp3, flac, ogg/vorbis, wav)".to_string()
                }
                other => format!("it could not be read as audio: {other}"),
            })?;
        let (track, decoder) = audio_track(reader.as_ref())?;
        Ok(Self {
            reader,
            track,
            decoder,
            planes: Vec::new(),
            resampling: None,
            resampled: Default::default(),
            out: Vec::new(),
        })
    }

    /// Decodes up to the next audio; `false` at the end.
    fn next(&mut self) -> Result<bool, String> {
        let mut bad = 0;
        loop {
            let packet = match self.reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => return Ok(false),
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(false);
                }
                Err(SymphoniaError::ResetRequired) => {
                    // A chained stream starts anew (an ogg radio's next track).
                    (self.track, self.decoder) = audio_track(self.reader.as_ref())?;
                    continue;
                }
                Err(SymphoniaError::IoError(e)) => return Err(e.to_string()),
                Err(e) => return Err(format!("the audio is damaged: {e}")),
            };
            if packet.track_id != self.track {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(decoded) => {
                    if decoded.frames() == 0 {
                        continue;
                    }
                    let rate = decoded.spec().rate();
                    decoded.copy_to_vecs_planar::<f32>(&mut self.planes);
                    self.push(rate)?;
                    return Ok(true);
                }
                Err(SymphoniaError::DecodeError(_) | SymphoniaError::IoError(_))
                    if bad < MAX_BAD_PACKETS =>
                {
                    bad += 1;
                }
                Err(SymphoniaError::ResetRequired) => {
                    (self.track, self.decoder) = audio_track(self.reader.as_ref())?;
                }
                Err(e) => return Err(format!("the audio is damaged: {e}")),
            }
        }
    }

    /// Resamples the decoded planes (at `rate`) and adds them to the output.
    fn push(&mut self, rate: u32) -> Result<(), String> {
        if rate == 0 {
            return Err("the audio has no sample rate".into());
        }
        if self.resampling.as_ref().is_some_and(|r| r.from != rate) {
            self.finish();
        }
        if self.resampling.is_none() {
            let resampler = || StreamResampler::new(rate, RATE).map_err(|e| e.to_string());
            self.resampling = Some(Resampling {
                from: rate,
                channels: [resampler()?, resampler()?],
            });
        }
        let Some(resampling) = self.resampling.as_mut() else {
            return Ok(());
        };
        let (left, right) = match self.planes.as_slice() {
            [] => return Ok(()),
            [mono] => (mono, mono),
            [left, right, ..] => (left, right),
        };
        for (resampler, (input, out)) in resampling
            .channels
            .iter_mut()
            .zip([left, right].into_iter().zip(self.resampled.iter_mut()))
        {
            resampler.push(input, out).map_err(|e| e.to_string())?;
        }
        self.interleave();
        Ok(())
    }

    /// Flushes the resamplers' tails into the output.
    fn finish(&mut self) {
        if let Some(mut resampling) = self.resampling.take() {
            for (resampler, out) in resampling
                .channels
                .iter_mut()
                .zip(self.resampled.iter_mut())
            {
                if let Err(e) = resampler.finish(out) {
                    tracing::debug!(error = %e, "the resampler's tail is lost");
                }
            }
            self.interleave();
        }
    }

    /// Moves the frames both channels have into the interleaved output.
    fn interleave(&mut self) {
        let [left, right] = &mut self.resampled;
        let frames = left.len().min(right.len());
        self.out.reserve(frames * CHANNELS);
        for (l, r) in left.drain(..frames).zip(right.drain(..frames)) {
            self.out.push(to_i16(l));
            self.out.push(to_i16(r));
        }
    }

    /// The whole pieces of output ready; with `all`, the rest too.
    fn pieces(&mut self, all: bool) -> Vec<Vec<i16>> {
        let size = PIECE_FRAMES * CHANNELS;
        let mut pieces = Vec::new();
        while self.out.len() >= size {
            let rest = self.out.split_off(size);
            pieces.push(std::mem::replace(&mut self.out, rest));
        }
        if all && !self.out.is_empty() {
            pieces.push(std::mem::take(&mut self.out));
        }
        pieces
    }
}

/// The reader's audio track and a decoder for it.
fn audio_track(reader: &dyn FormatReader) -> Result<(u32, Box<dyn AudioDecoder>), String> {
    let track = reader
        .default_track(TrackType::Audio)
        .ok_or("it holds no audio track")?;
    let Some(CodecParameters::Audio(params)) = &track.codec_params else {
        return Err("it holds no audio track".into());
    };
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|_| "its audio codec is not one that can be played (mp3, flac, vorbis, pcm)")?;
    Ok((track.id, decoder))
}

fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::speakers::media::test_files::{sox, wav_bytes};

    const AHEAD: Duration = Duration::from_millis(1500);

    /// Every sample of the stream, and how it ended.
    async fn drain(mut stream: PcmStream) -> (Vec<i16>, Option<String>) {
        let mut samples = Vec::new();
        while let Some(piece) = stream.next().await {
            match piece {
                Ok(piece) => samples.extend(piece),
                Err(reason) => return (samples, Some(reason)),
            }
        }
        (samples, None)
    }

    /// The stream holds `seconds` of non-silent stereo at 48 kHz (±1 %, and up to `extra`
    /// seconds more), both channels alike.
    fn assert_stereo_48k(samples: &[i16], seconds: f64, extra: f64) {
        assert_eq!(samples.len() % CHANNELS, 0);
        let frames = (samples.len() / CHANNELS) as f64;
        let expected = seconds * f64::from(RATE);
        let tolerance = expected * 0.01;
        assert!(
            frames >= expected - tolerance
                && frames <= expected + tolerance + extra * f64::from(RATE),
            "{frames} frames, {expected} expected"
        );
        let peak = samples.iter().map(|s| i32::from(*s).abs()).max().unwrap();
        assert!(peak > 10_000, "peak {peak}");
        assert!(samples.chunks(2).all(|f| f[0] == f[1]), "mono doubled");
    }

    fn format(extension: &str) -> Format {
        Format {
            extension: Some(extension.into()),
            mime: None,
        }
    }

    #[tokio::test]
    async fn a_mono_44k_wav_becomes_48k_stereo_of_the_same_length() {
        let wav = wav_bytes(44_100, 1, 2.0, 440.0);
        let stream = open(
            Source::Stream(Box::new(Cursor::new(wav))),
            format("wav"),
            AHEAD,
        )
        .await
        .unwrap();
        let (samples, ended) = drain(stream).await;
        assert_eq!(ended, None);
        assert_stereo_48k(&samples, 2.0, 0.0);
    }

    #[tokio::test]
    async fn flac_ogg_and_mp3_files_decode_too() {
        let dir = tempfile::tempdir().unwrap();
        // sox's mp3 has no gapless header: the encoder's delay and padding (about 50 ms) are
        // heard.
        for (name, seconds, extra) in [
            ("tone.flac", 2.0, 0.0),
            ("tone.ogg", 2.0, 0.0),
            ("tone.mp3", 1.5, 0.06),
        ] {
            let path = dir.path().join(name);
            sox(&path, seconds);
            let file = std::fs::File::open(&path).unwrap();
            let stream = open(Source::File(file), Format::default(), AHEAD)
                .await
                .unwrap();
            let (samples, ended) = drain(stream).await;
            assert_eq!(ended, None, "{name}");
            assert_stereo_48k(&samples, seconds, extra);
        }
    }

    #[tokio::test]
    async fn what_is_not_audio_is_an_error_at_once() {
        for (bytes, extension) in [
            (b"<html><body>Not found</body></html>".repeat(100), "mp3"),
            (Vec::new(), "wav"),
            (b"RIFF\x24\0\0\0WAVEfmt ".to_vec(), "wav"),
        ] {
            let err = open(
                Source::Stream(Box::new(Cursor::new(bytes))),
                format(extension),
                AHEAD,
            )
            .await
            .unwrap_err();
            assert!(err.starts_with("it "), "{err}");
        }
    }

    /// A reader over `bytes` that counts what was read and can fail after `fail_after` bytes.
    struct Counting {
        inner: Cursor<Vec<u8>>,
        read: Arc<AtomicUsize>,
        fail_after: Option<usize>,
    }

    impl Read for Counting {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let done = self.read.load(Ordering::SeqCst);
            if self.fail_after.is_some_and(|limit| done >= limit) {
                return Err(std::io::Error::other("the download failed: reset"));
            }
            let most = buf.len().min(4096);
            let n = self.inner.read(&mut buf[..most])?;
            self.read.fetch_add(n, Ordering::SeqCst);
            Ok(n)
        }
    }

    #[tokio::test]
    async fn decoding_runs_a_little_ahead_and_stops_when_the_consumer_goes() {
        let wav = wav_bytes(48_000, 2, 60.0, 440.0);
        let total = wav.len();
        let read = Arc::new(AtomicUsize::new(0));
        let source = Counting {
            inner: Cursor::new(wav),
            read: read.clone(),
            fail_after: None,
        };
        let mut stream = open(Source::Stream(Box::new(source)), format("wav"), AHEAD)
            .await
            .unwrap();
        assert!(stream.next().await.unwrap().is_ok());
        tokio::time::sleep(Duration::from_millis(300)).await;
        // About AHEAD of audio (plus the reader's buffer), not the minute.
        let ahead = read.load(Ordering::SeqCst);
        assert!(ahead < total / 10, "{ahead} of {total} bytes read");
        drop(stream);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = read.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(read.load(Ordering::SeqCst), after, "decoding stopped");
    }

    #[tokio::test]
    async fn a_source_that_fails_midway_ends_the_stream_with_the_reason() {
        let wav = wav_bytes(48_000, 1, 10.0, 440.0);
        let source = Counting {
            inner: Cursor::new(wav),
            read: Arc::default(),
            fail_after: Some(200_000),
        };
        let stream = open(Source::Stream(Box::new(source)), format("wav"), AHEAD)
            .await
            .unwrap();
        let (samples, ended) = drain(stream).await;
        assert!(!samples.is_empty());
        assert!(
            ended.as_deref().is_some_and(|e| e.contains("reset")),
            "{ended:?}"
        );
    }
}
