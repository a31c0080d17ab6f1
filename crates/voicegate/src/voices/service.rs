//! The voices service: what the surface's operations share, and the accounts with their
//! recordings. Builds, the voice catalogue, devices with downloads, and synthesis live beside this
//! file, each in its own; handlers call one function each, CPU work runs on the blocking pool.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use speech::Synthesizer;
use speech::levels::{LevelStatus, LevelThresholds};
use speech::wav::ReadLimits;

use crate::clock::SharedClock;
use crate::config::VoicesConfig;
use crate::engines::Engines;
use crate::events::EventHub;
use crate::ids::{UserId, new_hex_id};
use crate::jobs::queue::Jobs;
use crate::store::blobs::Blobs;
use crate::voices::decode_slots::DecodeSlots;
use crate::voices::error::VoicesError;
use crate::voices::licence::LicenceKey;
use crate::voices::model::{AccountId, Gender};
use crate::voices::put_url::PutUrl;
use crate::voices::repo::VoicesRepo;

/// What the voices service is built from.
pub struct VoicesParts {
    /// The voices tables.
    pub repo: VoicesRepo,
    /// Where recordings are kept.
    pub blobs: Blobs,
    /// The shared speech engines.
    pub engines: Arc<Engines>,
    /// The shared job queue (builds run on it).
    pub jobs: Jobs,
    /// The shared events hub (build outcomes are published on it).
    pub events: EventHub,
    /// The key that signs licences.
    pub licence: LicenceKey,
    /// The server's clock.
    pub clock: SharedClock,
    /// Limits and thresholds.
    pub config: VoicesConfig,
    /// The issuer named in licences.
    pub issuer: String,
    /// The `put_url` uploader.
    pub put_url: PutUrl,
    /// How long a streamed answer waits for a client that stops reading.
    pub drain_timeout: Duration,
}

/// The voices service.
pub struct VoicesService {
    pub(super) parts: VoicesParts,
    /// The bound on WAV decodes at once (uploads and builds).
    pub(super) decode_slots: DecodeSlots,
}

impl std::fmt::Debug for VoicesService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoicesService").finish_non_exhaustive()
    }
}

impl VoicesService {
    /// The service over the shared engines, queue and hub.
    pub fn new(parts: VoicesParts) -> Self {
        Self {
            decode_slots: DecodeSlots::new(parts.config.max_concurrent_decodes),
            parts,
        }
    }

    /// The most WAV decodes that ran at once since the start (at most
    /// `voices.max_concurrent_decodes`).
    pub fn decode_peak(&self) -> usize {
        self.decode_slots.peak()
    }

    /// The job queue builds run on.
    pub fn jobs(&self) -> &Jobs {
        &self.parts.jobs
    }

    /// The limits and thresholds in force.
    pub fn config(&self) -> &VoicesConfig {
        &self.parts.config
    }

    pub(super) async fn synthesizer(&self) -> Result<Arc<Synthesizer>, VoicesError> {
        Ok(self.parts.engines.synthesizer().await?)
    }

    /// The server's licence key document.
    pub fn licence_key_document(&self) -> Value {
        self.parts.licence.public_key_document()
    }

    /// `account/register`.
    pub async fn register_account(
        &self,
        owner: UserId,
        gender: Gender,
        age: i64,
    ) -> Result<AccountId, VoicesError> {
        let id = AccountId::new(new_hex_id());
        self.parts
            .repo
            .create_account(&id, owner, gender, age, self.parts.clock.now())
            .await?;
        Ok(id)
    }

    /// The account's gender, when `owner` owns it; "no account" otherwise (another user's
    /// account looks like an unknown one).
    pub(super) async fn owned_account(
        &self,
        owner: UserId,
        account: &AccountId,
    ) -> Result<Gender, VoicesError> {
        self.parts
            .repo
            .account_gender(Some(owner), account)
            .await?
            .ok_or_else(|| VoicesError::NotFound(format!("account_id: no account {account:?}")))
    }

    /// `account/info`: distinct sentences recorded at a good level.
    pub async fn sentences_recorded(
        &self,
        owner: UserId,
        account: &AccountId,
    ) -> Result<i64, VoicesError> {
        self.owned_account(owner, account).await?;
        self.parts.repo.sentences_recorded(account).await
    }

    /// `recording/save`: checks the file and its level, then stores it. Nothing is stored when
    /// the account or the file is refused.
    pub async fn save_recording(
        &self,
        owner: UserId,
        account: &AccountId,
        sentence: &str,
        wav: Vec<u8>,
    ) -> Result<LevelStatus, VoicesError> {
        self.owned_account(owner, account).await?;
        let limits = ReadLimits {
            max_seconds: self.parts.config.max_recording_secs,
        };
        let thresholds = self.level_thresholds();
        let (wav, audio, report) = self
            .decode_slots
            .run(move || {
                let audio = speech::wav::read_wav(&wav, limits)?;
                let report = speech::levels::check(&audio, &thresholds);
                Ok::<_, speech::SpeechError>((wav, audio, report))
            })
            .await??;
        let blob = self
            .parts
            .blobs
            .put(wav)
            .await
            .map_err(|e| VoicesError::Store(e.to_string()))?;
        self.parts
            .repo
            .insert_recording(
                account,
                sentence,
                blob.as_str(),
                audio.sample_rate,
                (audio.duration_secs() * 1000.0).round() as i64,
                report.status.code(),
                self.parts.clock.now(),
            )
            .await?;
        Ok(report.status)
    }

    fn level_thresholds(&self) -> LevelThresholds {
        let c = &self.parts.config;
        LevelThresholds {
            clip_level: c.clip_level,
            max_clipped_ratio: c.max_clipped_ratio,
            flat_run_samples: c.flat_run_samples,
            flat_run_min_level: c.flat_run_min_level,
            min_peak_block_dbfs: c.min_peak_block_dbfs,
            min_active_rms_dbfs: c.min_active_rms_dbfs,
        }
    }
}
