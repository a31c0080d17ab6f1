//! A feeder: writes PCM (48000 Hz, 16-bit, stereo) into one Snapcast stream source on a
//! real-time schedule, 20 ms at a time and at most a couple of chunks ahead, so that the
//! position it reports is what has been handed to the speakers, and pause, resume and stop act
//! within a chunk. (Writing as fast as the socket takes it would put seconds of audio beyond
//! reach in snapserver's buffers.)

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use crate::speakers::audio::{CHANNELS, Pcm, RATE};


/// How a feeder writes.
#[derive(Debug, Clone)]
pub struct FeederSettings {
    /// The source's address, `HOST:PORT` (a `tcp://…?mode=server` source of snapserver).
    pub address: String,
    /// Audio per write.
    pub chunk: Duration,
    /// Chunks written ahead of the clock at most.
    pub ahead: u32,
}

impl FeederSettings {
    /// Settings for the source at `address`: 20 ms chunks, two ahead.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            chunk: Duration::from_millis(20),
            ahead: 2,
        }
    }

    fn chunk_frames(&self) -> usize {
        (u128::from(RATE) * self.chunk.as_micros() / 1_000_000).max(1) as usize
    }
}

/// What a feeder is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    /// Nothing to play (never started, finished, stopped, or failed).
    Stopped,
    /// Writing.
    Playing,
    /// Holding its place.
    Paused,
}

/// A feeder's state and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStatus {
    /// Playing, paused or stopped.
    pub state: FeedState,
    /// Frames of the current (or last) audio written so far.
    pub frames: u64,
    /// Why the last audio stopped early, if it did (the source could not be written).
    pub error: Option<String>,
}

impl FeedStatus {
    /// Seconds written so far.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(RATE)
    }
}

enum Command {
    Play(Pcm),
    Pause,
    Resume,
    Stop,
}

/// One stream source's feeder (clones drive the same task). Its task ends when every clone is
/// dropped.
#[derive(Clone)]
pub struct Feeder {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<FeedStatus>,
}

impl Feeder {
    /// Starts the feeder's task (it connects to the source when it has something to play).
    pub fn start(settings: FeederSettings) -> Self {
        let (commands, commands_rx) = mpsc::channel(16);
        let (status_tx, status) = watch::channel(FeedStatus {
            state: FeedState::Stopped,
            frames: 0,
            error: None,
        });
        tokio::spawn(run(settings, commands_rx, status_tx));
        Self { commands, status }
    }

    /// Plays `pcm` from its start, replacing whatever was playing.
    pub async fn play(&self, pcm: Pcm) {
        let _ = self.commands.send(Command::Play(pcm)).await;
    }

    /// Holds the current audio at its place.
    pub async fn pause(&self) {
        let _ = self.commands.send(Command::Pause).await;
    }

    /// Continues paused audio from its place.
    pub async fn resume(&self) {
        let _ = self.commands.send(Command::Resume).await;
    }

    /// Stops and forgets the current audio.
    pub async fn stop(&self) {
        let _ = self.commands.send(Command::Stop).await;
    }

    /// The state and position now.
    pub fn status(&self) -> FeedStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every change of state (positions move without notice).
    pub fn watch(&self) -> watch::Receiver<FeedStatus> {
        self.status.clone()
    }
}

/// The audio being played and where it is.
struct Current {
    pcm: Pcm,
    frames: u64,
    /// When the next chunk is due (while playing).
    due: Instant,
}

async fn run(
    settings: FeederSettings,
    mut commands: mpsc::Receiver<Command>,
    status: watch::Sender<FeedStatus>,
) {
    let chunk_frames = settings.chunk_frames();
    let lead = settings.chunk * settings.ahead;
    let mut connection: Option<TcpStream> = None;
    let mut current: Option<Current> = None;
    let mut paused = false;
    let mut bytes = Vec::with_capacity(chunk_frames * CHANNELS * 2);
    loop {
        let playing = current.is_some() && !paused;
        let command = if playing {
            let due = current.as_ref().map(|c| c.due).expect("playing has audio");
            tokio::select! {
                biased;
                command = commands.recv() => Some(command),
                () = tokio::time::sleep_until(due.checked_sub(lead).unwrap_or(due)) => None,
            }
        } else {
            Some(commands.recv().await)
        };
        match command {
            Some(None) => return,
            Some(Some(Command::Play(pcm))) => {
                current = Some(Current {
                    pcm,
                    frames: 0,
                    due: Instant::now(),
                });
                paused = false;
                publish(&status, FeedState::Playing, 0, None);
            }
            Some(Some(Command::Pause)) => {
                if let Some(current) = &current
                    && !paused
                {
                    paused = true;
                    publish(&status, FeedState::Paused, current.frames, None);
                }
            }
            Some(Some(Command::Resume)) => {
                if let Some(current) = &mut current
                    && paused
                {
                    paused = false;
                    current.due = Instant::now();
                    publish(&status, FeedState::Playing, current.frames, None);
                }
            }
            Some(Some(Command::Stop)) => {
                if let Some(stopped) = current.take() {
                    paused = false;
                    publish(&status, FeedState::Stopped, stopped.frames, None);
                }
            }
            None => {
                let audio = current.as_mut().expect("playing has audio");
                let start = audio.frames as usize * CHANNELS;
                let end = (start + chunk_frames * CHANNELS).min(audio.pcm.0.len());
                if start >= end {
                    let frames = audio.frames;
                    current = None;
                    publish(&status, FeedState::Stopped, frames, None);
                    continue;
                }
                bytes.clear();
                for sample in &audio.pcm.0[start..end] {
                    bytes.extend_from_slice(&sample.to_le_bytes());
                }
                if let Err(error) = write(&mut connection, &settings.address, &bytes).await {
                    let frames = audio.frames;
                    current = None;
                    connection = None;
                    publish(&status, FeedState::Stopped, frames, Some(error));
                    continue;
                }
                let frames = ((end - start) / CHANNELS) as u64;
                audio.frames += frames;
                audio.due += Duration::from_micros(frames * 1_000_000 / u64::from(RATE));
                status.send_modify(|s| s.frames = audio.frames);
            }
        }
    }
}

fn publish(
    status: &watch::Sender<FeedStatus>,
    state: FeedState,
    frames: u64,
    error: Option<String>,
) {
    status.send_replace(FeedStatus {
        state,
        frames,
        error,
    });
}

/// Writes `bytes` to the source, connecting first when needed.
async fn write(
    connection: &mut Option<TcpStream>,
    address: &str,
    bytes: &[u8],
) -> Result<(), String> {
    if connection.is_none() {
        let stream = TcpStream::connect(address)
            .await
            .map_err(|_| "the speakers' stream source is not reachable".to_string())?;
        let _ = stream.set_nodelay(true);
        *connection = Some(stream);
    }
    let stream = connection.as_mut().expect("connected above");
    stream
        .write_all(bytes)
        .await
        .map_err(|_| "the speakers' stream source closed".to_string())
}
