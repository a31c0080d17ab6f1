//! The voices service: accounts, recordings, builds, the voice list, synthesis, devices,
//! downloads and licences. Handlers call one function each; CPU work runs on the blocking pool.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use speech::levels::{LevelStatus, LevelThresholds};
use speech::synth::Modifiers;
use speech::wav::ReadLimits;
use speech::{ProsodyProfile, Synthesizer};

use crate::clock::SharedClock;
use crate::config::VoicesConfig;
use crate::engines::Engines;
use crate::events::{Event, EventHub};
use crate::identity::scopes::Scope;
use crate::ids::{UserId, new_hex_id};
use crate::jobs::{JobId, JobStatus, Jobs, ProgressReporter};
use crate::store::blobs::Blobs;
use crate::voices::error::VoicesError;
use crate::voices::licence::{LicenceKey, LicencePayload};
use crate::voices::put_url::{PutUrl, PutUrlError};
use crate::voices::repo::{BuildRow, VoiceRow, VoicesRepo};

/// Job kind of voice builds.
pub const BUILD_JOB: &str = "voice_build";

/// One entry of `voices/list`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VoiceEntry {
    /// The account the voice was built for; null for the engines' own voices.
    pub account_id: Option<String>,
    /// Whether the voice file can be downloaded.
    pub can_download: bool,
    /// Whether the voice can be used for synthesis.
    pub can_stream: bool,
    /// Token for synthesis and downloads.
    pub download_token: String,
    /// When the voice stops being available (Unix seconds), or null.
    pub expiration: Option<i64>,
    /// Syntheses made with the voice (by this user, for built-in voices).
    pub synthesis_count: i64,
    /// The voice's id.
    pub voice_id: String,
    /// Suggested file name of the downloaded voice.
    pub filename: String,
    /// "Hi Res" (22.05 kHz and up) or "Low Res".
    pub model_name: String,
    /// The voice's name.
    pub name: String,
    /// Language tag.
    pub language: String,
    /// The engine voice it speaks with.
    pub base_voice: String,
}

/// A resolved download token: what to speak with.
#[derive(Debug, Clone)]
pub struct ResolvedVoice {
    /// The public voice id.
    pub voice_id: String,
    /// The engine voice.
    pub engine_voice: String,
    /// The profile's modifiers (neutral for built-in voices).
    pub profile: Modifiers,
    /// The stored voice, for user voices.
    pub stored: Option<VoiceRow>,
    /// The profile, for user voices.
    pub prosody: Option<ProsodyProfile>,
}

/// Outcome of `build/new`.
#[derive(Debug)]
pub enum BuildRequest {
    /// Queued with this build id.
    Created(String),
    /// The account already has a pending build.
    AlreadyPending,
}

/// The voices service.
pub struct VoicesService {
    repo: VoicesRepo,
    blobs: Blobs,
    engines: Arc<Engines>,
    jobs: Jobs,
    events: EventHub,
    licence: LicenceKey,
    clock: SharedClock,
    config: VoicesConfig,
    issuer: String,
    put_url: PutUrl,
}

impl std::fmt::Debug for VoicesService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoicesService").finish_non_exhaustive()
    }
}

