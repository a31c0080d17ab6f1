//! One persistent connection to the Open Voice OS message bus.
//!
//! Every frame on the bus is JSON `{"type", "data", "context"}` and reaches every client, the
//! sender included. Requests register a waiter before they send: native replies (made with
//! `message.response()`) keep the request's context, so a correlation id placed there finds exactly
//! its request; a reply that any request may take (the skill list) answers every request waiting
//! for one. Answers of the skill-rest-api companion skill carry nothing to tell whose
//! they are and come several times: they go through [`Bus::exchange`], one exchange per reply type
//! at a time (see [`crate::ovos::exchange`]). A lost connection fails every waiter and exchange at
//! once (503), those still queued for an exchange too, and is re-established with capped
//! exponential backoff.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::ovos::exchange::{Exchange, Exchanges};

/// The context key that carries voicegate's correlation id.
pub const CORRELATION_KEY: &str = "voicegate_request";

/// A message on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusMessage {
    /// Message type, e.g. `speak`.
    #[serde(rename = "type")]
    pub msg_type: String,
    /// Payload.
    #[serde(default)]
    pub data: Value,
    /// Routing context.
    #[serde(default)]
    pub context: Value,
}

impl BusMessage {
    /// A message with an empty context (the bus adds `source` and the correlation id).
    pub fn new(msg_type: impl Into<String>, data: Value) -> Self {
        Self {
            msg_type: msg_type.into(),
            data,
            context: json!({}),
        }
    }

    /// Reads a frame the bus delivered: a JSON object with a text `type` (`data` and `context`
    /// default to null). Anything else (an array too, which serde would read field by field) is
    /// `None`: the connection skips it.
    pub fn from_frame(text: &str) -> Option<Self> {
        let object = text
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{');
        object.then(|| serde_json::from_str(text).ok()).flatten()
    }
}

/// How a request's reply is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMatch {
    /// The reply keeps the request's context: match the correlation id.
    Correlated,
    /// The reply may have a fresh context, and any reply of the type answers any request of it
    /// (the skill list): match the type; one reply answers every request waiting for the type.
    ByType,
}

/// Why a bus exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// Not connected (or the connection dropped while waiting).
    #[error("the message bus at {0} is not connected")]
    Unavailable(String),
    /// No reply within the request timeout.
    #[error("no reply from the message bus within {0} ms")]
    Timeout(u128),
}

/// Settings of the bus connection.
#[derive(Debug, Clone)]
pub struct BusSettings {
    /// `ws://host:port/core`.
    pub url: String,
    /// `host:port` to connect the TCP socket to.
    pub address: String,
    /// How long a request waits for its reply.
    pub request_timeout: Duration,
    /// Longest pause between reconnection attempts.
    pub reconnect_max: Duration,
    /// After an [`Bus::exchange`], how long its reply types stay closed without an answer
    /// before the next exchange of those types may start (its trailing answers are dropped).
    pub exchange_drain: Duration,
}

/// What sees every message the bus delivers (the events relay). Called on the connection's
/// task for each message, so it must be quick and never block.
pub trait MessageTap: Send + Sync + 'static {
    /// One message, as it arrived.
    fn deliver(&self, message: &BusMessage);
}

/// A request waiting for its reply (public for the fuzz targets).
#[doc(hidden)]
pub struct Waiter {
    correlation: String,
    reply_types: Vec<String>,
    tx: oneshot::Sender<BusMessage>,
}

/// The requests waiting for their replies, and how a reply finds its request (public for the
/// fuzz targets).
#[doc(hidden)]
#[derive(Default)]
pub struct Waiters {
    by_id: HashMap<u64, Waiter>,
    /// Type-matched waiters per reply type, oldest first.
    by_type: HashMap<String, VecDeque<u64>>,
    /// Correlation id → waiter id.
    by_correlation: HashMap<String, u64>,
}

impl Waiter {
    /// Hands the request its reply (nothing happens when the request has ended meanwhile).
    pub fn answer(self, message: BusMessage) {
        let _ = self.tx.send(message);
    }
}

