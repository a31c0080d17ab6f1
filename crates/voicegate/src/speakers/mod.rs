//! The speakers domain (the HK Omni surface): multi-room speakers over Snapcast.
//!
//! Built so far: the client of snapserver's control protocol ([`snapcast`]), which the speaker
//! backend will stand on.

pub mod snapcast;
