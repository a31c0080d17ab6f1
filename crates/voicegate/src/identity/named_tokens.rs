//! Named long-lived tokens: the Snips console's alias tokens, also offered as Home-Assistant-style
//! long-lived tokens (`voicegate token …`). Opaque 256-bit values stored as SHA-256, listed and
//! revoked by name; they end when their user is disabled or changes password.

use std::net::IpAddr;

use crate::clock::UnixTime;
use crate::identity::error::IdentityError;
use crate::identity::model::Credential;
use crate::identity::model::Principal;
use crate::identity::model::User;
use crate::identity::opaque::{NAMED_PREFIX, token_hash};
use crate::identity::scopes::{Scope, ScopeSet, grant_within};
use crate::identity::service::IdentityService;
use crate::identity::sessions::AccessSubject;
use crate::ids::UserId;
use crate::ids::new_token;
use crate::secret::Secret;

/// A named token as listed (never the token itself).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NamedToken {
    /// The user it acts for.
    pub user: String,
    /// Its name.
    pub alias: String,
    /// Scopes it grants.
    pub scopes: ScopeSet,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry, if any.
    pub expires_at: Option<UnixTime>,
}

fn check_alias(alias: &str) -> Result<(), IdentityError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if alias.is_empty() || alias.len() > 64 || !alias.chars().all(ok) {
        return Err(IdentityError::Validation(format!(
            "invalid alias {alias:?}: 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

impl IdentityService {
    /// The Snips console login: an e-mail address (or user name) and password give the user and a
    /// short-lived access token, which then creates a named (alias) token.
    pub async fn console_login(
        &self,
        ip: IpAddr,
        email: &str,
        password: &str,
    ) -> Result<(User, String), IdentityError> {
        let user = self.verify_credentials(ip, email, password, true).await?;
        let subject = AccessSubject {
            user: &user.name,
            scope: user.role.scopes(),
            client_id: None,
            family: None,
            ttl: self.auth.console_login_ttl_secs,
        };
        let (token, _) = self.sign_access(&subject);
        Ok((user, token))
    }

    /// Creates a named token for `user_id` with `scopes` (default: all of the user's role; never
    /// more), valid for `expires_in` seconds or until revoked, within the user's quota of named
    /// tokens (the CLI too). Returns the token, shown once.
    pub async fn create_named_token(
        &self,
        user_id: UserId,
        alias: &str,
        requested: Option<ScopeSet>,
        expires_in: Option<i64>,
    ) -> Result<Secret, IdentityError> {
        check_alias(alias)?;
        let user = self
            .repo
            .list_users()
            .await?
            .into_iter()
            .find(|u| u.id == user_id)
            .ok_or_else(|| IdentityError::UserNotFound(user_id.to_string()))?;
        let granted = grant_within(requested, user.role.scopes())?;
        if expires_in.is_some_and(|s| s < 1) {
            return Err(IdentityError::Validation(
                "the lifetime must be at least one second".into(),
            ));
        }
        let now_ms = self.clock.now_ms();
        let now = now_ms.div_euclid(1000);
        let token = new_token(NAMED_PREFIX);
        let scope = granted.to_string();
        let max = self.quotas.named_tokens_per_user;
        if !self
            .repo
            .insert_named_token(
                user.id,
                alias,
                &token_hash(&token),
                &scope,
                now_ms,
                expires_in.map(|s| now + s),
                max,
            )
            .await?
        {
            return Err(IdentityError::QuotaExceeded(format!(
                "quota: user {:?} has {max} named tokens, the most allowed \
                 (quotas.named_tokens_per_user); revoke one first (expired ones count until \
                 revoked)",
                user.name
            )));
        }
        Ok(Secret::new(token))
    }

    /// The Snips console's alias token: made by `principal` for `user_id`, only from a password
    /// login's access token (`/v1/user/auth` or `/v1/auth/tokens`: never an OAuth client's token,
    /// a named token or a signature, which would turn a narrow or short-lived credential into a
    /// permanent one), for another user only with the `admin` scope, and never with more scopes
    /// than the presenting token or the user's role has.
    pub async fn mint_alias(
        &self,
        principal: &Principal,
        user_id: UserId,
        alias: &str,
    ) -> Result<Secret, IdentityError> {
        self.acts_for(principal, user_id)?;
        if !matches!(
            principal.credential,
            Credential::AccessToken {
                client_id: None,
                ..
            }
        ) {
            return Err(IdentityError::NotInteractive);
        }
        let role = self
            .repo
            .list_users()
            .await?
            .into_iter()
            .find(|u| u.id == user_id)
            .ok_or_else(|| IdentityError::UserNotFound(user_id.to_string()))?
            .role;
        let scopes = principal.scopes.intersection(role.scopes());
        self.create_named_token(user_id, alias, Some(scopes), None)
            .await
    }

    /// The console's logout: deletes `user_id`'s alias, for the user itself or the `admin` scope.
    pub async fn revoke_alias(
        &self,
        principal: &Principal,
        user_id: UserId,
        alias: &str,
    ) -> Result<(), IdentityError> {
        self.acts_for(principal, user_id)?;
        self.revoke_named_token(user_id, alias).await
    }

    /// `Ok` when `principal` may act for `user_id`: itself, or any user with the `admin` scope
    /// (the scope, not the role: an admin's narrow token acts for the admin alone).
    fn acts_for(&self, principal: &Principal, user_id: UserId) -> Result<(), IdentityError> {
        if user_id == principal.user_id || principal.has_scope(Scope::Admin) {
            Ok(())
        } else {
            Err(IdentityError::OtherUser)
        }
    }

    /// Creates a named token for the user named `user`, scopes given as text (CLI).
    pub async fn create_named_token_for(
        &self,
        user: &str,
        alias: &str,
        scope_text: Option<&str>,
        expires_in: Option<i64>,
    ) -> Result<Secret, IdentityError> {
        let found = self
            .repo
            .find_user(user)
            .await?
            .ok_or_else(|| IdentityError::UserNotFound(user.to_string()))?;
        let scopes = scope_text.map(ScopeSet::parse).transpose()?;
        self.create_named_token(found.id, alias, scopes, expires_in)
            .await
    }

    /// Deletes a user's named token.
    pub async fn revoke_named_token(
        &self,
        user_id: UserId,
        alias: &str,
    ) -> Result<(), IdentityError> {
        if self.repo.delete_named_token(user_id, alias).await? {
            self.states.announce_change();
            Ok(())
        } else {
            Err(IdentityError::AliasNotFound(alias.to_string()))
        }
    }

    /// Deletes the named token `alias` of the user named `user` (CLI).
    pub async fn revoke_named_token_for(
        &self,
        user: &str,
        alias: &str,
    ) -> Result<(), IdentityError> {
        let found = self
            .repo
            .find_user(user)
            .await?
            .ok_or_else(|| IdentityError::UserNotFound(user.to_string()))?;
        self.revoke_named_token(found.id, alias).await
    }

    /// The named tokens of the user named `user`, or of everyone.
    pub async fn list_named_tokens(
        &self,
        user: Option<&str>,
    ) -> Result<Vec<NamedToken>, IdentityError> {
        let user_id = match user {
            Some(name) => Some(
                self.repo
                    .find_user(name)
                    .await?
                    .ok_or_else(|| IdentityError::UserNotFound(name.to_string()))?
                    .id,
            ),
            None => None,
        };
        Ok(self
            .repo
            .list_named_tokens(user_id)
            .await?
            .into_iter()
            .map(|row| NamedToken {
                user: row.user_name,
                alias: row.alias,
                scopes: ScopeSet::from_stored(&row.scope),
                created_at: row.created_at,
                expires_at: row.expires_at,
            })
            .collect())
    }

    /// Checks a named token: known, not expired, its user active and its password unchanged since.
    pub(super) async fn authenticate_named(&self, token: &str) -> Result<Principal, IdentityError> {
        let row = self
            .repo
            .find_named_token(&token_hash(token))
            .await?
            .ok_or(IdentityError::InvalidToken)?;
        let now = self.clock.now();
        if row.expires_at.is_some_and(|at| now >= at) {
            return Err(IdentityError::InvalidToken);
        }
        let state = self
            .user_state(&row.user_name)
            .await
            .ok_or(IdentityError::InvalidToken)?;
        if !state.active || row.created_at_ms < state.tokens_valid_after_ms {
            return Err(IdentityError::InvalidToken);
        }
        Ok(Principal {
            user_id: row.user_id,
            user: row.user_name,
            role: state.role,
            scopes: ScopeSet::from_stored(&row.scope),
            issued_at: row.created_at,
            issued_at_ms: row.created_at_ms,
            expires_at: row.expires_at,
            credential: Credential::NamedToken {
                hash: token_hash(token),
            },
        })
    }
}
