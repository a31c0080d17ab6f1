//! Snapcast's control protocol: JSON-RPC 2.0 on snapserver's TCP control port, one JSON value
//! per line.
//!
//! One connection carries requests and matches their answers by id. Snapserver never sends a
//! connection the notifications its own requests cause, so a second connection only listens.
//! Both reconnect on their own, waiting longer after each failure (up to a cap); while the
//! request connection is down, a request fails at once ([`SnapcastError::Unavailable`]), never
//! after a timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::speakers::snapcast::status::ServerStatus;

/// Longest line accepted from snapserver (a full status of a large house is well below this).
pub const MAX_LINE: usize = 4 * 1024 * 1024;
/// Requests waiting for the connection at most.
const QUEUE: usize = 256;
/// Notifications kept for a slow listener before it misses some (and is told so).
const NOTIFICATIONS: usize = 256;

/// How the control client connects.
#[derive(Debug, Clone)]
pub struct ControlSettings {
    /// snapserver's control address, `HOST:PORT` (its `[tcp]` port, 1705 by default).
    pub address: String,
    /// How long a request waits for its answer.
    pub request_timeout: Duration,
    /// The first wait before reconnecting; it doubles after each failure.
    pub reconnect_min: Duration,
    /// The longest wait before reconnecting.
    pub reconnect_max: Duration,
}

impl ControlSettings {
    /// Settings for `address` with the defaults: 2 s per request, reconnecting after 100 ms,
    /// then up to every 5 s.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            request_timeout: Duration::from_secs(2),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
        }
    }
}

/// Why a control request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapcastError {
    /// There is no connection to snapserver now.
    #[error("snapserver is not reachable")]
    Unavailable,
    /// snapserver did not answer in time.
    #[error("snapserver did not answer in time")]
    Timeout,
    /// snapserver answered with an error (an unknown client, say).
    #[error("snapserver refused {method}: {message}")]
    Refused {
        /// The method called.
        method: String,
        /// The JSON-RPC error code.
        code: i64,
        /// snapserver's message (its `data` when it gives one, which says more).
        message: String,
    },
    /// snapserver's answer did not have the expected shape.
    #[error("snapserver's answer to {0} does not parse")]
    BadAnswer(String),
}

/// Something snapserver announced on the listening connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// A JSON-RPC notification: `Client.OnVolumeChanged`, `Server.OnUpdate`, `Stream.OnUpdate`…
    Event {
        /// The notification's method.
        method: String,
        /// Its parameters.
        params: Value,
    },
    /// The listening connection was (re)established: whatever happened meanwhile was missed,
    /// so a listener reads the whole status again.
    Connected,
}

/// Where a request's answer goes.
#[doc(hidden)]
pub type Answer = oneshot::Sender<Result<Value, SnapcastError>>;

/// The requests sent on a connection and not answered yet, by id, with their method.
#[doc(hidden)]
pub type Waiting = HashMap<u64, (String, Answer)>;

/// One request on its way to the connection.
struct Call {
    method: String,
    params: Value,
    answer: Answer,
}

/// The longest a status read is reused, even with no notification since.
const STATUS_MAX_AGE: Duration = Duration::from_secs(10);

/// Whether a status read earlier still holds: snapserver announces every change on the
/// listening connection (and this client makes its own), so a read holds while the listening
/// connection is up and nothing has changed since.
#[derive(Default)]
struct Freshness {
    /// Counts changes: notifications, this client's own changes, (dis)connections.
    changes: AtomicU64,
    /// Whether the listening connection is up (else changes may go unseen).
    listening: AtomicBool,
}

impl Freshness {
    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }
}

/// The last status read, and the change count it was read at.
struct Cached {
    changes: u64,
    at: Instant,
    status: ServerStatus,
}

/// The control client. Its two connections live in background tasks that end when it is
/// dropped.
pub struct SnapcastControl {
    calls: mpsc::Sender<Call>,
    connected: Arc<AtomicBool>,
    notifications: broadcast::Sender<Notification>,
    request_timeout: Duration,
    fresh: Arc<Freshness>,
    /// The last status read (one read at a time: requests that arrive meanwhile share it).
    cached: tokio::sync::Mutex<Option<Cached>>,
    reads: AtomicU64,
    _alive: watch::Sender<()>,
}

