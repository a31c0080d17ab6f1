//! Snapcast as the speakers' backend: each snapclient is a device; a playback session's
//! devices are put in one group on the session's stream.

use crate::speakers::backend::{Pending, SpeakerBackend};
use crate::speakers::device::{DEVICE_ID_DIGITS, Device, decimal_id};
use crate::speakers::error::SpeakerError;
use crate::speakers::snapcast::control::SnapcastControl;
use crate::speakers::snapcast::status::{Client, Group};

/// Digits of a GroupID (the contract's examples have 10).
const GROUP_ID_DIGITS: u32 = 10;

/// The Snapcast backend.
pub struct SnapcastBackend {
    control: SnapcastControl,
    max_percent: u8,
    session_streams: Vec<String>,
}

impl SnapcastBackend {
    /// A backend over `control`, never setting a device louder than `max_percent`, whose
    /// sessions play into the streams named `session_streams` (snapserver's other streams are
    /// where speakers outside a session wait).
    pub fn new(control: SnapcastControl, max_percent: u8, session_streams: Vec<String>) -> Self {
        Self {
            control,
            max_percent: max_percent.min(100),
            session_streams,
        }
    }

    /// The control client (for its notifications).
    pub fn control(&self) -> &SnapcastControl {
        &self.control
    }
}

/// Some text, unless it is empty.
fn known(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// A Snapcast client as a device.
fn device_of(group: &Group, client: &Client) -> Device {
    let name = [&client.config.name, &client.host.name, &client.id]
        .into_iter()
        .find(|name| !name.is_empty())
        .cloned()
        .unwrap_or_default();
    Device {
        device_id: decimal_id(&client.id, DEVICE_ID_DIGITS),
        backend_id: client.id.clone(),
        name,
        active: client.connected,
        ip: known(&client.host.ip),
        mac: known(&client.host.mac),
        model: known(&client.snapclient.name),
        version: known(&client.snapclient.version),
        percent: client.config.volume.percent.min(100) as u8,
        muted: client.config.volume.muted || group.muted,
        group_id: known(&group.id).map(|id| decimal_id(&id, GROUP_ID_DIGITS)),
        group_name: known(&group.name),
        playing: false,
    }
}

impl SpeakerBackend for SnapcastBackend {
    fn connected(&self) -> Option<bool> {
        Some(self.control.is_connected())
    }

    fn devices(&self) -> Pending<'_, Vec<Device>> {
        Box::pin(async move {
            let status = self.control.status().await?;
            let mut devices: Vec<Device> = status
                .clients()
                .map(|(group, client)| device_of(group, client))
                .collect();
            devices.sort_by(|a, b| a.backend_id.cmp(&b.backend_id));
            Ok(devices)
        })
    }

    fn set_volume<'a>(&'a self, device: &'a Device, percent: u8) -> Pending<'a, ()> {
        Box::pin(async move {
            let percent = percent.min(self.max_percent);
            self.control
                .set_volume(&device.backend_id, u16::from(percent), false)
                .await?;
            Ok(())
        })
    }

    fn join<'a>(&'a self, stream: &'a str, devices: &'a [Device]) -> Pending<'a, ()> {
        Box::pin(async move {
            let Some(first) = devices.first() else {
                return Ok(());
            };
            let status = self.control.status().await?;
            if !status.streams.iter().any(|s| s.id == stream) {
                return Err(SpeakerError::Backend(format!(
                    "snapserver has no stream {stream:?}"
                )));
            }
            // The stream's group, if it has one, becomes exactly these devices; else the first
            // device's group does.
            let group = match status.groups.iter().find(|g| g.stream_id == stream) {
                Some(group) => group.clone(),
                None => status
                    .client(&first.backend_id)
                    .map(|(group, _)| group.clone())
                    .ok_or_else(|| SpeakerError::UnknownDevice(first.device_id.clone()))?,
            };
            let members: Vec<&str> = devices.iter().map(|d| d.backend_id.as_str()).collect();
            let status = self.control.set_group_clients(&group.id, &members).await?;
            if group.stream_id != stream {
                self.control.set_group_stream(&group.id, stream).await?;
            }
            self.control.set_group_mute(&group.id, false).await?;
            // Speakers outside the session that are on its stream (snapserver puts every new
            // client on its first stream) move to a stream no session plays into.
            let others: Vec<&str> = status
                .groups
                .iter()
                .filter(|g| g.id != group.id && g.stream_id == stream)
                .map(|g| g.id.as_str())
                .collect();
            if !others.is_empty() {
                let idle = status
                    .streams
                    .iter()
                    .map(|s| s.id.as_str())
                    .find(|id| !self.session_streams.iter().any(|s| s == id))
                    .ok_or_else(|| {
                        SpeakerError::Backend(
                            "snapserver has no stream for speakers outside a session: declare \
                             one that is not in speakers.snapcast_streams"
                                .into(),
                        )
                    })?;
                for other in others {
                    self.control.set_group_stream(other, idle).await?;
                }
            }
            Ok(())
        })
    }

    fn mute<'a>(&'a self, stream: &'a str, muted: bool) -> Pending<'a, ()> {
        Box::pin(async move {
            let status = self.control.status().await?;
            for group in status.groups.iter().filter(|g| g.stream_id == stream) {
                self.control.set_group_mute(&group.id, muted).await?;
            }
            Ok(())
        })
    }
}
