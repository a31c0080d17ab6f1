//! voicegate: one self-hosted server that gives a home voice platform a secure REST API.
//!
//! The library builds the server ([`app::App`]) so that the binary and the tests share it; the
//! binary adds the command line ([`cli`]).

pub mod address_policy;
pub mod app;
pub mod assistants;
pub mod cli;
pub mod clock;
pub mod config;
pub mod engines;
pub mod events;
pub mod http;
pub mod identity;
pub mod ids;
pub mod jobs;
pub mod key_file;
pub mod metrics;
pub mod outbound;
pub mod ovos;
pub mod secret;
pub mod speakers;
pub mod state;
pub mod store;
pub mod voices;
pub mod web;
pub mod wyoming;

/// Installs the TLS crypto provider (ring) that every HTTP client of the process uses; harmless
/// when it is already installed. Call before building a `reqwest::Client`.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
