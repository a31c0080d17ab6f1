//! OAuth2 clients: registration by an administrator (id and secret, shown once; grants,
//! redirect URIs and scopes within the owner's role; PKCE required unless the administrator
//! relaxes it), listing and removal.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;

use crate::identity::error::IdentityError;
use crate::identity::oauth_repo::ClientRow;
use crate::identity::opaque::token_hash;
use crate::identity::pkce::PkcePolicy;
use crate::identity::scopes::{ScopeSet, grant_within};
use crate::identity::service::IdentityService;
use crate::identity::token_request::GrantType;
use crate::ids::random_bytes;
use crate::secret::Secret;

/// A new client: its id and secret, shown once. `Debug` hides the secret.
#[derive(Debug, Serialize)]
pub struct NewClient {
    /// Public client id.
    pub client_id: String,
    /// The secret.
    pub client_secret: Secret,
}

/// A client as listed (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct ClientInfo {
    /// Public client id.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// The user client_credentials tokens act for.
    pub owner: String,
    /// Allowed grant types.
    pub grants: Vec<String>,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed scopes.
    pub scopes: ScopeSet,
    /// Whether its authorization requests must carry a PKCE challenge.
    pub pkce: PkcePolicy,
}

impl IdentityService {
    /// Registers a client acting for `owner` that must use PKCE; see
    /// [`IdentityService::add_client_with_pkce`].
    pub async fn add_client(
        &self,
        name: &str,
        owner: &str,
        grants: &[String],
        redirect_uris: &[String],
        scope_text: Option<&str>,
    ) -> Result<NewClient, IdentityError> {
        self.add_client_with_pkce(
            name,
            owner,
            grants,
            redirect_uris,
            scope_text,
            PkcePolicy::Required,
        )
        .await
    }

    /// Registers a client acting for `owner`, within the owner's quota of clients (the CLI too);
    /// returns its id and secret, shown once. Every client is confidential (it gets a secret),
    /// which is what lets `pkce` be optional: such a client's codes are then bound to it by its
    /// secret at the token endpoint.
    pub async fn add_client_with_pkce(
        &self,
        name: &str,
        owner: &str,
        grants: &[String],
        redirect_uris: &[String],
        scope_text: Option<&str>,
        pkce: PkcePolicy,
    ) -> Result<NewClient, IdentityError> {
        let owner_row = self
            .repo
            .find_user(owner)
            .await?
            .ok_or_else(|| IdentityError::UserNotFound(owner.to_string()))?;
        if name.trim().is_empty() || name.len() > 100 {
            return Err(IdentityError::Validation(
                "a client needs a name of 1 to 100 characters".into(),
            ));
        }
        let known = || {
            GrantType::ALL
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if grants.is_empty() {
            return Err(IdentityError::Validation(format!(
                "give at least one --grant of {}",
                known()
            )));
        }
        if let Some(unknown) = grants.iter().find(|g| GrantType::parse(g).is_none()) {
            return Err(IdentityError::Validation(format!(
                "unknown grant {unknown:?}; known: {}",
                known()
            )));
        }
        if grants.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
            return Err(IdentityError::Validation(
                "authorization_code needs at least one --redirect-uri".into(),
            ));
        }
        if pkce == PkcePolicy::Optional && !grants.iter().any(|g| g == "authorization_code") {
            return Err(IdentityError::Validation(
                "--pkce optional concerns the authorization_code grant only: give that grant too, \
                 or leave PKCE required"
                    .into(),
            ));
        }
        if let Some(bad) = redirect_uris.iter().find(|u| {
            !(u.starts_with("https://") || u.starts_with("http://"))
                || u.contains('#')
                || u.contains(char::is_whitespace)
        }) {
            return Err(IdentityError::Validation(format!(
                "invalid redirect URI {bad:?}: an absolute http(s) URI without fragment"
            )));
        }
        let requested = scope_text.map(ScopeSet::parse).transpose()?;
        let granted = grant_within(requested, owner_row.role.scopes())?;
        let client_id = format!("vgc_{}", B64.encode(random_bytes::<12>()));
        let client_secret = B64.encode(random_bytes::<32>());
        let row = ClientRow {
            client_id: client_id.clone(),
            name: name.trim().to_string(),
            secret_hash: token_hash(&client_secret).to_vec(),
            owner_id: owner_row.id,
            owner: owner_row.name,
            grants: grants.join(" "),
            redirect_uris: redirect_uris.join("\n"),
            scope: granted.to_string(),
            pkce,
        };
        let max = self.quotas.oauth_clients_per_user;
        if !self.repo.insert_client(&row, self.clock.now(), max).await? {
            return Err(IdentityError::QuotaExceeded(format!(
                "quota: user {owner:?} owns {max} OAuth clients, the most allowed \
                 (quotas.oauth_clients_per_user); remove one first"
            )));
        }
        Ok(NewClient {
            client_id,
            client_secret: Secret::new(client_secret),
        })
    }

    /// Every client (never the secrets).
    pub async fn list_clients(&self) -> Result<Vec<ClientInfo>, IdentityError> {
        Ok(self
            .repo
            .list_clients()
            .await?
            .into_iter()
            .map(|c| ClientInfo {
                grants: c.grants.split(' ').map(str::to_string).collect(),
                redirect_uris: c.redirect_uris.lines().map(str::to_string).collect(),
                scopes: ScopeSet::from_stored(&c.scope),
                client_id: c.client_id,
                name: c.name,
                owner: c.owner,
                pkce: c.pkce,
            })
            .collect())
    }

    /// Deletes a client and revokes its refresh tokens.
    pub async fn remove_client(&self, client_id: &str) -> Result<(), IdentityError> {
        if self.repo.delete_client(client_id, self.clock.now()).await? {
            Ok(())
        } else {
            Err(IdentityError::Validation(format!(
                "no client {client_id:?}"
            )))
        }
    }

    /// Warns once at start for each client allowed what RFC 9700 advises against: the password
    /// grant, or codes without PKCE.
    pub async fn warn_about_relaxed_clients(&self) -> Result<(), IdentityError> {
        for client in self.repo.list_clients().await? {
            if client.grants.split(' ').any(|g| g == "password") {
                tracing::warn!(client = %client.client_id, "client allowed the password grant (RFC 9700 advises against it)");
            }
            if client.pkce == PkcePolicy::Optional {
                tracing::warn!(client = %client.client_id, "client allowed authorization codes without PKCE (RFC 9700 advises against it)");
            }
        }
        Ok(())
    }
}
