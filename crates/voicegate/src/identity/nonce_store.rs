//! The nonces this server has seen, in memory: a replay to the same server is refused without a
//! store round trip, and one key can spend only so many nonces per window, so that it cannot
//! fill the memory or the store's nonce table for every other key.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Mutex;

use crate::clock::UnixTime;
use crate::identity::nonce_log::NonceHash;
use crate::identity::signatures::WINDOW_SECS;

/// Nonces remembered at most; past this, new signed requests are refused until old nonces expire
/// (failing closed: forgetting a live nonce would allow a replay).
const MAX_NONCES: usize = 1_000_000;

/// Shards of the nonce store: a map's growth blocks only the requests that hash to its shard.
const NONCE_SHARDS: usize = 16;

/// A generation lasts twice the timestamp window and the previous one is kept, so a nonce is
/// remembered for at least as long as its timestamp is acceptable; expiry drops a whole
/// generation at once instead of sweeping entries.
const GENERATION_SECS: i64 = 2 * WINDOW_SECS;

/// One shard: the nonces of the current generation and of the one before it.
#[derive(Default)]
struct NonceShard {
    started: UnixTime,
    current: HashSet<u64>,
    previous: HashSet<u64>,
}

/// Nonces a key spent in the current generation and in the one before it.
#[derive(Default, Clone, Copy)]
struct KeySpend {
    started: UnixTime,
    current: u64,
    previous: u64,
}

/// Why a nonce was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRefusal {
    /// Seen before.
    Replay,
    /// The key, or the whole store, spent its nonces for this window.
    Full,
}

/// The nonces seen per key, and how many each key spent.
pub struct NonceStore {
    shards: Vec<Mutex<NonceShard>>,
    spent: Mutex<HashMap<u64, KeySpend>>,
    max_per_key: u64,
    hasher: std::collections::hash_map::RandomState,
}

impl NonceStore {
    /// A store that lets each key spend at most `max_per_key` nonces per two windows.
    pub fn new(max_per_key: u64) -> Self {
        Self {
            shards: (0..NONCE_SHARDS).map(|_| Mutex::default()).collect(),
            spent: Mutex::default(),
            max_per_key,
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Accepts a nonce (by its hash) for `key` the first time it is presented, within the key's
    /// budget.
    pub fn accept(&self, key: &str, nonce: &NonceHash, now: UnixTime) -> Result<(), NonceRefusal> {
        self.insert(key, nonce, now, true)
    }

    /// Remembers a nonce spent before this process started (loaded from the store).
    pub fn remember(&self, key: &str, nonce: &NonceHash, now: UnixTime) {
        let _ = self.insert(key, nonce, now, false);
    }

    fn insert(
        &self,
        key: &str,
        nonce: &NonceHash,
        now: UnixTime,
        spend: bool,
    ) -> Result<(), NonceRefusal> {
        // A 64-bit id under a per-process random key: fixed-size entries, no crafted collisions.
        let id = self.hasher.hash_one((key, nonce));
        let mut shard = self.shards[(id as usize) % NONCE_SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if now >= shard.started + GENERATION_SECS {
            // Two generations have passed without a rotation: nothing left is live.
            shard.previous = if now >= shard.started + 2 * GENERATION_SECS {
                HashSet::new()
            } else {
                std::mem::take(&mut shard.current)
            };
            shard.current.clear();
            shard.started = now;
        }
        if shard.current.contains(&id) || shard.previous.contains(&id) {
            return Err(NonceRefusal::Replay);
        }
        if shard.current.len() + shard.previous.len() >= MAX_NONCES / NONCE_SHARDS {
            return Err(NonceRefusal::Full);
        }
        if spend {
            self.spend(key, now)?;
        }
        shard.current.insert(id);
        Ok(())
    }

    /// Counts one nonce against `key`'s budget.
    fn spend(&self, key: &str, now: UnixTime) -> Result<(), NonceRefusal> {
        let id = self.hasher.hash_one(key);
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        let entry = spent.entry(id).or_insert(KeySpend {
            started: now,
            ..KeySpend::default()
        });
        if now >= entry.started + GENERATION_SECS {
            entry.previous = if now >= entry.started + 2 * GENERATION_SECS {
                0
            } else {
                entry.current
            };
            entry.current = 0;
            entry.started = now;
        }
        if entry.current + entry.previous >= self.max_per_key {
            return Err(NonceRefusal::Full);
        }
        entry.current += 1;
        Ok(())
    }

    /// Drops generations that have expired.
    pub fn purge(&self, now: UnixTime) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            if now >= shard.started + 2 * GENERATION_SECS {
                shard.previous = HashSet::new();
                shard.current = HashSet::new();
                shard.started = now;
            }
        }
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        spent.retain(|_, entry| now < entry.started + 2 * GENERATION_SECS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::nonce_log::nonce_hash;

    #[test]
    fn a_nonce_is_accepted_once_per_key_until_it_expires() {
        let store = NonceStore::new(100);
        assert_eq!(store.accept("k", &nonce_hash("n"), 1000), Ok(()));
        assert_eq!(
            store.accept("k", &nonce_hash("n"), 1001),
            Err(NonceRefusal::Replay)
        );
        assert_eq!(store.accept("other", &nonce_hash("n"), 1001), Ok(()));
        assert_eq!(
            store.accept("k", &nonce_hash("n"), 1000 + 2 * WINDOW_SECS + 1),
            Err(NonceRefusal::Replay),
            "still inside the kept generations"
        );
        assert_eq!(
            store.accept("k", &nonce_hash("n"), 1000 + 4 * WINDOW_SECS + 1),
            Ok(()),
            "forgotten after two generations"
        );
    }

    #[test]
    fn one_key_spends_its_own_budget_and_not_the_others() {
        let store = NonceStore::new(3);
        for n in ["a", "b", "c"] {
            assert_eq!(store.accept("greedy", &nonce_hash(n), 1000), Ok(()));
        }
        assert_eq!(
            store.accept("greedy", &nonce_hash("d"), 1001),
            Err(NonceRefusal::Full)
        );
        assert_eq!(store.accept("modest", &nonce_hash("a"), 1001), Ok(()));
        // The budget comes back as its generations expire.
        assert_eq!(
            store.accept("greedy", &nonce_hash("d"), 1000 + 4 * WINDOW_SECS + 1),
            Ok(())
        );
    }
}