impl SnapcastControl {
    /// Starts connecting (in the background) with `settings`.
    pub fn start(settings: ControlSettings) -> Self {
        let (calls, calls_rx) = mpsc::channel(QUEUE);
        let (alive, alive_rx) = watch::channel(());
        let (notifications, _) = broadcast::channel(NOTIFICATIONS);
        let connected = Arc::new(AtomicBool::new(false));
        tokio::spawn(serve_requests(
            settings.clone(),
            calls_rx,
            connected.clone(),
        ));
        let fresh = Arc::new(Freshness::default());
        tokio::spawn(listen(
            settings.clone(),
            notifications.clone(),
            fresh.clone(),
            alive_rx,
        ));
        Self {
            calls,
            connected,
            notifications,
            request_timeout: settings.request_timeout,
            fresh,
            cached: tokio::sync::Mutex::new(None),
            reads: AtomicU64::new(0),
            _alive: alive,
        }
    }

    /// Whether the request connection is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// What snapserver announces from now on.
    pub fn notifications(&self) -> broadcast::Receiver<Notification> {
        self.notifications.subscribe()
    }

    /// Calls `method` with `params` and returns its result. Any call but a status read may
    /// change the server, so a status read before it no longer holds.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, SnapcastError> {
        let result = self.send(method, params).await;
        if method != "Server.GetStatus" {
            self.fresh.changed();
        }
        result
    }

    async fn send(&self, method: &str, params: Value) -> Result<Value, SnapcastError> {
        if !self.is_connected() {
            return Err(SnapcastError::Unavailable);
        }
        let (answer, answered) = oneshot::channel();
        let call = Call {
            method: method.to_string(),
            params,
            answer,
        };
        let sent = tokio::time::timeout(self.request_timeout, self.calls.send(call)).await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(SnapcastError::Unavailable),
            Err(_) => return Err(SnapcastError::Timeout),
        }
        match tokio::time::timeout(self.request_timeout, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(SnapcastError::Unavailable),
            Err(_) => Err(SnapcastError::Timeout),
        }
    }

    /// The whole server state: the last one read while nothing has changed since (snapserver
    /// 0.26 starts a program for every `Server.GetStatus`, a few milliseconds each), else read
    /// now.
    pub async fn status(&self) -> Result<ServerStatus, SnapcastError> {
        let mut cached = self.cached.lock().await;
        let changes = self.fresh.changes.load(Ordering::Acquire);
        if self.fresh.listening.load(Ordering::Acquire)
            && let Some(held) = cached.as_ref()
            && held.changes == changes
            && held.at.elapsed() < STATUS_MAX_AGE
        {
            return Ok(held.status.clone());
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let result = self.send("Server.GetStatus", json!({})).await;
        let status = parse_status("Server.GetStatus", result?)?;
        // Kept only if nothing changed while it was read.
        *cached = (self.fresh.changes.load(Ordering::Acquire) == changes).then(|| Cached {
            changes,
            at: Instant::now(),
            status: status.clone(),
        });
        Ok(status)
    }

    /// How many times the status was read from snapserver (the rest were reused).
    pub fn status_reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Sets a client's volume (`percent` is clamped to 0–100: snapserver would take more and
    /// amplify) and mute.
    pub async fn set_volume(
        &self,
        client: &str,
        percent: u16,
        muted: bool,
    ) -> Result<(), SnapcastError> {
        let volume = json!({ "muted": muted, "percent": percent.min(100) });
        self.call(
            "Client.SetVolume",
            json!({ "id": client, "volume": volume }),
        )
        .await
        .map(drop)
    }

    /// Names a client.
    pub async fn set_client_name(&self, client: &str, name: &str) -> Result<(), SnapcastError> {
        self.call("Client.SetName", json!({ "id": client, "name": name }))
            .await
            .map(drop)
    }

    /// Makes `clients` the members of `group` (clients taken from other groups leave them; a
    /// group left empty disappears); returns the server state after the move.
    pub async fn set_group_clients(
        &self,
        group: &str,
        clients: &[&str],
    ) -> Result<ServerStatus, SnapcastError> {
        let result = self
            .call(
                "Group.SetClients",
                json!({ "id": group, "clients": clients }),
            )
            .await?;
        parse_status("Group.SetClients", result)
    }

    /// Points `group` at `stream` (a hard cut: its clients restart their players).
    pub async fn set_group_stream(&self, group: &str, stream: &str) -> Result<(), SnapcastError> {
        self.call(
            "Group.SetStream",
            json!({ "id": group, "stream_id": stream }),
        )
        .await
        .map(drop)
    }

    /// Mutes or unmutes a group (silence is immediate).
    pub async fn set_group_mute(&self, group: &str, muted: bool) -> Result<(), SnapcastError> {
        self.call("Group.SetMute", json!({ "id": group, "mute": muted }))
            .await
            .map(drop)
    }
}

