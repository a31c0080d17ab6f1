//! What every handler can reach: the domain services and the shared ones, built once by
//! [`crate::app::App`]. It knows the services, never the HTTP edge, so that routes can name it
//! without an import loop.

use std::sync::Arc;

use crate::assistants::AssistantsService;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::engines::Engines;
use crate::events::EventHub;
use crate::identity::IdentityService;
use crate::jobs::Jobs;
use crate::metrics::registry::Metrics;
use crate::ovos::OvosService;
use crate::speakers::SpeakersService;
use crate::store::Db;
use crate::voices::VoicesService;

/// The shared state of the server: one pointer, so that the clone every request makes is one
/// atomic increment. Its services are reached through it (`state.identity`).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// The state over `services`.
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What the server's handlers reach.
pub struct Services {
    /// Identity: login, tokens, users.
    pub identity: Arc<IdentityService>,
    /// The ovos-api surface and its bus connection.
    pub ovos: Arc<OvosService>,
    /// The vocalid-api voices surface.
    pub voices: Arc<VoicesService>,
    /// The HK Omni speakers surface.
    pub speakers: Arc<SpeakersService>,
    /// The Snips console assistants surface.
    pub assistants: Arc<AssistantsService>,
    /// The speech engines every surface that speaks shares.
    pub engines: Arc<Engines>,
    /// The background job queue.
    pub jobs: Jobs,
    /// The events hub `/v1/events` streams from.
    pub events: EventHub,
    /// The store.
    pub db: Db,
    /// The server's clock.
    pub clock: SharedClock,
    /// The metrics `GET /metrics` shows (`None` while `metrics.enabled` is false).
    pub metrics: Option<Arc<Metrics>>,
    /// The configuration in force.
    pub config: Arc<Config>,
}
