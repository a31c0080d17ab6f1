//! The speakers domain (the HK Omni surface): multi-room speakers over Snapcast.
//!
//! Built so far, for the surface to stand on: the speaker backend's trait ([`backend`]) with
//! the Snapcast backend ([`snapcast`]: its control protocol, its status, the backend), the
//! feeder that paces audio into a stream source ([`feeder`]), the device model and the
//! contract's volume scale ([`device`]), and the domain's errors ([`error`]).

pub mod audio;
pub mod backend;
pub mod device;
pub mod error;
pub mod events;
pub mod feeder;
pub mod forward;
pub mod local;
pub mod media;
pub mod playback;
pub mod routes;
pub mod routing;
pub mod service;
pub mod sessions;
pub mod setup;
pub mod snapcast;
pub mod streams;

pub use service::SpeakersService;
