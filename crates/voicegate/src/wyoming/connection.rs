//! One Wyoming connection: a reader turning bytes into events, a writer sending events, the
//! dispatcher answering each event, and a speaker working through the syntheses in order (so
//! that a streamed text is spoken while more of it arrives). All four run in the connection's
//! one task: ending it (the server stopping) ends them all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use crate::wyoming::codec::{self, FrameError};
use crate::wyoming::context::WyomingContext;
use crate::wyoming::describe::{self, PROGRAM};
use crate::wyoming::event::{ErrorCode, Event, Refusal};
use crate::wyoming::streaming::Streaming;
use crate::wyoming::stt::Transcription;
use crate::wyoming::tts::{self, ChosenVoice, Gone};

/// Events waiting to be written.
const OUTBOX: usize = 32;

/// Syntheses waiting for the speaker (a streamed text's sentences).
const SPEECH_QUEUE: usize = 64;

/// How long, and how much, a connection's input is drained before it is closed.
const DRAIN_TIME: Duration = Duration::from_secs(1);
const DRAIN_BYTES: u64 = 1 << 20;

/// Work for the speaker, in the order it was asked for.
enum SpeechJob {
    /// Speak a text (`quiet_if_empty`: a streamed sentence with nothing to speak is skipped).
    Speak {
        voice: Arc<ChosenVoice>,
        text: String,
        quiet_if_empty: bool,
    },
    /// A streamed synthesis has ended: `synthesize-stopped`.
    Stopped,
}

/// Serves one accepted connection until the client leaves, a frame cannot be read, or it
/// stays idle too long.
pub async fn serve(stream: TcpStream, ctx: Arc<WyomingContext>) {
    let (read, write) = stream.into_split();
    let (events_tx, events_rx) = mpsc::channel(4);
    let (out_tx, out_rx) = mpsc::channel(OUTBOX);
    let (jobs_tx, jobs_rx) = mpsc::channel(SPEECH_QUEUE);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let reading = async {
        let after_bad_frame = tokio::select! {
            bad = read_events(read, &ctx, events_tx) => bad,
            _ = done_rx => None,
        };
        if let Some(reader) = after_bad_frame {
            drain(reader).await;
        }
    };
    let speaking = speak_jobs(&ctx, jobs_rx, out_tx.clone(), in_flight.clone());
    let mut dispatcher = Dispatcher {
        ctx: &ctx,
        out: out_tx,
        jobs: jobs_tx,
        in_flight,
        streaming: None,
        transcription: Transcription::default(),
    };
    let work = async {
        tokio::join!(speaking, async move { dispatcher.run(events_rx).await });
    };
    let rest = async {
        tokio::join!(work, write_events(write, out_rx));
        let _ = done_tx.send(());
    };
    tokio::join!(reading, rest);
}

/// Reads and drops what a client still sends, until it closes or for at most a second and a
/// megabyte: closing a socket with unread bytes resets the connection, and the client could
/// then lose the `error` event sent just before.
pub async fn drain<R: AsyncRead + Unpin>(reader: R) {
    let mut limited = reader.take(DRAIN_BYTES);
    let _ = tokio::time::timeout(
        DRAIN_TIME,
        tokio::io::copy(&mut limited, &mut tokio::io::sink()),
    )
    .await;
}

/// Reads events until the connection ends, or a frame is bad: that one is passed on, and the
/// reader given back to be drained.
async fn read_events(
    read: OwnedReadHalf,
    ctx: &WyomingContext,
    events: mpsc::Sender<Result<Event, FrameError>>,
) -> Option<BufReader<OwnedReadHalf>> {
    let mut reader = BufReader::new(read);
    let limits = ctx.limits();
    loop {
        match codec::read_event(&mut reader, limits).await {
            Ok(Some(event)) => {
                if events.send(Ok(event)).await.is_err() {
                    return None;
                }
            }
            Ok(None) => return None,
            Err(e) => {
                let _ = events.send(Err(e)).await;
                return Some(reader);
            }
        }
    }
}

