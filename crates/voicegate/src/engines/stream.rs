//! Synthesis streamed to a consumer (an HTTP body, a speaker feed): the engines run on the blocking
//! pool and hand chunks to a channel the consumer reads. The engine never waits for the client: when the channel is full the
//! chunks queue in memory (a 256-character script is a few MB at most), so a slow client cannot
//! hold espeak-ng's process-wide lock or a synthesis slot; the queue drains after synthesis.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use speech::synth::{Container, Modifiers, SampleRate, SynthesisRequest};
use speech::{SpeechError, Synthesizer};
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::engines::SynthesisSlot;

/// What to speak, owned (it moves to a blocking thread).
#[derive(Debug, Clone)]
pub struct OwnedSynthesis {
    /// Engine voice id.
    pub voice: String,
    /// The text.
    pub text: String,
    /// Prosody modifiers.
    pub modifiers: Modifiers,
    /// Output rate.
    pub sample_rate: SampleRate,
}

type Chunk = Result<Bytes, SpeechError>;

/// Bytes sent per write after the first chunk (about 0.7 s of 48 kHz audio).
const COALESCE: usize = 64 * 1024;

/// The sending end: the channel, and the chunks waiting because it was full.
struct Outbox {
    sender: mpsc::Sender<Chunk>,
    backlog: VecDeque<Chunk>,
}

impl Outbox {
    /// Sends without ever blocking; `false` once the client is gone.
    fn deliver(&mut self, chunk: Chunk) -> bool {
        if !self.backlog.is_empty() {
            self.backlog.push_back(chunk);
            return !self.sender.is_closed();
        }
        match self.sender.try_send(chunk) {
            Ok(()) => true,
            Err(TrySendError::Full(chunk)) => {
                self.backlog.push_back(chunk);
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

/// Seconds of 16-bit mono audio in `written` bytes of `container` at `rate`.
fn audio_secs(written: u64, container: Container, rate: SampleRate) -> f64 {
    let header = match container {
        Container::Wav => speech::wav::HEADER_LEN as u64,
        Container::Pcm => 0,
    };
    written.saturating_sub(header) as f64 / (2.0 * f64::from(rate.hz()))
}

/// Starts the synthesis and waits for its first chunk: an error before any audio comes back as
/// an error (a proper status), later ones end the stream. `slot` is released when the engine is
/// done, before a backlog drains to a slow client; a client that takes no chunk for
/// `drain_timeout` is dropped.
pub async fn start(
    synth: Arc<Synthesizer>,
    job: OwnedSynthesis,
    container: Container,
    slot: SynthesisSlot,
    drain_timeout: std::time::Duration,
) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, SpeechError> {
    let (sender, mut receiver) = mpsc::channel::<Chunk>(32);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let request = SynthesisRequest {
            voice: &job.voice,
            text: &job.text,
            modifiers: job.modifiers,
            sample_rate: job.sample_rate,
        };
        let mut outbox = Outbox {
            sender,
            backlog: VecDeque::new(),
        };
        // The first audio leaves at once; the rest goes in blocks of COALESCE bytes (one write
        // per block instead of one per engine chunk).
        let mut first_sent = false;
        let mut pending = Vec::new();
        let result = synth.stream(&request, container, &mut |bytes| {
            if !first_sent {
                first_sent = true;
                return outbox.deliver(Ok(Bytes::copy_from_slice(bytes)));
            }
            pending.extend_from_slice(bytes);
            if pending.len() >= COALESCE {
                return outbox.deliver(Ok(Bytes::from(std::mem::take(&mut pending))));
            }
            !outbox.sender.is_closed()
        });
        match &result {
            Ok(written) => slot.finished(audio_secs(*written, container, job.sample_rate)),
            Err(_) => drop(slot),
        }
        if !pending.is_empty() {
            outbox.backlog.push_back(Ok(Bytes::from(pending)));
        }
        if let Err(e) = result
            && !matches!(e, SpeechError::Cancelled)
        {
            outbox.backlog.push_back(Err(e));
        }
        // What is left goes out from an async task, so that a client that stops reading holds
        // no blocking thread; each chunk waits at most `drain_timeout` for room.
        let Outbox { sender, backlog } = outbox;
        runtime.spawn(async move {
            for chunk in backlog {
                match tokio::time::timeout(drain_timeout, sender.send(chunk)).await {
                    Ok(Ok(())) => {}
                    _ => break,
                }
            }
        });
    });
    let first = match receiver.recv().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => return Err(e),
        None => {
            return Err(SpeechError::InvalidParameter {
                name: "script",
                detail: "there is nothing to speak in it".into(),
            });
        }
    };
    let rest = futures_util::stream::unfold(receiver, |mut r| async move {
        r.recv().await.map(|item| (item, r))
    });
    Ok(
        futures_util::stream::once(async move { Ok::<_, SpeechError>(first) })
            .chain(rest)
            .map(|item| item.map_err(std::io::Error::other)),
    )
}
