//! A bounded load on a server while one of its peers is killed and brought back: a few clients
//! loop over a set of requests, and every answer is kept with its latency and the phase of the
//! test it started and ended in, for the fault tests to judge.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Where the test is: the clients read it before each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The peer is up.
    Up = 0,
    /// The peer was killed.
    Down = 1,
    /// The peer is being started again: the clients wait.
    Paused = 2,
    /// The peer is back.
    Recovered = 3,
    /// The clients stop.
    Done = 4,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Phase::Up,
            1 => Phase::Down,
            2 => Phase::Paused,
            3 => Phase::Recovered,
            _ => Phase::Done,
        }
    }
}

/// A request the clients make, and the status it answers when all is well.
#[derive(Clone)]
pub struct Probe {
    /// Its name in the failure messages.
    pub name: &'static str,
    /// The status of a success.
    pub ok: StatusCode,
    make: Arc<dyn Fn(&Client) -> RequestBuilder + Send + Sync>,
}

impl Probe {
    /// A probe `name` that `make` builds, answering `ok` when all is well.
    pub fn new(
        name: &'static str,
        ok: StatusCode,
        make: impl Fn(&Client) -> RequestBuilder + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            ok,
            make: Arc::new(make),
        }
    }
}

/// One answer (or its absence) as a client saw it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The probe's name.
    pub probe: &'static str,
    /// Whether the status was the probe's success.
    pub ok: bool,
    /// When it was sent.
    pub started: Instant,
    /// How long the answer took.
    pub latency: Duration,
    /// The status; `None` when no answer came within the client's limit.
    pub status: Option<StatusCode>,
    /// The body's `error` code, if any.
    pub error: Option<String>,
    /// Whether the body had a `detail` text.
    pub detail: bool,
    /// The phase when it was sent.
    pub sent_in: Phase,
    /// The phase when it was answered.
    pub answered_in: Phase,
}

impl Outcome {
    /// How long the answer took after the later of its sending and `since`.
    pub fn wait_since(&self, since: Instant) -> Duration {
        (self.started + self.latency).saturating_duration_since(self.started.max(since))
    }
}

/// Longest any client waits for one answer before it records none.
const CLIENT_LIMIT: Duration = Duration::from_secs(10);
/// Most requests one client makes.
const MAX_REQUESTS: usize = 5_000;
/// A pause between a client's requests, so that two cores are not only the clients'.
const PACE: Duration = Duration::from_millis(5);

/// Clients looping over probes until [`Load::finish`] or their time limit.
pub struct Load {
    phase: Arc<AtomicU8>,
    clients: Vec<JoinHandle<Vec<Outcome>>>,
}

impl Load {
    /// Starts `clients` clients, each going round `probes` from its own place, for at most
    /// `limit`.
    pub fn start(clients: usize, probes: Vec<Probe>, limit: Duration) -> Self {
        voicegate::install_tls_provider();
        let phase = Arc::new(AtomicU8::new(Phase::Up as u8));
        let probes = Arc::new(probes);
        let deadline = Instant::now() + limit;
        let clients = (0..clients)
            .map(|n| {
                let (phase, probes) = (phase.clone(), probes.clone());
                tokio::spawn(async move { run_client(n, &phase, &probes, deadline).await })
            })
            .collect();
        Self { phase, clients }
    }

    /// Enters `phase`; returns when.
    pub fn enter(&self, phase: Phase) -> Instant {
        self.phase.store(phase as u8, Ordering::SeqCst);
        Instant::now()
    }

    /// Stops the clients; every outcome, in no particular order.
    pub async fn finish(self) -> Vec<Outcome> {
        self.enter(Phase::Done);
        let mut all = Vec::new();
        for client in self.clients {
            all.extend(client.await.expect("a load client"));
        }
        all
    }
}

