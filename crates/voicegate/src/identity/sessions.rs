//! Sessions: the ovos-api login, refresh-token rotation, access tokens, and the check of every
//! token a request presents (and again, later, for long-lived streams).

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::clock::UnixTime;
use crate::identity::error::IdentityError;
use crate::identity::jwt::AccessClaims;
use crate::identity::model::{Credential, Principal, Role, TokenPair, User};
use crate::identity::opaque::{NAMED_PREFIX, REFRESH_PREFIX, token_hash};
use crate::identity::password;
use crate::identity::repo::NewRefresh;
use crate::identity::scopes::ScopeSet;
use crate::identity::service::{IdentityService, limit_key_for_ip};
use crate::ids::{new_id, new_token, random_bytes};
use crate::secret::Secret;

/// A refresh token's successor.
pub(super) struct Rotated {
    /// The user it acts for.
    pub(super) user: String,
    /// The new refresh token.
    pub(super) refresh_token: String,
    /// The scopes granted.
    pub(super) scope: ScopeSet,
    /// The family the token belongs to (the access token names it).
    pub(super) family: Vec<u8>,
}

/// Whom an access token is for and what it may do.
pub(super) struct AccessSubject<'a> {
    /// The user name.
    pub(super) user: &'a str,
    /// The scopes.
    pub(super) scope: ScopeSet,
    /// The OAuth client, if any.
    pub(super) client_id: Option<&'a str>,
    /// The refresh-token family issued with it, if any.
    pub(super) family: Option<&'a [u8]>,
    /// Lifetime in seconds.
    pub(super) ttl: i64,
}

impl IdentityService {
    /// Exchanges a user name and password for an access and a refresh token.
    ///
    /// Unknown user, inactive user and wrong password give the same error after the same work.
    pub async fn login(
        &self,
        ip: IpAddr,
        user: &str,
        password: &str,
    ) -> Result<TokenPair, IdentityError> {
        let found = self.verify_credentials(ip, user, password, false).await?;
        self.issue_pair(&found, self.clock.now()).await
    }

    /// Checks a login (a user name, or with `by_email` an e-mail address or name) and password.
    /// A failure is reserved before the password is checked, so a burst of concurrent guesses
    /// cannot pass the limit before any of them is counted; unknown names cost the same work.
    pub(super) async fn verify_credentials(
        &self,
        ip: IpAddr,
        login: &str,
        password: &str,
        by_email: bool,
    ) -> Result<User, IdentityError> {
        if login.is_empty() || password.is_empty() {
            return Err(IdentityError::Validation(
                "user and password must not be empty".into(),
            ));
        }
        let now = self.clock.now();
        let ip_key = limit_key_for_ip(ip);
        self.reserve_failure(&ip_key, now)?;
        // Logins that cannot exist share one counter, so junk cannot fill the table.
        let plausible = login.len() <= 254 && !login.chars().any(char::is_control);
        let found = match (plausible, password.len() <= self.auth.max_password_bytes) {
            (true, true) if by_email => self.repo.find_user_by_login(login).await,
            (true, true) => self.repo.find_user(login).await,
            _ => Ok(None),
        };
        let found = found.inspect_err(|_| self.limits.failures_by_ip.release(&ip_key))?;
        // A user's failures count together whichever way they log in (name or e-mail).
        let user_key = match (&found, plausible) {
            (Some(user), _) => format!("user:{}", user.id),
            (None, true) => format!("login:{}", login.to_lowercase()),
            (None, false) => "\u{0}invalid".to_string(),
        };
        self.reserve_user_failure(&ip_key, &user_key, now)?;

        let stored_hash = found.as_ref().map(|u| u.password_hash.clone());
        let candidate = password.to_string();
        let matches = self
            .off_executor(move || match stored_hash {
                Some(hash) => password::verify(&candidate, &hash).unwrap_or(false),
                None => {
                    password::verify_dummy(&candidate);
                    false
                }
            })
            .await?;
        // The check took a while: a password change or a disable committed meanwhile wins, so
        // the user is read again and must be unchanged (its cut-off moves with either).
        let found = match found {
            Some(found) if matches && found.active => self
                .repo
                .find_user(&found.name)
                .await?
                .filter(|now| now.id == found.id && now.active)
                .filter(|now| now.tokens_valid_after_ms == found.tokens_valid_after_ms),
            _ => None,
        };
        match found {
            Some(found) => {
                self.limits.failures_by_ip.release(&ip_key);
                self.limits.failures_by_user.clear(&user_key);
                if password::is_bcrypt(&found.password_hash) {
                    self.upgrade_hash(&found, password).await;
                }
                Ok(found)
            }
            _ => Err(IdentityError::InvalidCredentials),
        }
    }