/// A status answer (`{"server": {...}}`) as a [`ServerStatus`].
#[doc(hidden)]
pub fn parse_status(method: &str, result: Value) -> Result<ServerStatus, SnapcastError> {
    let server = result
        .get("server")
        .cloned()
        .ok_or_else(|| SnapcastError::BadAnswer(method.to_string()))?;
    serde_json::from_value(server).map_err(|_| SnapcastError::BadAnswer(method.to_string()))
}

/// The wait before the next connection attempt: doubled, within the settings' bounds.
fn next_backoff(current: Duration, settings: &ControlSettings) -> Duration {
    (current * 2).clamp(settings.reconnect_min, settings.reconnect_max)
}

/// Reads one line (without its end) into `line`; `Ok(false)` at the end of the stream. A line
/// longer than [`MAX_LINE`] is an error: the connection is then dropped.
#[doc(hidden)]
pub async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<bool> {
    line.clear();
    let read = (&mut *reader)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', line)
        .await?;
    if read > MAX_LINE {
        return Err(std::io::Error::other("snapserver sent an overlong line"));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(read > 0)
}

/// The request connection: connects, sends each call with its own id and hands each answer to
/// its caller; when the connection drops, every call waiting on it fails as unavailable and it
/// reconnects. Ends when the client is dropped.
async fn serve_requests(
    settings: ControlSettings,
    mut calls: mpsc::Receiver<Call>,
    connected: Arc<AtomicBool>,
) {
    let mut backoff = settings.reconnect_min;
    let mut next_id: u64 = 1;
    loop {
        let stream = match TcpStream::connect(&settings.address).await {
            Ok(stream) => stream,
            Err(_) => {
                // Calls made meanwhile fail at once (they check `connected`); drain any that
                // raced in before the flag dropped.
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    call = calls.recv() => match call {
                        Some(call) => { let _ = call.answer.send(Err(SnapcastError::Unavailable)); continue; }
                        None => return,
                    },
                }
                backoff = next_backoff(backoff, &settings);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        backoff = settings.reconnect_min;
        connected.store(true, Ordering::Release);
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let mut waiting = Waiting::new();
        let mut line = Vec::new();
        let ended = loop {
            tokio::select! {
                call = calls.recv() => {
                    let Some(call) = call else { break true };
                    let id = next_id;
                    next_id += 1;
                    let mut request = serde_json::to_vec(&json!({
                        "id": id, "jsonrpc": "2.0", "method": call.method, "params": call.params,
                    }))
                    .expect("a request serializes");
                    request.push(b'\n');
                    if write.write_all(&request).await.is_err() {
                        let _ = call.answer.send(Err(SnapcastError::Unavailable));
                        break false;
                    }
                    waiting.retain(|_, (_, answer)| !answer.is_closed());
                    waiting.insert(id, (call.method, call.answer));
                }
                read = read_line(&mut reader, &mut line) => {
                    match read {
                        Ok(true) => answer_waiting(&line, &mut waiting),
                        _ => break false,
                    }
                }
            }
        };
        connected.store(false, Ordering::Release);
        for (_, (_, answer)) in waiting.drain() {
            let _ = answer.send(Err(SnapcastError::Unavailable));
        }
        if ended {
            return;
        }
        tracing::warn!(address = %settings.address, "lost the snapserver control connection; reconnecting");
    }
}

/// Hands an answer line (one answer, or a batch of them) to the callers waiting for it; lines
/// that answer nobody (notifications, late answers) are dropped.
#[doc(hidden)]
pub fn answer_waiting(line: &[u8], waiting: &mut Waiting) {
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        return;
    };
    let answers = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    for answer in answers {
        let Some(id) = answer.get("id").and_then(Value::as_u64) else {
            continue;
        };
        let Some((method, caller)) = waiting.remove(&id) else {
            continue;
        };
        let result = match (answer.get("result"), answer.get("error")) {
            (_, Some(error)) => Err(SnapcastError::Refused {
                method,
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("data")
                    .or_else(|| error.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("no message")
                    .to_string(),
            }),
            (Some(result), None) => Ok(result.clone()),
            (None, None) => Err(SnapcastError::BadAnswer(method)),
        };
        let _ = caller.send(result);
    }
}

/// The listening connection: publishes every notification (a batch one by one) and
/// [`Notification::Connected`] after each (re)connection. Ends when the client is dropped.
async fn listen(
    settings: ControlSettings,
    notifications: broadcast::Sender<Notification>,
    fresh: Arc<Freshness>,
    mut alive: watch::Receiver<()>,
) {
    let mut backoff = settings.reconnect_min;
    loop {
        let connected = tokio::select! {
            connected = TcpStream::connect(&settings.address) => connected,
            _ = alive.changed() => return,
        };
        let Ok(stream) = connected else {
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = alive.changed() => return,
            }
            backoff = next_backoff(backoff, &settings);
            continue;
        };
        backoff = settings.reconnect_min;
        fresh.listening.store(true, Ordering::Release);
        fresh.changed();
        let _ = notifications.send(Notification::Connected);
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            let read = tokio::select! {
                read = read_line(&mut reader, &mut line) => read,
                _ = alive.changed() => return,
            };
            match read {
                Ok(true) => {
                    fresh.changed();
                    publish(&line, &notifications);
                }
                _ => break,
            }
        }
        fresh.listening.store(false, Ordering::Release);
        fresh.changed();
    }
}

