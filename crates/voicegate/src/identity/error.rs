//! The identity domain's one error type; `http::error` maps it to status codes.

use crate::identity::password::PasswordError;
use crate::identity::scopes::{Scope, ScopeError};
use crate::store::StoreError;

impl From<ScopeError> for IdentityError {
    fn from(e: ScopeError) -> Self {
        IdentityError::Validation(e.to_string())
    }
}

/// Everything that can go wrong in the identity domain.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Wrong user name or password, or an inactive user: one answer for all three.
    #[error("invalid user or password")]
    InvalidCredentials,
    /// No credentials were sent where they are required.
    #[error("authentication required")]
    MissingCredentials,
    /// A token is malformed, forged, expired, revoked, of the wrong kind, or its user is disabled.
    #[error("invalid or expired token")]
    InvalidToken,
    /// Only a password login's token may do this (not an OAuth client's, a named token or a
    /// signature).
    #[error("alias tokens are made from a password login (POST /v1/user/auth) or with the CLI")]
    NotInteractive,
    /// The token is valid but does not grant this scope.
    #[error("the token lacks the {0} scope")]
    InsufficientScope(Scope),
    /// A refresh asked for a scope the original grant did not include.
    #[error("the scope {:?} was not granted", .0.as_str())]
    ScopeEscalation(Scope),
    /// The server is stopping and takes no more work.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// A part the check needs (the nonce store) failed; the request may be retried.
    #[error("{0}")]
    Unavailable(String),
    /// Too many attempts; retry after this many seconds.
    #[error("too many attempts, retry in {retry_after} seconds")]
    RateLimited {
        /// Seconds until the window ends.
        retry_after: i64,
    },
    /// The user has as many credentials of a kind as its quota allows; the text names the
    /// quota.
    #[error("{0}")]
    QuotaExceeded(String),
    /// A request value is not acceptable.
    #[error("{0}")]
    Validation(String),
    /// The user name is taken.
    #[error("user {0:?} already exists")]
    UserExists(String),
    /// The user comes from the USERS_DB file and is changed there, not here.
    #[error("user {0:?} comes from the USERS_DB file: change it in that file")]
    ManagedByUsersDb(String),
    /// The user already has a named token of that alias.
    #[error("a token named {0:?} already exists")]
    AliasExists(String),
    /// A signed request failed verification (one answer for every reason).
    #[error("the request signature is invalid")]
    InvalidSignature,
    /// No API key of that id.
    #[error("no API key {0:?}")]
    ApiKeyNotFound(String),
    /// No named token of that alias.
    #[error("no token named {0:?}")]
    AliasNotFound(String),
    /// A request made with a web session cookie did not carry the session's CSRF token.
    #[error("a request with the session cookie must carry its X-CSRF-Token header")]
    CsrfMismatch,
    /// The token's user may not act on another user's resources.
    #[error("this token may not act for another user")]
    OtherUser,
    /// No such user.
    #[error("no user named {0:?}")]
    UserNotFound(String),
    /// A users.json file could not be read or is not in the ovos-api format.
    #[error("users file {path}: {reason}")]
    UsersFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Password hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The signing key could not be read or created.
    #[error("signing key: {0}")]
    SigningKey(String),
}

impl From<sqlx::Error> for IdentityError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Database(e))
    }
}
