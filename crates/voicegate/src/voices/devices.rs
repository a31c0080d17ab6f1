//! Devices and what they may download: a device is registered by its user; voice files and
//! licences are made for one of the user's devices only.

use serde_json::json;

use crate::ids::{UserId, new_hex_id};
use crate::voices::catalog::ResolvedVoice;
use crate::voices::error::VoicesError;
use crate::voices::licence::LicencePayload;
use crate::voices::model::DeviceId;
use crate::voices::service::VoicesService;

/// A file to download: its suggested name and its bytes.
#[derive(Debug)]
pub struct Download {
    /// The suggested file name.
    pub filename: String,
    /// The file (JSON).
    pub bytes: Vec<u8>,
}

impl VoicesService {
    /// `device/register`, within the user's quota of devices.
    pub async fn register_device(
        &self,
        owner: UserId,
        name: Option<&str>,
    ) -> Result<DeviceId, VoicesError> {
        let id = DeviceId::new(new_hex_id());
        let max = self.parts.quotas.devices_per_user;
        let now = self.parts.clock.now();
        if !self
            .parts
            .repo
            .create_device(&id, owner, name, now, max)
            .await?
        {
            return Err(VoicesError::QuotaExceeded(format!(
                "quota: the user has {max} devices, the most allowed (quotas.devices_per_user)"
            )));
        }
        Ok(id)
    }

    /// The voice behind `token`, for a device `owner` registered, when the voice may be
    /// downloaded (403 otherwise): what a voice file and a licence both need.
    async fn voice_for_device(
        &self,
        owner: UserId,
        token: &str,
        device: Option<&DeviceId>,
    ) -> Result<(ResolvedVoice, DeviceId), VoicesError> {
        let voice = self.resolve(owner, token).await?;
        let device = device
            .filter(|d| !d.as_str().is_empty())
            .ok_or_else(|| VoicesError::BadRequest("device_id is required".into()))?;
        if !self.parts.repo.device_owned(owner, device).await? {
            return Err(VoicesError::Forbidden(
                "device_id: the device is not registered to this user".into(),
            ));
        }
        if voice.stored.as_ref().is_some_and(|s| !s.can_download) {
            return Err(VoicesError::Forbidden(
                "the voice cannot be downloaded".into(),
            ));
        }
        Ok((voice, device.clone()))
    }

    /// `voices/download`: the voice file (format `voicegate-voice-1`, JSON).
    pub async fn download_voice(
        &self,
        owner: UserId,
        token: &str,
        device: Option<&DeviceId>,
    ) -> Result<Download, VoicesError> {
        let (voice, device) = self.voice_for_device(owner, token, device).await?;
        let synth = self.synthesizer().await?;
        let engine = synth.voice(&voice.engine_voice);
        let modifiers = voice.profile;
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
            "modifiers": {
                "pitch": modifiers.pitch.get(),
                "rate": modifiers.rate.get(),
                "range": modifiers.range.get(),
            },
            "profile": voice.prosody,
            "device_id": device,
            "licence_required": true,
            "note": "a prosody profile applied to the base engine voice; not a clone of a speaker's voice",
        });
        Ok(Download {
            filename: format!("{}.voice.json", voice.voice_id.as_str().replace(':', "-")),
            bytes: serde_json::to_vec_pretty(&document)
                .map_err(|e| VoicesError::Store(e.to_string()))?,
        })
    }

    /// `licenses/<token>`: a licence for the device and voice, signed with the server's key.
    pub async fn licence(
        &self,
        owner: UserId,
        token: &str,
        device: Option<&DeviceId>,
    ) -> Result<Download, VoicesError> {
        let (voice, device) = self.voice_for_device(owner, token, device).await?;
        let payload = LicencePayload {
            voice_id: voice.voice_id.to_string(),
            device_id: device.to_string(),
            issued_at: self.parts.clock.now(),
            expires_at: voice.stored.as_ref().and_then(|s| s.expires_at),
            issuer: self.parts.issuer.clone(),
            key_id: String::new(),
        };
        Ok(Download {
            filename: format!("{}.licence.json", voice.voice_id.as_str().replace(':', "-")),
            bytes: self.parts.licence.issue(&payload),
        })
    }
}
