//! voicegate's one integration-test binary: a module per surface.

mod architecture;
mod auth;
mod authorize;
mod cli;
mod connections;
mod docs;
mod errors;
mod events;
mod hk_oauth;
mod media;
mod memory;
mod oauth;
mod ovos;
mod ovos_skill;
mod ovos_stack;
mod postman;
mod put_url;
mod quotas;
mod rate_limits;
mod signatures;
mod snapcast;
mod speakers;
mod support;
mod tokens;
mod users_import;
mod voices;
