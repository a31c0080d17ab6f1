//! Synthesis streamed to an HTTP body: the engines run on the blocking pool and hand chunks to a
//! channel the body reads. The engine never waits for the client: when the channel is full the
//! chunks queue in memory (a 256-character script is a few MB at most), so a slow client cannot
//! hold espeak-ng's process-wide lock or a synthesis slot; the queue drains after synthesis.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use speech::synth::{Container, Modifiers, SynthesisRequest};
use speech::{SpeechError, Synthesizer};
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::voices::VoicesError;

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
    pub sample_rate: u32,
}

type Chunk = Result<Bytes, VoicesError>;

/// Starts the synthesis and waits for its first chunk: an error before any audio comes back as
/// an error (a proper status), later ones end the stream. `slot` is released when the engine is
/// done, before a backlog drains to a slow client.
pub async fn start(
    synth: Arc<Synthesizer>,
    job: OwnedSynthesis,
    container: Container,
    slot: OwnedSemaphorePermit,
) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, VoicesError> {
    let (sender, mut receiver) = mpsc::channel::<Chunk>(32);
    tokio::task::spawn_blocking(move || {
        let request = SynthesisRequest {
            voice: &job.voice,
            text: &job.text,
            modifiers: job.modifiers,
            sample_rate: job.sample_rate,
        };
        let mut backlog: VecDeque<Chunk> = VecDeque::new();
        let result = synth.stream(&request, container, &mut |bytes| {
            let chunk = Ok(Bytes::copy_from_slice(bytes));
            if !backlog.is_empty() {
                backlog.push_back(chunk);
                return !sender.is_closed();
            }
            match sender.try_send(chunk) {
                Ok(()) => true,
                Err(TrySendError::Full(chunk)) => {
                    backlog.push_back(chunk);
                    true
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
        drop(slot);
        if let Err(e) = result
            && !matches!(e, SpeechError::Cancelled)
        {
            backlog.push_back(Err(e.into()));
        }
        for chunk in backlog {
            if sender.blocking_send(chunk).is_err() {
                break;
            }
        }
    });
    let first = match receiver.recv().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => return Err(e),
        None => {
            return Err(VoicesError::Speech(
                "the synthesis ended without audio".into(),
            ));
        }
    };
    let rest = futures_util::stream::unfold(receiver, |mut r| async move {
        r.recv().await.map(|item| (item, r))
    });
    Ok(
        futures_util::stream::once(async move { Ok::<_, VoicesError>(first) })
            .chain(rest)
            .map(|item| item.map_err(std::io::Error::other)),
    )
}
