//! Snapcast, the multi-room audio system the speakers run on: its control protocol
//! ([`control`]), the server state it reports ([`status`]), the speaker backend over them
//! ([`backend`]), and the snapserver voicegate can run itself ([`managed`]).

pub mod backend;
pub mod control;
pub mod managed;
pub mod status;

pub use backend::SnapcastBackend;
pub use control::{ControlSettings, Notification, SnapcastControl, SnapcastError};
pub use status::{Client, ClientConfig, Group, Host, Program, ServerStatus, Stream, Volume};
