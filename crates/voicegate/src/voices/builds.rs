//! Voice builds: `build/new` stores a PENDING build and queues its job; the job fits a prosody
//! profile from the account's usable recordings and stores the voice, or ends the build in ERROR
//! with the reason; the outcome is published for the owner (`voices.build.*`).

use serde_json::{Value, json};
use speech::ProsodyProfile;
use speech::wav::ReadLimits;

use crate::events::Event;
use crate::identity::scopes::Scope;
use crate::ids::{UserId, new_hex_id, new_token};
use crate::jobs::progress::ProgressReporter;
use crate::jobs::queue::{JobId, JobStatus};
use crate::store::blobs::BlobId;
use crate::voices::error::VoicesError;
use crate::voices::model::{AccountId, BuildId, BuildRequest, BuildStatus, Gender, VoiceId};
use crate::voices::repo::{BuildRow, VoiceRow};
use crate::voices::service::VoicesService;

/// Job kind of voice builds.
pub const BUILD_JOB: &str = "voice_build";

/// A pending build older than this with no job was never queued (the server stopped between
/// storing it and queueing its job).
const UNQUEUED_AFTER_SECS: i64 = 60;

impl VoicesService {
    /// `build/new`: a PENDING build and its job, or the news that one is pending already.
    pub async fn request_build(
        &self,
        owner: UserId,
        account: &AccountId,
    ) -> Result<BuildRequest, VoicesError> {
        self.owned_account(owner, account).await?;
        let id = BuildId::new(new_hex_id());
        if !self
            .parts
            .repo
            .create_build(&id, owner, account, self.parts.clock.now())
            .await?
        {
            if !self.end_dead_build(account).await? {
                return Ok(BuildRequest::AlreadyPending);
            }
            if !self
                .parts
                .repo
                .create_build(&id, owner, account, self.parts.clock.now())
                .await?
            {
                return Ok(BuildRequest::AlreadyPending);
            }
        }
        match self
            .parts
            .jobs
            .enqueue(BUILD_JOB, Some(owner), json!({ "build_id": id }))
            .await
        {
            Ok(job) => self.parts.repo.set_build_job(&id, job.as_str()).await?,
            Err(e) => {
                self.parts
                    .repo
                    .fail_build(&id, "could not queue the build", self.parts.clock.now())
                    .await?;
                return Err(e.into());
            }
        }
        Ok(BuildRequest::Created(id))
    }

    /// Ends the account's pending build when its job can no longer finish it (the job failed or
    /// was abandoned after its attempts, or the build was never queued because the server
    /// stopped in between); `true` when it did.
    async fn end_dead_build(&self, account: &AccountId) -> Result<bool, VoicesError> {
        let Some(pending) = self.parts.repo.pending_build(account).await? else {
            return Ok(true);
        };
        let reason = match pending.job_id {
            Some(job) => match self.parts.jobs.get(&JobId::new(job)).await {
                Ok(Some(job)) if job.status == JobStatus::Failed => {
                    format!("the build job failed: {}", job.error.unwrap_or_default())
                }
                Ok(None) => "the build job is gone".to_string(),
                Ok(Some(_)) => return Ok(false),
                Err(e) => return Err(e.into()),
            },
            None if self.parts.clock.now() - pending.created_at > UNQUEUED_AFTER_SECS => {
                "the build was never queued".to_string()
            }
            None => return Ok(false),
        };
        self.parts
            .repo
            .fail_build(&pending.id, &reason, self.parts.clock.now())
            .await?;
        Ok(true)
    }

    /// `build/status`: the owner's builds, newest first, filtered.
    pub async fn builds(
        &self,
        owner: UserId,
        account: Option<&AccountId>,
        build: Option<&BuildId>,
        status: Option<BuildStatus>,
    ) -> Result<Vec<BuildRow>, VoicesError> {
        self.parts.repo.builds(owner, account, build, status).await
    }

