//! Metrics for Prometheus (`GET /metrics`): the registry and the states read when scraped
//! (`registry`), the request instruments the edge layer records into (`http`), the process's
//! memory and descriptors (`process`) and the route (`routes`). The series are listed in
//! `docs/metrics.md`.

pub mod http;
pub mod process;
pub mod registry;
pub mod routes;
