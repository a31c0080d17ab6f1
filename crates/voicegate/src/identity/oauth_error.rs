//! The OAuth2 endpoints' errors, RFC 6749's codes.

use crate::identity::error::IdentityError;

/// An RFC 6749 error answer.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The request is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// Client authentication failed (same answer for unknown client and wrong secret).
    #[error("client authentication failed")]
    InvalidClient,
    /// The grant (code, refresh token, password) is invalid, expired or revoked.
    #[error("{0}")]
    InvalidGrant(String),
    /// The client may not use this grant type.
    #[error("{0}")]
    UnauthorizedClient(String),
    /// The grant type is not supported.
    #[error("{0}")]
    UnsupportedGrantType(String),
    /// A requested scope is unknown or not allowed.
    #[error("{0}")]
    InvalidScope(String),
    /// Anything else: rate limits, the store.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl OAuthError {
    /// The RFC 6749 error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::Identity(_) => "server_error",
        }
    }
}
