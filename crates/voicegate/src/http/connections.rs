//! Accepting and serving connections (HTTP/1.1 through hyper), with the limits a server on the
//! open network needs and axum's own `serve` does not set:
//! - the head of every request must arrive within `http.header_read_timeout_secs` of its first
//!   byte (a client dribbling headers is disconnected);
//! - a connection silent in both directions for `http.idle_timeout_secs` is closed (a request in
//!   progress is answered first);
//! - at most `http.max_connections` are open at once; more wait in the listen backlog until one
//!   closes, so that descriptors never run out.
//!
//! On shutdown the listener stops, idle connections close at once and open requests are
//! answered before their connections close.
//!
//! Both timeouts are kept by one watchdog per connection that wakes four times per the shorter
//! timeout (so a deadline is acted on within a quarter of it) and reads what the stream and the
//! service noted in [`Activity`]; hyper's own header-read timer
//! registers a timer for every request, which cost a tenth of the throughput of the lightest
//! routes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::http::client_addr::{ClientAddr, ForwardedFor};

use crate::config::HttpConfig;

/// The connection limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest time to receive a request's head.
    pub header_read_timeout: Duration,
    /// A connection silent this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// On shutdown, how long open requests may take to finish.
    pub drain_timeout: Duration,
}

impl ConnectionLimits {
    /// The limits of the `[http]` configuration.
    pub fn from_config(http: &HttpConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(http.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(http.idle_timeout_secs),
            max_connections: http.max_connections,
            drain_timeout: Duration::from_secs(http.request_timeout_secs),
        }
    }
}

impl ConnectionLimits {
    /// How often a connection's watchdog looks: a quarter of the shorter timeout.
    fn check_period(&self) -> Duration {
        (self.header_read_timeout.min(self.idle_timeout) / 4).max(Duration::from_millis(10))
    }
}

/// Listens on `address` with room for `backlog` connections waiting to be accepted (the
/// standard library's 128 overflowed when a burst of clients met a busy server: the kernel then
/// resets some of them).
pub fn listen(address: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(backlog)
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then lets open
/// requests finish (for at most `limits.drain_timeout`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    forwarded: Arc<ForwardedFor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closing_seen) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (router, closing) = (router.clone(), closing_seen.clone());
        let forwarded = forwarded.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, router, limits, forwarded, closing).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a slot until it ends.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.drain_timeout, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
    Ok(())
}

/// After a failed `accept`: a connection that failed before it was accepted is nothing to wait
/// for; anything else (out of descriptors) waits a little instead of spinning.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    forwarded: Arc<ForwardedFor>,
    mut closing: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let noted = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let client = forwarded.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientAddr(client));
        noted.set(Phase::Handling);
        let (router, noted) = (router.clone(), noted.clone());
        async move {
            let response = router.oneshot(request).await;
            noted.set(Phase::Waiting);
            response
        }
    });
    let mut connection = pin!(
        hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(io, service)
    );
    let mut ending = false;
    let mut watchdog = tokio::time::interval(limits.check_period());
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, %peer, "connection ended");
                }
                return;
            }
            _ = watchdog.tick() => {
                match activity.overdue(limits, Instant::now()) {
                    Some(Overdue::Head) => {
                        tracing::debug!(%peer, "request head too slow; disconnected");
                        return;
                    }
                    Some(Overdue::Idle) if !ending => {
                        connection.as_mut().graceful_shutdown();
                        ending = true;
                    }
                    _ => {}
                }
            }
            _ = closing.changed(), if !ending => {
                connection.as_mut().graceful_shutdown();
                ending = true;
            }
        }
    }
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request is being read or handled (new, or answered).
    Waiting = 0,
    /// The head of a request is arriving (since its first byte).
    Head = 1,
    /// A request's head was read and it is being handled.
    Handling = 2,
}

/// What a connection's watchdog found overdue.
#[derive(Debug, PartialEq, Eq)]
enum Overdue {
    /// A request's head took longer than the header-read timeout.
    Head,
    /// Nothing moved for the idle timeout.
    Idle,
}

/// When a connection last moved bytes either way, and where it is between requests: two words
/// that the stream, the service and the watchdog share without a lock.
struct Activity {
    opened: Instant,
    /// Milliseconds after `opened` of the last byte read or written.
    last_ms: AtomicU64,
    /// The [`Phase`] in the top two bits, the milliseconds after `opened` it began in the rest.
    phase: AtomicU64,
}

const PHASE_SHIFT: u32 = 62;
const MS_MASK: u64 = (1 << PHASE_SHIFT) - 1;

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
            phase: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(MS_MASK) & MS_MASK
    }

    /// Bytes moved; read bytes while waiting start a request's head.
    fn touch(&self, read: bool) {
        let now = self.now_ms();
        self.last_ms.store(now, Ordering::Relaxed);
        if read {
            let current = self.phase.load(Ordering::Relaxed);
            if current >> PHASE_SHIFT == Phase::Waiting as u64 {
                let head = ((Phase::Head as u64) << PHASE_SHIFT) | now;
                // Lost only to the service noting the head read meanwhile: nothing to start.
                let _ = self.phase.compare_exchange(
                    current,
                    head,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    }

    fn set(&self, phase: Phase) {
        let word = ((phase as u64) << PHASE_SHIFT) | self.now_ms();
        self.phase.store(word, Ordering::Relaxed);
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    /// What is overdue at `now`, if anything.
    fn overdue(&self, limits: ConnectionLimits, now: Instant) -> Option<Overdue> {
        let phase = self.phase.load(Ordering::Relaxed);
        if phase >> PHASE_SHIFT == Phase::Head as u64
            && self.at(phase & MS_MASK) + limits.header_read_timeout <= now
        {
            return Some(Overdue::Head);
        }
        (self.at(self.last_ms.load(Ordering::Relaxed)) + limits.idle_timeout <= now)
            .then_some(Overdue::Idle)
    }
}

/// A stream that notes in [`Activity`] when bytes move.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch(true);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch(false);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch(false);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(15),
        max_connections: 1,
        drain_timeout: Duration::from_secs(1),
    };

    #[test]
    fn a_head_is_timed_from_its_first_byte_and_not_while_handled() {
        let activity = Activity::new();
        let start = activity.opened;
        let at = |secs| start + Duration::from_secs(secs);
        // New and silent: only the idle timeout applies.
        assert_eq!(activity.overdue(LIMITS, at(12)), None);
        assert_eq!(activity.overdue(LIMITS, at(15)), Some(Overdue::Idle));
        // Bytes read while waiting start a head, timed from then.
        activity.touch(true);
        assert_eq!(activity.overdue(LIMITS, at(9)), None);
        assert_eq!(activity.overdue(LIMITS, at(10)), Some(Overdue::Head));
        // Once the head is read, reading the body does not restart it.
        activity.set(Phase::Handling);
        activity.touch(true);
        assert_eq!(activity.overdue(LIMITS, at(12)), None);
        // Writing an answer is activity but no head.
        activity.set(Phase::Waiting);
        activity.touch(false);
        assert_eq!(activity.overdue(LIMITS, at(12)), None);
        assert_eq!(LIMITS.check_period(), Duration::from_millis(2500));
    }
}
