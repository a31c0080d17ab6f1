//! A feeder: writes PCM (48000 Hz, 16-bit, stereo) into one sink — a Snapcast stream source,
//! or this machine's output — on a real-time schedule, 20 ms at a time and at most a couple of
//! chunks ahead, so that the position it reports is what has been handed to the speakers, and
//! pause, resume and stop act within a chunk. (Writing as fast as the socket takes it would put
//! seconds of audio beyond reach in snapserver's buffers.)
//!
//! A feeder plays one track (a clip or a stream decoded while it plays) and, over it, an
//! announcement: the track holds its place while the announcement plays, then continues where
//! it was, with no gap. At a pause the audio still on its way to the speakers (the sink's
//! latency: snapserver's buffer) is muted by the caller and given back to the track, so that a
//! resume plays it again and the position is what was heard.

pub mod sink;
pub mod source;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use crate::speakers::audio::{Audio, CHANNELS, Pcm, RATE};
use crate::speakers::feeder::sink::{Sink, SinkSpec};
use crate::speakers::feeder::source::{Read, Source};

/// How a feeder writes.
#[derive(Debug, Clone)]
pub struct FeederSettings {
    /// Where the audio goes.
    pub sink: SinkSpec,
    /// Audio per write.
    pub chunk: Duration,
    /// Chunks written ahead of the clock at most.
    pub ahead: u32,
    /// How far behind the writing the speakers play (snapserver's buffer; about nothing for
    /// this machine's output).
    pub latency: Duration,
}

impl FeederSettings {
    /// Settings for `sink` heard `latency` after it is written: 20 ms chunks, two ahead.
    pub fn new(sink: SinkSpec, latency: Duration) -> Self {
        Self {
            sink,
            chunk: Duration::from_millis(20),
            ahead: 2,
            latency,
        }
    }

    fn chunk_frames(&self) -> usize {
        frames_in(self.chunk).max(1) as usize
    }
}

/// Frames in `duration` at the streams' rate.
fn frames_in(duration: Duration) -> u64 {
    (u128::from(RATE) * duration.as_micros() / 1_000_000) as u64
}

/// What a feeder is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// Frames of the track (or, with none, the announcement) heard so far.
    pub frames: u64,
    /// Whether an announcement is playing (over the track, if there is one).
    pub announcing: bool,
    /// Whether there is a track (playing, paused, or under an announcement).
    pub has_track: bool,
    /// How many tracks and announcements it has been given (so that a watcher knows when one
    /// it sent has begun).
    pub plays: u64,
    /// Why the last audio stopped early, if it did (the sink could not be written, or the
    /// stream failed).
    pub error: Option<String>,
}

impl FeedStatus {
    /// Seconds heard so far.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(RATE)
    }
}

enum Command {
    Play(Audio),
    Announce(Pcm),
    Pause,
    Resume,
    Stop,
}

/// One sink's feeder (clones drive the same task). Its task ends when every clone is dropped.
#[derive(Clone)]
pub struct Feeder {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<FeedStatus>,
    gain: Arc<AtomicU32>,
}

impl Feeder {
    /// Starts the feeder's task (it opens its sink when it has something to play).
    pub fn start(settings: FeederSettings) -> Self {
        let (commands, commands_rx) = mpsc::channel(16);
        let (status_tx, status) = watch::channel(FeedStatus {
            state: FeedState::Stopped,
            frames: 0,
            announcing: false,
            has_track: false,
            plays: 0,
            error: None,
        });
        let gain = Arc::new(AtomicU32::new(1.0f32.to_bits()));
        let task = Task {
            chunk_frames: settings.chunk_frames(),
            lead: settings.chunk * settings.ahead,
            latency_frames: frames_in(settings.latency + settings.chunk * settings.ahead),
            settings,
            status: status_tx,
            gain: gain.clone(),
            sink: None,
            track: None,
            announcement: None,
            due: Instant::now(),
            bytes: Vec::new(),
            samples: Vec::new(),
            plays: 0,
        };
        tokio::spawn(task.run(commands_rx));
        Self {
            commands,
            status,
            gain,
        }
    }

    /// Plays `audio` from its start, replacing whatever was playing (an announcement too);
    /// returns once it has begun (its status says so), with its number in [`FeedStatus::plays`].
    pub async fn play(&self, audio: Audio) -> u64 {
        self.begin(Command::Play(audio)).await
    }

