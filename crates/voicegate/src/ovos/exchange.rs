//! Exchanges whose answers carry nothing to tell whose they are.
//!
//! The skill-rest-api skill answers each request with a fresh message, and answers it several
//! times (it registers its handlers again whenever its settings change; some handlers also send
//! a trailing error). Two requests of one type in flight would take each other's answers, so
//! only one exchange per reply type is open at a time: the others queue for it in arrival order
//! (FIFO), each within its request timeout. An open exchange receives every answer of its types
//! in order. When it ends, its trailing answers are dropped until none has come for the drain
//! window; only then may the next exchange of those types send its request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, mpsc};
use tokio::time::Instant;

/// Answers kept for an open exchange that has not read them yet; more are dropped (an exchange
/// reads the first few and ends).
const QUEUED_ANSWERS: usize = 16;

/// Where answers of one reply type go.
struct Route<M> {
    /// The open exchange; `None` while the type drains.
    to: Option<mpsc::Sender<M>>,
    /// When the last answer of the type arrived (the drain waits for quiet after it).
    last_answer: Instant,
}

/// The exchanges of one bus connection, whose messages are `M`: a gate per reply type and the
/// routes of the answers.
pub struct Exchanges<M> {
    /// One FIFO gate per reply type (a fixed, small set: the types voicegate asks for).
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    routes: Mutex<HashMap<String, Route<M>>>,
    /// Quiet time after the last trailing answer before the gate opens again.
    drain: Duration,
    /// Longest drain, however chatty the peer: queued requests wait no longer than this.
    drain_cap: Duration,
}

/// What waiting for an answer gave.
#[derive(Debug)]
pub enum Next<M> {
    /// An answer of one of the exchange's types.
    Answer(M),
    /// None came before the time given.
    Quiet,
    /// The connection dropped.
    Closed,
}

impl<M: Clone + Send + 'static> Exchanges<M> {
    /// Exchanges that drain trailing answers until `drain` passes without one (at most
    /// `drain_cap`).
    pub fn new(drain: Duration, drain_cap: Duration) -> Arc<Self> {
        Arc::new(Self {
            gates: Mutex::new(HashMap::new()),
            routes: Mutex::new(HashMap::new()),
            drain,
            drain_cap,
        })
    }

    /// The drain window: how long answers of one exchange may trail each other.
    pub fn drain(&self) -> Duration {
        self.drain
    }

    fn gate(&self, reply_type: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.gates)
            .entry(reply_type.to_string())
            .or_default()
            .clone()
    }

    /// Waits until every one of `reply_types` is free (in arrival order), then opens an exchange
    /// on them; `None` when `deadline` passes first.
    pub async fn open(
        self: &Arc<Self>,
        reply_types: &[&str],
        deadline: Instant,
    ) -> Option<Exchange<M>> {
        let mut types: Vec<String> = reply_types.iter().map(|t| (*t).to_string()).collect();
        // One order for every exchange, so that two sharing some types cannot deadlock.
        types.sort();
        types.dedup();
        let mut guards = Vec::with_capacity(types.len());
        for reply_type in &types {
            let gate = self.gate(reply_type);
            guards.push(
                tokio::time::timeout_at(deadline, gate.lock_owned())
                    .await
                    .ok()?,
            );
        }
        let (tx, rx) = mpsc::channel(QUEUED_ANSWERS);
        let now = Instant::now();
        let mut routes = lock(&self.routes);
        for reply_type in &types {
            let route = Route {
                to: Some(tx.clone()),
                last_answer: now,
            };
            routes.insert(reply_type.clone(), route);
        }
        Some(Exchange {
            exchanges: self.clone(),
            types,
            rx,
            guards,
            deadline,
        })
    }

    /// Routes a message of type `msg_type`: to the open exchange of its type, or dropped while
    /// its type drains. Returns whether the message was an answer of a gated type.
    pub fn deliver(&self, msg_type: &str, message: &M) -> bool {
        let mut routes = lock(&self.routes);
        let Some(route) = routes.get_mut(msg_type) else {
            return false;
        };
        route.last_answer = Instant::now();
        match &route.to {
            // A full queue means the exchange has all it will read.
            Some(to) => {
                let _ = to.try_send(message.clone());
            }
            None => tracing::debug!(msg_type, "trailing answer dropped"),
        }
        true
    }

    /// The connection dropped: every open exchange ends at once (its routes drain as usual).
    pub fn disconnect(&self) {
        for route in lock(&self.routes).values_mut() {
            route.to = None;
        }
    }

    /// When the drain of `types` may end: quiet for the drain window after their last answer.
    fn quiet_at(&self, types: &[String]) -> Instant {
        let routes = lock(&self.routes);
        let last = types
            .iter()
            .filter_map(|t| routes.get(t).map(|r| r.last_answer))
            .max()
            .unwrap_or_else(Instant::now);
        last + self.drain
    }

    /// Ends an exchange: its types drain, then their routes go and the gates open.
    fn close(self: Arc<Self>, types: Vec<String>, guards: Vec<OwnedMutexGuard<()>>) {
        let now = Instant::now();
        {
            let mut routes = lock(&self.routes);
            for reply_type in &types {
                if let Some(route) = routes.get_mut(reply_type) {
                    route.to = None;
                    route.last_answer = route.last_answer.max(now);
                }
            }
        }
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime) if !self.drain.is_zero() => runtime,
            // Nothing to wait for, or no runtime to wait on (a drop at shutdown).
            _ => return self.finish(&types, guards),
        };
        let cap = now + self.drain_cap;
        runtime.spawn(async move {
            loop {
                let quiet_at = self.quiet_at(&types).min(cap);
                if Instant::now() >= quiet_at {
                    break;
                }
                tokio::time::sleep_until(quiet_at).await;
            }
            self.finish(&types, guards);
        });
    }

    /// The drain is over: the routes go, then the gates open.
    fn finish(&self, types: &[String], guards: Vec<OwnedMutexGuard<()>>) {
        let mut routes = lock(&self.routes);
        for reply_type in types {
            routes.remove(reply_type);
        }
        drop(routes);
        drop(guards);
    }
}

