//! The HTTP edge: the router, extractors, the one error mapping, limits and the OpenAPI document.

pub mod auth;
pub mod client_addr;
pub mod connections;
pub mod cookies;
pub mod dialect;
pub mod edge;
pub mod error;
pub mod error_map;
pub mod extract;
pub mod health;
pub mod html;
pub mod openapi;
pub mod openapi_answers;
pub mod params;
pub mod peers;
pub mod router;
pub mod signature;