impl VoicesService {
    /// The service over the shared engines and job queue.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        repo: VoicesRepo,
        blobs: Blobs,
        engines: Arc<Engines>,
        jobs: Jobs,
        events: EventHub,
        licence: LicenceKey,
        clock: SharedClock,
        config: VoicesConfig,
        issuer: String,
        put_url: PutUrl,
    ) -> Self {
        Self {
            repo,
            blobs,
            engines,
            jobs,
            events,
            licence,
            clock,
            config,
            issuer,
            put_url,
        }
    }

    /// The job queue builds run on.
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// The limits and thresholds in force.
    pub fn config(&self) -> &VoicesConfig {
        &self.config
    }

    /// The shared speech engines.
    pub fn engines(&self) -> &Engines {
        &self.engines
    }

    async fn synthesizer(&self) -> Result<Arc<Synthesizer>, VoicesError> {
        Ok(self.engines.synthesizer().await?)
    }

    /// The server's licence key document.
    pub fn licence_key_document(&self) -> Value {
        self.licence.public_key_document()
    }

    /// `account/register`.
    pub async fn register_account(
        &self,
        owner: UserId,
        gender: &str,
        age: i64,
    ) -> Result<String, VoicesError> {
        let id = new_hex_id();
        self.repo
            .create_account(&id, owner, gender, age, self.clock.now())
            .await?;
        Ok(id)
    }

    async fn owned_account(&self, owner: UserId, account: &str) -> Result<String, VoicesError> {
        self.repo
            .account_gender(owner, account)
            .await?
            .ok_or_else(|| VoicesError::NotFound(format!("account_id: no account {account:?}")))
    }

    /// `account/info`.
    pub async fn sentences_recorded(
        &self,
        owner: UserId,
        account: &str,
    ) -> Result<i64, VoicesError> {
        self.owned_account(owner, account).await?;
        self.repo.sentences_recorded(account).await
    }

    /// `recording/save`: checks the file and its level, then stores it. Nothing is stored when
    /// the account or the file is refused.
    pub async fn save_recording(
        &self,
        owner: UserId,
        account: &str,
        sentence: &str,
        wav: Vec<u8>,
    ) -> Result<LevelStatus, VoicesError> {
        self.owned_account(owner, account).await?;
        let limits = ReadLimits {
            max_seconds: self.config.max_recording_secs,
        };
        let thresholds = self.level_thresholds();
        let (wav, audio, report) = tokio::task::spawn_blocking(move || {
            let audio = speech::wav::read_wav(&wav, limits)?;
            let report = speech::levels::check(&audio, &thresholds);
            Ok::<_, speech::SpeechError>((wav, audio, report))
        })
        .await
        .map_err(|e| VoicesError::Speech(e.to_string()))??;
        let blob = self
            .blobs
            .put(wav)
            .await
            .map_err(|e| VoicesError::Store(e.to_string()))?;
        self.repo
            .insert_recording(
                account,
                sentence,
                blob.as_str(),
                audio.sample_rate,
                (audio.duration_secs() * 1000.0).round() as i64,
                report.status.code(),
                self.clock.now(),
            )
            .await?;
        Ok(report.status)
    }

    fn level_thresholds(&self) -> LevelThresholds {
        let c = &self.config;
        LevelThresholds {
            clip_level: c.clip_level,
            max_clipped_ratio: c.max_clipped_ratio,
            flat_run_samples: c.flat_run_samples,
            flat_run_min_level: c.flat_run_min_level,
            min_peak_block_dbfs: c.min_peak_block_dbfs,
            min_active_rms_dbfs: c.min_active_rms_dbfs,
        }
    }

    /// `build/new`: a PENDING build and its job, or the news that one is pending already.
    pub async fn request_build(
        &self,
        owner: UserId,
        account: &str,
    ) -> Result<BuildRequest, VoicesError> {
        self.owned_account(owner, account).await?;
        let id = new_hex_id();
        if !self
            .repo
            .create_build(&id, owner, account, self.clock.now())
            .await?
        {
            if !self.end_dead_build(account).await? {
                return Ok(BuildRequest::AlreadyPending);
            }
            if !self
                .repo
                .create_build(&id, owner, account, self.clock.now())
                .await?
            {
                return Ok(BuildRequest::AlreadyPending);
            }
        }
        match self
            .jobs
            .enqueue(BUILD_JOB, Some(owner), json!({ "build_id": id }))
            .await
        {
            Ok(job) => self.repo.set_build_job(&id, job.as_str()).await?,
            Err(e) => {
                self.repo
                    .fail_build(&id, "could not queue the build", self.clock.now())
                    .await?;
                return Err(VoicesError::Store(e.to_string()));
            }
        }
        Ok(BuildRequest::Created(id))
    }

    /// Ends the account's pending build when its job can no longer finish it (the job failed or
    /// was abandoned after its attempts, or the build was never queued because the server
    /// stopped in between); `true` when it did.
    async fn end_dead_build(&self, account: &str) -> Result<bool, VoicesError> {
        let Some((build, job, created_at)) = self.repo.pending_build(account).await? else {
            return Ok(true);
        };
        let reason = match job {
            Some(job) => match self.jobs.get(&JobId::new(job)).await {
                Ok(Some(job)) if job.status == JobStatus::Failed => {
                    format!("the build job failed: {}", job.error.unwrap_or_default())
                }
                Ok(None) => "the build job is gone".to_string(),
                Ok(Some(_)) => return Ok(false),
                Err(e) => return Err(VoicesError::Store(e.to_string())),
            },
            None if self.clock.now() - created_at > 60 => "the build was never queued".to_string(),
            None => return Ok(false),
        };
        self.repo
            .fail_build(&build, &reason, self.clock.now())
            .await?;
        Ok(true)
    }

    /// `build/status`.
    pub async fn builds(
        &self,
        owner: UserId,
        account: Option<&str>,
        build: Option<&str>,
        status: Option<&str>,
    ) -> Result<Vec<BuildRow>, VoicesError> {
        self.repo.builds(owner, account, build, status).await
    }

    /// Runs one build (the job): fits a prosody profile from the account's usable recordings
    /// and stores the voice; too few usable recordings end the build in ERROR with the reason.
    pub async fn run_build(
        &self,
        build_id: &str,
        progress: &ProgressReporter,
    ) -> Result<Value, String> {
        let store = |e: VoicesError| e.to_string();
        let Some((build, owner)) = self.repo.build(build_id).await.map_err(store)? else {
            return Err(format!("build {build_id} does not exist"));
        };
        if build.status != "PENDING" {
            return Ok(json!({ "status": build.status }));
        }
        progress.set(10, "analysing recordings");
        match self.fit_profile(&build.account_id).await {
            Ok(profile) => {
                progress.set(90, "storing the voice");
                let voice = VoiceRow {
                    id: new_hex_id(),
                    account_id: Some(build.account_id.clone()),
                    name: format!("voice of account {}", build.account_id),
                    base_voice: profile.base_voice.clone(),
                    profile: serde_json::to_string(&profile).map_err(|e| e.to_string())?,
                    download_token: crate::ids::new_token("vgv_"),
                    synthesis_count: 0,
                    can_download: true,
                    can_stream: true,
                    expires_at: None,
                };
                self.repo
                    .complete_build(build_id, owner, &voice, self.clock.now())
                    .await
                    .map_err(store)?;
                self.publish_build(owner, build_id, &build.account_id, Ok(&voice.id));
                Ok(json!({ "voice_id": voice.id }))
            }
            // The database may come back: the job is retried.
            Err(VoicesError::Store(e)) => Err(e),
            // Anything else (too few recordings, engines that cannot start, a base voice that
            // does not exist) will not change by retrying: the build ends with the reason.
            Err(other) => {
                let reason = match other {
                    VoicesError::BadRequest(reason) => reason,
                    other => other.to_string(),
                };
                self.repo
                    .fail_build(build_id, &reason, self.clock.now())
                    .await
                    .map_err(store)?;
                self.publish_build(owner, build_id, &build.account_id, Err(&reason));
                Ok(json!({ "error": reason }))
            }
        }
    }

    /// Publishes how a build ended: `voices.build.complete` with the voice, or
    /// `voices.build.error` with the reason, for its owner.
    fn publish_build(
        &self,
        owner: UserId,
        build_id: &str,
        account_id: &str,
        outcome: Result<&str, &str>,
    ) {
        let (topic, status, voice_id, error) = match outcome {
            Ok(voice) => ("voices.build.complete", "COMPLETE", Some(voice), None),
            Err(reason) => ("voices.build.error", "ERROR", None, Some(reason)),
        };
        let data = json!({
            "build_id": build_id,
            "account_id": account_id,
            "status": status,
            "voice_id": voice_id,
            "error": error,
        });
        self.events
            .publish(Event::new(topic, Scope::VoiceBuild, Some(owner), &data));
    }

    async fn fit_profile(&self, account: &str) -> Result<ProsodyProfile, VoicesError> {
        let gender = self
            .repo
            .account_gender_any(account)
            .await?
            .ok_or_else(|| VoicesError::BadRequest("the account no longer exists".into()))?;
        let base_voice = match gender.as_str() {
            "female" => self.config.base_voice_female.clone(),
            "male" => self.config.base_voice_male.clone(),
            _ => self.config.base_voice_other.clone(),
        };
        let recordings = self.repo.usable_recordings(account).await?;
        let mut files = Vec::with_capacity(recordings.len());
        for recording in &recordings {
            let id = crate::store::blobs::BlobId::parse(&recording.blob)
                .map_err(|e| VoicesError::Store(e.to_string()))?;
            let bytes = self
                .blobs
                .read(&id)
                .await
                .map_err(|e| VoicesError::Store(e.to_string()))?;
            files.push((recording.sentence.clone(), bytes));
        }
        let synth = self.synthesizer().await?;
        let limits = speech::profile::FitLimits {
            min_recordings: self.config.min_build_recordings,
            min_voiced_frames: self.config.min_voiced_frames,
        };
        let read = ReadLimits {
            max_seconds: self.config.max_recording_secs,
        };
        tokio::task::spawn_blocking(move || {
            let language = synth
                .voice(&base_voice)
                .map(|v| v.language.clone())
                .ok_or_else(|| {
                    VoicesError::Speech(format!("base voice {base_voice} is not available"))
                })?;
            let mut analysed = Vec::with_capacity(files.len());
            for (sentence, bytes) in &files {
                let audio = speech::wav::read_wav(bytes, read)?;
                let syllables = synth.syllables(sentence, &language)?;
                analysed.push(speech::profile::analyze(&audio, syllables)?);
            }
            let base = synth.calibration(&base_voice)?;
            speech::profile::fit(&analysed, &base_voice, &base.base, limits)
                .map_err(VoicesError::BadRequest)
        })
        .await
        .map_err(|e| VoicesError::Speech(e.to_string()))?
    }

    /// `voices/list`: the engines' voices, then the user's own.
    pub async fn list_voices(&self, owner: UserId) -> Result<Vec<VoiceEntry>, VoicesError> {
        let usage: std::collections::HashMap<String, i64> =
            self.repo.builtin_usage(owner).await?.into_iter().collect();
        let mut entries = Vec::new();
        let synth = self.synthesizer().await.ok();
        if let Some(synth) = &synth {
            for voice in synth.voices() {
                if !self.builtin_listed(&voice.id) {
                    continue;
                }
                entries.push(VoiceEntry {
                    account_id: None,
                    can_download: true,
                    can_stream: true,
                    download_token: voice.id.clone(),
                    expiration: None,
                    synthesis_count: usage.get(&voice.id).copied().unwrap_or(0),
                    voice_id: voice.id.clone(),
                    filename: format!("{}.voice.json", voice.id.replace(':', "-")),
                    model_name: model_name(voice.sample_rate).into(),
                    name: voice.name.clone(),
                    language: voice.language.clone(),
                    base_voice: voice.id.clone(),
                });
            }
        }
        for voice in self.repo.voices(owner).await? {
            let rate = synth
                .as_ref()
                .and_then(|s| s.voice(&voice.base_voice).map(|v| v.sample_rate))
                .unwrap_or(16000);
            entries.push(VoiceEntry {
                account_id: voice.account_id.clone(),
                can_download: voice.can_download,
                can_stream: voice.can_stream,
                download_token: voice.download_token.clone(),
                expiration: voice.expires_at,
                synthesis_count: voice.synthesis_count,
                filename: format!("{}.voice.json", voice.id),
                model_name: model_name(rate).into(),
                name: voice.name.clone(),
                language: synth
                    .as_ref()
                    .and_then(|s| s.voice(&voice.base_voice).map(|v| v.language.clone()))
                    .unwrap_or_default(),
                base_voice: voice.base_voice.clone(),
                voice_id: voice.id,
            });
        }
        Ok(entries)
    }

    fn builtin_listed(&self, id: &str) -> bool {
        self.config.builtin_voices.is_empty()
            || self
                .config
                .builtin_voices
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => id.starts_with(prefix),
                    None => id == pattern,
                })
    }

    /// The voice behind a download token of `owner` (built-in voices' tokens are their ids).
    pub async fn resolve(&self, owner: UserId, token: &str) -> Result<ResolvedVoice, VoicesError> {
        let unknown = || VoicesError::NotFound("download_token: no such voice".to_string());
        if let Some(stored) = self.repo.voice_by_token(owner, token).await? {
            if stored.expires_at.is_some_and(|at| at <= self.clock.now()) {
                return Err(VoicesError::Forbidden("the voice has expired".into()));
            }
            let profile: ProsodyProfile = serde_json::from_str(&stored.profile)
                .map_err(|e| VoicesError::Store(e.to_string()))?;
            return Ok(ResolvedVoice {
                voice_id: stored.id.clone(),
                engine_voice: stored.base_voice.clone(),
                profile: Modifiers {
                    pitch: profile.pitch,
                    rate: profile.rate,
                    range: profile.range,
                },
                stored: Some(stored),
                prosody: Some(profile),
            });
        }
        let synth = self.synthesizer().await?;
        if synth.voice(token).is_some() && self.builtin_listed(token) {
            return Ok(ResolvedVoice {
                voice_id: token.to_string(),
                engine_voice: token.to_string(),
                profile: Modifiers::default(),
                stored: None,
                prosody: None,
            });
        }
        Err(unknown())
    }

    /// Counts a synthesis of `voice` by `owner`.
    pub async fn count_synthesis(
        &self,
        owner: UserId,
        voice: &ResolvedVoice,
    ) -> Result<(), VoicesError> {
        match &voice.stored {
            Some(stored) => self.repo.count_synthesis(&stored.id).await,
            None => {
                self.repo
                    .count_builtin_synthesis(owner, &voice.voice_id)
                    .await
            }
        }
    }

    /// Refuses a put_url before any synthesis: a bad URL, scheme or address.
    pub async fn check_put_url(&self, url: &str) -> Result<(), VoicesError> {
        self.put_url.check(url).await.map_err(put_url_error)
    }

    /// Uploads a WAV file to a put_url: the answer's status and the start of its body.
    pub async fn put_audio(&self, url: &str, wav: Vec<u8>) -> Result<(u16, String), VoicesError> {
        let answer = self.put_url.put(url, wav).await.map_err(put_url_error)?;
        Ok((answer.status, answer.body))
    }

    /// `device/register`.
    pub async fn register_device(
        &self,
        owner: UserId,
        name: Option<&str>,
    ) -> Result<String, VoicesError> {
        let id = new_hex_id();
        self.repo
            .create_device(&id, owner, name, self.clock.now())
            .await?;
        Ok(id)
    }

    /// The voice behind `token`, for a device `owner` registered (403 otherwise).
    async fn voice_for_device(
        &self,
        owner: UserId,
        token: &str,
        device: &str,
    ) -> Result<ResolvedVoice, VoicesError> {
        let voice = self.resolve(owner, token).await?;
        if device.is_empty() {
            return Err(VoicesError::BadRequest("device_id is required".into()));
        }
        if !self.repo.device_owned(owner, device).await? {
            return Err(VoicesError::Forbidden(
                "device_id: the device is not registered to this user".into(),
            ));
        }
        Ok(voice)
    }

    /// `voices/download`: the voice file (format `voicegate-voice-1`, JSON).
    pub async fn download_voice(
        &self,
        owner: UserId,
        token: &str,
        device: &str,
    ) -> Result<(String, Vec<u8>), VoicesError> {
        let voice = self.voice_for_device(owner, token, device).await?;
        if voice.stored.as_ref().is_some_and(|s| !s.can_download) {
            return Err(VoicesError::Forbidden(
                "the voice cannot be downloaded".into(),
            ));
        }
        let synth = self.synthesizer().await?;
        let engine = synth.voice(&voice.engine_voice);
        let document = json!({
            "format": "voicegate-voice-1",
            "voice_id": voice.voice_id,
            "name": voice.stored.as_ref().map(|s| s.name.clone()).or_else(|| engine.map(|e| e.name.clone())),
            "base_voice": {
                "id": voice.engine_voice,
                "engine": engine.map(|e| e.engine),
                "language": engine.map(|e| e.language.clone()),
                "sample_rate": engine.map(|e| e.sample_rate),
            },
            "modifiers": { "pitch": voice.profile.pitch, "rate": voice.profile.rate, "range": voice.profile.range },
            "profile": voice.prosody,
            "device_id": device,
            "licence_required": true,
            "note": "a prosody profile applied to the base engine voice; not a clone of a speaker's voice",
        });
        let filename = format!("{}.voice.json", voice.voice_id.replace(':', "-"));
        let bytes =
            serde_json::to_vec_pretty(&document).map_err(|e| VoicesError::Store(e.to_string()))?;
        Ok((filename, bytes))
    }

    /// `licenses/<token>`: a licence for the device and voice, signed with the server's key.
    pub async fn licence(
        &self,
        owner: UserId,
        token: &str,
        device: &str,
    ) -> Result<(String, Vec<u8>), VoicesError> {
        let voice = self.voice_for_device(owner, token, device).await?;
        let payload = LicencePayload {
            voice_id: voice.voice_id.clone(),
            device_id: device.to_string(),
            issued_at: self.clock.now(),
            expires_at: voice.stored.as_ref().and_then(|s| s.expires_at),
            issuer: self.issuer.clone(),
            key_id: String::new(),
        };
        let filename = format!("{}.licence.json", voice.voice_id.replace(':', "-"));
        Ok((filename, self.licence.issue(&payload)))
    }
}

fn put_url_error(e: PutUrlError) -> VoicesError {
    if e.is_refusal() {
        VoicesError::PutUrlRefused(e.to_string())
    } else {
        VoicesError::PutUrl(e.to_string())
    }
}

fn model_name(sample_rate: u32) -> &'static str {
    if sample_rate >= 22050 {
        "Hi Res"
    } else {
        "Low Res"
    }
}