impl Waiters {
    /// Removes waiter `id` (its request ended), if it is still there.
    pub fn remove(&mut self, id: u64) -> Option<Waiter> {
        let waiter = self.by_id.remove(&id)?;
        self.by_correlation.remove(&waiter.correlation);
        for reply_type in &waiter.reply_types {
            if let Some(queue) = self.by_type.get_mut(reply_type) {
                queue.retain(|&queued| queued != id);
                if queue.is_empty() {
                    self.by_type.remove(reply_type);
                }
            }
        }
        Some(waiter)
    }

    /// Adds waiter `id`, reachable by its correlation id and, for [`ReplyMatch::ByType`], by its
    /// reply types (behind the waiters already queued for them).
    pub fn register(
        &mut self,
        id: u64,
        correlation: &str,
        reply_types: &[&str],
        matching: ReplyMatch,
        tx: oneshot::Sender<BusMessage>,
    ) {
        if matching == ReplyMatch::ByType {
            for reply_type in reply_types {
                self.by_type
                    .entry((*reply_type).to_string())
                    .or_default()
                    .push_back(id);
            }
        }
        self.by_correlation.insert(correlation.to_string(), id);
        let waiter = Waiter {
            correlation: correlation.to_string(),
            reply_types: reply_types.iter().map(|t| (*t).to_string()).collect(),
            tx,
        };
        self.by_id.insert(id, waiter);
    }

    /// The waiters a message answers, removed from the table: the request its correlation id
    /// names, else every request waiting for any reply of its type. Any such reply answers all
    /// of them: handed to one at a time, a reply whose request got none (sent while nobody
    /// answered) would go to the next request, whose own would go to the one after, and the
    /// last would wait in vain.
    pub fn take_for(&mut self, message: &BusMessage) -> Vec<Waiter> {
        let correlation = message.context.get(CORRELATION_KEY).and_then(Value::as_str);
        if let Some(&id) = correlation.and_then(|c| self.by_correlation.get(c)) {
            let answers = self
                .by_id
                .get(&id)
                .is_some_and(|w| w.reply_types.contains(&message.msg_type));
            if answers {
                return self.remove(id).into_iter().collect();
            }
        }
        let waiting: Vec<u64> = self
            .by_type
            .get(&message.msg_type)
            .map(|queue| queue.iter().copied().collect())
            .unwrap_or_default();
        waiting
            .into_iter()
            .filter_map(|id| self.remove(id))
            .collect()
    }
}

struct Shared {
    settings: BusSettings,
    /// Whether the connection is up; requests queued for an exchange watch it to fail at once
    /// when it drops.
    connected: watch::Sender<bool>,
    outgoing: Mutex<Option<mpsc::Sender<String>>>,
    waiters: Mutex<Waiters>,
    exchanges: Arc<Exchanges<BusMessage>>,
    taps: Vec<Arc<dyn MessageTap>>,
    next_id: AtomicU64,
    session: String,
}

/// A handle to the bus connection; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    shared: Arc<Shared>,
}

impl Bus {
    /// A bus handle; [`Bus::spawn_connection`] starts connecting. Each of `taps` sees every
    /// message, in order.
    pub fn new(settings: BusSettings, taps: Vec<Arc<dyn MessageTap>>) -> Self {
        let session = crate::ids::new_id();
        // However chatty the peer, a drain ends within one request timeout.
        let exchanges = Exchanges::new(settings.exchange_drain, settings.request_timeout);
        Self {
            shared: Arc::new(Shared {
                settings,
                connected: watch::Sender::new(false),
                outgoing: Mutex::new(None),
                waiters: Mutex::new(Waiters::default()),
                exchanges,
                taps,
                next_id: AtomicU64::new(1),
                session,
            }),
        }
    }

    /// Whether the connection is up now.
    pub fn is_connected(&self) -> bool {
        *self.shared.connected.borrow()
    }

    /// The bus URL.
    pub fn url(&self) -> &str {
        &self.shared.settings.url
    }

