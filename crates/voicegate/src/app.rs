//! Building the application from a [`Config`] and running it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::address_policy::AddressBlocks;
use crate::assistants::asr_files::{ASR_DIR, AsrFiles};
use crate::assistants::model_files::{MODEL_DIR, ModelFiles};
use crate::assistants::repo::AssistantsRepo;
use crate::assistants::{AssistantsParts, AssistantsService};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::engines::Engines;
use crate::events::EventHub;
use crate::http;
use crate::http::client_addr::ForwardedFor;
use crate::identity::signing_key::{self, KeySource};
use crate::identity::{IdentityError, IdentityService, UserSource};
use crate::jobs::Jobs;
use crate::metrics::registry::{Metrics, Sources};
use crate::ovos::OvosService;
use crate::speakers;
use crate::speakers::setup::SetupError;
use crate::speakers::snapcast::managed::ManagedSnapserver;
use crate::state::{AppState, Services};
use crate::store::blobs::{BLOB_DIR, Blobs};
use crate::store::data_lock::{DataDirLock, LockError};
use crate::store::instances::Instances;
use crate::store::temporaries;
use crate::store::{Db, StoreError};
use crate::voices::licence::LicenceKey;
use crate::voices::put_url::PutUrl;
use crate::voices::repo::VoicesRepo;
use crate::voices::{VoicesParts, VoicesService};
use crate::wyoming::{WyomingContext, WyomingServer};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or the listening socket.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Identity (signing key, USERS_DB).
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The voices surface (licence key, put_url allowlist).
    #[error("voices: {0}")]
    Voices(String),
    /// The speakers surface (the managed snapserver, the web media lists).
    #[error("speakers: {0}")]
    Speakers(#[from] SetupError),
    /// The data directory's lock: held by a restore, or its file cannot be opened.
    #[error("data directory: {0}")]
    Locked(#[from] LockError),
}

/// The store and identity service over a data directory: what `serve` and every CLI command
/// share. Creates the directory (mode 0700) if needed.
pub async fn open_identity(
    config: &Config,
    clock: SharedClock,
) -> Result<(Db, Arc<IdentityService>, KeySource), StartError> {
    create_data_dir(config)?;
    let db = Db::open(config).await?;
    let (key, source) = signing_key::load(config)?;
    let identity = Arc::new(IdentityService::new(db.clone(), clock, config, &key).await?);
    Ok((db, identity, source))
}

/// The voices service: the blob store, the job queue, the licence key and the put_url uploader,
/// over the shared engines (they start at first use; when they cannot, the surface answers 503
/// and the rest of the server runs).
async fn open_voices(
    config: &Config,
    db: &Db,
    shared: &Shared,
    clock: SharedClock,
) -> Result<VoicesService, StartError> {
    let licence = LicenceKey::load_or_generate(&config.data_dir)
        .map_err(|e| StartError::Voices(e.to_string()))?;
    let put_url = PutUrl::new(&config.voices).map_err(|e| StartError::Voices(e.to_string()))?;
    let voices = VoicesService::new(VoicesParts {
        repo: VoicesRepo::new(db.clone()),
        blobs: Blobs::new(config.data_dir.join(BLOB_DIR)),
        engines: shared.engines.clone(),
        jobs: shared.jobs.clone(),
        events: shared.events.clone(),
        licence,
        clock,
        config: config.voices.clone(),
        quotas: config.quotas.clone(),
        issuer: config
            .public_url
            .clone()
            .unwrap_or_else(|| "voicegate".into()),
        put_url,
        drain_timeout: Duration::from_secs(config.http.request_timeout_secs),
    });
    let measured = voices
        .measure_unsized_recordings()
        .await
        .map_err(|e| StartError::Voices(e.to_string()))?;
    if measured > 0 {
        tracing::info!(
            files = measured,
            "sizes of earlier recordings measured for quotas.recording_bytes_per_user"
        );
    }
    Ok(voices)
}

/// Removes what writes cut short by a killed process left in the data directory (temporary
/// files and folders of blobs, models, backups and restores whose writer is gone).
async fn remove_orphan_temporaries(config: &Config) -> Result<(), StartError> {
    let root = config.data_dir.clone();
    // The hub media folder (by default inside the data directory) holds the household's files.
    let skip: Vec<std::path::PathBuf> = config.speakers.media_dir(&root).into_iter().collect();
    let removed = tokio::task::spawn_blocking(move || temporaries::remove_orphans(&root, &skip))
        .await
        .map_err(std::io::Error::other)
        .and_then(|removed| removed)
        .map_err(|source| StartError::Io {
            what: format!(
                "removing temporary files under {}",
                config.data_dir.display()
            ),
            source,
        })?;
    if removed > 0 {
        tracing::info!(removed, "temporary files of interrupted writes removed");
    }
    Ok(())
}

/// Creates the data directory (mode 0700) when missing.
pub fn create_data_dir(config: &Config) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = &config.data_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StartError::Io {
            what: format!("creating data directory {}", dir.display()),
            source,
        })
}

