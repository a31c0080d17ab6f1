//! What every Wyoming connection reaches: the shared services it speaks and listens with, and
//! the `[wyoming]` configuration.

use std::sync::Arc;
use std::time::Duration;

use crate::assistants::AssistantsService;
use crate::config::WyomingConfig;
use crate::engines::Engines;
use crate::voices::VoicesService;
use crate::wyoming::codec::FrameLimits;

/// The services and settings of the Wyoming server.
pub struct WyomingContext {
    /// The voices: which are offered, and what they speak with.
    pub voices: Arc<VoicesService>,
    /// The assistants: their recognisers.
    pub assistants: Arc<AssistantsService>,
    /// The speech engines and their synthesis slots.
    pub engines: Arc<Engines>,
    /// `[wyoming]`.
    pub config: WyomingConfig,
    /// The longest audio a transcription takes (`assistants.asr_max_audio_secs`).
    pub max_audio_secs: f64,
    /// How long synthesized audio waits for a client that reads nothing before it is dropped.
    pub drain_timeout: Duration,
    /// Where this server is (attribution in `info`).
    pub public_url: String,
}

impl WyomingContext {
    /// The sizes an event may have.
    pub fn limits(&self) -> FrameLimits {
        FrameLimits {
            header: self.config.max_header_bytes,
            data: self.config.max_data_bytes,
            payload: self.config.max_payload_bytes,
        }
    }
}
