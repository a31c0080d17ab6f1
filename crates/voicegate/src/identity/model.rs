//! Identity types: users, roles, user names, principals and token pairs.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::identity::error::IdentityError;
use crate::identity::scopes::{Scope, ScopeSet};
use crate::ids::UserId;
use crate::secret::Secret;

/// A user's role; it decides the scopes of the user's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Uses the voice platform.
    User,
    /// Also administers voicegate.
    Admin,
}

impl Role {
    /// Parses `user` or `admin`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// The scopes a token for this role carries: a user gets every surface, an admin also
    /// `admin`.
    pub const fn scopes(self) -> ScopeSet {
        const ADMIN: ScopeSet = ScopeSet::of(&Scope::ALL);
        match self {
            Self::User => ADMIN.without(Scope::Admin),
            Self::Admin => ADMIN,
        }
    }
}

/// A stored user. `Debug` leaves the password hash out.
#[derive(Clone)]
pub struct User {
    /// Row id.
    pub id: UserId,
    /// Unique name (the JWT `sub`).
    pub name: String,
    /// Argon2id or bcrypt hash.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Whether the user may log in and use tokens.
    pub active: bool,
    /// Where the user comes from.
    pub source: UserSource,
    /// E-mail address (the Snips console logs in with it).
    pub email: Option<String>,
    /// The hash the users file had, when the user was imported.
    pub imported_hash: Option<String>,
    /// Tokens issued before this are refused, in milliseconds since the Unix epoch.
    pub tokens_valid_after_ms: i64,
    /// Creation time.
    pub created_at: UnixTime,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("active", &self.active)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Where a user comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSource {
    /// Created by the CLI or `import-users`; managed with the CLI.
    Local,
    /// Synced from `USERS_DB` at start; managed in that file.
    UsersDb,
}

impl UserSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::UsersDb => "users_db",
        }
    }

    /// Parses a stored name (anything unknown is local).
    pub fn parse(text: &str) -> Self {
        if text == "users_db" {
            Self::UsersDb
        } else {
            Self::Local
        }
    }
}

/// A validated user name: 1 to 64 characters of letters, digits and `._@-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    /// Validates a user name.
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let ok_char = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '@' | '-');
        if text.is_empty() || text.chars().count() > 64 || !text.chars().all(ok_char) {
            return Err(IdentityError::Validation(format!(
                "invalid user name {text:?}: use 1 to 64 letters, digits or . _ @ -"
            )));
        }
        Ok(Self(text.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What proved a principal, so that it can be checked again later (a long-lived events stream
/// ends when its credential is revoked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A signed access token (JWT).
    AccessToken {
        /// Its `jti`.
        jti: String,
        /// The OAuth client it was issued to, if any.
        client_id: Option<String>,
        /// The refresh-token family issued with it, if any (base64url).
        family: Option<String>,
    },
    /// A named long-lived token, by its stored hash.
    NamedToken {
        /// SHA-256 of the token.
        hash: [u8; 32],
    },
    /// An API key that signed the request.
    ApiKey {
        /// The key's public id.
        key_id: String,
    },
    /// A web console session (its cookie and CSRF token), by its stored hash.
    WebSession {
        /// SHA-256 of the session token.
        hash: [u8; 32],
    },
}

/// Who made an authenticated request: from a verified access token, named token or signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User id.
    pub user_id: UserId,
    /// User name.
    pub user: String,
    /// Role at the time of the request.
    pub role: Role,
    /// Scopes the token grants.
    pub scopes: ScopeSet,
    /// Token issue time.
    pub issued_at: UnixTime,
    /// Token issue time in milliseconds, compared with the user's token cut-off.
    pub issued_at_ms: i64,
    /// Token expiry (`None`: a named token without expiry).
    pub expires_at: Option<UnixTime>,
    /// What proved it.
    pub credential: Credential,
}

impl Principal {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// `Ok` when the token grants `scope`, else [`IdentityError::InsufficientScope`].
    pub fn require_scope(&self, scope: Scope) -> Result<(), IdentityError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(IdentityError::InsufficientScope(scope))
        }
    }
}

/// An access token and its refresh token, as the ovos-api login answers them. `Debug` hides both.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenPair {
    /// JWT access token.
    pub access_token: Secret,
    /// Opaque refresh token.
    pub refresh_token: Secret,
}
