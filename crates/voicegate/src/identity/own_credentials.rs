//! A user's own credentials, managed by the user (the console's Account page, or any client):
//! named tokens and API keys listed, made and revoked. Only an interactive sign-in (a password
//! login's access token, or a console session) manages them, and makes one never with more
//! scopes than it holds: a narrow or short-lived credential can neither mint a wider or permanent
//! one nor list or revoke the user's others.

use crate::identity::api_keys::{ApiKeyInfo, NewApiKey};
use crate::identity::error::IdentityError;
use crate::identity::model::{Credential, Principal};
use crate::identity::named_tokens::NamedToken;
use crate::identity::scopes::{ScopeSet, grant_within};
use crate::identity::service::IdentityService;
use crate::secret::Secret;

/// `Ok` when the principal signed in with a password (an access token issued without an OAuth
/// client, or a console session).
fn interactive(principal: &Principal) -> Result<(), IdentityError> {
    match principal.credential {
        Credential::AccessToken {
            client_id: None, ..
        }
        | Credential::WebSession { .. } => Ok(()),
        _ => Err(IdentityError::NotInteractive),
    }
}

/// The scopes a new credential gets: those asked for (default: all the principal holds), never
/// beyond what the principal holds.
fn scopes_for(principal: &Principal, requested: Option<&str>) -> Result<ScopeSet, IdentityError> {
    let requested = requested
        .filter(|text| !text.trim().is_empty())
        .map(ScopeSet::parse)
        .transpose()?;
    Ok(grant_within(
        requested,
        principal.scopes.intersection(principal.role.scopes()),
    )?)
}

impl IdentityService {
    /// The principal's own named tokens (from an interactive sign-in only).
    pub async fn own_named_tokens(
        &self,
        principal: &Principal,
    ) -> Result<Vec<NamedToken>, IdentityError> {
        interactive(principal)?;
        self.list_named_tokens(Some(&principal.user)).await
    }

    /// Makes a named token for the principal (from an interactive sign-in only); the token is
    /// shown once.
    pub async fn create_own_named_token(
        &self,
        principal: &Principal,
        alias: &str,
        scopes: Option<&str>,
        expires_in: Option<i64>,
    ) -> Result<(Secret, ScopeSet), IdentityError> {
        interactive(principal)?;
        let granted = scopes_for(principal, scopes)?;
        let token = self
            .create_named_token(principal.user_id, alias, Some(granted), expires_in)
            .await?;
        Ok((token, granted))
    }

    /// Revokes one of the principal's named tokens (from an interactive sign-in only).
    pub async fn revoke_own_named_token(
        &self,
        principal: &Principal,
        alias: &str,
    ) -> Result<(), IdentityError> {
        interactive(principal)?;
        self.revoke_named_token(principal.user_id, alias).await
    }

    /// The principal's own API keys, never the secrets (from an interactive sign-in only).
    pub async fn own_api_keys(
        &self,
        principal: &Principal,
    ) -> Result<Vec<ApiKeyInfo>, IdentityError> {
        interactive(principal)?;
        let mut keys = self.list_api_keys().await?;
        keys.retain(|key| key.user == principal.user);
        Ok(keys)
    }

    /// Makes an API key for the principal (from an interactive sign-in only); the secret is
    /// shown once.
    pub async fn create_own_api_key(
        &self,
        principal: &Principal,
        scopes: Option<&str>,
    ) -> Result<(NewApiKey, ScopeSet), IdentityError> {
        interactive(principal)?;
        let granted = scopes_for(principal, scopes)?;
        let key = self
            .create_api_key(&principal.user, Some(&granted.to_string()))
            .await?;
        Ok((key, granted))
    }

    /// Removes one of the principal's API keys; another user's key is "not found".
    pub async fn remove_own_api_key(
        &self,
        principal: &Principal,
        api_key: &str,
    ) -> Result<(), IdentityError> {
        let own = self.own_api_keys(principal).await?;
        if !own.iter().any(|key| key.api_key == api_key) {
            return Err(IdentityError::ApiKeyNotFound(api_key.to_string()));
        }
        self.remove_api_key(api_key).await
    }
}