async fn run_client(
    n: usize,
    phase: &AtomicU8,
    probes: &[Probe],
    deadline: Instant,
) -> Vec<Outcome> {
    let http = Client::new();
    let mut outcomes = Vec::new();
    for i in 0..MAX_REQUESTS {
        let sent_in = Phase::from_u8(phase.load(Ordering::SeqCst));
        if sent_in == Phase::Done || Instant::now() >= deadline {
            break;
        }
        if sent_in == Phase::Paused {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let probe = &probes[(n + i) % probes.len()];
        let started = Instant::now();
        let answer = tokio::time::timeout(CLIENT_LIMIT, async {
            let response = (probe.make)(&http).send().await.ok()?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            Some((status, body))
        })
        .await
        .ok()
        .flatten();
        let latency = started.elapsed();
        let answered_in = Phase::from_u8(phase.load(Ordering::SeqCst));
        let (status, body) = match answer {
            Some((status, body)) => (Some(status), body),
            None => (None, Value::Null),
        };
        outcomes.push(Outcome {
            probe: probe.name,
            ok: status == Some(probe.ok),
            started,
            latency,
            status,
            error: body["error"].as_str().map(str::to_string),
            detail: body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            sent_in,
            answered_in,
        });
        tokio::time::sleep(PACE).await;
    }
    outcomes
}

/// What the fault tests require of every answer: the probe's success or a 503 with the
/// expected error code and a detail, each 503 within `fail_fast` of the later of its sending and
/// the fault (`fault_at`: a request queued before it may have waited its turn), nothing slower
/// than `limit`. Returns the longest such wait for a 503.
pub fn check_every_answer(
    outcomes: &[Outcome],
    unavailable_code: &str,
    fault_at: Instant,
    fail_fast: Duration,
    limit: Duration,
) -> Duration {
    let mut slowest_503 = Duration::ZERO;
    for o in outcomes {
        assert!(
            o.status.is_some(),
            "no answer within {CLIENT_LIMIT:?}: {o:?}"
        );
        assert!(o.latency <= limit, "slower than the request timeout: {o:?}");
        if o.ok {
            continue;
        }
        assert_eq!(o.status, Some(StatusCode::SERVICE_UNAVAILABLE), "{o:?}");
        assert_eq!(o.error.as_deref(), Some(unavailable_code), "{o:?}");
        assert!(o.detail, "a 503 without a detail: {o:?}");
        let wait = o.wait_since(fault_at);
        assert!(
            wait <= fail_fast,
            "a 503 {wait:?} after the fault or its sending: {o:?}"
        );
        slowest_503 = slowest_503.max(wait);
    }
    slowest_503
}

/// The longest wait for a 503 of each probe that had one (as [`check_every_answer`] counts
/// it), longest first.
pub fn slowest_503s(outcomes: &[Outcome], fault_at: Instant) -> Vec<(&'static str, Duration)> {
    let mut slowest: Vec<(&'static str, Duration)> = Vec::new();
    for o in outcomes
        .iter()
        .filter(|o| o.status == Some(StatusCode::SERVICE_UNAVAILABLE))
    {
        let wait = o.wait_since(fault_at);
        match slowest.iter_mut().find(|(probe, _)| *probe == o.probe) {
            Some((_, longest)) => *longest = (*longest).max(wait),
            None => slowest.push((o.probe, wait)),
        }
    }
    slowest.sort_by_key(|b| std::cmp::Reverse(b.1));
    slowest
}

/// The requests sent while the peer was down (from `gone`, when it was dead, until it was
/// started again): every one a 503 (but those of `always_ok`, which need no peer), at least
/// `at_least` of them. Returns how many.
pub fn check_down(
    outcomes: &[Outcome],
    gone: Instant,
    always_ok: &[&str],
    at_least: usize,
) -> usize {
    let down: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.sent_in == Phase::Down && o.started >= gone)
        .collect();
    for o in &down {
        if always_ok.contains(&o.probe) {
            assert!(o.ok, "{o:?}");
        } else {
            assert_eq!(o.status, Some(StatusCode::SERVICE_UNAVAILABLE), "{o:?}");
        }
    }
    assert!(
        down.len() >= at_least,
        "only {} requests while down",
        down.len()
    );
    down.len()
}

/// The requests answered while the peer was up, before the fault, and those sent after it was
/// back: all successes, every probe among those after. Returns how many were answered after the peer
/// was back.
pub fn check_up_and_recovered(outcomes: &[Outcome], probes: &[&str]) -> usize {
    for o in outcomes.iter().filter(|o| o.answered_in == Phase::Up) {
        assert!(o.ok, "a failure before the fault: {o:?}");
    }
    let after: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.sent_in == Phase::Recovered)
        .collect();
    for o in &after {
        assert!(o.ok, "a failure after the peer was back: {o:?}");
    }
    for probe in probes {
        assert!(
            after.iter().any(|o| o.probe == *probe),
            "{probe} never ran after the peer was back"
        );
    }
    after.len()
}
