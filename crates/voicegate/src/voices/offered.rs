//! Voices offered where nobody signs in (the Wyoming server): the engines' own voices as
//! `voices.builtin_voices` lists them, and the users' built voices the configuration exposes.
//! Resolved to what the engines speak with, as the catalogue resolves a download token.

use crate::config::Exposure;
use crate::voices::catalog::ResolvedVoice;
use crate::voices::error::VoicesError;
use crate::voices::repo::VoiceRow;
use crate::voices::service::VoicesService;

/// The most built voices offered at once.
const MAX_OFFERED_BUILT: i64 = 1000;

/// A voice offered to a client without a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedVoice {
    /// The name a client asks for: the engine voice id, or the built voice's id.
    pub name: String,
    /// What a person reads: the engine's name for it, or the built voice's name.
    pub description: String,
    /// Its language (the engine voice's, for a built voice its base voice's).
    pub language: String,
    /// The engine that speaks it (`espeak`, `flite`).
    pub engine: String,
    /// Whether it is a user's built voice.
    pub built: bool,
    /// The rate the engine speaks it at, in Hz.
    pub sample_rate: u32,
}

impl VoicesService {
    /// The voices offered: the listed engine voices, then the exposed built voices that may be
    /// used for synthesis and have not expired. Empty when the engines cannot start.
    pub async fn offered_voices(&self, built: &Exposure) -> Result<Vec<OfferedVoice>, VoicesError> {
        let Ok(synth) = self.synthesizer().await else {
            return Ok(Vec::new());
        };
        let mut offered: Vec<OfferedVoice> = synth
            .voices()
            .iter()
            .filter(|voice| self.builtin_listed(&voice.id))
            .map(|voice| OfferedVoice {
                name: voice.id.clone(),
                description: voice.name.clone(),
                language: voice.language.clone(),
                engine: voice.engine.to_string(),
                built: false,
                sample_rate: voice.sample_rate,
            })
            .collect();
        for row in self.exposed_built(built).await? {
            let Some(base) = synth.voice(&row.base_voice) else {
                continue;
            };
            offered.push(OfferedVoice {
                name: row.id.as_str().to_string(),
                description: format!("{} (built on {})", row.name, base.id),
                language: base.language.clone(),
                engine: base.engine.to_string(),
                built: true,
                sample_rate: base.sample_rate,
            });
        }
        Ok(offered)
    }

    /// The offered voice named `name` (an engine voice id or an exposed built voice's id),
    /// resolved for speaking; not found when it is not offered.
    pub async fn offered_voice(
        &self,
        built: &Exposure,
        name: &str,
    ) -> Result<ResolvedVoice, VoicesError> {
        let not_found = || VoicesError::NotFound(format!("voice: no voice {name:?} is offered"));
        if built.exposes(name)
            && let Some(row) = self
                .parts
                .repo
                .streamable_voices(Some(&[name.to_string()]), 1)
                .await?
                .into_iter()
                .find(|row| !self.expired(row))
        {
            let profile: speech::ProsodyProfile = serde_json::from_str(&row.profile)
                .map_err(|e| VoicesError::Store(e.to_string()))?;
            return Ok(ResolvedVoice {
                voice_id: row.id.clone(),
                engine_voice: row.base_voice.clone(),
                profile: profile.modifiers(),
                prosody: Some(profile),
                stored: Some(row),
            });
        }
        let synth = self.synthesizer().await?;
        if synth.voice(name).is_some() && self.builtin_listed(name) {
            return Ok(ResolvedVoice {
                voice_id: crate::voices::model::VoiceId::new(name),
                engine_voice: name.to_string(),
                profile: speech::synth::Modifiers::default(),
                stored: None,
                prosody: None,
            });
        }
        Err(not_found())
    }

    /// The built voices `built` exposes that may be used for synthesis now.
    async fn exposed_built(&self, built: &Exposure) -> Result<Vec<VoiceRow>, VoicesError> {
        let rows = match built {
            Exposure::All(false) => return Ok(Vec::new()),
            Exposure::All(true) => {
                self.parts
                    .repo
                    .streamable_voices(None, MAX_OFFERED_BUILT)
                    .await?
            }
            Exposure::Listed(ids) => {
                self.parts
                    .repo
                    .streamable_voices(Some(ids), MAX_OFFERED_BUILT)
                    .await?
            }
        };
        Ok(rows.into_iter().filter(|row| !self.expired(row)).collect())
    }

    fn expired(&self, row: &VoiceRow) -> bool {
        row.expires_at
            .is_some_and(|at| at <= self.parts.clock.now())
    }

    /// Counts a synthesis of an offered voice: built voices count theirs; engine voices are
    /// counted per user, and there is none here.
    pub async fn count_offered_synthesis(&self, voice: &ResolvedVoice) -> Result<(), VoicesError> {
        match &voice.stored {
            Some(stored) => self.parts.repo.count_synthesis(&stored.id).await,
            None => Ok(()),
        }
    }
}