/// Writes events until every sender is gone or the client stops taking them.
async fn write_events(mut write: OwnedWriteHalf, mut out: mpsc::Receiver<Event>) {
    while let Some(event) = out.recv().await {
        if write.write_all(&codec::encode(&event)).await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}

/// Speaks the jobs in order until the dispatcher is done.
async fn speak_jobs(
    ctx: &WyomingContext,
    mut jobs: mpsc::Receiver<SpeechJob>,
    out: mpsc::Sender<Event>,
    in_flight: Arc<AtomicUsize>,
) {
    while let Some(job) = jobs.recv().await {
        let result = match job {
            SpeechJob::Speak {
                voice,
                text,
                quiet_if_empty,
            } => tts::speak(ctx, &voice, text, &out, quiet_if_empty).await,
            SpeechJob::Stopped => out
                .send(Event::new("synthesize-stopped", json!({})))
                .await
                .map_err(|_| Gone),
        };
        in_flight.fetch_sub(1, Ordering::SeqCst);
        if result.is_err() {
            return;
        }
    }
}

/// Whether the connection goes on after an event.
enum Flow {
    Continue,
    Close,
}

/// Answers the events of one connection.
struct Dispatcher<'c> {
    ctx: &'c WyomingContext,
    out: mpsc::Sender<Event>,
    jobs: mpsc::Sender<SpeechJob>,
    /// Syntheses queued or running: while any is, the connection is not idle.
    in_flight: Arc<AtomicUsize>,
    streaming: Option<Streaming>,
    transcription: Transcription,
}