    /// Runs one build (the job): fits a prosody profile from the account's usable recordings
    /// and stores the voice; too few usable recordings end the build in ERROR with the reason.
    pub async fn run_build(
        &self,
        build_id: &BuildId,
        progress: &ProgressReporter,
    ) -> Result<Value, String> {
        let store = |e: VoicesError| e.to_string();
        let Some((build, owner)) = self.parts.repo.build(build_id).await.map_err(store)? else {
            return Err(format!("build {build_id} does not exist"));
        };
        if build.status != BuildStatus::Pending {
            return Ok(json!({ "status": build.status }));
        }
        progress.set(10, "analysing recordings");
        match self.fit_profile(&build.account_id).await {
            Ok(profile) => {
                progress.set(90, "storing the voice");
                let voice = VoiceRow {
                    id: VoiceId::new(new_hex_id()),
                    account_id: Some(build.account_id.clone()),
                    name: format!("voice of account {}", build.account_id),
                    base_voice: profile.base_voice.clone(),
                    profile: serde_json::to_string(&profile).map_err(|e| e.to_string())?,
                    download_token: new_token("vgv_"),
                    synthesis_count: 0,
                    can_download: true,
                    can_stream: true,
                    expires_at: None,
                };
                self.parts
                    .repo
                    .complete_build(build_id, owner, &voice, self.parts.clock.now())
                    .await
                    .map_err(store)?;
                self.publish_build(owner, &build, Ok(&voice.id));
                Ok(json!({ "voice_id": voice.id }))
            }
            // The database may come back, the disk may be freed: the job is retried.
            Err(e @ (VoicesError::Store(_) | VoicesError::DiskFull(_))) => Err(e.to_string()),
            // Anything else (too few recordings, engines that cannot start, a base voice that
            // does not exist) will not change by retrying: the build ends with the reason.
            Err(other) => {
                let reason = match other {
                    VoicesError::BadRequest(reason) => reason,
                    other => other.to_string(),
                };
                self.parts
                    .repo
                    .fail_build(build_id, &reason, self.parts.clock.now())
                    .await
                    .map_err(store)?;
                self.publish_build(owner, &build, Err(&reason));
                Ok(json!({ "error": reason }))
            }
        }
    }

    /// Publishes how a build ended: `voices.build.complete` with the voice, or
    /// `voices.build.error` with the reason, for its owner.
    fn publish_build(&self, owner: UserId, build: &BuildRow, outcome: Result<&VoiceId, &str>) {
        let (topic, status, voice_id, error) = match outcome {
            Ok(voice) => (
                "voices.build.complete",
                BuildStatus::Complete,
                Some(voice),
                None,
            ),
            Err(reason) => ("voices.build.error", BuildStatus::Error, None, Some(reason)),
        };
        let data = json!({
            "build_id": build.id,
            "account_id": build.account_id,
            "status": status,
            "voice_id": voice_id,
            "error": error,
        });
        self.parts
            .events
            .publish(Event::new(topic, Scope::VoiceBuild, Some(owner), &data));
    }

    async fn fit_profile(&self, account: &AccountId) -> Result<ProsodyProfile, VoicesError> {
        let gender = self
            .parts
            .repo
            .account_gender(None, account)
            .await?
            .ok_or_else(|| VoicesError::BadRequest("the account no longer exists".into()))?;
        let base_voice = match gender {
            Gender::Female => self.parts.config.base_voice_female.clone(),
            Gender::Male => self.parts.config.base_voice_male.clone(),
            Gender::Other => self.parts.config.base_voice_other.clone(),
        };
        let recordings = self.parts.repo.usable_recordings(account).await?;
        let synth = self.synthesizer().await?;
        let language = synth
            .voice(&base_voice)
            .map(|v| v.language.clone())
            .ok_or_else(|| {
                VoicesError::Speech(format!("base voice {base_voice} is not available"))
            })?;
        let limits = speech::profile::FitLimits {
            min_recordings: self.parts.config.min_build_recordings,
            min_voiced_frames: self.parts.config.min_voiced_frames,
        };
        let read = ReadLimits {
            max_seconds: self.parts.config.max_recording_secs,
        };
        // One recording at a time, each decoded in a decode slot: a build holds one file and its
        // samples, never all of an account's recordings at once.
        let mut analysed = Vec::with_capacity(recordings.len());
        for recording in recordings {
            let id =
                BlobId::parse(&recording.blob).map_err(|e| VoicesError::Store(e.to_string()))?;
            let bytes = self.parts.blobs.read(&id).await?;
            let (synth, language) = (synth.clone(), language.clone());
            let prosody = self
                .decode_slots
                .run(move || {
                    let audio = speech::wav::read_wav(&bytes, read)?;
                    let syllables = synth.syllables(&recording.sentence, &language)?;
                    speech::profile::analyze(&audio, syllables)
                })
                .await??;
            analysed.push(prosody);
        }
        tokio::task::spawn_blocking(move || {
            let base = synth.calibration(&base_voice)?;
            speech::profile::fit(&analysed, &base_voice, &base.base, limits)
                .map_err(VoicesError::BadRequest)
        })
        .await
        .map_err(|e| VoicesError::Speech(e.to_string()))?
    }
}
