//! A set of revoked token ids (OAuth access-token jtis, refresh-token families) with the time
//! until which each matters, checked on every access token. Revocations are rare, so an empty
//! set answers from one relaxed atomic load: the lock's shared counter is not touched on every
//! request by every worker.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::UnixTime;

/// Revoked ids, each with its end of relevance.
#[derive(Debug, Default)]
pub struct RevokedSet {
    any: AtomicBool,
    ids: RwLock<HashMap<String, UnixTime>>,
}

impl RevokedSet {
    /// Whether `id` is revoked.
    pub fn contains(&self, id: &str) -> bool {
        self.any.load(Ordering::Acquire)
            && self
                .ids
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(id)
    }

    /// Revokes `id` until `until`.
    pub fn insert(&self, id: String, until: UnixTime) {
        let mut ids = self.ids.write().unwrap_or_else(|e| e.into_inner());
        ids.insert(id, until);
        self.any.store(true, Ordering::Release);
    }

    /// Replaces the whole set (a reload from the store).
    pub fn replace(&self, entries: HashMap<String, UnixTime>) {
        let mut ids = self.ids.write().unwrap_or_else(|e| e.into_inner());
        *ids = entries;
        self.any.store(!ids.is_empty(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_after_insert_and_gone_after_a_replace() {
        let set = RevokedSet::default();
        assert!(!set.contains("a"));
        set.insert("a".into(), 10);
        assert!(set.contains("a") && !set.contains("b"));
        set.replace(HashMap::from([("b".to_string(), 10)]));
        assert!(!set.contains("a") && set.contains("b"));
        set.replace(HashMap::new());
        assert!(!set.contains("b"));
    }
}
