//! Builds the speakers surface from its configuration: this machine's output (the default), or
//! Snapcast (its control connection starts in the background: the routes answer 503 until
//! snapserver is reached).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::address_policy::AllowEntryError;
use crate::config::{LocalOutput, SpeakerBackendKind, SpeakersConfig};
use crate::engines::Engines;
use crate::speakers::SpeakersService;
use crate::speakers::backend::SpeakerBackend;
use crate::speakers::device::wire_to_percent;
use crate::speakers::feeder::sink::SinkSpec;
use crate::speakers::feeder::{Feeder, FeederSettings};
use crate::speakers::local::{LOCAL_STREAM, LocalBackend};
use crate::speakers::media::Media;
use crate::speakers::snapcast::backend::SnapcastBackend;
use crate::speakers::snapcast::control::{ControlSettings, SnapcastControl};
use crate::speakers::streams::Streams;

/// The speakers service `config` describes (the hub media folder defaults to one in
/// `data_dir`); an error when a web media list entry is not valid.
pub fn open(
    config: &SpeakersConfig,
    data_dir: &Path,
    engines: Arc<Engines>,
) -> Result<SpeakersService, AllowEntryError> {
    let media = Media::new(config, data_dir)?;
    let (backend, streams) = match config.backend {
        SpeakerBackendKind::Local => local(config),
        SpeakerBackendKind::Snapcast => snapcast(config),
    };
    Ok(SpeakersService::new(
        backend, streams, engines, media, config,
    ))
}

/// The raw PCM `aplay` reads: the streams' format.
const APLAY: [&str; 10] = [
    "aplay", "-q", "-t", "raw", "-f", "S16_LE", "-r", "48000", "-c", "2",
];

fn local(config: &SpeakersConfig) -> (Arc<dyn SpeakerBackend>, Streams) {
    let sink = match config.local_output().unwrap_or(LocalOutput::Aplay) {
        LocalOutput::Aplay => SinkSpec::Program(APLAY.iter().map(|s| s.to_string()).collect()),
        LocalOutput::Wav(path) => SinkSpec::Wav(path),
        LocalOutput::Null => SinkSpec::Null,
    };
    let feeder = Feeder::start(FeederSettings::new(sink, config.latency()));
    let name = if config.local_name.trim().is_empty() {
        host_name()
    } else {
        config.local_name.trim().to_string()
    };
    let backend = LocalBackend::new(feeder.clone(), name, wire_to_percent(config.max_volume));
    (
        Arc::new(backend),
        Streams::of(vec![(LOCAL_STREAM.to_string(), feeder)]),
    )
}

fn snapcast(config: &SpeakersConfig) -> (Arc<dyn SpeakerBackend>, Streams) {
    let mut settings = ControlSettings::new(config.snapcast_control.clone());
    settings.request_timeout = Duration::from_millis(config.snapcast_timeout_ms);
    let control = SnapcastControl::start(settings);
    let sources = config.streams().unwrap_or_default();
    let session_streams = sources.iter().map(|(name, _)| name.clone()).collect();
    let backend =
        SnapcastBackend::new(control, wire_to_percent(config.max_volume), session_streams);
    let streams = Streams::new(
        sources
            .into_iter()
            .map(|(name, address)| {
                (
                    name,
                    FeederSettings::new(SinkSpec::Tcp(address), config.latency()),
                )
            })
            .collect(),
    );
    (Arc::new(backend), streams)
}

/// This machine's host name (the local speaker's name when none is configured).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "This machine".into())
}
