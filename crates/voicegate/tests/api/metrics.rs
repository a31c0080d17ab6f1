//! `GET /metrics`: the text exposition parses (with Python's `prometheus_client`, an independent
//! parser, and with a small one here that must agree with it), its series move with traffic,
//! jobs, syntheses, event streams and the peers' connections, and only this machine reads it
//! without an `admin` token.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use testkit::{OvosBus, Snapserver, TestServer, free_port, run_python};
use voicegate::config::{Config, SpeakerBackendKind};
use voicegate::identity::Role;
use voicegate::jobs::{JobId, JobStatus};

use crate::support::{client, error_body, tokens};

/// One sample: its name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of an exposition (comments skipped). Panics on a line it cannot read.
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| parse_line(line).unwrap_or_else(|| panic!("unreadable line {line:?}")))
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        loop {
            let (i, c) = chars.next()?;
            match c {
                '}' => {
                    rest = &inner[i + 1..];
                    break;
                }
                ',' => {}
                '=' => {
                    let (_, quote) = chars.next()?;
                    if quote != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        }
    }
    let value = match rest.trim() {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        number => number.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// The samples named `name` whose labels include `labels`.
fn matching<'a>(
    samples: &'a [Sample],
    name: &'a str,
    labels: &'a [(&str, &str)],
) -> impl Iterator<Item = &'a Sample> {
    samples.iter().filter(move |s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

/// The sum of the samples named `name` with `labels` (0 when there is none).
fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    matching(samples, name, labels).map(|s| s.value).sum()
}

/// The one sample named `name` with `labels`, if there is one.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<&Sample> = matching(samples, name, labels).collect();
    assert!(found.len() <= 1, "several {name} {labels:?}: {found:?}");
    found.first().map(|s| s.value)
}

/// `/metrics` from this machine: 200 in the text format, parsed.
async fn scrape(server: &TestServer) -> Vec<Sample> {
    let response = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    parse(&response.text().await.unwrap())
}