    /// Plays `pcm` over the track, which holds its place meanwhile and then continues (a
    /// paused track stays paused); replaces an announcement already playing. Returns once it
    /// has begun, with its number in [`FeedStatus::plays`].
    pub async fn announce(&self, pcm: Pcm) -> u64 {
        self.begin(Command::Announce(pcm)).await
    }

    async fn begin(&self, command: Command) -> u64 {
        let mut status = self.status.clone();
        let before = status.borrow_and_update().plays;
        if self.commands.send(command).await.is_err() {
            return before;
        }
        let begun = status.wait_for(|s| s.plays > before);
        match tokio::time::timeout(Duration::from_secs(1), begun).await {
            Ok(Ok(status)) => status.plays,
            _ => before + 1,
        }
    }

    /// Holds what is playing at the place heard.
    pub async fn pause(&self) {
        let _ = self.commands.send(Command::Pause).await;
    }

    /// Continues paused audio from its place.
    pub async fn resume(&self) {
        let _ = self.commands.send(Command::Resume).await;
    }

    /// Stops and forgets the track and any announcement.
    pub async fn stop(&self) {
        let _ = self.commands.send(Command::Stop).await;
    }

    /// Scales what is written from now on (1.0 unchanged; 0.0 silent): the volume of an output
    /// that has none of its own.
    pub fn set_gain(&self, gain: f32) {
        self.gain
            .store(gain.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// The gain set last.
    pub fn gain(&self) -> f32 {
        f32::from_bits(self.gain.load(Ordering::Relaxed))
    }

    /// The state and position now.
    pub fn status(&self) -> FeedStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every change of state (and the positions as they move).
    pub fn watch(&self) -> watch::Receiver<FeedStatus> {
        self.status.clone()
    }
}

/// A track or an announcement being played.
struct Playing {
    source: Source,
    paused: bool,
    /// Frames written since writing last (re)started: the part of them within the latency
    /// has not been heard yet.
    written_since_start: u64,
}

impl Playing {
    fn new(audio: Audio, keep_frames: u64) -> Self {
        Self {
            source: Source::new(audio, usize::try_from(keep_frames).unwrap_or(usize::MAX)),
            paused: false,
            written_since_start: 0,
        }
    }
}

/// Which of the two plays now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Track,
    Announcement,
}

struct Task {
    settings: FeederSettings,
    chunk_frames: usize,
    lead: Duration,
    /// Frames written but not yet heard at most (the latency and the chunks ahead).
    latency_frames: u64,
    status: watch::Sender<FeedStatus>,
    gain: Arc<AtomicU32>,
    sink: Option<Sink>,
    track: Option<Playing>,
    announcement: Option<Playing>,
    /// When the next chunk is due (while playing).
    due: Instant,
    bytes: Vec<u8>,
    samples: Vec<i16>,
    /// Tracks and announcements given so far.
    plays: u64,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            let writing = self.active().is_some_and(|(_, p)| !p.paused);
            let command = if writing {
                let wake = self.due.checked_sub(self.lead).unwrap_or(self.due);
                tokio::select! {
                    biased;
                    command = commands.recv() => Some(command),
                    () = tokio::time::sleep_until(wake) => None,
                }
            } else {
                Some(commands.recv().await)
            };
            match command {
                Some(None) => return,
                Some(Some(command)) => self.obey(command),
                None => {
                    if self.write_chunk().await.is_some() {
                        // The stream's producer is behind: wait for it (or a command).
                        let Some(which) = self.active().map(|(which, _)| which) else {
                            continue;
                        };
                        let Some(playing) = self.get(which) else {
                            continue;
                        };
                        let woke = tokio::select! {
                            biased;
                            command = commands.recv() => Some(command),
                            () = playing.source.ready() => None,
                        };
                        match woke {
                            Some(Some(command)) => self.obey(command),
                            Some(None) => return,
                            None => self.due = Instant::now(),
                        }
                    }
                }
            }
        }
    }

    /// The announcement if there is one, else the track.
    fn active(&self) -> Option<(Which, &Playing)> {
        match (&self.announcement, &self.track) {
            (Some(a), _) => Some((Which::Announcement, a)),
            (None, Some(t)) => Some((Which::Track, t)),
            (None, None) => None,
        }
    }

    fn get(&mut self, which: Which) -> Option<&mut Playing> {
        match which {
            Which::Track => self.track.as_mut(),
            Which::Announcement => self.announcement.as_mut(),
        }
    }

    fn obey(&mut self, command: Command) {
        let keep = self.latency_frames;
        match command {
            Command::Play(audio) => {
                self.plays += 1;
                self.track = Some(Playing::new(audio, keep));
                self.announcement = None;
                self.due = Instant::now();
                self.publish(None);
            }
            Command::Announce(pcm) => {
                self.plays += 1;
                let was_writing = self.active().is_some_and(|(_, p)| !p.paused);
                self.announcement = Some(Playing::new(Audio::Clip(pcm), keep));
                if !was_writing {
                    self.due = Instant::now();
                }
                self.publish(None);
            }
            Command::Pause => {
                let latency = self.latency_frames;
                if let Some((which, _)) = self.active()
                    && let Some(playing) = self.get(which)
                    && !playing.paused
                {
                    playing.paused = true;
                    let unheard = playing.written_since_start.min(latency);
                    playing.source.give_back(unheard);
                    playing.written_since_start = 0;
                    self.publish(None);
                }
            }
            Command::Resume => {
                if let Some((which, _)) = self.active()
                    && let Some(playing) = self.get(which)
                    && playing.paused
                {
                    playing.paused = false;
                    self.due = Instant::now();
                    self.publish(None);
                }
            }
            Command::Stop => {
                if self.track.take().is_some() | self.announcement.take().is_some() {
                    self.publish(None);
                }
            }
        }
    }

    /// Writes the active source's next chunk; `Some(())` when its stream has nothing yet.
    async fn write_chunk(&mut self) -> Option<()> {
        let (which, _) = self.active()?;
        let chunk_frames = self.chunk_frames;
        let mut samples = std::mem::take(&mut self.samples);
        samples.clear();
        let read = self.get(which)?.source.read(chunk_frames, &mut samples);
        let result = match read {
            Read::Samples(_) => None,
            Read::Waiting => Some(Ok(())),
            Read::End => Some(Err(None)),
            Read::Failed(why) => Some(Err(Some(why))),
        };
        match result {
            Some(Ok(())) => {
                self.samples = samples;
                return Some(());
            }
            Some(Err(why)) => {
                self.samples = samples;
                self.finish(which, why);
                return None;
            }
            None => {}
        }
        let gain = f32::from_bits(self.gain.load(Ordering::Relaxed));
        self.bytes.clear();
        for &sample in &samples {
            let sample = if gain < 1.0 {
                (f32::from(sample) * gain).round() as i16
            } else {
                sample
            };
            self.bytes.extend_from_slice(&sample.to_le_bytes());
        }
        let frames = (samples.len() / CHANNELS) as u64;
        self.samples = samples;
        if let Err(error) = self.write_bytes().await {
            self.sink = None;
            self.track = None;
            self.announcement = None;
            self.publish(Some(error));
            return None;
        }
        if let Some(playing) = self.get(which) {
            playing.written_since_start += frames;
        }
        self.due += Duration::from_micros(frames * 1_000_000 / u64::from(RATE));
        let heard = self.heard();
        self.status.send_modify(|s| s.frames = heard);
        None
    }

    async fn write_bytes(&mut self) -> Result<(), String> {
        if self.sink.is_none() {
            self.sink = Some(Sink::open(&self.settings.sink).await?);
        }
        let sink = self.sink.as_mut().expect("opened above");
        sink.write(&self.bytes).await
    }

    /// The announcement or the track came to its end (or failed).
    fn finish(&mut self, which: Which, why: Option<String>) {
        match which {
            Which::Announcement => {
                self.announcement = None;
                if let Some(track) = &mut self.track {
                    track.written_since_start = 0;
                }
            }
            Which::Track => {
                // Stopped at its end: the position stays what was written.
                let frames = self.track.take().map_or(0, |t| t.source.frames());
                self.publish(why);
                self.status.send_modify(|s| s.frames = frames);
                return;
            }
        }
        self.publish(why);
    }

    /// Frames heard of the track (or, with none, of the announcement).
    fn heard(&self) -> u64 {
        let playing = self.track.as_ref().or(self.announcement.as_ref());
        playing.map_or(0, |p| {
            let unheard = if p.paused {
                0
            } else {
                p.written_since_start.min(self.latency_frames)
            };
            p.source.frames().saturating_sub(unheard)
        })
    }

    fn publish(&self, error: Option<String>) {
        let state = match self.active() {
            None => FeedState::Stopped,
            Some((_, p)) if p.paused => FeedState::Paused,
            Some(_) => FeedState::Playing,
        };
        self.status.send_replace(FeedStatus {
            state,
            frames: self.heard(),
            announcing: self.announcement.is_some(),
            has_track: self.track.is_some(),
            plays: self.plays,
            error,
        });
    }
}
