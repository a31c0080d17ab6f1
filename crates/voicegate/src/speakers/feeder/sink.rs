//! Where a feeder's audio goes: a snapserver stream source over TCP, a WAV file, a program's
//! standard input (`aplay`, this machine's sound output), or nowhere.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::fs::File;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, Command};

use crate::speakers::audio::{CHANNELS, RATE};

/// Where audio goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    /// A snapserver source (`tcp://HOST:PORT?mode=server`) at `HOST:PORT`.
    Tcp(String),
    /// A WAV file, rewritten from its start each time audio starts after a stop.
    Wav(PathBuf),
    /// A program that reads raw PCM (S16_LE, 48000 Hz, stereo) on its standard input, such as
    /// `aplay -q -t raw -f S16_LE -r 48000 -c 2`.
    Program(Vec<String>),
    /// Nowhere (the pacing and positions still hold).
    Null,
}

/// An open sink.
pub enum Sink {
    /// Connected to a stream source.
    Tcp(TcpStream),
    /// A WAV file and the data bytes written to it.
    Wav(File, u32),
    /// A running program.
    Program(Child, ChildStdin),
    /// Nowhere.
    Null,
}

/// The header of a WAV file with `data` bytes of the streams' PCM.
fn wav_header(data: u32) -> [u8; 44] {
    let channels = CHANNELS as u16;
    let block = channels * 2;
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data.saturating_add(36).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(RATE * u32::from(block)).to_le_bytes());
    h[32..34].copy_from_slice(&block.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

impl Sink {
    /// Opens the sink `spec` names; the error says what could not be reached, naming no
    /// address.
    pub async fn open(spec: &SinkSpec) -> Result<Self, String> {
        match spec {
            SinkSpec::Tcp(address) => {
                let stream = TcpStream::connect(address)
                    .await
                    .map_err(|_| "the speakers' stream source is not reachable".to_string())?;
                let _ = stream.set_nodelay(true);
                Ok(Self::Tcp(stream))
            }
            SinkSpec::Wav(path) => {
                let mut file = File::create(path)
                    .await
                    .map_err(|_| "the speakers' output file cannot be written".to_string())?;
                file.write_all(&wav_header(0))
                    .await
                    .map_err(|_| "the speakers' output file cannot be written".to_string())?;
                Ok(Self::Wav(file, 0))
            }
            SinkSpec::Program(argv) => {
                let (program, args) = argv
                    .split_first()
                    .ok_or_else(|| "no sound output program is configured".to_string())?;
                let mut child = Command::new(program)
                    .args(args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| {
                        format!("the sound output program {program:?} did not start: {e}")
                    })?;
                let stdin = child
                    .stdin
                    .take()
                    .ok_or_else(|| "the sound output program has no input".to_string())?;
                Ok(Self::Program(child, stdin))
            }
            SinkSpec::Null => Ok(Self::Null),
        }
    }

    /// Writes PCM bytes (a WAV file's sizes are kept true after every write, so that what a
    /// crash leaves is a whole file).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        match self {
            Self::Tcp(stream) => stream
                .write_all(bytes)
                .await
                .map_err(|_| "the speakers' stream source closed".to_string()),
            Self::Wav(file, data) => {
                let failed = |_| "the speakers' output file cannot be written".to_string();
                file.write_all(bytes).await.map_err(failed)?;
                *data = data.saturating_add(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
                let header = wav_header(*data);
                file.seek(std::io::SeekFrom::Start(4))
                    .await
                    .map_err(failed)?;
                file.write_all(&header[4..8]).await.map_err(failed)?;
                file.seek(std::io::SeekFrom::Start(40))
                    .await
                    .map_err(failed)?;
                file.write_all(&header[40..44]).await.map_err(failed)?;
                file.seek(std::io::SeekFrom::End(0)).await.map_err(failed)?;
                file.flush().await.map_err(failed)
            }
            Self::Program(_, stdin) => stdin
                .write_all(bytes)
                .await
                .map_err(|_| "the sound output program stopped reading".to_string()),
            Self::Null => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wav_sink_is_a_whole_file_after_every_write() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("out.wav");
        let mut sink = Sink::open(&SinkSpec::Wav(path.clone()))
            .await
            .expect("opens");
        sink.write(&[1, 0, 2, 0, 3, 0, 4, 0]).await.expect("writes");
        sink.write(&[5, 0, 6, 0, 7, 0, 8, 0]).await.expect("writes");
        let reader = hound::WavReader::open(&path).expect("a WAV");
        assert_eq!(reader.spec().sample_rate, RATE);
        assert_eq!(reader.spec().channels, 2);
        let samples: Vec<i16> = reader
            .into_samples()
            .map(|s| s.expect("a sample"))
            .collect();
        assert_eq!(samples, [1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
