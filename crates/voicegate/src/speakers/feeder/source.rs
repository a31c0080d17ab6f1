//! What a feeder reads from: a clip held whole, or a stream decoded while it plays, with the
//! last moments kept so that audio written but never heard (muted at a pause) can be played
//! again.

use std::collections::VecDeque;

use crate::speakers::audio::{Audio, CHANNELS, Pcm, PcmStream};

/// What [`Source::read`] gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// This many samples were appended.
    Samples(usize),
    /// Nothing now, more later (a stream's producer is behind).
    Waiting,
    /// The end.
    End,
    /// The producer failed.
    Failed(String),
}

/// A track being played.
pub struct Source {
    kind: Kind,
    /// Samples read so far, less those given back.
    position: u64,
}

enum Kind {
    Clip(Pcm),
    Stream {
        stream: PcmStream,
        /// Samples received, not read yet (given-back samples first).
        pending: VecDeque<i16>,
        /// The last samples read, at most `keep`.
        history: VecDeque<i16>,
        keep: usize,
        ended: Option<Option<String>>,
    },
}

impl Source {
    /// A source over `audio` that can give back up to `keep_frames` frames.
    pub fn new(audio: Audio, keep_frames: usize) -> Self {
        let kind = match audio {
            Audio::Clip(pcm) => Kind::Clip(pcm),
            Audio::Stream(stream) => Kind::Stream {
                stream,
                pending: VecDeque::new(),
                history: VecDeque::new(),
                keep: keep_frames * CHANNELS,
                ended: None,
            },
        };
        Self { kind, position: 0 }
    }

    /// Frames read so far.
    pub fn frames(&self) -> u64 {
        self.position / CHANNELS as u64
    }

    /// Appends up to `frames` frames to `out` without waiting.
    pub fn read(&mut self, frames: usize, out: &mut Vec<i16>) -> Read {
        let want = frames * CHANNELS;
        let read = match &mut self.kind {
            Kind::Clip(pcm) => {
                let start = usize::try_from(self.position).unwrap_or(usize::MAX);
                let end = start.saturating_add(want).min(pcm.0.len());
                if start >= end {
                    return Read::End;
                }
                out.extend_from_slice(&pcm.0[start..end]);
                end - start
            }
            Kind::Stream {
                stream,
                pending,
                history,
                keep,
                ended,
            } => {
                while pending.len() < want && ended.is_none() {
                    match stream.try_next() {
                        Some(Some(Ok(piece))) => pending.extend(piece),
                        Some(Some(Err(why))) => *ended = Some(Some(why)),
                        Some(None) => *ended = Some(None),
                        None => break,
                    }
                }
                if pending.is_empty() {
                    return match ended {
                        Some(Some(why)) => Read::Failed(why.clone()),
                        Some(None) => Read::End,
                        None => Read::Waiting,
                    };
                }
                // Whole frames only, unless the stream has ended.
                let mut take = want.min(pending.len());
                if take < want && ended.is_none() {
                    take -= take % CHANNELS;
                    if take == 0 {
                        return Read::Waiting;
                    }
                }
                for sample in pending.drain(..take) {
                    out.push(sample);
                    history.push_back(sample);
                }
                let excess = history.len().saturating_sub(*keep);
                history.drain(..excess);
                take
            }
        };
        self.position += read as u64;
        Read::Samples(read)
    }

    /// Gives back the last `frames` frames read (as many as are kept), so that they are read
    /// again; the frames given back.
    pub fn give_back(&mut self, frames: u64) -> u64 {
        let want = frames.saturating_mul(CHANNELS as u64).min(self.position);
        let given = match &mut self.kind {
            Kind::Clip(_) => want,
            Kind::Stream {
                pending, history, ..
            } => {
                let n = usize::try_from(want)
                    .unwrap_or(usize::MAX)
                    .min(history.len());
                for _ in 0..n {
                    if let Some(sample) = history.pop_back() {
                        pending.push_front(sample);
                    }
                }
                n as u64
            }
        };
        self.position -= given;
        given / CHANNELS as u64
    }

    /// Waits until a stream has something to read (or has ended); a clip is always ready.
    pub async fn ready(&mut self) {
        if let Kind::Stream {
            stream,
            pending,
            ended,
            ..
        } = &mut self.kind
            && pending.is_empty()
            && ended.is_none()
        {
            match stream.next().await {
                Some(Ok(piece)) => pending.extend(piece),
                Some(Err(why)) => *ended = Some(Some(why)),
                None => *ended = Some(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(samples: &[i16]) -> Vec<i16> {
        samples.iter().flat_map(|&s| [s, s]).collect()
    }

    #[test]
    fn a_clip_reads_in_order_and_gives_back() {
        let mut source = Source::new(Audio::Clip(Pcm(frames(&[1, 2, 3, 4, 5]).into())), 0);
        let mut out = Vec::new();
        assert_eq!(source.read(3, &mut out), Read::Samples(6));
        assert_eq!(out, frames(&[1, 2, 3]));
        assert_eq!(source.give_back(2), 2);
        assert_eq!(source.frames(), 1);
        out.clear();
        assert_eq!(source.read(10, &mut out), Read::Samples(8));
        assert_eq!(out, frames(&[2, 3, 4, 5]));
        assert_eq!(source.read(1, &mut out), Read::End);
    }

    #[tokio::test]
    async fn a_stream_waits_for_its_producer_gives_back_what_it_kept_and_ends() {
        let (sender, stream) = PcmStream::channel(4);
        let mut source = Source::new(Audio::Stream(stream), 2);
        let mut out = Vec::new();
        assert_eq!(source.read(2, &mut out), Read::Waiting);
        assert!(sender.send(Ok(frames(&[1, 2, 3]))).await);
        source.ready().await;
        assert_eq!(source.read(2, &mut out), Read::Samples(4));
        assert_eq!(source.read(2, &mut out), Read::Samples(2));
        assert_eq!(out, frames(&[1, 2, 3]));
        // Only the last two frames are kept.
        assert_eq!(source.give_back(5), 2);
        assert_eq!(source.frames(), 1);
        out.clear();
        drop(sender);
        assert_eq!(source.read(5, &mut out), Read::Samples(4));
        assert_eq!(out, frames(&[2, 3]));
        assert_eq!(source.read(5, &mut out), Read::End);
    }

    #[tokio::test]
    async fn a_failed_stream_says_why_after_what_it_gave() {
        let (sender, stream) = PcmStream::channel(4);
        let mut source = Source::new(Audio::Stream(stream), 0);
        assert!(sender.send(Ok(frames(&[7]))).await);
        assert!(sender.send(Err("bad frame".into())).await);
        let mut out = Vec::new();
        assert_eq!(source.read(4, &mut out), Read::Samples(2));
        assert_eq!(source.read(4, &mut out), Read::Failed("bad frame".into()));
    }
}