/// Scrapes until `ready` holds, at most 10 s.
async fn scrape_until(server: &TestServer, ready: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let samples = scrape(server).await;
        if ready(&samples) {
            return samples;
        }
        assert!(Instant::now() < deadline, "never ready: {samples:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What Python's `prometheus_client` parser reads from `text`: (family, type, samples).
const PYTHON_PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
with open(sys.argv[1]) as f:
    text = f.read()
families = []
for family in text_string_to_metric_families(text):
    samples = [[s.name, s.labels, repr(float(s.value))] for s in family.samples]
    families.append([family.name, family.type, samples])
print(json.dumps(families))
"#;

/// A family as the Python snippet prints it: name, type, samples (name, labels, value). The
/// value travels as Python's shortest round-trip text (`repr`), parsed here exactly: a JSON
/// number would go through serde_json's float reader, which may land one unit in the last
/// place off.
type PythonFamily = (
    String,
    String,
    Vec<(String, BTreeMap<String, String>, String)>,
);

/// The families Python's parser reads: name → (type, samples).
fn python_families(text: &str) -> BTreeMap<String, (String, Vec<Sample>)> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    let out = run_python(PYTHON_PARSE, &[file.path().to_str().unwrap()]);
    let families: Vec<PythonFamily> = serde_json::from_str(&out).unwrap();
    families
        .into_iter()
        .map(|(name, kind, samples)| {
            let samples = samples
                .into_iter()
                .map(|(name, labels, value)| Sample {
                    name,
                    labels,
                    // repr writes inf for +Inf, which Rust reads too.
                    value: value.parse().expect("a float"),
                })
                .collect();
            (name, (kind, samples))
        })
        .collect()
}

/// A server with a user's and an admin's tokens.
async fn server_with_tokens(adjust: impl FnOnce(&mut Config)) -> (TestServer, String, String) {
    let server = TestServer::start_with(adjust).await;
    server.add_user("ana", "ana-password-1").await;
    server
        .state
        .identity
        .add_user("root", "root-password-1", Role::Admin)
        .await
        .unwrap();
    let (user, _) = tokens(&server, "ana", "ana-password-1").await;
    let (admin, _) = tokens(&server, "root", "root-password-1").await;
    (server, user, admin)
}

async fn get(server: &TestServer, path: &str, token: Option<&str>) -> StatusCode {
    let mut request = client().get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn requests_count_under_their_route_template_and_status() {
    let (server, token, _) = server_with_tokens(|_| {}).await;
    let me = [("method", "GET"), ("route", "/v1/auth/me")];
    let ok = [me[0], me[1], ("status", "200")];
    let refused = [me[0], me[1], ("status", "401")];
    let unmatched = [("route", "unmatched"), ("status", "404")];
    let before = scrape(&server).await;
    for _ in 0..5 {
        assert_eq!(
            get(&server, "/v1/auth/me", Some(&token)).await,
            StatusCode::OK
        );
    }
    for _ in 0..2 {
        let status = get(&server, "/v1/auth/me", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for i in 0..3 {
        let status = get(&server, &format!("/no/such/page-{i}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Two ids of one templated route: one series.
    for id in ["7", "8"] {
        let status = get(&server, &format!("/v1/user/{id}/accesstoken"), None).await;
        assert_ne!(status, StatusCode::NOT_FOUND);
    }
    let after = scrape(&server).await;
    let requests = "voicegate_http_requests_total";
    let delta =
        |labels: &[(&str, &str)]| sum(&after, requests, labels) - sum(&before, requests, labels);
    assert_eq!(delta(&ok), 5.0);
    assert_eq!(delta(&refused), 2.0);
    assert_eq!(delta(&unmatched), 3.0);
    assert_eq!(delta(&[("route", "/v1/user/{user_id}/accesstoken")]), 2.0);
    let routes: Vec<&String> = after.iter().filter_map(|s| s.labels.get("route")).collect();
    assert!(
        routes
            .iter()
            .all(|r| !r.contains("page-") && !r.contains("/7/") && !r.contains("/8/")),
        "a raw path became a label: {routes:?}"
    );

    // The time histogram of the route: 7 requests, in cumulative buckets ending at +Inf.
    let durations = "voicegate_http_request_duration_seconds";
    let count = |s: &[Sample]| sum(s, &format!("{durations}_count"), &me);
    assert_eq!(count(&after) - count(&before), 7.0);
    let buckets: Vec<&Sample> = matching(
        &after,
        "voicegate_http_request_duration_seconds_bucket",
        &me,
    )
    .collect();
    assert!(buckets.len() > 5, "{buckets:?}");
    assert!(
        buckets.windows(2).all(|w| w[0].value <= w[1].value),
        "{buckets:?}"
    );
    let last = buckets.last().unwrap();
    assert_eq!(last.labels["le"], "+Inf");
    assert_eq!(last.value, count(&after));
    assert!(sum(&after, &format!("{durations}_sum"), &me) > 0.0);
}

#[tokio::test]
async fn python_prometheus_client_reads_what_the_parser_here_reads() {
    let (server, token, _) = server_with_tokens(|_| {}).await;
    assert_eq!(
        get(&server, "/v1/auth/me", Some(&token)).await,
        StatusCode::OK
    );
    assert_eq!(
        get(&server, "/no/such/page", None).await,
        StatusCode::NOT_FOUND
    );
    let text = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let families = python_families(&text);
    let kind = |name: &str| families.get(name).map(|(kind, _)| kind.as_str());
    assert_eq!(kind("voicegate_http_requests"), Some("counter"));
    assert_eq!(
        kind("voicegate_http_request_duration_seconds"),
        Some("histogram")
    );
    assert_eq!(kind("voicegate_synthesis_seconds"), Some("histogram"));
    assert_eq!(
        kind("voicegate_synthesis_real_time_factor"),
        Some("histogram")
    );
    assert_eq!(kind("voicegate_synthesis_audio_seconds"), Some("counter"));
    // No job has run: a family without series is left out.
    assert_eq!(kind("voicegate_job_run_duration_seconds"), None);
    for gauge in [
        "voicegate_jobs",
        "voicegate_bus_connected",
        "voicegate_events_subscribers",
        "voicegate_synthesis_slots_in_use",
        "voicegate_start_time_seconds",
        "voicegate_build_info",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
    ] {
        assert_eq!(kind(gauge), Some("gauge"), "{gauge}");
    }
    // Both parsers read the same samples, in the same order.
    let python: Vec<Sample> = families.into_values().flat_map(|(_, s)| s).collect();
    let mut here = parse(&text);
    let key = |s: &Sample| (s.name.clone(), format!("{:?}", s.labels));
    let mut python = python;
    python.sort_by_key(key);
    here.sort_by_key(key);
    assert_eq!(python, here);
    assert!(here.len() > 40, "{}", here.len());
}

/// Polls the job until it leaves the queue, at most 10 s.
async fn finished(server: &TestServer, id: &JobId) -> JobStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let job = server.state.jobs.get(id).await.unwrap().unwrap();
        if matches!(job.status, JobStatus::Done | JobStatus::Failed) {
            return job.status;
        }
        assert!(Instant::now() < deadline, "the job stayed {:?}", job.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_job_run_moves_the_run_histogram_and_waiting_jobs_the_depth() {
    let server = TestServer::start().await;
    let failed = [("kind", "voice_build"), ("outcome", "failed")];
    let runs = "voicegate_job_run_duration_seconds_count";
    let before = scrape(&server).await;
    assert_eq!(sum(&before, runs, &failed), 0.0);
    // A build job without a build fails at once in the worker.
    let id = server
        .state
        .jobs
        .enqueue("voice_build", None, json!({}))
        .await
        .unwrap();
    assert_eq!(finished(&server, &id).await, JobStatus::Failed);
    let after = scrape_until(&server, |s| sum(s, runs, &failed) > 0.0).await;
    assert_eq!(sum(&after, runs, &failed), 1.0);
    let queued = [("kind", "voice_build"), ("state", "queued")];
    assert_eq!(value(&after, "voicegate_jobs", &queued), Some(0.0));
    let text = client().get(server.url("/metrics")).send().await.unwrap();
    let families = python_families(&text.text().await.unwrap());
    let (kind, samples) = &families["voicegate_job_run_duration_seconds"];
    assert_eq!(kind, "histogram");
    assert!(
        samples
            .iter()
            .any(|s| s.labels.get("outcome").is_some_and(|o| o == "failed"))
    );

    // With no workers, queued jobs wait: the depth counts them.
    let idle = TestServer::start_with(|config| config.jobs.workers = 0).await;
    for _ in 0..2 {
        idle.state
            .jobs
            .enqueue("voice_build", None, json!({}))
            .await
            .unwrap();
    }
    let samples = scrape(&idle).await;
    assert_eq!(value(&samples, "voicegate_jobs", &queued), Some(2.0));
    let running = [("kind", "voice_build"), ("state", "running")];
    assert_eq!(value(&samples, "voicegate_jobs", &running), Some(0.0));
}

#[tokio::test]
async fn syntheses_move_the_synthesis_histograms() {
    let (server, token, _) = server_with_tokens(|_| {}).await;
    let before = scrape(&server).await;
    for stream in ["false", "true"] {
        let query = format!("download_token=espeak:en-us&script=Hello+there&stream={stream}");
        let response = client()
            .get(server.url(&format!("/api/v1/external/synthesis/?{query}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        assert!(response.bytes().await.unwrap().len() > 10_000);
    }
    // The streamed synthesis is recorded when its engine finishes, just after its last byte.
    let count = |s: &[Sample]| sum(s, "voicegate_synthesis_seconds_count", &[]);
    let after = scrape_until(&server, |s| count(s) >= count(&before) + 2.0).await;
    assert_eq!(count(&after) - count(&before), 2.0);
    let factors = "voicegate_synthesis_real_time_factor_count";
    assert_eq!(sum(&after, factors, &[]) - sum(&before, factors, &[]), 2.0);
    // "Hello there" is most of a second of audio each time.
    let audio = "voicegate_synthesis_audio_seconds_total";
    let made = sum(&after, audio, &[]) - sum(&before, audio, &[]);
    assert!((1.0..4.0).contains(&made), "{made} s of audio");
    let factor = sum(&after, "voicegate_synthesis_real_time_factor_sum", &[]);
    assert!(factor > 0.0, "{factor}");
    assert_eq!(
        value(&after, "voicegate_synthesis_slots_in_use", &[]),
        Some(0.0)
    );
}

#[tokio::test]
async fn an_event_stream_shows_in_the_subscribers_gauge_until_it_closes() {
    let (server, token, _) = server_with_tokens(|_| {}).await;
    let subscribers = |s: &[Sample]| value(s, "voicegate_events_subscribers", &[]);
    assert_eq!(subscribers(&scrape(&server).await), Some(0.0));
    let stream = crate::events::Stream::open(&server.base, &token, "").await;
    assert_eq!(subscribers(&scrape(&server).await), Some(1.0));
    drop(stream);
    scrape_until(&server, |s| subscribers(s) == Some(0.0)).await;
}

#[tokio::test]
async fn process_memory_descriptors_and_start_time_are_shown() {
    let server = TestServer::start().await;
    let samples = scrape(&server).await;
    let resident = value(&samples, "process_resident_memory_bytes", &[]).unwrap();
    assert!(resident > 10.0 * 1024.0 * 1024.0, "{resident}");
    let virtual_bytes = value(&samples, "process_virtual_memory_bytes", &[]).unwrap();
    assert!(virtual_bytes >= resident);
    assert!(value(&samples, "process_open_fds", &[]).unwrap() >= 3.0);
    let started = value(&samples, "voicegate_start_time_seconds", &[]).unwrap();
    let now = server.clock_now() as f64;
    assert!((now - 600.0..now + 600.0).contains(&started), "{started}");
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(value(&samples, "voicegate_build_info", &version), Some(1.0));
}

#[tokio::test]
async fn the_bus_state_follows_the_connection() {
    let closed = free_port();
    let server = TestServer::start_with(|config| config.ovos.ws_port = closed).await;
    let bus = |s: &[Sample]| value(s, "voicegate_bus_connected", &[]);
    assert_eq!(bus(&scrape(&server).await), Some(0.0));
    // The speakers are this machine's: there is no Snapcast series.
    assert_eq!(
        value(&scrape(&server).await, "voicegate_snapcast_connected", &[]),
        None
    );

    let mut real = OvosBus::start().await;
    let (server, _) = crate::ovos::server_on(real.port, "key", |_| {}).await;
    scrape_until(&server, |s| bus(s) == Some(1.0)).await;
    real.stop().await;
    scrape_until(&server, |s| bus(s) == Some(0.0)).await;
}

#[tokio::test]
async fn the_snapcast_state_follows_the_control_connection() {
    let mut snap = Snapserver::start(1, 300).await;
    let stream = format!("S1=tcp://127.0.0.1:{}", snap.sources[0].1);
    let address = snap.control_address();
    let server = TestServer::start_with(|config| {
        config.speakers.backend = SpeakerBackendKind::Snapcast;
        config.speakers.snapcast_control = address;
        config.speakers.snapcast_streams = vec![stream];
    })
    .await;
    let up = |s: &[Sample]| value(s, "voicegate_snapcast_connected", &[]);
    scrape_until(&server, |s| up(s) == Some(1.0)).await;
    snap.stop().await;
    scrape_until(&server, |s| up(s) == Some(0.0)).await;
}

/// `/metrics` as a client behind the proxy at 127.0.0.1 (`X-Forwarded-For: <client>`).
async fn via_proxy(
    server: &TestServer,
    client_addr: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .get(server.url("/metrics"))
        .header("x-forwarded-for", client_addr);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn away_from_this_machine_only_an_admin_token_reads_the_metrics() {
    let (server, user, admin) =
        server_with_tokens(|config| config.http.trusted_proxies = vec!["127.0.0.0/8".into()]).await;
    let remote = "203.0.113.9";
    let (code, body) = error_body(
        via_proxy(&server, remote, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "unauthorized", "{body}");
    let response = via_proxy(&server, remote, Some(&user)).await;
    let (code, _) = error_body(response, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "insufficient_scope");
    let response = via_proxy(&server, remote, Some(&admin)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("voicegate_http_requests_total")
    );
    // A client on the proxy's machine is forwarded too: the proxy does not make it local.
    let response = via_proxy(&server, "127.0.0.1", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Straight from this machine, no credential is needed.
    assert_eq!(get(&server, "/metrics", None).await, StatusCode::OK);
}

#[tokio::test]
async fn a_proxy_not_listed_as_trusted_does_not_make_its_clients_local() {
    let (server, _, admin) = server_with_tokens(|_| {}).await;
    let response = via_proxy(&server, "203.0.113.9", None).await;
    error_body(response, StatusCode::UNAUTHORIZED).await;
    let response = via_proxy(&server, "203.0.113.9", Some(&admin)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn turned_off_the_metrics_are_not_served() {
    let server = TestServer::start_with(|config| config.metrics.enabled = false).await;
    let response = client().get(server.url("/metrics")).send().await.unwrap();
    let (code, _) = error_body(response, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "not_found");
    assert!(server.state.metrics.is_none());
}