    /// Replaces a bcrypt hash (imported from ovos-api) by an Argon2id one after a successful
    /// login, so that every user costs the same to check and timing does not tell imported users
    /// from unknown names. The imported hash stays for USERS_DB syncs.
    async fn upgrade_hash(&self, user: &User, password: &str) {
        let candidate = password.to_string();
        let upgraded = match self
            .off_executor(move || password::hash_argon2(&candidate))
            .await
        {
            Ok(Ok(hash)) => {
                self.repo
                    .upgrade_password_hash(user.id, &user.password_hash, &hash)
                    .await
            }
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(e),
        };
        if let Err(e) = upgraded {
            tracing::warn!(user = %user.name, error = %e, "could not upgrade a bcrypt hash");
        }
    }

    /// Exchanges a refresh token for a new access token and a new refresh token. The presented
    /// token is spent; presenting a spent token again revokes its whole family.
    pub async fn refresh(&self, ip: IpAddr, presented: &str) -> Result<TokenPair, IdentityError> {
        let now = self.clock.now();
        let ip_key = limit_key_for_ip(ip);
        self.reserve_failure(&ip_key, now)?;
        let result = self.rotate(presented, now).await;
        if !matches!(result, Err(IdentityError::InvalidToken)) {
            self.limits.failures_by_ip.release(&ip_key);
        }
        result
    }

    async fn rotate(&self, presented: &str, now: UnixTime) -> Result<TokenPair, IdentityError> {
        let rotated = self.rotate_refresh(presented, now, None, None).await?;
        let role = self
            .user_state(&rotated.user)
            .await
            .map_or(Role::User, |s| s.role);
        let subject = AccessSubject {
            user: &rotated.user,
            scope: role.scopes(),
            client_id: None,
            family: Some(&rotated.family),
            ttl: self.auth.access_ttl_secs,
        };
        Ok(TokenPair {
            access_token: Secret::new(self.sign_access(&subject).0),
            refresh_token: Secret::new(rotated.refresh_token),
        })
    }

    /// Spends a refresh token and makes its successor. The token must have been issued to
    /// `client` (none: the ovos-api login); `requested` scopes may narrow, never widen, what the
    /// token was granted. Presenting a spent token again revokes its whole family.
    pub(super) async fn rotate_refresh(
        &self,
        presented: &str,
        now: UnixTime,
        client: Option<&str>,
        requested: Option<ScopeSet>,
    ) -> Result<Rotated, IdentityError> {
        if !presented.starts_with(REFRESH_PREFIX) {
            return Err(IdentityError::InvalidToken);
        }
        let row = self
            .repo
            .find_refresh(&token_hash(presented))
            .await?
            .ok_or(IdentityError::InvalidToken)?;
        if row.revoked_at.is_some() || row.client_id.as_deref() != client {
            return Err(IdentityError::InvalidToken);
        }
        if row.spent_at.is_some() {
            let revoked = self.revoke_family(&row.family, now).await?;
            tracing::warn!(user = %row.user_name, revoked, "spent refresh token presented again: its family is revoked");
            return Err(IdentityError::InvalidToken);
        }
        if now >= row.expires_at || !row.user_active {
            return Err(IdentityError::InvalidToken);
        }
        let role = self
            .user_state(&row.user_name)
            .await
            .map_or(Role::User, |s| s.role);
        let allowed = row
            .scope
            .as_deref()
            .map_or(role.scopes(), ScopeSet::from_stored);
        let granted = match requested {
            Some(requested) => {
                if let Some(beyond) = requested.first_beyond(allowed) {
                    return Err(IdentityError::ScopeEscalation(beyond));
                }
                requested
            }
            None => allowed,
        };
        let refresh_token = new_token(REFRESH_PREFIX);
        let (ttl, family_end) = match client {
            Some(_) => (self.auth.oauth_refresh_idle_secs, row.family_expires_at),
            None => (self.auth.refresh_ttl_secs, None),
        };
        let expires_at = family_end.map_or(now + ttl, |end| end.min(now + ttl));
        let scope_text = granted.to_string();
        let stored_scope = client.map(|_| scope_text.as_str());
        if !self
            .repo
            .rotate_refresh(
                row.id,
                &token_hash(&refresh_token),
                stored_scope,
                now,
                expires_at,
            )
            .await?
        {
            // Spent by a concurrent request with the same token: that is a reuse too.
            self.revoke_family(&row.family, now).await?;
            return Err(IdentityError::InvalidToken);
        }
        Ok(Rotated {
            user: row.user_name,
            refresh_token,
            scope: granted,
            family: row.family,
        })
    }

