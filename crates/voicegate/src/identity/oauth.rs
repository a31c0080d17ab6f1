//! The OAuth2 authorization server's domain: clients, the token endpoint's grants
//! (client_credentials, password, refresh_token), revocation (RFC 7009) and introspection
//! (RFC 7662). Errors are RFC 6749's.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::clock::UnixTime;
use crate::identity::error::IdentityError;
use crate::identity::jwt::AccessClaims;
use crate::identity::model::User;
use crate::identity::oauth_error::OAuthError;
use crate::identity::oauth_repo::ClientRow;
use crate::identity::opaque::{REFRESH_PREFIX, token_hash};
use crate::identity::repo::NewRefresh;
use crate::identity::scopes::ScopeSet;
use crate::identity::service::{IdentityService, limit_key_for_ip};
use crate::identity::sessions::AccessSubject;
use crate::identity::token_request::TokenRequest;
use crate::ids::{new_token, random_bytes};
use crate::secret::Secret;

/// Client credentials as presented: HTTP Basic or the body's `client_id`/`client_secret`.
pub struct PresentedClient {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
}

impl std::fmt::Debug for PresentedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedClient")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A token endpoint answer. `Debug` hides the tokens.
#[derive(Debug, Serialize)]
pub struct TokenAnswer {
    /// The access token (JWT).
    pub access_token: Secret,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// A refresh token, for grants that issue one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// The granted scopes.
    pub scope: String,
}

/// Reads client credentials from an `Authorization: Basic` value and the form, refusing both at
/// once (RFC 6749 §2.3.1).
pub fn presented_client(
    authorization: Option<&str>,
    form: &HashMap<String, String>,
) -> Result<PresentedClient, OAuthError> {
    let in_body = form.get("client_id").map(|id| PresentedClient {
        client_id: id.clone(),
        client_secret: form.get("client_secret").cloned().unwrap_or_default(),
    });
    let basic = match authorization {
        Some(value) => {
            let (scheme, encoded) = value.split_once(' ').ok_or(OAuthError::InvalidClient)?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::InvalidClient);
            }
            let decoded = STANDARD
                .decode(encoded.trim())
                .map_err(|_| OAuthError::InvalidClient)?;
            let text = String::from_utf8(decoded).map_err(|_| OAuthError::InvalidClient)?;
            let (id, secret) = text.split_once(':').ok_or(OAuthError::InvalidClient)?;
            let unescape = |s: &str| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                    .ok()
                    .and_then(|mut v| v.pop())
                    .map(|(_, v)| v)
                    .unwrap_or_default()
            };
            Some(PresentedClient {
                client_id: unescape(id),
                client_secret: unescape(secret),
            })
        }
        None => None,
    };
    match (basic, in_body) {
        (Some(_), Some(_)) => Err(OAuthError::InvalidRequest(
            "use one client authentication method: HTTP Basic or the request body, not both".into(),
        )),
        (Some(client), None) | (None, Some(client)) => Ok(client),
        (None, None) => Err(OAuthError::InvalidClient),
    }
}

/// The scopes to grant: those asked for (default: all allowed), never beyond `allowed`.
fn narrow(requested: Option<ScopeSet>, allowed: ScopeSet) -> Result<ScopeSet, OAuthError> {
    let granted = requested.unwrap_or(allowed);
    match granted.first_beyond(allowed) {
        Some(beyond) => Err(OAuthError::InvalidScope(format!(
            "the scope {:?} is not allowed for this client",
            beyond.as_str()
        ))),
        None => Ok(granted),
    }
}

impl IdentityService {
    /// Authenticates a client; failures count against the address.
    async fn authenticate_client(
        &self,
        ip: IpAddr,
        presented: &PresentedClient,
    ) -> Result<ClientRow, OAuthError> {
        let now = self.clock.now();
        let ip_key = limit_key_for_ip(ip);
        self.limits
            .failures_by_ip
            .acquire(&ip_key, now)
            .map_err(|retry_after| IdentityError::RateLimited { retry_after })?;
        let client = self.repo.find_client(&presented.client_id).await?;
        let presented_hash = token_hash(&presented.client_secret);
        // Unknown clients cost the same comparison as known ones.
        let stored = client
            .as_ref()
            .map_or([0u8; 32].to_vec(), |c| c.secret_hash.clone());
        let matches: bool = presented_hash.ct_eq(stored.as_slice()).into();
        match client {
            Some(client) if matches => {
                self.limits.failures_by_ip.release(&ip_key);
                Ok(client)
            }
            _ => Err(OAuthError::InvalidClient),
        }
    }