/// An open exchange: it holds its reply types until dropped, then they drain.
pub struct Exchange<M: Clone + Send + 'static> {
    exchanges: Arc<Exchanges<M>>,
    types: Vec<String>,
    rx: mpsc::Receiver<M>,
    guards: Vec<OwnedMutexGuard<()>>,
    deadline: Instant,
}

impl<M: Clone + Send + 'static> Exchange<M> {
    /// When the request times out.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The next answer, waiting until `until` at the latest.
    pub async fn next_before(&mut self, until: Instant) -> Next<M> {
        match tokio::time::timeout_at(until, self.rx.recv()).await {
            Ok(Some(answer)) => Next::Answer(answer),
            Ok(None) => Next::Closed,
            Err(_) => Next::Quiet,
        }
    }
}

impl<M: Clone + Send + 'static> Drop for Exchange<M> {
    fn drop(&mut self) {
        let types = std::mem::take(&mut self.types);
        let guards = std::mem::take(&mut self.guards);
        self.exchanges.clone().close(types, guards);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delivers answer number `n`, of type `x.answer`.
    fn deliver(exchanges: &Exchanges<u64>, n: u64) -> bool {
        exchanges.deliver("x.answer", &n)
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    async fn expect_answer(exchange: &mut Exchange<u64>) -> u64 {
        match exchange.next_before(far()).await {
            Next::Answer(n) => n,
            other => panic!("an answer, not {other:?}"),
        }
    }

    #[tokio::test]
    async fn one_exchange_per_type_in_arrival_order_and_trailing_answers_never_reach_the_next() {
        let drain = Duration::from_millis(200);
        let exchanges = Exchanges::<u64>::new(drain, Duration::from_secs(5));
        let mut first = exchanges.open(&["x.answer"], far()).await.unwrap();
        // Two more queue, in arrival order.
        let (order_tx, mut order_rx) = mpsc::unbounded_channel();
        let mut queued = Vec::new();
        for id in [2, 3] {
            let exchanges = exchanges.clone();
            let order_tx = order_tx.clone();
            queued.push(tokio::spawn(async move {
                let mut exchange = exchanges.open(&["x.answer"], far()).await.unwrap();
                order_tx.send((id, Instant::now())).unwrap();
                (id, expect_answer(&mut exchange).await)
            }));
            tokio::task::yield_now().await;
        }
        assert!(deliver(&exchanges, 1));
        assert!(deliver(&exchanges, 101), "a second answer of the first");
        assert_eq!(expect_answer(&mut first).await, 1);
        assert!(order_rx.try_recv().is_err(), "the type is still held");
        let ended = Instant::now();
        drop(first);
        // A trailing answer keeps the type draining until the drain window passes without one.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(deliver(&exchanges, 102), "dropped, not unknown");
        let (id, opened) = order_rx.recv().await.unwrap();
        assert_eq!(id, 2, "first come, first served");
        assert!(
            opened - ended >= Duration::from_millis(300),
            "{:?}",
            opened - ended
        );
        deliver(&exchanges, 2);
        let (id, _) = order_rx.recv().await.unwrap();
        assert_eq!(id, 3);
        deliver(&exchanges, 3);
        let results: Vec<(u64, u64)> = futures_util::future::join_all(queued)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(results, [(2, 2), (3, 3)], "each got its own answer");
    }

    #[tokio::test]
    async fn a_queued_exchange_gives_up_at_its_deadline_and_a_lost_connection_ends_the_open_one() {
        let exchanges = Exchanges::<u64>::new(Duration::from_millis(200), Duration::from_secs(5));
        let mut open = exchanges
            .open(&["x.answer", "y.answer"], far())
            .await
            .unwrap();
        let soon = Instant::now() + Duration::from_millis(100);
        assert!(exchanges.open(&["y.answer"], soon).await.is_none());
        assert!(!exchanges.deliver("z.answer", &0), "not an exchange's type");
        exchanges.disconnect();
        assert!(matches!(open.next_before(far()).await, Next::Closed));
        let ended = Instant::now();
        drop(open);
        let mut next = exchanges.open(&["x.answer"], far()).await.unwrap();
        assert!(
            ended.elapsed() >= Duration::from_millis(200),
            "drained first"
        );
        assert!(matches!(
            next.next_before(Instant::now()).await,
            Next::Quiet
        ));
    }

    #[tokio::test]
    async fn a_chatty_peer_holds_a_type_no_longer_than_the_cap() {
        let exchanges = Exchanges::<u64>::new(Duration::from_millis(300), Duration::from_secs(1));
        let started = Instant::now();
        drop(exchanges.open(&["x.answer"], far()).await.unwrap());
        let chatter = {
            let exchanges = exchanges.clone();
            tokio::spawn(async move {
                loop {
                    deliver(&exchanges, 0);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let _next = exchanges.open(&["x.answer"], far()).await.unwrap();
        let waited = started.elapsed();
        chatter.abort();
        assert!(
            (Duration::from_secs(1)..Duration::from_millis(1500)).contains(&waited),
            "{waited:?}"
        );
    }
}
