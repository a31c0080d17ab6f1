//! A speaker as the surface shows it, whatever system it belongs to, and the volume scale of
//! the HK Omni contract (0–50).

use sha2::{Digest, Sha256};

/// Digits of a DeviceID (the contract's examples have 14 or 15).
pub const DEVICE_ID_DIGITS: u32 = 14;

/// The contract's loudest volume.
pub const MAX_WIRE_VOLUME: u8 = 50;

/// A speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The contract's DeviceID: decimal digits, stable for as long as the speaker keeps its
    /// backend id (so that lists of them need no escaping in a query).
    pub device_id: String,
    /// The id the backend knows it by (a Snapcast client id).
    pub backend_id: String,
    /// Its name (the backend's name for it, else its host's).
    pub name: String,
    /// Whether it is connected now.
    pub active: bool,
    /// Its address, if known.
    pub ip: Option<String>,
    /// Its MAC address, if known.
    pub mac: Option<String>,
    /// The program it runs and its version, if known.
    pub model: Option<String>,
    /// Its software version, if known.
    pub version: Option<String>,
    /// Its volume, 0–100 %.
    pub percent: u8,
    /// Whether it is muted (itself or its group).
    pub muted: bool,
    /// The contract's GroupID for the group it is in (decimal digits), if any.
    pub group_id: Option<String>,
    /// Its group's name, if it has one.
    pub group_name: Option<String>,
    /// Whether a session is playing on it now (the surface knows; a backend says `false`).
    pub playing: bool,
}

impl Device {
    /// Its volume on the contract's 0–50 scale (muted is 0).
    pub fn wire_volume(&self) -> u8 {
        if self.muted {
            0
        } else {
            percent_to_wire(self.percent)
        }
    }
}

/// A stable decimal id for a backend's id: `digits` decimal digits of its SHA-256.
pub fn decimal_id(backend_id: &str, digits: u32) -> String {
    let digest = Sha256::digest(backend_id.as_bytes());
    let mut number = [0u8; 8];
    number.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(number) % 10u64.pow(digits)).to_string()
}

/// The contract's 0–50 as a percentage (each step is 2 %).
pub fn wire_to_percent(volume: u8) -> u8 {
    volume.min(MAX_WIRE_VOLUME) * 2
}

/// A percentage on the contract's 0–50 scale, rounded.
pub fn percent_to_wire(percent: u8) -> u8 {
    percent.min(100).div_ceil(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_decimal_and_distinct() {
        let a = decimal_id("kitchen", 14);
        assert_eq!(a, decimal_id("kitchen", 14));
        assert_ne!(a, decimal_id("kitchen#2", 14));
        assert!(
            a.len() <= 14 && a.bytes().all(|b| b.is_ascii_digit()),
            "{a}"
        );
    }

    #[test]
    fn the_wire_scale_is_half_a_percent_and_clamped() {
        assert_eq!(wire_to_percent(25), 50);
        assert_eq!(wire_to_percent(50), 100);
        assert_eq!(wire_to_percent(80), 100);
        assert_eq!(percent_to_wire(47), 24);
        assert_eq!(percent_to_wire(100), 50);
        assert_eq!(percent_to_wire(0), 0);
    }
}
