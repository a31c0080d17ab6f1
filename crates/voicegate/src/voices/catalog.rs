//! The voice catalogue: the engines' own voices (as `voices.builtin_voices` lists them) and the
//! user's built ones; what a download token resolves to; synthesis counts.

use speech::ProsodyProfile;
use speech::synth::Modifiers;

use crate::ids::UserId;
use crate::voices::error::VoicesError;
use crate::voices::model::{VoiceEntry, VoiceId, model_name};
use crate::voices::repo::VoiceRow;
use crate::voices::service::VoicesService;

/// A resolved download token: what to speak with.
#[derive(Debug, Clone)]
pub struct ResolvedVoice {
    /// The public voice id.
    pub voice_id: VoiceId,
    /// The engine voice.
    pub engine_voice: String,
    /// The profile's modifiers (neutral for built-in voices).
    pub profile: Modifiers,
    /// The stored voice, for user voices.
    pub stored: Option<VoiceRow>,
    /// The profile, for user voices.
    pub prosody: Option<ProsodyProfile>,
}

impl VoicesService {
    /// `voices/list`: the engines' voices, then the user's own.
    pub async fn list_voices(&self, owner: UserId) -> Result<Vec<VoiceEntry>, VoicesError> {
        let usage: std::collections::HashMap<String, i64> = self
            .parts
            .repo
            .builtin_usage(owner)
            .await?
            .into_iter()
            .collect();
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
                    voice_id: VoiceId::new(voice.id.clone()),
                    filename: format!("{}.voice.json", voice.id.replace(':', "-")),
                    model_name: model_name(voice.sample_rate).into(),
                    name: voice.name.clone(),
                    language: voice.language.clone(),
                    base_voice: voice.id.clone(),
                });
            }
        }
        for voice in self.parts.repo.voices(owner).await? {
            let engine = synth.as_ref().and_then(|s| s.voice(&voice.base_voice));
            entries.push(VoiceEntry {
                account_id: voice.account_id.clone(),
                can_download: voice.can_download,
                can_stream: voice.can_stream,
                download_token: voice.download_token.clone(),
                expiration: voice.expires_at,
                synthesis_count: voice.synthesis_count,
                filename: format!("{}.voice.json", voice.id),
                model_name: model_name(engine.map_or(16000, |e| e.sample_rate)).into(),
                name: voice.name.clone(),
                language: engine.map(|e| e.language.clone()).unwrap_or_default(),
                base_voice: voice.base_voice.clone(),
                voice_id: voice.id,
            });
        }
        Ok(entries)
    }

    pub(super) fn builtin_listed(&self, id: &str) -> bool {
        self.parts.config.builtin_voices.is_empty()
            || self.parts.config.builtin_voices.iter().any(|pattern| {
                match pattern.strip_suffix('*') {
                    Some(prefix) => id.starts_with(prefix),
                    None => id == pattern,
                }
            })
    }

    /// The voice behind a download token of `owner` (built-in voices' tokens are their ids).
    pub async fn resolve(&self, owner: UserId, token: &str) -> Result<ResolvedVoice, VoicesError> {
        if let Some(stored) = self.parts.repo.voice_by_token(owner, token).await? {
            if stored
                .expires_at
                .is_some_and(|at| at <= self.parts.clock.now())
            {
                return Err(VoicesError::Forbidden("the voice has expired".into()));
            }
            let profile: ProsodyProfile = serde_json::from_str(&stored.profile)
                .map_err(|e| VoicesError::Store(e.to_string()))?;
            return Ok(ResolvedVoice {
                voice_id: stored.id.clone(),
                engine_voice: stored.base_voice.clone(),
                profile: profile.modifiers(),
                stored: Some(stored),
                prosody: Some(profile),
            });
        }
        let synth = self.synthesizer().await?;
        if synth.voice(token).is_some() && self.builtin_listed(token) {
            return Ok(ResolvedVoice {
                voice_id: VoiceId::new(token),
                engine_voice: token.to_string(),
                profile: Modifiers::default(),
                stored: None,
                prosody: None,
            });
        }
        Err(VoicesError::NotFound(
            "download_token: no such voice".to_string(),
        ))
    }

    /// The voice `id` names for speaking elsewhere (the speakers' announcements): a voice id
    /// or download token of one of `owner`'s voices that may stream, or a built-in voice.
    pub async fn speaking_voice(
        &self,
        owner: UserId,
        id: &str,
    ) -> Result<ResolvedVoice, VoicesError> {
        let token = self
            .parts
            .repo
            .voices(owner)
            .await?
            .into_iter()
            .find(|voice| voice.id.as_str() == id)
            .map(|voice| voice.download_token);
        let voice = self.resolve(owner, token.as_deref().unwrap_or(id)).await?;
        if voice.stored.as_ref().is_some_and(|s| !s.can_stream) {
            return Err(VoicesError::Forbidden(
                "the voice cannot be used for synthesis".into(),
            ));
        }
        Ok(voice)
    }

    /// Counts a synthesis of `voice` by `owner`.
    pub async fn count_synthesis(
        &self,
        owner: UserId,
        voice: &ResolvedVoice,
    ) -> Result<(), VoicesError> {
        match &voice.stored {
            Some(stored) => self.parts.repo.count_synthesis(&stored.id).await,
            None => {
                self.parts
                    .repo
                    .count_builtin_synthesis(owner, &voice.voice_id)
                    .await
            }
        }
    }
}
