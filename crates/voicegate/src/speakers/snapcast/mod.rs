//! Snapcast, the multi-room audio system the speakers run on: its control protocol
//! ([`control`]), the server state it reports ([`status`]), and the speaker backend over them
//! ([`backend`]).

pub mod backend;
pub mod control;
pub mod status;

pub use backend::SnapcastBackend;
pub use control::{ControlSettings, Notification, SnapcastControl, SnapcastError};
pub use status::{Client, ClientConfig, Group, Host, Program, ServerStatus, Stream, Volume};
