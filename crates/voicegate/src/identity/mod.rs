//! Identity: users, passwords, access and refresh tokens, login protection.
//!
//! The service is the only place that decides who someone is; HTTP handlers and CLI commands call
//! it and map its [`IdentityError`] once.

mod api_keys;
pub mod authorize;
pub mod consent_routes;
pub mod console_routes;
mod error;
pub mod jwt;
pub mod model;
mod named_tokens;
pub mod oauth;
mod oauth_repo;
pub mod oauth_routes;
pub mod opaque;
pub mod password;
pub mod rate_limit;
mod repo;
pub mod routes;
pub mod scopes;
pub mod signatures;
pub mod signing_key;
pub mod token_request;
mod user_states;
pub mod users_file;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

pub use api_keys::{ApiKeyInfo, NewApiKey, SignedRequest};
pub use error::IdentityError;
pub use model::{Credential, Principal, Role, TokenPair, User, UserName, UserSource};
pub use named_tokens::NamedToken;

use crate::clock::{SharedClock, UnixTime};
use crate::config::{AuthConfig, Config};
use crate::identity::jwt::{AccessClaims, JwtCodec};
use crate::identity::named_tokens::NAMED_PREFIX;
use crate::identity::opaque::{REFRESH_PREFIX, token_hash};
use crate::identity::rate_limit::WindowLimiter;
use crate::identity::repo::NewUser;
use crate::identity::scopes::ScopeSet;
use crate::identity::user_states::UserStates;
use crate::ids::{new_id, new_token, random_bytes};
use crate::secret::Secret;
use crate::store::Db;

/// The rate-limit key of a client address: the address itself for IPv4, its /64 network for
/// IPv6 (one host usually holds a whole /64).
fn limit_key_for_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// A refresh token's successor.
struct Rotated {
    /// The user it acts for.
    user: String,
    /// The new refresh token.
    refresh_token: String,
    /// The scopes granted.
    scope: ScopeSet,
}

/// How often expired refresh tokens are deleted, in seconds.
const PURGE_PERIOD_SECS: i64 = 3600;

/// How long pooled password-hashing memory is kept after the last login.
const IDLE_HASH_MEMORY: Duration = Duration::from_secs(10);

/// What importing a users file changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    /// Users created.
    pub created: usize,
    /// Users whose hash or status changed.
    pub updated: usize,
    /// Users synced from an earlier USERS_DB that are no longer in it, now disabled.
    pub disabled: usize,
    /// In the file, but a user of that name is managed by the other source.
    pub skipped: usize,
}

/// The login-protection counters.
struct Limits {
    failures_by_ip: WindowLimiter,
    failures_by_user: WindowLimiter,
    attempts_by_ip: WindowLimiter,
}

/// The identity service.
pub struct IdentityService {
    db: Db,
    clock: SharedClock,
    jwt: JwtCodec,
    auth: AuthConfig,
    states: UserStates,
    hash_permits: Semaphore,
    limits: Limits,
    nonces: signatures::NonceStore,
    /// Revoked OAuth access tokens (jti → expiry), checked on every token.
    revoked_jti: std::sync::RwLock<std::collections::HashMap<String, UnixTime>>,
}

impl IdentityService {
    /// Builds the service over `db` with the signing `key`, and loads the user states.
    pub async fn new(
        db: Db,
        clock: SharedClock,
        config: &Config,
        key: &[u8],
    ) -> Result<Self, IdentityError> {
        let auth = config.auth.clone();
        let window = auth.failure_window_secs;
        let service = Self {
            jwt: JwtCodec::new(
                key,
                config.public_url(),
                auth.audience.clone(),
                auth.leeway_secs,
            ),
            limits: Limits {
                failures_by_ip: WindowLimiter::new(auth.max_failures_per_ip, window),
                failures_by_user: WindowLimiter::new(auth.max_failures_per_user, window),
                attempts_by_ip: WindowLimiter::new(auth.max_attempts_per_ip, window),
            },
            hash_permits: Semaphore::new(config.hash_concurrency()),
            states: UserStates::default(),
            nonces: signatures::NonceStore::default(),
            revoked_jti: Default::default(),
            auth,
            db,
            clock,
        };
        service.states.reload(&service.db).await?;
        service.reload_revoked().await?;
        Ok(service)
    }

    async fn reload_revoked(&self) -> Result<(), IdentityError> {
        let revoked = oauth_repo::revoked_access_tokens(&self.db, self.clock.now()).await?;
        *self.revoked_jti.write().unwrap_or_else(|e| e.into_inner()) =
            revoked.into_iter().collect();
        Ok(())
    }

