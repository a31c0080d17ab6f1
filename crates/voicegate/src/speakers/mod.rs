//! The speakers domain (the HK Omni surface): multi-room speakers over Snapcast.
//!
//! Built so far, for the speaker backend to stand on: the client of snapserver's control
//! protocol ([`snapcast`]) and the feeder that paces audio into a stream source ([`feeder`]).

pub mod feeder;
pub mod snapcast;
