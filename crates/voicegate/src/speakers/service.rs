//! `SpeakersService`: the HK Omni operations over a speaker backend and the sessions.

use std::sync::Arc;
use std::time::Duration;

use crate::config::SpeakersConfig;
use crate::ids::UserId;
use crate::speakers::backend::SpeakerBackend;
use crate::speakers::device::{Device, MAX_WIRE_VOLUME, wire_to_percent};
use crate::speakers::error::SpeakerError;
use crate::speakers::sessions::Sessions;

/// The speakers surface's operations.
pub struct SpeakersService {
    backend: Arc<dyn SpeakerBackend>,
    sessions: Sessions,
    max_volume: u8,
}

impl SpeakersService {
    /// The service over `backend`, with the limits of `config`.
    pub fn new(backend: Arc<dyn SpeakerBackend>, config: &SpeakersConfig) -> Self {
        Self {
            backend,
            sessions: Sessions::new(
                Duration::from_secs(config.session_idle_secs),
                config.max_sessions_per_user,
            ),
            max_volume: config.max_volume.min(MAX_WIRE_VOLUME),
        }
    }

    /// Opens a session for `user`.
    pub fn init_session(&self, user: UserId) -> Result<String, SpeakerError> {
        self.sessions.open(user)
    }

    /// Ends a session.
    pub fn close_session(&self, user: UserId, token: &str) -> Result<(), SpeakerError> {
        self.sessions.close(user, token).map(drop)
    }

    /// Every device (the session must be the user's).
    pub async fn devices(&self, user: UserId, token: &str) -> Result<Vec<Device>, SpeakerError> {
        self.sessions.get(user, token)?;
        self.backend.devices().await
    }

    /// One device.
    pub async fn device(
        &self,
        user: UserId,
        token: &str,
        device_id: &str,
    ) -> Result<Device, SpeakerError> {
        let devices = self.devices(user, token).await?;
        find(devices, device_id)
    }

    /// Adds a device to the session.
    pub async fn add_device(
        &self,
        user: UserId,
        token: &str,
        device_id: &str,
    ) -> Result<(), SpeakerError> {
        let device = self.device(user, token, device_id).await?;
        self.sessions.update(user, token, |session| {
            if !session.devices.contains(&device.backend_id) {
                session.devices.push(device.backend_id.clone());
            }
        })?;
        Ok(())
    }

    /// Takes a device out of the session.
    pub async fn remove_device(
        &self,
        user: UserId,
        token: &str,
        device_id: &str,
    ) -> Result<(), SpeakerError> {
        let device = self.device(user, token, device_id).await?;
        self.sessions.update(user, token, |session| {
            session.devices.retain(|id| *id != device.backend_id);
        })?;
        Ok(())
    }

    /// Puts every device in the session.
    pub async fn party_mode(&self, user: UserId, token: &str) -> Result<(), SpeakerError> {
        let devices = self.devices(user, token).await?;
        self.sessions.update(user, token, |session| {
            session.devices = devices.into_iter().map(|d| d.backend_id).collect();
        })?;
        Ok(())
    }

    /// The session's devices.
    pub async fn session_devices(
        &self,
        user: UserId,
        token: &str,
    ) -> Result<Vec<Device>, SpeakerError> {
        let session = self.sessions.get(user, token)?;
        let devices = self.backend.devices().await?;
        Ok(devices
            .into_iter()
            .filter(|d| session.devices.contains(&d.backend_id))
            .collect())
    }

    /// The average volume of every device, 0–50 (0 when there are none).
    pub async fn volume(&self, user: UserId, token: &str) -> Result<u8, SpeakerError> {
        let devices = self.devices(user, token).await?;
        let total: u32 = devices.iter().map(|d| u32::from(d.wire_volume())).sum();
        let count = u32::try_from(devices.len()).unwrap_or(u32::MAX).max(1);
        Ok(u8::try_from((total + count / 2) / count).unwrap_or(MAX_WIRE_VOLUME))
    }

    /// One device's volume, 0–50.
    pub async fn device_volume(
        &self,
        user: UserId,
        token: &str,
        device_id: &str,
    ) -> Result<u8, SpeakerError> {
        Ok(self.device(user, token, device_id).await?.wire_volume())
    }

    /// Sets every device's volume (0–50; above `max_volume` it is lowered to it).
    pub async fn set_volume(
        &self,
        user: UserId,
        token: &str,
        volume: u8,
    ) -> Result<(), SpeakerError> {
        let percent = self.percent(volume)?;
        for device in self.devices(user, token).await? {
            self.backend.set_volume(&device, percent).await?;
        }
        Ok(())
    }

    /// Sets one device's volume.
    pub async fn set_device_volume(
        &self,
        user: UserId,
        token: &str,
        device_id: &str,
        volume: u8,
    ) -> Result<(), SpeakerError> {
        let percent = self.percent(volume)?;
        let device = self.device(user, token, device_id).await?;
        self.backend.set_volume(&device, percent).await
    }

    fn percent(&self, volume: u8) -> Result<u8, SpeakerError> {
        if volume > MAX_WIRE_VOLUME {
            return Err(SpeakerError::BadRequest(
                "Volume must be a whole number from 0 to 50".into(),
            ));
        }
        Ok(wire_to_percent(volume.min(self.max_volume)))
    }
}

/// The device with the contract's `device_id`.
fn find(devices: Vec<Device>, device_id: &str) -> Result<Device, SpeakerError> {
    devices
        .into_iter()
        .find(|d| d.device_id == device_id)
        .ok_or_else(|| SpeakerError::UnknownDevice(device_id.to_string()))
}
