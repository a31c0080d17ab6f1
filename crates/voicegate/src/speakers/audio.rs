//! The audio the speakers play: 48000 Hz, 16-bit, stereo PCM, either whole in memory (an
//! announcement) or decoded while it plays (hub and web media), so that a long track never sits
//! whole in memory.

use std::sync::Arc;

use tokio::sync::mpsc;

/// Frames per second of the streams.
pub const RATE: u32 = 48_000;
/// Channels of the streams.
pub const CHANNELS: usize = 2;

/// Audio held whole: interleaved stereo samples.
#[derive(Debug, Clone)]
pub struct Pcm(pub Arc<[i16]>);

impl Pcm {
    /// Frames in it.
    pub fn frames(&self) -> u64 {
        (self.0.len() / CHANNELS) as u64
    }
}

/// One piece of a stream: interleaved stereo samples (a whole number of frames), or why the
/// stream ended early.
pub type Piece = Result<Vec<i16>, String>;

/// Audio decoded while it plays: pieces in order from a producer that runs at most the
/// channel's capacity ahead. The stream ends when the producer drops its [`PcmSender`] (or
/// sends an error).
#[derive(Debug)]
pub struct PcmStream {
    receiver: mpsc::Receiver<Piece>,
}

/// The producing end of a [`PcmStream`].
#[derive(Debug, Clone)]
pub struct PcmSender {
    sender: mpsc::Sender<Piece>,
}

impl PcmStream {
    /// A stream and its producer; the producer may run `capacity` pieces ahead.
    pub fn channel(capacity: usize) -> (PcmSender, PcmStream) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (PcmSender { sender }, PcmStream { receiver })
    }

    /// The next piece, waiting for it; `None` at the end.
    pub async fn next(&mut self) -> Option<Piece> {
        self.receiver.recv().await
    }

    /// The next piece if one is there: `None` when none is yet, `Some(None)` at the end.
    pub fn try_next(&mut self) -> Option<Option<Piece>> {
        match self.receiver.try_recv() {
            Ok(piece) => Some(Some(piece)),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(None),
        }
    }
}

impl PcmSender {
    /// Hands over a piece, waiting while the consumer is far enough behind; `false` once the
    /// consumer is gone (the producer should stop).
    pub async fn send(&self, piece: Piece) -> bool {
        self.sender.send(piece).await.is_ok()
    }

    /// [`Self::send`] from a blocking thread (a decoder).
    pub fn blocking_send(&self, piece: Piece) -> bool {
        self.sender.blocking_send(piece).is_ok()
    }

    /// Whether the consumer has gone.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

/// Something to play.
#[derive(Debug)]
pub enum Audio {
    /// Whole, in memory.
    Clip(Pcm),
    /// Decoded while it plays.
    Stream(PcmStream),
}
