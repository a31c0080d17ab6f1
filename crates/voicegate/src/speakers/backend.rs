//! The speaker system behind the surface: Snapcast, or this machine alone. The surface asks a
//! backend for its devices, sets their volumes, and moves devices onto the stream a playback
//! session feeds.

use std::future::Future;
use std::pin::Pin;

use crate::speakers::device::Device;
use crate::speakers::error::SpeakerError;

/// A backend's answer, later.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, SpeakerError>> + Send + 'a>>;

/// A speaker system.
pub trait SpeakerBackend: Send + Sync {
    /// Every device, connected or not, in a stable order.
    fn devices(&self) -> Pending<'_, Vec<Device>>;

    /// Sets a device's volume (0–100 %; a backend clamps further where it must) and unmutes it.
    fn set_volume<'a>(&'a self, device: &'a Device, percent: u8) -> Pending<'a, ()>;

    /// Puts exactly `devices` on the stream named `stream`, so that they (and no others) play
    /// what its feeder writes, and unmutes them. Other devices on that stream move off it.
    fn join<'a>(&'a self, stream: &'a str, devices: &'a [Device]) -> Pending<'a, ()>;

    /// Mutes or unmutes everything playing the stream named `stream` (at once, unlike the
    /// audio already handed over).
    fn mute<'a>(&'a self, stream: &'a str, muted: bool) -> Pending<'a, ()>;

    /// Whether the backend's connection to its speaker system is up; `None` for a backend with
    /// no connection (this machine alone).
    fn connected(&self) -> Option<bool> {
        None
    }
}
