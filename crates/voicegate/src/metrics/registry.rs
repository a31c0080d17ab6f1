//! [`Metrics`]: every series `GET /metrics` shows, in one registry per server. The instruments
//! live where their figures are made (the edge's requests, the engines' syntheses, the queue's
//! runs) and are registered here; the states of other parts (the bus, Snapcast, the events hub,
//! the process) are read when scraped rather than pushed.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use crate::engines::Engines;
use crate::events::EventHub;
use crate::jobs::Jobs;
use crate::metrics::http::HttpMeasures;
use crate::metrics::process::ProcessFigures;
use crate::ovos::OvosService;
use crate::speakers::SpeakersService;

/// The `Content-Type` of the answer: Prometheus's text exposition format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// What the metrics are read from.
pub struct Sources {
    /// The bus connection's state.
    pub ovos: Arc<OvosService>,
    /// The speaker system's connection state.
    pub speakers: Arc<SpeakersService>,
    /// The events hub's subscribers.
    pub events: EventHub,
    /// The syntheses and their slots.
    pub engines: Arc<Engines>,
    /// The job queue.
    pub jobs: Jobs,
}

/// The labels of a queue-depth gauge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DepthLabels {
    kind: String,
    state: &'static str,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    http: Arc<HttpMeasures>,
    jobs: Jobs,
    depth: Family<DepthLabels, Gauge>,
    /// One scrape at a time: the depth gauges are refilled, then encoded.
    scraping: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Every series, registered over `sources`.
    pub fn new(sources: Sources) -> Self {
        let mut registry = Registry::default();
        let http = Arc::new(HttpMeasures::default());
        registry.register(
            "voicegate_http_requests",
            "HTTP requests answered, by method, route template (`unmatched` for none) and status",
            http.requests.clone(),
        );
        registry.register(
            "voicegate_http_request_duration_seconds",
            "Seconds from a request's arrival to its response head, by method and route template",
            http.durations.clone(),
        );
        let synthesis = sources.engines.measures();
        registry.register(
            "voicegate_synthesis_seconds",
            "Seconds each finished synthesis took in its engine slot",
            synthesis.seconds.clone(),
        );
        registry.register(
            "voicegate_synthesis_real_time_factor",
            "Synthesis seconds per second of audio made, per finished synthesis",
            synthesis.real_time_factor.clone(),
        );
        registry.register(
            "voicegate_synthesis_audio_seconds",
            "Seconds of audio synthesized",
            synthesis.audio_seconds.clone(),
        );
        registry.register(
            "voicegate_job_run_duration_seconds",
            "Seconds this instance's workers ran a job, by kind and outcome (done, failed, \
             lost: its lease lapsed, released: put back at shutdown)",
            sources.jobs.measures().runs.clone(),
        );
        let depth = Family::<DepthLabels, Gauge>::default();
        registry.register(
            "voicegate_jobs",
            "Jobs queued or running now, by kind and state, across every instance of the database",
            depth.clone(),
        );
        let info = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        info.get_or_create(&[("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        registry.register("voicegate_build_info", "voicegate's version", info);
        let jobs = sources.jobs.clone();
        registry.register_collector(Box::new(States::new(sources)));
        Self {
            registry,
            http,
            jobs,
            depth,
            scraping: tokio::sync::Mutex::new(()),
        }
    }

    /// The request instruments, for the edge layer.
    pub fn http(&self) -> &Arc<HttpMeasures> {
        &self.http
    }

    /// Every series now, in the text exposition format. The queue depth is read from the
    /// database; when it cannot be, its series are left out and the rest is shown.
    pub async fn render(&self) -> String {
        let _one_at_a_time = self.scraping.lock().await;
        self.depth.clear();
        match self.jobs.depth().await {
            Ok(depth) => {
                for ((kind, state), jobs) in depth {
                    self.depth
                        .get_or_create(&DepthLabels { kind, state })
                        .set(jobs);
                }
            }
            Err(error) => tracing::warn!(%error, "metrics: the job queue could not be read"),
        }
        let mut text = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// The states read when scraped.
struct States {
    ovos: Arc<OvosService>,
    speakers: Arc<SpeakersService>,
    events: EventHub,
    engines: Arc<Engines>,
    /// Unix time the server was built, in seconds.
    started: f64,
}

impl std::fmt::Debug for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("States").finish_non_exhaustive()
    }
}

impl States {
    fn new(sources: Sources) -> Self {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        Self {
            ovos: sources.ovos,
            speakers: sources.speakers,
            events: sources.events,
            engines: sources.engines,
            started,
        }
    }
}

/// Writes one unlabelled gauge.
fn gauge<N>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: N,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<N>: EncodeMetric,
{
    let gauge = ConstGauge::new(value);
    let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
    gauge.encode(metric)
}

impl Collector for States {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let bus = i64::from(self.ovos.bus().is_connected());
        let help = "1 while the Open Voice OS message bus is connected, else 0";
        gauge(&mut encoder, "voicegate_bus_connected", help, bus)?;
        if let Some(up) = self.speakers.backend_connected() {
            let help = "1 while snapserver's control connection is up, else 0 (Snapcast only)";
            gauge(
                &mut encoder,
                "voicegate_snapcast_connected",
                help,
                i64::from(up),
            )?;
        }
        let subscribers = self.events.subscriber_count() as i64;
        let help = "Event streams (GET /v1/events) open on this instance";
        gauge(
            &mut encoder,
            "voicegate_events_subscribers",
            help,
            subscribers,
        )?;
        let slots = self.engines.slots_in_use() as i64;
        let help = "Synthesis slots taken now";
        gauge(
            &mut encoder,
            "voicegate_synthesis_slots_in_use",
            help,
            slots,
        )?;
        let help = "Unix time the server started, in seconds";
        gauge(
            &mut encoder,
            "voicegate_start_time_seconds",
            help,
            self.started,
        )?;
        let process = ProcessFigures::read();
        if let Some(bytes) = process.resident_bytes {
            let help = "Resident memory of the process, in bytes";
            gauge(&mut encoder, "process_resident_memory_bytes", help, bytes)?;
        }
        if let Some(bytes) = process.virtual_bytes {
            let help = "Virtual memory of the process, in bytes";
            gauge(&mut encoder, "process_virtual_memory_bytes", help, bytes)?;
        }
        if let Some(fds) = process.open_fds {
            let help = "Open file descriptors of the process";
            gauge(&mut encoder, "process_open_fds", help, fds)?;
        }
        Ok(())
    }
}
