//! Identity: users, passwords, access and refresh tokens, named tokens, API keys and signed
//! requests, the OAuth2 server, login protection.
//!
//! [`IdentityService`] is the only place that decides who someone is; HTTP handlers and CLI
//! commands call it and map its [`IdentityError`] once. This file only names the parts.

pub mod account_routes;
mod api_keys;
pub mod authorize;
pub mod consent_routes;
pub mod console_routes;
mod credentials_repo;
#[cfg(test)]
mod cutoff_tests;
mod error;
pub mod jwt;
pub mod model;
mod named_tokens;
mod nonce_claims;
mod nonce_log;
mod nonce_store;
pub mod oauth;
mod oauth_clients;
pub mod oauth_error;
mod oauth_repo;
pub mod oauth_routes;
pub mod opaque;
mod own_credentials;
pub mod password;
pub mod pkce;
pub mod rate_limit;
mod repo;
mod revoked;
pub mod routes;
pub mod scopes;
mod sealed;
mod service;
mod sessions;
pub mod signatures;
pub mod signing_key;
pub mod token_request;
mod user_states;
mod users;
pub mod users_file;
pub mod web_sessions;

pub use api_keys::{ApiKeyInfo, NewApiKey, SignatureAdmission, SignedRequest};
pub use error::IdentityError;
pub use model::{Credential, Principal, Role, TokenPair, User, UserName, UserSource};
pub use named_tokens::NamedToken;
pub use oauth_clients::{ClientInfo, NewClient};
pub use pkce::PkcePolicy;
pub use service::IdentityService;
pub use users::ImportReport;
