//! The identity service itself: what every identity operation shares (the store, the clock,
//! the token codec, the user-state cache, the login-protection counters), and the background
//! upkeep of that state.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use tokio::sync::Semaphore;
use tokio::sync::broadcast::error::RecvError;

use crate::clock::{SharedClock, UnixTime};
use crate::config::{AuthConfig, Config, QuotasConfig};
use crate::identity::error::IdentityError;
use crate::identity::jwt::JwtCodec;
use crate::identity::nonce_log::NonceLog;
use crate::identity::nonce_store::NonceStore;
use crate::identity::password;
use crate::identity::rate_limit::WindowLimiter;
use crate::identity::repo::IdentityRepo;
use crate::identity::revoked::RevokedSet;
use crate::identity::sealed::{SEALING_KEY_FILE, Sealer};
use crate::identity::user_states::{ApiKeyEntry, UserState, UserStates};
use crate::key_file;
use crate::store::Db;
use crate::store::notifications::{INVALIDATE, Notice};

/// The rate-limit key of a client address: the address itself for IPv4, its /64 network for
/// IPv6 (one host usually holds a whole /64).
pub(super) fn limit_key_for_ip(ip: IpAddr) -> String {
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

/// How often expired refresh tokens are deleted, in seconds.
const PURGE_PERIOD_SECS: i64 = 3600;

/// The login-protection counters.
pub(super) struct Limits {
    pub(super) failures_by_ip: WindowLimiter,
    pub(super) failures_by_user: WindowLimiter,
    pub(super) attempts_by_ip: WindowLimiter,
}

/// The identity service: the only place that decides who someone is. Its operations live beside
/// this file by concern: sessions (login, refresh, token checks), users, named tokens, API keys
/// and signed requests, OAuth2 clients and grants, authorization codes.
pub struct IdentityService {
    pub(super) repo: IdentityRepo,
    pub(super) clock: SharedClock,
    pub(super) jwt: JwtCodec,
    pub(super) auth: AuthConfig,
    /// The per-user quotas of credentials.
    pub(super) quotas: QuotasConfig,
    pub(super) states: UserStates,
    pub(super) hash_permits: Semaphore,
    pub(super) limits: Limits,
    pub(super) nonces: NonceStore,
    /// Spent nonces in the store: what makes a replay fail after a restart.
    pub(super) nonce_log: NonceLog,
    /// Set once the live nonces of the store are in `nonces` (before the first signed request).
    nonces_loaded: tokio::sync::OnceCell<()>,
    /// Revoked OAuth access tokens (jti → expiry), checked on every token.
    pub(super) revoked_jti: RevokedSet,
    /// Revoked refresh-token families (base64url → until when an access token of theirs can
    /// still be alive), checked on every token that names its family.
    revoked_families: RevokedSet,
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
        let sealing_key = key_file::load_or_generate(&config.data_dir.join(SEALING_KEY_FILE))
            .map_err(|e| IdentityError::SigningKey(format!("{SEALING_KEY_FILE}: {e}")))?;
        let sealer = Sealer::new(&sealing_key).ok_or_else(|| {
            IdentityError::SigningKey(format!("{SEALING_KEY_FILE} must hold 32 bytes"))
        })?;
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
            nonces: NonceStore::new(auth.max_nonces_per_key),
            nonce_log: NonceLog::new(db.clone(), clock.clone()),
            nonces_loaded: tokio::sync::OnceCell::new(),
            revoked_jti: Default::default(),
            revoked_families: Default::default(),
            auth,
            quotas: config.quotas.clone(),
            repo: IdentityRepo::new(db, Arc::new(sealer)),
            clock,
        };
        let sealed = service.repo.seal_legacy_api_keys().await?;
        if sealed > 0 {
            tracing::info!(
                keys = sealed,
                "sealed API keys stored before {SEALING_KEY_FILE}"
            );
        }
        service.states.reload(&service.repo).await?;
        service.reload_revoked().await?;
        Ok(service)
    }

    async fn reload_revoked(&self) -> Result<(), IdentityError> {
        let now = self.clock.now();
        let revoked = self.repo.revoked_access_tokens(now).await?;
        self.revoked_jti.replace(revoked.into_iter().collect());
        let since = now - self.longest_access_ttl();
        let families = self.repo.revoked_families(since).await?;
        self.revoked_families.replace(
            families
                .into_iter()
                .map(|(family, at)| (B64.encode(family), at + self.longest_access_ttl()))
                .collect(),
        );
        Ok(())
    }

    /// Stores what is written behind the answers (spent nonces); a stopping server calls it
    /// before it closes the store.
    pub async fn flush(&self) {
        self.nonce_log.flush().await;
    }

    /// Loads the live nonces of the store into memory, once, before the first signed request
    /// is checked (not at start: the CLI opens this service too and checks no signatures).
    pub(super) async fn load_spent_nonces(&self) -> Result<(), IdentityError> {
        self.nonces_loaded
            .get_or_try_init(|| async {
                let now = self.clock.now();
                for (key_id, nonce) in self.nonce_log.live(now).await? {
                    self.nonces.remember(&key_id, &nonce, now);
                }
                Ok::<(), IdentityError>(())
            })
            .await
            .map(|_| ())
    }

    /// The longest any access token lives.
    fn longest_access_ttl(&self) -> i64 {
        self.auth
            .access_ttl_secs
            .max(self.auth.oauth_access_ttl_secs)
            .max(self.auth.console_login_ttl_secs)
    }

    /// Revokes a refresh-token family (stored) and, from now on, every access token issued with
    /// it; returns the refresh tokens revoked.
    pub(super) async fn revoke_family(
        &self,
        family: &[u8],
        now: UnixTime,
    ) -> Result<u64, IdentityError> {
        let revoked = self.repo.revoke_family(family, now).await?;
        self.revoked_families
            .insert(B64.encode(family), now + self.longest_access_ttl());
        self.states.announce_change();
        Ok(revoked)
    }

    /// Whether an access token was revoked: by its `jti` (OAuth tokens, RFC 7009) or with its
    /// refresh-token family.
    pub(super) fn access_revoked(&self, jti: &str, oauth: bool, family: Option<&str>) -> bool {
        (oauth && self.revoked_jti.contains(jti))
            || family.is_some_and(|family| self.revoked_families.contains(family))
    }

    /// Refuses an OAuth access token from now on (stored, so that other processes and restarts
    /// refuse it too) and tells long-lived streams to check their credential.
    pub(super) async fn revoke_access_token(
        &self,
        jti: String,
        exp: UnixTime,
    ) -> Result<(), IdentityError> {
        self.repo.revoke_access_token(&jti, exp).await?;
        self.revoked_jti.insert(jti, exp);
        self.states.announce_change();
        Ok(())
    }

    /// The state of the user `name`. A miss reloads the cache first when another process (the
    /// CLI beside a running server) changed users since the last load, so a user made a moment
    /// ago is known on the very next request; an unchanged epoch confirms the miss.
    pub(super) async fn user_state(&self, name: &str) -> Option<UserState> {
        if let Some(state) = self.states.get(name) {
            return Some(state);
        }
        self.reload_on_miss().await;
        self.states.get(name)
    }

    /// The API key `key_id`, with the same fallback as [`IdentityService::user_state`].
    pub(super) async fn api_key_entry(&self, key_id: &str) -> Option<ApiKeyEntry> {
        if let Some(key) = self.states.api_key(key_id) {
            return Some(key);
        }
        self.reload_on_miss().await;
        self.states.api_key(key_id)
    }

    async fn reload_on_miss(&self) {
        self.refresh_state().await;
    }

    /// Reloads what other processes may have changed (users, keys, revocations) when the
    /// identity epoch moved.
    async fn refresh_state(&self) {
        match self.states.reload_if_changed(&self.repo).await {
            Ok(true) => {
                if let Err(e) = self.reload_revoked().await {
                    tracing::warn!(error = %e, "could not reload revocations");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not refresh user states"),
        }
    }

    /// The access-token codec (tests forge tokens with it).
    pub fn jwt(&self) -> &JwtCodec {
        &self.jwt
    }

    /// A receiver that sees a new value whenever a user, a key or a token revocation changed.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.states.changes()
    }

    /// Counts an attempt and reserves a failure for the address, refusing when either counter
    /// is used up. The caller gives the failure back on success.
    pub(super) fn reserve_failure(&self, ip_key: &str, now: UnixTime) -> Result<(), IdentityError> {
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
        Ok(())
    }

    /// Reserves a failure for a user (after [`Self::reserve_failure`] reserved the address's);
    /// when the user's budget is spent, gives the address's back and refuses.
    pub(super) fn reserve_user_failure(
        &self,
        ip_key: &str,
        user_key: &str,
        now: UnixTime,
    ) -> Result<(), IdentityError> {
        self.limits
            .failures_by_user
            .acquire(user_key, now)
            .map_err(|retry_after| {
                self.limits.failures_by_ip.release(ip_key);
                IdentityError::RateLimited { retry_after }
            })
    }

    /// Runs password hashing on the blocking pool, at most `hash_concurrency` at once, so that a
    /// burst of logins neither stalls the executor nor takes every core.
    pub(super) async fn off_executor<T: Send + 'static>(
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

    /// Keeps the user-state cache in step with changes made by other processes, and purges
    /// long-expired refresh tokens now and then. Runs until the task is aborted.
    pub fn spawn_maintenance(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let service = Arc::clone(self);
        tokio::spawn(async move {
            let period = Duration::from_millis(service.auth.state_poll_ms.max(50));
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Other instances on PostgreSQL announce their changes: refresh at once then, and
            // keep the poll behind it for anything a lost connection missed.
            let mut notices = service.repo.db.notifications();
            let mut next_purge = 0;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    notice = notices.recv() => match notice {
                        Ok(Notice::Message { channel, .. }) if channel != INVALIDATE => continue,
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => notices = service.repo.db.notifications(),
                    },
                }
                service.refresh_state().await;
                let now = service.clock.now();
                if now >= next_purge {
                    next_purge = now + PURGE_PERIOD_SECS;
                    service.nonces.purge(now);
                    if let Err(e) = service.reload_revoked().await {
                        tracing::warn!(error = %e, "could not reload revoked access tokens");
                    }
                    if let Err(e) = service.repo.purge_expired_refresh(now).await {
                        tracing::warn!(error = %e, "could not purge expired refresh tokens");
                    }
                }
            }
        })
    }
}
