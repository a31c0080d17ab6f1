//! The Wyoming protocol server for Home Assistant's "Wyoming Protocol" integration: the voices
//! as text to speech (whole or streamed sentence by sentence) and the assistants' recognisers as
//! speech to text, over the shared engines and services. Off unless `[wyoming] enabled`.
//!
//! `codec.rs` frames events with bounded sizes, `event.rs` is the event and its error codes,
//! `server.rs` accepts (allowlist, connection cap), `connection.rs` serves one connection,
//! `describe.rs` answers `describe`, `tts.rs` and `streaming.rs` speak, `stt.rs` listens.

pub mod codec;
pub mod connection;
pub mod context;
pub mod describe;
pub mod event;
pub mod server;
pub mod streaming;
pub mod stt;
pub mod tts;

pub use context::WyomingContext;
pub use server::WyomingServer;
