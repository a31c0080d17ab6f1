//! A bus tap: a websocket client on an Open Voice OS message bus that records every frame, so a
//! test can assert what the services did (the frames they answer with and emit).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

/// How long [`BusTap::wait_for`] waits by default.
pub const TAP_WAIT: Duration = Duration::from_secs(15);

/// A recording client on the bus. Frames are kept in arrival order; [`BusTap::mark`] notes a
/// position, and the waits look at the frames after it.
pub struct BusTap {
    frames: Arc<Mutex<Vec<Value>>>,
    answers: Arc<Mutex<Vec<(String, Value)>>>,
    outgoing: mpsc::Sender<String>,
    task: tokio::task::JoinHandle<()>,
}

impl BusTap {
    /// Connects to the bus on 127.0.0.1:`port` (at most 10 s).
    pub async fn connect(port: u16) -> Self {
        let url = format!("ws://127.0.0.1:{port}/core");
        let (stream, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        .expect("the tap connects to the bus within 10 s")
        .expect("the tap connects to the bus");
        let frames = Arc::new(Mutex::new(Vec::new()));
        let answers: Arc<Mutex<Vec<(String, Value)>>> = Arc::new(Mutex::new(Vec::new()));
        let (outgoing, mut to_send) = mpsc::channel::<String>(64);
        let (mut sink, mut source) = stream.split();
        let task = {
            let frames = frames.clone();
            let answers = answers.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        incoming = source.next() => {
                            let text = match incoming {
                                Some(Ok(Frame::Text(text))) => text.to_string(),
                                Some(Ok(Frame::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                                Some(Ok(_)) => continue,
                                _ => break,
                            };
                            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                                continue;
                            };
                            let replies: Vec<Value> = {
                                let answers = answers.lock().unwrap_or_else(|e| e.into_inner());
                                answers
                                    .iter()
                                    .filter(|(trigger, _)| frame["type"] == trigger.as_str())
                                    .map(|(_, reply)| reply.clone())
                                    .collect()
                            };
                            frames.lock().unwrap_or_else(|e| e.into_inner()).push(frame);
                            for reply in replies {
                                if sink.send(Frame::text(reply.to_string())).await.is_err() {
                                    return;
                                }
                            }
                        }
                        frame = to_send.recv() => match frame {
                            Some(frame) => {
                                if sink.send(Frame::text(frame)).await.is_err() {
                                    return;
                                }
                            }
                            None => return,
                        },
                    }
                }
            })
        };
        Self {
            frames,
            answers,
            outgoing,
            task,
        }
    }

    /// The position after the last frame seen so far.
    pub fn mark(&self) -> usize {
        self.lock().len()
    }

    /// The frames seen after `mark`.
    pub fn since(&self, mark: usize) -> Vec<Value> {
        self.lock()
            .get(mark..)
            .map(<[Value]>::to_vec)
            .unwrap_or_default()
    }

    /// Waits (at most `within`) for a frame after `mark` of type `msg_type` that `matches`, and
    /// returns it; panics listing the types seen meanwhile.
    pub async fn wait_for_within(
        &self,
        mark: usize,
        msg_type: &str,
        matches: impl Fn(&Value) -> bool,
        within: Duration,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .since(mark)
                .into_iter()
                .find(|f| f["type"] == msg_type && matches(f));
            if let Some(frame) = found {
                return frame;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no {msg_type} frame within {within:?}; frames seen: {}",
                    summary(&self.since(mark))
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`BusTap::wait_for_within`] for at most [`TAP_WAIT`].
    pub async fn wait_for(
        &self,
        mark: usize,
        msg_type: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_for_within(mark, msg_type, matches, TAP_WAIT)
            .await
    }

    /// Sends a message on the bus.
    pub async fn send(&self, msg_type: &str, data: Value, context: Value) {
        let frame = json!({"type": msg_type, "data": data, "context": context});
        self.outgoing
            .send(frame.to_string())
            .await
            .expect("the tap is connected");
    }

    /// Sends `msg_type` and waits for a `reply_type` frame.
    pub async fn ask(&self, msg_type: &str, data: Value, reply_type: &str) -> Value {
        let mark = self.mark();
        let context = json!({"source": "test-tap", "session": {"session_id": "default"}});
        self.send(msg_type, data, context).await;
        self.wait_for(mark, reply_type, |_| true).await
    }

    /// From now on, answers each frame of type `trigger` with `reply` (a whole frame).
    pub fn answer(&self, trigger: &str, reply: Value) {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((trigger.to_string(), reply));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.frames.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for BusTap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One line per frame: its type and the context and data fields that tell who sent it and why.
pub fn summary(frames: &[Value]) -> String {
    frames
        .iter()
        .map(|f| {
            // Long payloads (the skill list, the TTS's file paths) say little; keep them short.
            let mut data = f["data"].to_string();
            if data.chars().count() > 160 {
                data = format!("{}…", data.chars().take(150).collect::<String>());
            }
            format!(
                "{} data={} source={} destination={} session={}",
                f["type"].as_str().unwrap_or("?"),
                data,
                f["context"]["source"],
                f["context"]["destination"],
                f["context"]["session"]["session_id"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