/// The Wyoming server over the shared services, bound, when `[wyoming] enabled`.
async fn open_wyoming(
    config: &Config,
    voices: &Arc<VoicesService>,
    assistants: &Arc<AssistantsService>,
    engines: &Arc<Engines>,
) -> Result<Option<WyomingServer>, StartError> {
    if !config.wyoming.enabled {
        return Ok(None);
    }
    let context = WyomingContext {
        voices: voices.clone(),
        assistants: assistants.clone(),
        engines: engines.clone(),
        config: config.wyoming.clone(),
        max_audio_secs: config.assistants.asr_max_audio_secs,
        drain_timeout: Duration::from_secs(config.http.request_timeout_secs),
        public_url: config.public_url(),
    };
    WyomingServer::bind(context)
        .await
        .map(Some)
        .map_err(|source| StartError::Io {
            what: format!("listening on {} (wyoming.listen)", config.wyoming.listen),
            source,
        })
}

/// The services every surface shares: the events hub, the job queue and the speech engines.
struct Shared {
    events: EventHub,
    jobs: Jobs,
    engines: Arc<Engines>,
}

impl Shared {
    fn new(config: &Config, db: &Db, clock: SharedClock) -> Self {
        let events = EventHub::new(config.events.buffer);
        crate::events::relay::start(db, &events);
        Self {
            jobs: Jobs::with_clock(db.clone(), &config.jobs, events.clone(), clock),
            engines: Arc::new(Engines::new(
                config.voices.max_concurrent_syntheses,
                Duration::from_millis(config.voices.synthesis_queue_ms),
            )),
            events,
        }
    }
}

/// A built server, bound to its socket, not yet serving.
pub struct App {
    listener: TcpListener,
    router: Router,
    state: AppState,
    snapserver: Option<ManagedSnapserver>,
    wyoming: Option<WyomingServer>,
    _lock: DataDirLock,
}

