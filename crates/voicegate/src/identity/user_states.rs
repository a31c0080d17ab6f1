//! An in-memory view of every user's state (active, role, token cut-off), so that checking an
//! access token needs no database round trip. It is reloaded when the identity epoch changes;
//! the epoch is bumped by triggers on every user change, from this process or another (the CLI).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use crate::identity::error::IdentityError;
use crate::identity::model::Role;
use crate::identity::repo::IdentityRepo;
use crate::identity::scopes::ScopeSet;
use crate::ids::UserId;

/// What a token check needs to know about its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserState {
    /// The user's id.
    pub id: UserId,
    /// The user may use tokens.
    pub active: bool,
    /// The user's role.
    pub role: Role,
    /// Tokens issued before this are refused, in milliseconds since the Unix epoch.
    pub tokens_valid_after_ms: i64,
}

/// An API key as a signature check needs it. `Debug` hides the HMAC key.
#[derive(Clone)]
pub struct ApiKeyEntry {
    /// Its user's id.
    pub user_id: UserId,
    /// Its user's name.
    pub user: String,
    /// Scopes it grants.
    pub scopes: ScopeSet,
    /// SHA-256 of the secret (the HMAC key).
    pub secret_hash: [u8; 32],
}

impl std::fmt::Debug for ApiKeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyEntry")
            .field("user_id", &self.user_id)
            .field("user", &self.user)
            .field("scopes", &self.scopes)
            .field("secret_hash", &"<hidden>")
            .finish()
    }
}

/// The cache: a map swapped whole on reload. Reloads are serialised, so a slow reload can never
/// put an older map back over a newer one. Every reload (and every revocation the service notes)
/// is announced on [`UserStates::changes`].
pub struct UserStates {
    epoch: AtomicI64,
    changed: tokio::sync::watch::Sender<u64>,
    map: RwLock<Arc<HashMap<String, UserState>>>,
    api_keys: RwLock<Arc<HashMap<String, ApiKeyEntry>>>,
    reloading: tokio::sync::Mutex<()>,
}

impl Default for UserStates {
    fn default() -> Self {
        Self {
            epoch: AtomicI64::default(),
            changed: tokio::sync::watch::Sender::new(0),
            map: RwLock::default(),
            api_keys: RwLock::default(),
            reloading: tokio::sync::Mutex::default(),
        }
    }
}

impl UserStates {
    /// A receiver that sees a new value whenever a user, an API key or a revocation changed:
    /// the moment to check a long-lived credential again.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Announces a change that is not a reload (a token revoked in this process).
    pub fn announce_change(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The state of `name`, if the user exists.
    pub fn get(&self, name: &str) -> Option<UserState> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(name).copied()
    }

    /// The API key with this public id, if any.
    pub fn api_key(&self, key_id: &str) -> Option<ApiKeyEntry> {
        let keys = self.api_keys.read().unwrap_or_else(|e| e.into_inner());
        keys.get(key_id).cloned()
    }

    /// Reloads every user's state from the store.
    pub async fn reload(&self, repo: &IdentityRepo) -> Result<(), IdentityError> {
        let _one_at_a_time = self.reloading.lock().await;
        self.load(repo).await
    }

    async fn load(&self, repo: &IdentityRepo) -> Result<(), IdentityError> {
        let epoch = repo.identity_epoch().await?;
        let users = repo.list_users().await?;
        let map = users
            .into_iter()
            .map(|u| {
                let state = UserState {
                    id: u.id,
                    active: u.active,
                    role: u.role,
                    tokens_valid_after_ms: u.tokens_valid_after_ms,
                };
                (u.name, state)
            })
            .collect();
        let keys = repo
            .list_api_keys()
            .await?
            .into_iter()
            .filter_map(|k| {
                let secret_hash: [u8; 32] = k.secret_hash.try_into().ok()?;
                let entry = ApiKeyEntry {
                    user_id: k.user_id,
                    user: k.user_name,
                    scopes: ScopeSet::from_stored(&k.scope),
                    secret_hash,
                };
                Some((k.key_id, entry))
            })
            .collect();
        *self.map.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        *self.api_keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        self.epoch.store(epoch, Ordering::SeqCst);
        self.announce_change();
        Ok(())
    }

    /// Reloads only if some user changed since the last load.
    pub async fn reload_if_changed(&self, repo: &IdentityRepo) -> Result<bool, IdentityError> {
        let _one_at_a_time = self.reloading.lock().await;
        let epoch = repo.identity_epoch().await?;
        if epoch == self.epoch.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.load(repo).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn an_api_key_entry_prints_without_its_hmac_key() {
        let entry = ApiKeyEntry {
            user_id: UserId::new(1),
            user: "ana".into(),
            scopes: ScopeSet::from_stored("user:info"),
            secret_hash: [0x5a; 32],
        };
        let printed = format!("{entry:?}");
        assert!(
            printed.contains("ana") && printed.contains("<hidden>"),
            "{printed}"
        );
        assert!(
            !printed.contains("90"),
            "the key's bytes (0x5a = 90) leak: {printed}"
        );
    }
}
