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
use crate::config::{QuotasConfig, VoicesConfig};
use crate::engines::Engines;
use crate::events::EventHub;
use crate::ids::{UserId, new_hex_id};
use crate::jobs::queue::Jobs;
use crate::store::blobs::{BlobId, Blobs, Hashed};
use crate::voices::decode_slots::DecodeSlots;
use crate::voices::error::VoicesError;
use crate::voices::licence::LicenceKey;
use crate::voices::model::{AccountId, Gender};
use crate::voices::put_url::PutUrl;
use crate::voices::recordings_repo::{AccountRow, NewRecording, RecordingUsage};
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
    /// The per-user quotas.
    pub quotas: QuotasConfig,
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

    /// `account/register`, within the user's quota of voice accounts.
    pub async fn register_account(
        &self,
        owner: UserId,
        gender: Gender,
        age: i64,
    ) -> Result<AccountId, VoicesError> {
        let id = AccountId::new(new_hex_id());
        let max = self.parts.quotas.voice_accounts_per_user;
        let now = self.parts.clock.now();
        if !self
            .parts
            .repo
            .create_account(&id, owner, gender, age, now, max)
            .await?
        {
            return Err(VoicesError::QuotaExceeded(format!(
                "quota: the user has {max} voice accounts, the most allowed \
                 (quotas.voice_accounts_per_user)"
            )));
        }
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

    /// `account/list`: the owner's accounts with their progress.
    pub async fn accounts(&self, owner: UserId) -> Result<Vec<AccountRow>, VoicesError> {
        self.parts.repo.accounts(owner).await
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

    /// `recording/save`: checks the quotas, the file and its level, then stores it. Nothing is
    /// stored (no row, no file) when the account, the file or the quota refuses it.
    pub async fn save_recording(
        &self,
        owner: UserId,
        account: &AccountId,
        sentence: &str,
        wav: Vec<u8>,
    ) -> Result<LevelStatus, VoicesError> {
        self.owned_account(owner, account).await?;
        let size = wav.len() as u64;
        // A full quota refuses before the work of decoding; it is checked again, under the
        // write lock, when the row is inserted.
        let usage = self.parts.repo.recording_usage(owner, account).await?;
        self.recording_fits(usage, size)?;
        let limits = ReadLimits {
            max_seconds: self.parts.config.max_recording_secs,
        };
        let thresholds = self.level_thresholds();
        let (file, audio, report) = self
            .decode_slots
            .run(move || {
                let audio = speech::wav::read_wav(&wav, limits)?;
                let report = speech::levels::check(&audio, &thresholds);
                Ok::<_, speech::SpeechError>((Hashed::new(wav), audio, report))
            })
            .await??;
        let blob = file.id().clone();
        let new = NewRecording {
            owner,
            account,
            sentence,
            blob: blob.as_str(),
            bytes: size,
            sample_rate: audio.sample_rate,
            duration_ms: (audio.duration_secs() * 1000.0).round() as i64,
            level: report.status.code(),
            now: self.parts.clock.now(),
        };
        let pending = self
            .parts
            .repo
            .begin_recording(&new, |usage| self.recording_fits(usage, size))
            .await?;
        // The file is written while the row's transaction is open: a refused upload leaves no
        // file, and a build never reads a row whose file is not there yet.
        let put = self.parts.blobs.put_hashed(file).await?;
        if let Err(failed) = pending.commit().await {
            // A commit the full disk refused leaves no row: the file this upload wrote goes too,
            // unless a committed row of the same bytes uses it.
            if put.created
                && !self
                    .parts
                    .repo
                    .blob_in_use(blob.as_str())
                    .await
                    .unwrap_or(true)
            {
                let _ = self.parts.blobs.remove(&blob).await;
            }
            return Err(failed);
        }
        Ok(report.status)
    }

    /// `Ok` when one more recording of `size` bytes fits the account's count and the user's
    /// bytes.
    fn recording_fits(&self, usage: RecordingUsage, size: u64) -> Result<(), VoicesError> {
        let quotas = &self.parts.quotas;
        if usage.in_account >= quotas.recordings_per_account {
            return Err(VoicesError::QuotaExceeded(format!(
                "quota: the voice account has {} recordings, and {} are allowed \
                 (quotas.recordings_per_account)",
                usage.in_account, quotas.recordings_per_account
            )));
        }
        if usage.user_bytes.saturating_add(size) > quotas.recording_bytes_per_user {
            return Err(VoicesError::StorageFull(format!(
                "quota: the user's recordings take {} of {} bytes; this one ({size} bytes) does \
                 not fit (quotas.recording_bytes_per_user)",
                usage.user_bytes, quotas.recording_bytes_per_user
            )));
        }
        Ok(())
    }

    /// Measures the files of recordings stored before their sizes were kept, so that they count
    /// against the byte quota (a file not found counts nothing); answers how many it measured.
    pub async fn measure_unsized_recordings(&self) -> Result<usize, VoicesError> {
        let blobs = self.parts.repo.blobs_without_size().await?;
        for blob in &blobs {
            let size = match BlobId::parse(blob) {
                Ok(id) => self.parts.blobs.size(&id).await?.unwrap_or(0),
                Err(_) => 0,
            };
            self.parts.repo.set_blob_size(blob, size).await?;
        }
        Ok(blobs.len())
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
