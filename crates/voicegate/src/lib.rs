//! voicegate: one self-hosted server that gives a home voice platform a secure REST API.
//!
//! The library builds the server ([`app::App`]) so that the binary and the tests share it; the
//! binary adds the command line ([`cli`]).

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod identity;
pub mod ovos;
pub mod secret;
pub mod store;