    /// Sends a message and waits until the bus relays it back (the bus echoes every message to
    /// its sender): the message has then reached the bus, and the caller is paced by it.
    pub async fn emit(&self, message: BusMessage) -> Result<(), BusError> {
        let msg_type = message.msg_type.clone();
        self.request(message, &[msg_type.as_str()], ReplyMatch::Correlated)
            .await
            .map(|_| ())
    }

    /// Sends a request and waits for its reply: a message of one of `reply_types`, recognised as
    /// `matching` says.
    pub async fn request(
        &self,
        message: BusMessage,
        reply_types: &[&str],
        matching: ReplyMatch,
    ) -> Result<BusMessage, BusError> {
        if !self.is_connected() {
            return Err(self.unavailable());
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let correlation = format!("{}-{id}", self.shared.session);
        let (tx, rx) = oneshot::channel();
        self.lock_waiters()
            .register(id, &correlation, reply_types, matching, tx);
        // Whatever happens next, the waiter does not outlive this call.
        let _guard = WaiterGuard { bus: self, id };
        self.send_frame(self.frame(message, Some(&correlation)))
            .await?;
        let timeout = self.shared.settings.request_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(self.unavailable()),
            Err(_) => Err(BusError::Timeout(timeout.as_millis())),
        }
    }