    /// Refuses an OAuth access token from now on (stored, so that other processes and restarts
    /// refuse it too) and tells long-lived streams to check their credential.
    async fn revoke_access_token(&self, jti: String, exp: UnixTime) -> Result<(), IdentityError> {
        oauth_repo::revoke_access_token(&self.db, &jti, exp).await?;
        self.revoked_jti
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(jti, exp);
        self.states.announce_change();
        Ok(())
    }

    /// The access-token codec (tests forge tokens with it).
    pub fn jwt(&self) -> &JwtCodec {
        &self.jwt
    }

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
    async fn verify_credentials(
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
        // Logins that cannot exist share one counter, so junk cannot fill the table.
        let plausible = login.len() <= 254 && !login.chars().any(char::is_control);
        let user_key = if plausible { login } else { "\u{0}invalid" };
        self.reserve_failure(&ip_key, Some(user_key), now)?;

        let found = match (password.len() <= self.auth.max_password_bytes, by_email) {
            (false, _) => None,
            (true, false) => repo::find_user(&self.db, login).await?,
            (true, true) => repo::find_user_by_login(&self.db, login).await?,
        };
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
        match found {
            Some(found) if matches && found.active => {
                self.limits.failures_by_ip.release(&ip_key);
                self.limits.failures_by_user.clear(user_key);
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
                repo::upgrade_password_hash(&self.db, user.id, &user.password_hash, &hash).await
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
        self.reserve_failure(&ip_key, None, now)?;
        let result = self.rotate(presented, now).await;
        if !matches!(result, Err(IdentityError::InvalidToken)) {
            self.limits.failures_by_ip.release(&ip_key);
        }
        result
    }

    async fn rotate(&self, presented: &str, now: UnixTime) -> Result<TokenPair, IdentityError> {
        let rotated = self.rotate_refresh(presented, now, None, None).await?;
        let role = self
            .states
            .get(&rotated.user)
            .map_or(Role::User, |s| s.role);
        Ok(TokenPair {
            access_token: Secret::new(self.access_token(&rotated.user, role, now)),
            refresh_token: Secret::new(rotated.refresh_token),
        })
    }

    /// Spends a refresh token and makes its successor. The token must have been issued to
    /// `client` (none: the ovos-api login); `requested` scopes may narrow, never widen, what the
    /// token was granted. Presenting a spent token again revokes its whole family.
    async fn rotate_refresh(
        &self,
        presented: &str,
        now: UnixTime,
        client: Option<&str>,
        requested: Option<ScopeSet>,
    ) -> Result<Rotated, IdentityError> {
        if !presented.starts_with(REFRESH_PREFIX) {
            return Err(IdentityError::InvalidToken);
        }
        let row = repo::find_refresh(&self.db, &token_hash(presented))
            .await?
            .ok_or(IdentityError::InvalidToken)?;
        if row.revoked_at.is_some() || row.client_id.as_deref() != client {
            return Err(IdentityError::InvalidToken);
        }
        if row.spent_at.is_some() {
            let revoked = repo::revoke_family(&self.db, &row.family, now).await?;
            tracing::warn!(user = %row.user_name, revoked, "spent refresh token presented again: its family is revoked");
            return Err(IdentityError::InvalidToken);
        }
        if now >= row.expires_at || !row.user_active {
            return Err(IdentityError::InvalidToken);
        }
        let role = self
            .states
            .get(&row.user_name)
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
        if !repo::rotate_refresh(
            &self.db,
            row.id,
            &token_hash(&refresh_token),
            stored_scope,
            now,
            expires_at,
        )
        .await?
        {
            // Spent by a concurrent request with the same token: that is a reuse too.
            repo::revoke_family(&self.db, &row.family, now).await?;
            return Err(IdentityError::InvalidToken);
        }
        Ok(Rotated {
            user: row.user_name,
            refresh_token,
            scope: granted,
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
            .states
            .get(&claims.sub)
            .ok_or(IdentityError::InvalidToken)?;
        if !state.active || claims.iat < state.tokens_valid_after {
            return Err(IdentityError::InvalidToken);
        }
        let revoked = || {
            self.revoked_jti
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&claims.jti)
        };
        if claims.client_id.is_some() && revoked() {
            return Err(IdentityError::InvalidToken);
        }
        Ok(Principal {
            user_id: state.id,
            scopes: ScopeSet::from_stored(&claims.scope),
            user: claims.sub,
            role: state.role,
            issued_at: claims.iat,
            expires_at: Some(claims.exp),
            credential: Credential::AccessToken {
                jti: claims.jti,
                client_id: claims.client_id,
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
            .states
            .get(&principal.user)
            .filter(|s| s.active && s.id == principal.user_id)
            .ok_or(IdentityError::InvalidToken)?;
        let revoked = match &principal.credential {
            Credential::AccessToken { jti, client_id } => {
                principal.issued_at < state.tokens_valid_after
                    || (client_id.is_some()
                        && self
                            .revoked_jti
                            .read()
                            .unwrap_or_else(|e| e.into_inner())
                            .contains_key(jti))
            }
            Credential::NamedToken { hash } => {
                principal.issued_at < state.tokens_valid_after
                    || repo::find_named_token(&self.db, hash).await?.is_none()
            }
            Credential::ApiKey { key_id } => self.states.api_key(key_id).is_none(),
        };
        if revoked {
            return Err(IdentityError::InvalidToken);
        }
        Ok(())
    }

    /// A receiver that sees a new value whenever a user, a key or a token revocation changed.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.states.changes()
    }

    /// Counts an attempt and reserves a failure for the address (and the name), refusing when
    /// any counter is used up. The caller gives the failure back on success.
    fn reserve_failure(
        &self,
        ip_key: &str,
        user_key: Option<&str>,
        now: UnixTime,
    ) -> Result<(), IdentityError> {
        let limited = |retry_after| IdentityError::RateLimited { retry_after };
        let limits = &self.limits;
        limits
            .attempts_by_ip
            .acquire(ip_key, now)
            .map_err(limited)?;
        limits
            .failures_by_ip
            .acquire(ip_key, now)
            .map_err(limited)?;
        if let Some(Err(retry_after)) =
            user_key.map(|key| limits.failures_by_user.acquire(key, now))
        {
            limits.failures_by_ip.release(ip_key);
            return Err(limited(retry_after));
        }
        Ok(())
    }

    async fn issue_pair(&self, user: &User, now: UnixTime) -> Result<TokenPair, IdentityError> {
        let refresh_token = new_token(REFRESH_PREFIX);
        let family = random_bytes::<16>();
        let stored = repo::NewRefresh {
            token_hash: &token_hash(&refresh_token),
            family: &family,
            user_id: user.id,
            client_id: None,
            scope: None,
            expires_at: now + self.auth.refresh_ttl_secs,
            family_expires_at: None,
        };
        repo::insert_refresh(&self.db, &stored, now).await?;
        Ok(TokenPair {
            access_token: Secret::new(self.access_token(&user.name, user.role, now)),
            refresh_token: Secret::new(refresh_token),
        })
    }

    fn access_token(&self, user: &str, role: Role, now: UnixTime) -> String {
        self.access_token_for(user, role, now, self.auth.access_ttl_secs)
    }

    fn access_token_for(&self, user: &str, role: Role, now: UnixTime, ttl: i64) -> String {
        self.jwt.sign(&AccessClaims {
            iss: self.jwt.issuer().to_string(),
            aud: self.jwt.audience().to_string(),
            sub: user.to_string(),
            iat: now,
            exp: now + ttl,
            jti: new_id(),
            scope: role.scopes().to_string(),
            client_id: None,
        })
    }

    /// Runs password hashing on the blocking pool, at most `hash_concurrency` at once, so that a
    /// burst of logins neither stalls the executor nor takes every core.
    async fn off_executor<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, IdentityError> {
        let _permit = self
            .hash_permits
            .acquire()
            .await
            .map_err(|_| IdentityError::ShuttingDown)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| IdentityError::Password(password::PasswordError::Hashing(e.to_string())))
    }

    /// Checks a new password against the rules and hashes it with Argon2id.
    async fn new_password_hash(&self, password: &str) -> Result<String, IdentityError> {
        if password.chars().count() < self.auth.min_password_chars {
            return Err(IdentityError::Validation(format!(
                "the password must have at least {} characters",
                self.auth.min_password_chars
            )));
        }
        if password.len() > self.auth.max_password_bytes {
            return Err(IdentityError::Validation(format!(
                "the password must have at most {} bytes",
                self.auth.max_password_bytes
            )));
        }
        let password = password.to_string();
        Ok(self
            .off_executor(move || password::hash_argon2(&password))
            .await??)
    }

    /// The user named `name`, which must be managed here rather than in the USERS_DB file.
    async fn local_user(&self, name: &str) -> Result<User, IdentityError> {
        let user = repo::find_user(&self.db, name)
            .await?
            .ok_or_else(|| IdentityError::UserNotFound(name.to_string()))?;
        if user.source == UserSource::UsersDb {
            return Err(IdentityError::ManagedByUsersDb(name.to_string()));
        }
        Ok(user)
    }

    /// Creates a user with an Argon2id hash of `password`.
    pub async fn add_user(
        &self,
        name: &str,
        password: &str,
        role: Role,
    ) -> Result<(), IdentityError> {
        self.add_user_with_email(name, None, password, role).await
    }

    /// Creates a user with an e-mail address (the Snips console logs in with it).
    pub async fn add_user_with_email(
        &self,
        name: &str,
        email: Option<&str>,
        password: &str,
        role: Role,
    ) -> Result<(), IdentityError> {
        let name = UserName::parse(name)?;
        if let Some(email) = email
            && (email.len() > 254 || !email.contains('@') || email.chars().any(char::is_whitespace))
        {
            return Err(IdentityError::Validation(format!(
                "invalid e-mail address {email:?}"
            )));
        }
        let hash = self.new_password_hash(password).await?;
        let user = NewUser {
            name: name.as_str(),
            email,
            password_hash: &hash,
            imported_hash: None,
            role,
            active: true,
            source: UserSource::Local,
        };
        repo::insert_user(&self.db, &user, self.clock.now()).await?;
        self.states.reload(&self.db).await
    }

    /// Changes a user's password; their existing tokens stop working.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<(), IdentityError> {
        let user = self.local_user(name).await?;
        let hash = self.new_password_hash(password).await?;
        repo::set_password(&self.db, user.id, &hash, None, self.clock.now()).await?;
        self.states.reload(&self.db).await
    }

    /// Enables or disables a user. A disabled user cannot log in, refresh or use a token, and
    /// the tokens it had stay dead when it is enabled again.
    pub async fn set_active(&self, name: &str, active: bool) -> Result<(), IdentityError> {
        let user = self.local_user(name).await?;
        repo::set_active(&self.db, user.id, active, self.clock.now()).await?;
        self.states.reload(&self.db).await
    }

    /// Every user.
    pub async fn list_users(&self) -> Result<Vec<User>, IdentityError> {
        repo::list_users(&self.db).await
    }

    /// How many users exist.
    pub async fn user_count(&self) -> Result<i64, IdentityError> {
        repo::count_users(&self.db).await
    }

    /// Imports an ovos-api users.json file: creates missing users, updates changed hashes and
    /// statuses. From `USERS_DB` ([`UserSource::UsersDb`]) it is a sync: users that came from an
    /// earlier version of the file and are no longer in it are disabled. An import never touches
    /// users of the other source (a CLI-made user is not taken over by the file, nor the reverse).
    pub async fn import_users(
        &self,
        path: &Path,
        source: UserSource,
    ) -> Result<ImportReport, IdentityError> {
        let entries = users_file::read(path)?;
        let now = self.clock.now();
        let mut report = ImportReport::default();
        for entry in &entries {
            match repo::find_user(&self.db, &entry.user).await? {
                None => {
                    let user = NewUser {
                        name: &entry.user,
                        email: None,
                        password_hash: &entry.password,
                        imported_hash: Some(&entry.password),
                        role: Role::User,
                        active: entry.active,
                        source,
                    };
                    repo::insert_user(&self.db, &user, now).await?;
                    report.created += 1;
                }
                Some(existing) if existing.source != source => {
                    tracing::warn!(user = %entry.user, "users file: a user of that name is managed elsewhere; skipped");
                    report.skipped += 1;
                }
                Some(existing) => {
                    let known_hash = existing
                        .imported_hash
                        .as_deref()
                        .unwrap_or(&existing.password_hash);
                    let mut changed = false;
                    if known_hash != entry.password {
                        repo::set_password(
                            &self.db,
                            existing.id,
                            &entry.password,
                            Some(&entry.password),
                            now,
                        )
                        .await?;
                        changed = true;
                    }
                    if existing.active != entry.active {
                        repo::set_active(&self.db, existing.id, entry.active, now).await?;
                        changed = true;
                    }
                    report.updated += usize::from(changed);
                }
            }
        }
        if source == UserSource::UsersDb {
            for user in repo::list_users(&self.db).await? {
                let in_file = entries.iter().any(|e| e.user == user.name);
                if user.source == UserSource::UsersDb && user.active && !in_file {
                    repo::set_active(&self.db, user.id, false, now).await?;
                    report.disabled += 1;
                }
            }
        }
        self.states.reload(&self.db).await?;
        Ok(report)
    }

    /// Keeps the user-state cache in step with changes made by other processes, and purges
    /// long-expired refresh tokens now and then. Runs until the task is aborted.
    pub fn spawn_maintenance(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let service = Arc::clone(self);
        tokio::spawn(async move {
            let period = Duration::from_millis(service.auth.state_poll_ms.max(50));
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut next_purge = 0;
            loop {
                ticker.tick().await;
                if let Err(e) = service.states.reload_if_changed(&service.db).await {
                    tracing::warn!(error = %e, "could not refresh user states");
                }
                password::release_idle_memory(IDLE_HASH_MEMORY);
                let now = service.clock.now();
                if now >= next_purge {
                    next_purge = now + PURGE_PERIOD_SECS;
                    service.nonces.purge(now);
                    if let Err(e) = service.reload_revoked().await {
                        tracing::warn!(error = %e, "could not reload revoked access tokens");
                    }
                    if let Err(e) = repo::purge_expired_refresh(&service.db, now).await {
                        tracing::warn!(error = %e, "could not purge expired refresh tokens");
                    }
                }
            }
        })
    }
}
