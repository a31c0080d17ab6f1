//! Snapcast, the multi-room audio system the speakers run on: its control protocol
//! ([`control`]) and the server state it reports ([`status`]).

pub mod control;
pub mod status;

pub use control::{ControlSettings, Notification, SnapcastControl, SnapcastError};
pub use status::{Client, ClientConfig, Group, Host, Program, ServerStatus, Stream, Volume};
