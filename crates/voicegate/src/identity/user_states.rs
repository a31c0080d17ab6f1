//! An in-memory view of every user's state (active, role, token cut-off), so that checking an
//! access token needs no database round trip. It is reloaded when the identity epoch changes;
//! the epoch is bumped by triggers on every user change, from this process or another (the CLI).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use crate::clock::UnixTime;
use crate::identity::IdentityError;
use crate::identity::model::Role;
use crate::identity::repo;
use crate::store::Db;

/// What a token check needs to know about its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserState {
    /// The user's id.
    pub id: i64,
    /// The user may use tokens.
    pub active: bool,
    /// The user's role.
    pub role: Role,
    /// Tokens issued before this are refused.
    pub tokens_valid_after: UnixTime,
}

/// An API key as a signature check needs it.
#[derive(Debug, Clone)]
pub struct ApiKeyEntry {
    /// Its user's id.
    pub user_id: i64,
    /// Its user's name.
    pub user: String,
    /// Scopes it grants.
    pub scopes: Vec<String>,
    /// SHA-256 of the secret (the HMAC key).
    pub secret_hash: [u8; 32],
}

/// The cache: a map swapped whole on reload. Reloads are serialised, so a slow reload can never
/// put an older map back over a newer one.
#[derive(Default)]
pub struct UserStates {
    epoch: AtomicI64,
    map: RwLock<Arc<HashMap<String, UserState>>>,
    api_keys: RwLock<Arc<HashMap<String, ApiKeyEntry>>>,
    reloading: tokio::sync::Mutex<()>,
}

impl UserStates {
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
    pub async fn reload(&self, db: &Db) -> Result<(), IdentityError> {
        let _one_at_a_time = self.reloading.lock().await;
        self.load(db).await
    }

    async fn load(&self, db: &Db) -> Result<(), IdentityError> {
        let epoch = repo::identity_epoch(db).await?;
        let users = repo::list_users(db).await?;
        let map = users
            .into_iter()
            .map(|u| {
                let state = UserState {
                    id: u.id,
                    active: u.active,
                    role: u.role,
                    tokens_valid_after: u.tokens_valid_after,
                };
                (u.name, state)
            })
            .collect();
        let keys = repo::list_api_keys(db)
            .await?
            .into_iter()
            .filter_map(|k| {
                let secret_hash: [u8; 32] = k.secret_hash.try_into().ok()?;
                let scopes = k
                    .scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                let entry = ApiKeyEntry {
                    user_id: k.user_id,
                    user: k.user_name,
                    scopes,
                    secret_hash,
                };
                Some((k.key_id, entry))
            })
            .collect();
        *self.map.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        *self.api_keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        self.epoch.store(epoch, Ordering::SeqCst);
        Ok(())
    }

    /// Reloads only if some user changed since the last load.
    pub async fn reload_if_changed(&self, db: &Db) -> Result<bool, IdentityError> {
        let _one_at_a_time = self.reloading.lock().await;
        let epoch = repo::identity_epoch(db).await?;
        if epoch == self.epoch.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.load(db).await?;
        Ok(true)
    }
}