    /// Verifies an access token (a JWT, checked in memory) or a named token (`vgt_…`, looked up)
    /// and returns who it belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, IdentityError> {
        if token.starts_with(NAMED_PREFIX) {
            return self.authenticate_named(token).await;
        }
        let claims = self
            .jwt
            .verify(token, self.clock.now())
            .map_err(|_| IdentityError::InvalidToken)?;
        let state = self
            .user_state(&claims.sub)
            .await
            .ok_or(IdentityError::InvalidToken)?;
        let issued_at_ms = claims.iat_ms.unwrap_or(claims.iat.saturating_mul(1000));
        if !state.active || issued_at_ms < state.tokens_valid_after_ms {
            return Err(IdentityError::InvalidToken);
        }
        if self.access_revoked(
            &claims.jti,
            claims.client_id.is_some(),
            claims.fam.as_deref(),
        ) {
            return Err(IdentityError::InvalidToken);
        }
        Ok(Principal {
            user_id: state.id,
            scopes: ScopeSet::from_stored(&claims.scope),
            user: claims.sub,
            role: state.role,
            issued_at: claims.iat,
            issued_at_ms,
            expires_at: Some(claims.exp),
            credential: Credential::AccessToken {
                jti: claims.jti,
                client_id: claims.client_id,
                family: claims.fam,
            },
        })
    }

    /// Checks again a principal authenticated earlier (a long-lived events stream does, whenever
    /// [`IdentityService::changes`] moves and when its token expires): its token has not expired
    /// (no leeway), its user is still active with the same password, and its credential has not
    /// been revoked or deleted.
    pub async fn recheck(&self, principal: &Principal) -> Result<(), IdentityError> {
        let now = self.clock.now();
        if principal.expires_at.is_some_and(|at| now >= at) {
            return Err(IdentityError::InvalidToken);
        }
        let state = self
            .user_state(&principal.user)
            .await
            .filter(|s| s.active && s.id == principal.user_id)
            .ok_or(IdentityError::InvalidToken)?;
        let revoked = match &principal.credential {
            Credential::AccessToken {
                jti,
                client_id,
                family,
            } => {
                principal.issued_at_ms < state.tokens_valid_after_ms
                    || self.access_revoked(jti, client_id.is_some(), family.as_deref())
            }
            Credential::NamedToken { hash } => {
                principal.issued_at_ms < state.tokens_valid_after_ms
                    || self.repo.find_named_token(hash).await?.is_none()
            }
            Credential::ApiKey { key_id } => self.api_key_entry(key_id).await.is_none(),
            Credential::WebSession { hash } => {
                principal.issued_at_ms < state.tokens_valid_after_ms
                    || !self.web_session_open(hash).await?
            }
        };
        if revoked {
            return Err(IdentityError::InvalidToken);
        }
        Ok(())
    }

    async fn issue_pair(&self, user: &User, now: UnixTime) -> Result<TokenPair, IdentityError> {
        let refresh_token = new_token(REFRESH_PREFIX);
        let family = random_bytes::<16>();
        let stored = NewRefresh {
            token_hash: &token_hash(&refresh_token),
            family: &family,
            user_id: user.id,
            client_id: None,
            scope: None,
            expires_at: now + self.auth.refresh_ttl_secs,
            family_expires_at: None,
            user_valid_after_ms: user.tokens_valid_after_ms,
        };
        if !self.repo.insert_refresh(&stored, now).await? {
            return Err(IdentityError::InvalidCredentials);
        }
        let subject = AccessSubject {
            user: &user.name,
            scope: user.role.scopes(),
            client_id: None,
            family: Some(&family),
            ttl: self.auth.access_ttl_secs,
        };
        Ok(TokenPair {
            access_token: Secret::new(self.sign_access(&subject).0),
            refresh_token: Secret::new(refresh_token),
        })
    }

    /// Signs an access token for `subject`, issued now; returns it with its claims.
    pub(super) fn sign_access(&self, subject: &AccessSubject<'_>) -> (String, AccessClaims) {
        let now_ms = self.clock.now_ms();
        let now = now_ms.div_euclid(1000);
        let claims = AccessClaims {
            iss: self.jwt.issuer().to_string(),
            aud: self.jwt.audience().to_string(),
            sub: subject.user.to_string(),
            iat: now,
            iat_ms: Some(now_ms),
            exp: now + subject.ttl,
            jti: new_id(),
            scope: subject.scope.to_string(),
            client_id: subject.client_id.map(str::to_string),
            fam: subject.family.map(|f| B64.encode(f)),
        };
        (self.jwt.sign(&claims), claims)
    }
}