    /// Opens an exchange on `reply_types` (waiting, in arrival order, for the one before it and
    /// its drain to end) and sends the request; every answer of those types reaches the exchange
    /// until it is dropped. Queueing and answers share the request timeout.
    pub async fn exchange(
        &self,
        message: BusMessage,
        reply_types: &[&str],
    ) -> Result<Exchange<BusMessage>, BusError> {
        if !self.is_connected() {
            return Err(self.unavailable());
        }
        let timeout = self.shared.settings.request_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        // Queued behind other exchanges, a request still fails at once when the connection
        // drops: those ahead of it would each end, then drain, before its turn came.
        let mut connected = self.shared.connected.subscribe();
        let exchange = tokio::select! {
            opened = self.shared.exchanges.open(reply_types, deadline) => opened,
            _ = connected.wait_for(|up| !up) => return Err(self.unavailable()),
        }
        .ok_or(BusError::Timeout(timeout.as_millis()))?;
        if !self.is_connected() {
            return Err(self.unavailable());
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let correlation = format!("{}-{id}", self.shared.session);
        self.send_frame(self.frame(message, Some(&correlation)))
            .await?;
        Ok(exchange)
    }

    /// How long a request waits for its reply.
    pub fn request_timeout(&self) -> Duration {
        self.shared.settings.request_timeout
    }

    /// How long answers of one exchange may trail each other.
    pub fn exchange_drain(&self) -> Duration {
        self.shared.exchanges.drain()
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.shared
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn unavailable(&self) -> BusError {
        BusError::Unavailable(self.shared.settings.url.clone())
    }

    fn frame(&self, mut message: BusMessage, correlation: Option<&str>) -> String {
        let mut context = match message.context.take() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        // The destination is the caller's to choose (or leave out, for a broadcast): services
        // ignore messages addressed elsewhere.
        context
            .entry("source")
            .or_insert_with(|| json!(crate::ovos::addressing::SOURCE));
        if let Some(correlation) = correlation {
            context.insert(CORRELATION_KEY.into(), json!(correlation));
        }
        message.context = Value::Object(context);
        serde_json::to_string(&message).expect("a bus message serializes")
    }

    /// Queues a frame for the connection. When the bus does not keep up, the caller waits for
    /// room (backpressure) up to the request timeout, then gets 504; a closed connection is 503.
    async fn send_frame(&self, frame: String) -> Result<(), BusError> {
        let sender = self
            .shared
            .outgoing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(sender) = sender else {
            return Err(self.unavailable());
        };
        let timeout = self.shared.settings.request_timeout;
        match tokio::time::timeout(timeout, sender.send(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.unavailable()),
            Err(_) => Err(BusError::Timeout(timeout.as_millis())),
        }
    }

    /// Keeps the connection up until the task is aborted: connects, pumps frames both ways,
    /// and on loss fails every waiter and reconnects with capped exponential backoff.
    pub fn spawn_connection(&self) -> tokio::task::JoinHandle<()> {
        let bus = self.clone();
        tokio::spawn(async move {
            let first_backoff = Duration::from_millis(100);
            let mut backoff = first_backoff;
            let mut was_up = true;
            loop {
                match bus.connect().await {
                    Ok((stream, ack_handle)) => {
                        tracing::info!(url = %bus.url(), "message bus connected");
                        backoff = first_backoff;
                        was_up = true;
                        bus.pump(stream, &ack_handle).await;
                        tracing::warn!(url = %bus.url(), "message bus connection lost");
                    }
                    Err(e) => {
                        if was_up {
                            tracing::warn!(url = %bus.url(), error = %e, "message bus unreachable; retrying");
                            was_up = false;
                        }
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(bus.shared.settings.reconnect_max);
            }
        })
    }

    async fn connect(
        &self,
    ) -> Result<
        (
            tokio_tungstenite::WebSocketStream<TcpStream>,
            std::net::TcpStream,
        ),
        Box<dyn std::error::Error + Send + Sync>,
    > {
        let settings = &self.shared.settings;
        let attempt = async {
            let tcp = TcpStream::connect(&settings.address).await?;
            tcp.set_nodelay(true)?;
            // A second handle on the same socket, to re-arm quick ACKs while the stream is split.
            let std_tcp = tcp.into_std()?;
            let ack_handle = std_tcp.try_clone()?;
            let tcp = TcpStream::from_std(std_tcp)?;
            let (stream, _) = tokio_tungstenite::client_async(settings.url.as_str(), tcp).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((stream, ack_handle))
        };
        tokio::time::timeout(Duration::from_secs(3), attempt)
            .await
            .map_err(|_| "connection attempt timed out")?
    }

    async fn pump(
        &self,
        stream: tokio_tungstenite::WebSocketStream<TcpStream>,
        ack_handle: &std::net::TcpStream,
    ) {
        // The bus relays every message back to its sender, and a Python bus may hold a small
        // reply back (Nagle) until that echo is acknowledged: acknowledging at once (quick ACK,
        // re-armed after every read, as Linux clears it) avoids a ~40 ms stall per exchange.
        let quick_ack = || {
            let _ = socket2::SockRef::from(ack_handle).set_tcp_quickack(true);
        };
        quick_ack();
        let (mut sink, mut source) = stream.split();
        // A short queue: senders wait for room rather than pile up work the bus cannot take.
        let (tx, mut rx) = mpsc::channel::<String>(256);
        *self
            .shared
            .outgoing
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(tx);
        self.shared.connected.send_replace(true);
        loop {
            tokio::select! {
                incoming = source.next() => match incoming {
                    Some(Ok(Frame::Text(text))) => {
                        quick_ack();
                        self.dispatch(text.as_str());
                    }
                    Some(Ok(Frame::Binary(bytes))) => {
                        if let Ok(text) = std::str::from_utf8(&bytes) {
                            self.dispatch(text);
                        }
                    }
                    Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                outgoing = rx.recv() => match outgoing {
                    Some(frame) => {
                        if sink.send(Frame::text(frame)).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
            }
        }
        self.shared.connected.send_replace(false);
        *self
            .shared
            .outgoing
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        // Dropping the senders answers every pending request "unavailable" at once.
        *self.lock_waiters() = Waiters::default();
        self.shared.exchanges.disconnect();
    }

    fn dispatch(&self, text: &str) {
        let Some(message) = BusMessage::from_frame(text) else {
            return;
        };
        for tap in &self.shared.taps {
            tap.deliver(&message);
        }
        let waiters = self.lock_waiters().take_for(&message);
        if waiters.is_empty() {
            self.shared.exchanges.deliver(&message.msg_type, &message);
        }
        for waiter in waiters {
            waiter.answer(message.clone());
        }
    }
}

struct WaiterGuard<'a> {
    bus: &'a Bus,
    id: u64,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.bus.lock_waiters().remove(self.id);
    }
}

#[cfg(test)]
#[path = "bus_tests.rs"]
mod tests;
