//! API keys and the verification of HMAC-signed requests.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::clock::UnixTime;
use crate::identity::error::IdentityError;
use crate::identity::model::Credential;
use crate::identity::model::Principal;
use crate::identity::nonce_log::{NonceHash, nonce_hash};
use crate::identity::scopes::{ScopeSet, grant_within};
use crate::identity::service::{IdentityService, limit_key_for_ip};
use crate::identity::signatures::{self, KEY_PREFIX, WINDOW_SECS};
use crate::identity::user_states::{ApiKeyEntry, UserState};
use crate::ids::random_bytes;
use crate::secret::Secret;

/// A new API key: the public id and the secret, shown once. `Debug` hides the secret.
#[derive(Debug, serde::Serialize)]
pub struct NewApiKey {
    /// Public key id, sent as the `api_key` parameter.
    pub api_key: String,
    /// The secret that signs requests.
    pub secret: Secret,
}

/// An API key as listed (never the secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKeyInfo {
    /// Public key id.
    pub api_key: String,
    /// The user it acts for.
    pub user: String,
    /// Scopes it grants.
    pub scopes: ScopeSet,
    /// Creation time.
    pub created_at: UnixTime,
}

/// A signed request that passed the checks made before its body is read
/// ([`IdentityService::admit_signed`]); its attempt is counted against the caller's address until
/// [`IdentityService::authenticate_signed`] verifies it.
#[derive(Debug)]
pub struct SignatureAdmission {
    ip_key: String,
    /// The parsed `Authorization` header and its timestamp.
    header: signatures::SignatureHeader,
    sent_at: UnixTime,
    /// The query's key and its entry, when the query named one (a body may name another).
    query_key: Option<(String, ApiKeyEntry)>,
}

/// What a signed request is checked against.
pub struct SignedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path, without the query.
    pub path: &'a str,
    /// The query string exactly as sent (empty when none).
    pub query: &'a str,
    /// The raw body.
    pub body: &'a [u8],
    /// The `Authorization` header value.
    pub authorization: &'a str,
    /// The `api_key` parameter (query, JSON body or `data` form field).
    pub api_key: Option<&'a str>,
}

impl IdentityService {
    /// Creates an API key for the user named `user` with `scope_text` (default: the role's scopes,
    /// never more), within the user's quota of API keys (the CLI too).
    pub async fn create_api_key(
        &self,
        user: &str,
        scope_text: Option<&str>,
    ) -> Result<NewApiKey, IdentityError> {
        let found = self
            .repo
            .find_user(user)
            .await?
            .ok_or_else(|| IdentityError::UserNotFound(user.to_string()))?;
        let requested = scope_text.map(ScopeSet::parse).transpose()?;
        let granted = grant_within(requested, found.role.scopes())?;
        let api_key = format!("{KEY_PREFIX}{}", B64.encode(random_bytes::<16>()));
        // 512 bits: longer than HMAC-SHA256's block, so its SHA-256 is the HMAC key (see signatures.rs).
        let secret = B64.encode(random_bytes::<64>());
        let hash = signatures::secret_hash(&secret);
        let max = self.quotas.api_keys_per_user;
        if !self
            .repo
            .insert_api_key(
                &api_key,
                found.id,
                &hash,
                &granted.to_string(),
                self.clock.now(),
                max,
            )
            .await?
        {
            return Err(IdentityError::QuotaExceeded(format!(
                "quota: user {user:?} has {max} API keys, the most allowed \
                 (quotas.api_keys_per_user); remove one first"
            )));
        }
        self.states.reload(&self.repo).await?;
        Ok(NewApiKey {
            api_key,
            secret: Secret::new(secret),
        })
    }

    /// Every API key (never the secrets).
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyInfo>, IdentityError> {
        Ok(self
            .repo
            .list_api_keys()
            .await?
            .into_iter()
            .map(|k| ApiKeyInfo {
                scopes: ScopeSet::from_stored(&k.scope),
                api_key: k.key_id,
                user: k.user_name,
                created_at: k.created_at,
            })
            .collect())
    }

    /// Deletes an API key.
    pub async fn remove_api_key(&self, api_key: &str) -> Result<(), IdentityError> {
        if !self.repo.delete_api_key(api_key).await? {
            return Err(IdentityError::ApiKeyNotFound(api_key.to_string()));
        }
        self.states.reload(&self.repo).await
    }