/// Publishes the notifications in one line.
#[doc(hidden)]
pub fn publish(line: &[u8], notifications: &broadcast::Sender<Notification>) {
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        return;
    };
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    for item in items {
        if let Some(method) = item.get("method").and_then(Value::as_str) {
            let params = item.get("params").cloned().unwrap_or(Value::Null);
            let _ = notifications.send(Notification::Event {
                method: method.to_string(),
                params,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_reach_their_callers_by_id_and_errors_say_what_snapserver_said() {
        let mut waiting = HashMap::new();
        let (first, mut first_rx) = oneshot::channel();
        let (second, mut second_rx) = oneshot::channel();
        waiting.insert(7, ("Client.SetVolume".to_string(), first));
        waiting.insert(8, ("Server.GetStatus".to_string(), second));
        answer_waiting(
            br#"[{"id":8,"jsonrpc":"2.0","result":{"server":{}}},{"id":7,"jsonrpc":"2.0","error":{"code":-32603,"data":"Client not found","message":"Internal error"}},{"id":99,"result":1}]"#,
            &mut waiting,
        );
        assert!(waiting.is_empty());
        assert_eq!(
            first_rx.try_recv().unwrap(),
            Err(SnapcastError::Refused {
                method: "Client.SetVolume".into(),
                code: -32603,
                message: "Client not found".into(),
            })
        );
        assert_eq!(second_rx.try_recv().unwrap(), Ok(json!({"server": {}})));
    }

    #[test]
    fn the_wait_before_reconnecting_doubles_up_to_its_cap() {
        let settings = ControlSettings::new("127.0.0.1:1705");
        let mut wait = settings.reconnect_min;
        let mut waits = Vec::new();
        for _ in 0..8 {
            wait = next_backoff(wait, &settings);
            waits.push(wait.as_millis());
        }
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }
}