impl App {
    /// Opens the store, loads the signing key, syncs `USERS_DB`, builds the router and binds the
    /// listening socket (port 0 picks a free port; see [`App::local_addr`]).
    pub async fn build(config: Config, clock: SharedClock) -> Result<Self, StartError> {
        create_data_dir(&config)?;
        let lock = DataDirLock::serving(&config.data_dir)?;
        remove_orphan_temporaries(&config).await?;
        let (db, identity, key_source) = open_identity(&config, clock.clone()).await?;
        if key_source == KeySource::Generated {
            tracing::info!(file = %config.data_dir.join(signing_key::KEY_FILE).display(), "signing key kept in the data directory");
        }
        if let Some(path) = &config.users_db {
            let report = identity.import_users(path, UserSource::UsersDb).await?;
            tracing::info!(file = %path.display(), created = report.created, updated = report.updated, disabled = report.disabled, "USERS_DB synced");
        }
        identity.warn_about_relaxed_clients().await?;
        if identity.user_count().await? == 0 {
            tracing::warn!(
                "no users yet: create one with `voicegate --data-dir {} user add NAME`",
                config.data_dir.display()
            );
        }
        let listener = http::connections::listen(config.listen, config.http.listen_backlog)
            .map_err(|source| StartError::Io {
                what: format!("listening on {}", config.listen),
                source,
            })?;
        let shared = Shared::new(&config, &db, clock.clone());
        let voices = Arc::new(open_voices(&config, &db, &shared, clock.clone()).await?);
        crate::voices::register_jobs(&shared.jobs, voices.clone());
        let assistants = Arc::new(AssistantsService::new(AssistantsParts {
            repo: AssistantsRepo::new(db.clone()),
            models: ModelFiles::new(config.data_dir.join(MODEL_DIR)),
            asr: AsrFiles::new(config.data_dir.join(ASR_DIR)),
            jobs: shared.jobs.clone(),
            events: shared.events.clone(),
            clock: clock.clone(),
            config: config.assistants.clone(),
        }));
        crate::assistants::register_jobs(&shared.jobs, assistants.clone());
        let (speakers, snapserver) = speakers::setup::open(
            &config,
            shared.engines.clone(),
            shared.events.clone(),
            db.clone(),
        )?;
        let speakers = Arc::new(speakers);
        let wyoming = open_wyoming(&config, &voices, &assistants, &shared.engines).await?;
        let ovos = Arc::new(OvosService::new(&config.ovos, shared.events.clone()));
        let metrics = config.metrics.enabled.then(|| {
            Arc::new(Metrics::new(Sources {
                ovos: ovos.clone(),
                speakers: speakers.clone(),
                events: shared.events.clone(),
                engines: shared.engines.clone(),
                jobs: shared.jobs.clone(),
            }))
        });
        let state = AppState::new(Services {
            ovos,
            metrics,
            voices,
            speakers,
            assistants,
            engines: shared.engines,
            jobs: shared.jobs,
            events: shared.events,
            identity,
            db,
            clock,
            config: Arc::new(config),
        });
        let router = http::router::build(state.clone());
        Ok(Self {
            listener,
            router,
            state,
            snapserver,
            wyoming,
            _lock: lock,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// The address the Wyoming server listens on, when it is enabled.
    pub fn wyoming_addr(&self) -> Option<SocketAddr> {
        self.wyoming.as_ref().and_then(|w| w.local_addr().ok())
    }

    /// The shared state (tests reach services through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and closes the store.
    /// The instance's row in `instances` is written before it listens, renewed every
    /// `store.heartbeat_ms` while it serves, and deleted when it stops.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let beat = Duration::from_millis(self.state.config.store.heartbeat_ms);
        let heartbeat = Instances::start(self.state.db.clone(), beat)
            .await
            .map_err(std::io::Error::other)?;
        let maintenance = self.state.identity.spawn_maintenance();
        let bus = self.state.ovos.bus().spawn_connection();
        let speakers_owner = speakers::routing::spawn_owner(self.state.speakers.clone());
        let workers = self
            .state
            .jobs
            .start_workers(self.state.config.jobs.workers);
        tracing::info!(
            address = %self.local_addr(),
            store = self.state.db.backend().name(),
            instance = self.state.db.instance_id(),
            "voicegate listening"
        );
        let http_config = &self.state.config.http;
        let limits = http::connections::ConnectionLimits::from_config(http_config);
        // Validated when the configuration was loaded.
        let proxies = AddressBlocks::parse(&http_config.trusted_proxies).unwrap_or_default();
        let forwarded = Arc::new(ForwardedFor::new(proxies));
        // A stopping instance stops playing its speakers sessions at once (their leases lapse,
        // and the other instances report them stopped) rather than after the drain.
        let owner = speakers_owner.abort_handle();
        let wyoming = self.wyoming.map(WyomingServer::spawn);
        let wyoming_stop = wyoming.as_ref().map(|task| task.abort_handle());
        let shutdown = async move {
            shutdown.await;
            owner.abort();
            // Wyoming's exchanges are short: they end with the server rather than drain.
            if let Some(wyoming) = wyoming_stop {
                wyoming.abort();
            }
        };
        let result =
            http::connections::serve(self.listener, self.router, limits, forwarded, shutdown).await;
        maintenance.abort();
        bus.abort();
        speakers_owner.abort();
        if let Some(wyoming) = wyoming {
            wyoming.abort();
        }
        for workers in workers {
            workers.shutdown().await;
        }
        if let Some(snapserver) = self.snapserver {
            snapserver.stop().await;
        }
        self.state.identity.flush().await;
        heartbeat.stop().await;
        self.state.db.close().await;
        tracing::info!("voicegate stopped");
        result
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