    /// The checks a signed request passes before its body is read: the caller's failure budget
    /// (this attempt is counted until it succeeds), a signature header that parses, a timestamp
    /// within the window, and the key named in the query (when it is there) known. A client
    /// refused here sends no body for the server to read.
    pub async fn admit_signed(
        &self,
        ip: IpAddr,
        authorization: &str,
        query_api_key: Option<&str>,
    ) -> Result<SignatureAdmission, IdentityError> {
        let now = self.clock.now();
        let ip_key = limit_key_for_ip(ip);
        self.limits
            .failures_by_ip
            .acquire(&ip_key, now)
            .map_err(|retry_after| IdentityError::RateLimited { retry_after })?;
        let header =
            signatures::parse_header(authorization).ok_or(IdentityError::InvalidSignature)?;
        let sent_at = signatures::parse_timestamp(&header.timestamp)
            .ok_or(IdentityError::InvalidSignature)?;
        if now.abs_diff(sent_at) > WINDOW_SECS.unsigned_abs() {
            return Err(IdentityError::InvalidSignature);
        }
        let query_key = match query_api_key {
            Some(key_id) => match self.api_key_entry(key_id).await {
                Some(entry) => Some((key_id.to_string(), entry)),
                None => return Err(IdentityError::InvalidSignature),
            },
            None => None,
        };
        Ok(SignatureAdmission {
            ip_key,
            header,
            sent_at,
            query_key,
        })
    }

    /// Verifies a signed request admitted by [`IdentityService::admit_signed`] and returns the
    /// key's principal. Every failure is the same [`IdentityError::InvalidSignature`]; failures
    /// count against the client's address.
    pub async fn authenticate_signed(
        &self,
        admission: SignatureAdmission,
        request: &SignedRequest<'_>,
    ) -> Result<Principal, IdentityError> {
        let now = self.clock.now();
        let SignatureAdmission {
            ip_key,
            header,
            sent_at,
            query_key,
        } = admission;
        let key = match (request.api_key, query_key) {
            (Some(key_id), Some((admitted, entry))) if key_id == admitted => Some(entry),
            (Some(key_id), _) => self.api_key_entry(key_id).await,
            (None, _) => None,
        };
        let state = match &key {
            Some(key) => self.user_state(&key.user).await,
            None => None,
        };
        self.load_spent_nonces().await?;
        let (principal, nonce) =
            self.verify_signature(request, &header, sent_at, key, state, now)?;
        // The store gets the nonce: right behind the answer on SQLite (a starting server loads
        // the live ones, so a captured request does not replay after a restart); before it on
        // PostgreSQL, where a nonce another instance spent is a replay here too.
        let key_id = request.api_key.unwrap_or_default();
        let expires_at = principal.issued_at + WINDOW_SECS + 1;
        let stored = self.nonce_log.spend(key_id, nonce, expires_at).await;
        // Stored or not, the failure was not the client's; a replay was.
        if !matches!(stored, Err(IdentityError::InvalidSignature)) {
            self.limits.failures_by_ip.release(&ip_key);
        }
        stored.map(|()| principal)
    }

    /// Checks a signed request against its key (`None`: unknown) and the key's user; returns
    /// the key's principal and the stored form of the request's nonce.
    fn verify_signature(
        &self,
        request: &SignedRequest<'_>,
        header: &signatures::SignatureHeader,
        sent_at: UnixTime,
        key: Option<ApiKeyEntry>,
        state: Option<UserState>,
        now: UnixTime,
    ) -> Result<(Principal, NonceHash), IdentityError> {
        let invalid = IdentityError::InvalidSignature;
        let key_id = request.api_key.ok_or(IdentityError::InvalidSignature)?;
        let key = key.ok_or(IdentityError::InvalidSignature)?;
        // Checked again: the body may have taken a while.
        if now.abs_diff(sent_at) > WINDOW_SECS.unsigned_abs() {
            return Err(invalid);
        }
        let digest = signatures::digest_to_sign(
            request.method,
            request.path,
            request.query,
            &header.nonce,
            request.body,
            &header.timestamp,
        );
        if !signatures::signature_matches(&key.secret_hash, &digest, &header.signature) {
            return Err(invalid);
        }
        // Only a correctly signed request spends its nonce, so junk cannot fill the store.
        let nonce = nonce_hash(&header.nonce);
        if self.nonces.accept(key_id, &nonce, now).is_err() {
            return Err(invalid);
        }
        let state = state.ok_or(IdentityError::InvalidSignature)?;
        if !state.active {
            return Err(invalid);
        }
        let principal = Principal {
            user_id: key.user_id,
            user: key.user,
            role: state.role,
            scopes: key.scopes,
            issued_at: sent_at,
            issued_at_ms: sent_at.saturating_mul(1000),
            expires_at: None,
            credential: Credential::ApiKey {
                key_id: key_id.to_string(),
            },
        };
        Ok((principal, nonce))
    }
}
