//! The ovos-api surface. The message-bus bridge arrives with its own issue; for now only the
//! routes that need no bus.

pub mod routes;