    /// An access token for a client, with its claims (a code redemption records the jti);
    /// `family` is the refresh-token family issued with it.
    pub(super) fn oauth_access_claims(
        &self,
        user: &str,
        client_id: &str,
        scope: ScopeSet,
        family: Option<&[u8]>,
    ) -> (String, AccessClaims) {
        let subject = AccessSubject {
            user,
            scope,
            client_id: Some(client_id),
            family,
            ttl: self.auth.oauth_access_ttl_secs,
        };
        self.sign_access(&subject)
    }

    /// The token endpoint: checks the client, that it may use the grant, then the grant.
    pub async fn token(
        &self,
        ip: IpAddr,
        presented: &PresentedClient,
        request: TokenRequest,
    ) -> Result<TokenAnswer, OAuthError> {
        let client = self.authenticate_client(ip, presented).await?;
        let grant = request.grant_type();
        if !client.grants.split(' ').any(|g| g == grant.as_str()) {
            return Err(OAuthError::UnauthorizedClient(format!(
                "this client may not use {}",
                grant.as_str()
            )));
        }
        let now = self.clock.now();
        match request {
            TokenRequest::ClientCredentials { scope } => {
                self.grant_client_credentials(&client, scope).await
            }
            TokenRequest::Password {
                username,
                password,
                scope,
            } => {
                self.grant_password(ip, &client, &username, &password, scope, now)
                    .await
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
            } => {
                self.grant_refresh(&client, &refresh_token, scope, now)
                    .await
            }
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.redeem_code(
                    &client,
                    &code,
                    redirect_uri.as_deref(),
                    code_verifier.as_ref(),
                    now,
                )
                .await
            }
        }
    }

    /// An answer for the client's access token and optional refresh token (with its family).
    fn answer(
        &self,
        user: &str,
        client: &ClientRow,
        scope: ScopeSet,
        refresh: Option<(String, &[u8])>,
    ) -> TokenAnswer {
        let family = refresh.as_ref().map(|(_, family)| *family);
        let (access_token, _) = self.oauth_access_claims(user, &client.client_id, scope, family);
        TokenAnswer {
            access_token: Secret::new(access_token),
            token_type: "Bearer",
            expires_in: self.auth.oauth_access_ttl_secs,
            refresh_token: refresh.map(|(token, _)| Secret::new(token)),
            scope: scope.to_string(),
        }
    }

    /// `client_credentials`: a token for the client's owner, within the client's scopes.
    async fn grant_client_credentials(
        &self,
        client: &ClientRow,
        requested: Option<ScopeSet>,
    ) -> Result<TokenAnswer, OAuthError> {
        let scope = narrow(requested, ScopeSet::from_stored(&client.scope))?;
        if self
            .user_state(&client.owner)
            .await
            .filter(|s| s.active)
            .is_none()
        {
            return Err(OAuthError::InvalidClient);
        }
        Ok(self.answer(&client.owner, client, scope, None))
    }

    /// `password`: a user's token pair, within the client's scopes and the user's role.
    async fn grant_password(
        &self,
        ip: IpAddr,
        client: &ClientRow,
        username: &str,
        password: &Secret,
        requested: Option<ScopeSet>,
        now: UnixTime,
    ) -> Result<TokenAnswer, OAuthError> {
        let user = match self
            .verify_credentials(ip, username, password.expose(), true)
            .await
        {
            Ok(user) => user,
            Err(IdentityError::InvalidCredentials | IdentityError::Validation(_)) => {
                return Err(OAuthError::InvalidGrant(
                    "invalid username or password".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let allowed = ScopeSet::from_stored(&client.scope).intersection(user.role.scopes());
        let scope = narrow(requested, allowed)?;
        let (refresh_token, family) = self
            .issue_client_refresh(&user, &client.client_id, &scope.to_string(), now)
            .await?;
        Ok(self.answer(&user.name, client, scope, Some((refresh_token, &family))))
    }

    /// `refresh_token`: spends the client's refresh token for a new pair, scopes narrowed if
    /// asked, never widened.
    async fn grant_refresh(
        &self,
        client: &ClientRow,
        refresh_token: &Secret,
        requested: Option<ScopeSet>,
        now: UnixTime,
    ) -> Result<TokenAnswer, OAuthError> {
        let rotated = match self
            .rotate_refresh(
                refresh_token.expose(),
                now,
                Some(&client.client_id),
                requested,
            )
            .await
        {
            Ok(rotated) => rotated,
            Err(IdentityError::InvalidToken) => {
                return Err(OAuthError::InvalidGrant(
                    "the refresh token is invalid, expired or revoked".into(),
                ));
            }
            Err(IdentityError::ScopeEscalation(scope)) => {
                return Err(OAuthError::InvalidScope(format!(
                    "the scope {:?} was not granted",
                    scope.as_str()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(self.answer(
            &rotated.user,
            client,
            rotated.scope,
            Some((rotated.refresh_token, &rotated.family)),
        ))
    }

    /// Stores a new client-bound refresh token; returns it and its family.
    pub(super) async fn issue_client_refresh(
        &self,
        user: &User,
        client_id: &str,
        scope: &str,
        now: UnixTime,
    ) -> Result<(String, [u8; 16]), OAuthError> {
        let refresh_token = new_token(REFRESH_PREFIX);
        let family = random_bytes::<16>();
        let family_end = now + self.auth.oauth_refresh_ttl_secs;
        let stored = NewRefresh {
            token_hash: &token_hash(&refresh_token),
            family: &family,
            user_id: user.id,
            client_id: Some(client_id),
            scope: Some(scope),
            expires_at: family_end.min(now + self.auth.oauth_refresh_idle_secs),
            family_expires_at: Some(family_end),
            user_valid_after_ms: user.tokens_valid_after_ms,
        };
        if !self.repo.insert_refresh(&stored, now).await? {
            return Err(OAuthError::InvalidGrant(
                "the user's password or status changed meanwhile; sign in again".into(),
            ));
        }
        Ok((refresh_token, family))
    }

    /// RFC 7009: revokes a refresh token (its whole family) or an access token issued to the
    /// client. Unknown tokens and other clients' tokens are ignored (the answer is 200 anyway).
    pub async fn revoke(
        &self,
        ip: IpAddr,
        presented: &PresentedClient,
        token: &str,
    ) -> Result<(), OAuthError> {
        let client = self.authenticate_client(ip, presented).await?;
        let now = self.clock.now();
        if token.starts_with(REFRESH_PREFIX) {
            if let Some(row) = self.repo.find_refresh(&token_hash(token)).await?
                && row.client_id.as_deref() == Some(client.client_id.as_str())
            {
                self.revoke_family(&row.family, now).await?;
            }
            return Ok(());
        }
        // An access token: the signature must be ours, even if it has just expired.
        if let Ok(claims) = self.jwt.verify(token, now)
            && claims.client_id.as_deref() == Some(client.client_id.as_str())
        {
            self.revoke_access_token(claims.jti, claims.exp).await?;
        }
        Ok(())
    }

    /// RFC 7662: what a token is, for the client it was issued to; `{"active": false}` and
    /// nothing else for anything expired, revoked, unknown or another client's.
    pub async fn introspect(
        &self,
        ip: IpAddr,
        presented: &PresentedClient,
        token: &str,
    ) -> Result<Value, OAuthError> {
        let client = self.authenticate_client(ip, presented).await?;
        let now = self.clock.now();
        let inactive = json!({"active": false});
        if token.starts_with(REFRESH_PREFIX) {
            let Some(row) = self.repo.find_refresh(&token_hash(token)).await? else {
                return Ok(inactive);
            };
            let live = row.revoked_at.is_none()
                && row.spent_at.is_none()
                && now < row.expires_at
                && row.user_active;
            if !live || row.client_id.as_deref() != Some(client.client_id.as_str()) {
                return Ok(inactive);
            }
            return Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": client.client_id,
                "username": row.user_name,
                "sub": row.user_name,
                "scope": row.scope.unwrap_or_default(),
                "exp": row.expires_at,
                "iat": row.issued_at,
            }));
        }
        let Ok(principal) = self.authenticate(token).await else {
            return Ok(inactive);
        };
        let Ok(claims) = self.jwt.verify(token, now) else {
            return Ok(inactive);
        };
        if claims.client_id.as_deref() != Some(client.client_id.as_str()) {
            return Ok(inactive);
        }
        Ok(json!({
            "active": true,
            "token_type": "Bearer",
            "client_id": client.client_id,
            "username": principal.user,
            "sub": claims.sub,
            "scope": claims.scope,
            "exp": claims.exp,
            "iat": claims.iat,
            "iss": claims.iss,
            "aud": claims.aud,
            "jti": claims.jti,
        }))
    }
}