impl Dispatcher<'_> {
    async fn run(&mut self, mut events: mpsc::Receiver<Result<Event, FrameError>>) {
        let idle = Duration::from_secs(self.ctx.config.idle_timeout_secs);
        loop {
            let next = match tokio::time::timeout(idle, events.recv()).await {
                Ok(next) => next,
                Err(_) if self.in_flight.load(Ordering::SeqCst) > 0 => continue,
                Err(_) => {
                    let refusal = Refusal::new(
                        ErrorCode::Idle,
                        format!(
                            "no event for {} s (wyoming.idle_timeout_secs): closing",
                            idle.as_secs()
                        ),
                    );
                    let _ = self.out.send(Event::error(&refusal)).await;
                    return;
                }
            };
            let flow = match next {
                None => return,
                Some(Err(FrameError::Refused(refusal))) => {
                    let _ = self.out.send(Event::error(&refusal)).await;
                    return;
                }
                Some(Err(FrameError::Io(e))) => {
                    tracing::debug!(error = %e, "a Wyoming connection ended inside an event");
                    return;
                }
                Some(Ok(event)) => self.handle(event).await,
            };
            if matches!(flow, Flow::Close) {
                return;
            }
        }
    }

    async fn send(&self, event: Event) -> Flow {
        match self.out.send(event).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    async fn refuse(&self, refusal: Refusal) -> Flow {
        self.send(Event::error(&refusal)).await
    }

    async fn queue(&self, job: SpeechJob) -> Flow {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        match self.jobs.send(job).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    async fn handle(&mut self, event: Event) -> Flow {
        match event.kind.as_str() {
            "ping" => {
                let text = event.data.get("text").cloned().unwrap_or_default();
                self.send(Event::new("pong", json!({"text": text}))).await
            }
            "describe" => self.describe().await,
            "select-program" => match event.text("name") {
                Some(PROGRAM) => Flow::Continue,
                name => {
                    let refusal = Refusal::new(
                        ErrorCode::UnknownProgram,
                        format!("no program {name:?}: this server has {PROGRAM:?}"),
                    );
                    self.refuse(refusal).await
                }
            },
            "synthesize" => self.synthesize(&event).await,
            "synthesize-start" => self.synthesize_start(&event).await,
            "synthesize-chunk" => self.synthesize_chunk(&event).await,
            "synthesize-stop" => self.synthesize_stop().await,
            "transcribe" => match self.transcription.transcribe(self.ctx, &event).await {
                Ok(()) => Flow::Continue,
                Err(refusal) => self.refuse(refusal).await,
            },
            "audio-start" => match self.transcription.start(self.ctx, &event).await {
                Ok(()) => Flow::Continue,
                Err(refusal) => self.refuse(refusal).await,
            },
            "audio-chunk" => match self.transcription.chunk(&event) {
                Ok(()) => Flow::Continue,
                Err(refusal) => self.refuse(refusal).await,
            },
            "audio-stop" => match self.transcription.stop(self.ctx).await {
                Ok(transcript) => self.send(transcript).await,
                Err(refusal) => self.refuse(refusal).await,
            },
            // A client's own answers need nothing back.
            "pong" | "error" => Flow::Continue,
            other => {
                let refusal = Refusal::new(
                    ErrorCode::UnknownEvent,
                    format!("this server does not handle {other:?} events"),
                );
                self.refuse(refusal).await
            }
        }
    }

    async fn describe(&self) -> Flow {
        let ctx = self.ctx;
        let voices = ctx
            .voices
            .offered_voices(&ctx.config.expose_built_voices)
            .await;
        let recognizers = ctx
            .assistants
            .recognizers(&ctx.config.expose_assistants)
            .await;
        match (voices, recognizers) {
            (Ok(voices), Ok(recognizers)) => {
                self.send(describe::info(&voices, &recognizers, &ctx.public_url))
                    .await
            }
            (voices, recognizers) => {
                tracing::error!(voices = ?voices.err(), recognizers = ?recognizers.err(), "Wyoming describe failed");
                self.refuse(Refusal::new(
                    ErrorCode::Failed,
                    "the voices and models could not be listed",
                ))
                .await
            }
        }
    }

    /// The text of a `synthesize` or `synthesize-chunk`, checked.
    fn text_of(&self, event: &Event) -> Result<String, Refusal> {
        let text = event.text("text").ok_or_else(|| {
            Refusal::new(
                ErrorCode::BadEvent,
                format!("{}: \"text\" (a string) is required", event.kind),
            )
        })?;
        let max = self.ctx.config.max_text_chars;
        if text.chars().count() > max {
            return Err(Refusal::new(
                ErrorCode::TextTooLong,
                format!("the text is longer than {max} characters (wyoming.max_text_chars)"),
            ));
        }
        Ok(text.to_string())
    }

    async fn synthesize(&mut self, event: &Event) -> Flow {
        // Inside a streamed synthesis, `synthesize` repeats the whole text for older servers.
        if self.streaming.is_some() {
            return Flow::Continue;
        }
        let text = match self.text_of(event) {
            Ok(text) if text.trim().is_empty() => {
                let refusal =
                    Refusal::new(ErrorCode::NothingToSpeak, "synthesize: the text is empty");
                return self.refuse(refusal).await;
            }
            Ok(text) => text,
            Err(refusal) => return self.refuse(refusal).await,
        };
        match tts::choose_voice(self.ctx, event.object("voice")).await {
            Ok(voice) => {
                self.queue(SpeechJob::Speak {
                    voice: Arc::new(voice),
                    text,
                    quiet_if_empty: false,
                })
                .await
            }
            Err(refusal) => self.refuse(refusal).await,
        }
    }

    async fn synthesize_start(&mut self, event: &Event) -> Flow {
        if self.streaming.is_some() {
            let refusal = Refusal::new(
                ErrorCode::OutOfOrder,
                "synthesize-start: a streamed synthesis is already open",
            );
            return self.refuse(refusal).await;
        }
        let voice = match tts::choose_voice(self.ctx, event.object("voice")).await {
            Ok(voice) => Some(voice),
            Err(refusal) => {
                if let Flow::Close = self.refuse(refusal).await {
                    return Flow::Close;
                }
                None
            }
        };
        self.streaming = Some(Streaming::new(voice));
        Flow::Continue
    }

    async fn synthesize_chunk(&mut self, event: &Event) -> Flow {
        let Some(streaming) = self.streaming.as_mut() else {
            let refusal = Refusal::new(
                ErrorCode::OutOfOrder,
                "synthesize-chunk without synthesize-start",
            );
            return self.refuse(refusal).await;
        };
        let Some(text) = event.text("text") else {
            let refusal = Refusal::new(
                ErrorCode::BadEvent,
                "synthesize-chunk: \"text\" (a string) is required",
            );
            return self.refuse(refusal).await;
        };
        let sentences = match streaming.push(text, self.ctx.config.max_text_chars) {
            Ok(sentences) => sentences,
            Err(refusal) => return self.refuse(refusal).await,
        };
        let Some(voice) = streaming.voice.clone().map(Arc::new) else {
            return Flow::Continue;
        };
        for text in sentences {
            let job = SpeechJob::Speak {
                voice: voice.clone(),
                text,
                quiet_if_empty: true,
            };
            if let Flow::Close = self.queue(job).await {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    async fn synthesize_stop(&mut self) -> Flow {
        let Some(mut streaming) = self.streaming.take() else {
            let refusal = Refusal::new(
                ErrorCode::OutOfOrder,
                "synthesize-stop without synthesize-start",
            );
            return self.refuse(refusal).await;
        };
        if let (Some(text), Some(voice)) = (streaming.finish(), streaming.voice.clone()) {
            let job = SpeechJob::Speak {
                voice: Arc::new(voice),
                text,
                quiet_if_empty: true,
            };
            if let Flow::Close = self.queue(job).await {
                return Flow::Close;
            }
        }
        self.queue(SpeechJob::Stopped).await
    }
}
