//! Builds the speakers surface from its configuration: this machine's output (the default), or
//! Snapcast (its control connection starts in the background: the routes answer 503 until
//! snapserver is reached), with voicegate's own snapserver when it manages one
//! (`speakers.manage_snapserver`).

use std::sync::Arc;
use std::time::Duration;

use crate::address_policy::AllowEntryError;
use crate::config::{Config, LocalOutput, SpeakerBackendKind, SpeakersConfig};
use crate::engines::Engines;
use crate::events::EventHub;
use crate::speakers::SpeakersService;
use crate::speakers::backend::SpeakerBackend;
use crate::speakers::device::wire_to_percent;
use crate::speakers::events::follow_snapcast;
use crate::speakers::feeder::sink::SinkSpec;
use crate::speakers::feeder::{Feeder, FeederSettings};
use crate::speakers::local::{LOCAL_STREAM, LocalBackend};
use crate::speakers::media::Media;
use crate::speakers::snapcast::backend::SnapcastBackend;
use crate::speakers::snapcast::control::{ControlSettings, SnapcastControl};
use crate::speakers::snapcast::managed::{ManagedError, ManagedSettings, ManagedSnapserver};
use crate::speakers::streams::Streams;
use crate::store::Db;

/// Why the speakers surface could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The managed snapserver (its files, its program).
    #[error(transparent)]
    Managed(#[from] ManagedError),
    /// An entry of `speakers.web_media_allow` or `speakers.web_media_deny`.
    #[error("speakers.web_media_allow or speakers.web_media_deny: {0}")]
    WebMediaList(#[from] AllowEntryError),
}

/// The speakers service `config` describes, publishing on `events`, its sessions in `db`, and
/// the snapserver it runs when it manages one. The hub media folder defaults to one in `data_dir`.
pub fn open(
    config: &Config,
    engines: Arc<Engines>,
    events: EventHub,
    db: Db,
) -> Result<(SpeakersService, Option<ManagedSnapserver>), SetupError> {
    let media = Media::new(&config.speakers, &config.data_dir)?;
    let managed = if config.speakers.manage_snapserver {
        let settings = ManagedSettings::new(&config.speakers, &config.data_dir);
        Some(ManagedSnapserver::start(settings)?)
    } else {
        None
    };
    let config = config.speakers.resolved();
    let (backend, streams) = match config.backend {
        SpeakerBackendKind::Local => local(&config, &events),
        SpeakerBackendKind::Snapcast => snapcast(&config, &events),
    };
    let service = SpeakersService::new(backend, streams, engines, events, media, db, &config);
    Ok((service, managed))
}

/// The raw PCM `aplay` reads: the streams' format.
const APLAY: [&str; 10] = [
    "aplay", "-q", "-t", "raw", "-f", "S16_LE", "-r", "48000", "-c", "2",
];

fn local(config: &SpeakersConfig, events: &EventHub) -> (Arc<dyn SpeakerBackend>, Streams) {
    let (sink, missing) = match config.local_output().unwrap_or(LocalOutput::Aplay) {
        LocalOutput::Aplay => {
            let missing = (!on_path(APLAY[0])).then(|| {
                "this machine has no aplay: install alsa-utils, or set speakers.local_output \
                 (or speakers.backend = \"snapcast\")"
                    .to_string()
            });
            let argv = APLAY.iter().map(|s| s.to_string()).collect();
            (SinkSpec::Program(argv), missing)
        }
        LocalOutput::Wav(path) => (SinkSpec::Wav(path), None),
        LocalOutput::Null => (SinkSpec::Null, None),
    };
    let feeder = Feeder::start(FeederSettings::new(sink, config.latency()));
    let name = if config.local_name.trim().is_empty() {
        host_name()
    } else {
        config.local_name.trim().to_string()
    };
    let mut backend = LocalBackend::new(
        feeder.clone(),
        name,
        wire_to_percent(config.max_volume),
        events.clone(),
    );
    if let Some(why) = missing {
        tracing::info!("{why}");
        backend = backend.unavailable(why);
    }
    (
        Arc::new(backend),
        Streams::of(vec![(LOCAL_STREAM.to_string(), feeder)]),
    )
}

fn snapcast(config: &SpeakersConfig, events: &EventHub) -> (Arc<dyn SpeakerBackend>, Streams) {
    let mut settings = ControlSettings::new(config.snapcast_control.clone());
    settings.request_timeout = Duration::from_millis(config.snapcast_timeout_ms);
    settings.reconnect_max = Duration::from_millis(config.snapcast_reconnect_max_ms);
    let control = SnapcastControl::start(settings);
    follow_snapcast(events.clone(), control.notifications());
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

/// Whether `program` is an executable file in one of `PATH`'s folders.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
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
