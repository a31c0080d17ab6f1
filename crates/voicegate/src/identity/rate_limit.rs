//! Fixed-window counters that guard every credential check (per client IP, per user name).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::UnixTime;

/// Keys kept at most; past this, expired windows are swept, and if that is not enough the oldest
/// windows go, so an attacker cycling names cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

/// Counts events per key in windows of `window` seconds and refuses keys that reached `limit`.
pub struct WindowLimiter {
    limit: u32,
    window: i64,
    counts: Mutex<HashMap<String, (UnixTime, u32)>>,
}

impl WindowLimiter {
    /// A limiter allowing `limit` events per key per `window` seconds.
    pub fn new(limit: u32, window: i64) -> Self {
        Self {
            limit,
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when `key` has used up its window.
    pub fn check(&self, key: &str, now: UnixTime) -> Result<(), i64> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        match counts.get(key) {
            Some(&(start, count)) if now < start + self.window && count >= self.limit => {
                Err((start + self.window - now).max(1))
            }
            _ => Ok(()),
        }
    }

    /// Checks and counts one event for `key` in one step, so that concurrent requests cannot all
    /// pass the check before any of them is counted. `Err(seconds to wait)` when used up.
    pub fn acquire(&self, key: &str, now: UnixTime) -> Result<(), i64> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= MAX_KEYS && !counts.contains_key(key) {
            self.make_room(&mut counts, now);
        }
        let entry = counts.entry(key.to_string()).or_insert((now, 0));
        if now >= entry.0 + self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err((entry.0 + self.window - now).max(1));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Records one event for `key` without checking.
    pub fn record(&self, key: &str, now: UnixTime) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= MAX_KEYS && !counts.contains_key(key) {
            self.make_room(&mut counts, now);
        }
        let entry = counts.entry(key.to_string()).or_insert((now, 0));
        if now >= entry.0 + self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Gives back one event counted by [`WindowLimiter::acquire`] (a reserved failure that turned
    /// out to be a success).
    pub fn release(&self, key: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = counts.get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    /// Forgets `key` (a successful login clears that name's failures).
    pub fn clear(&self, key: &str) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Drops expired windows; if that is not enough, the oldest window still under the limit, so
    /// that flooding the table with new keys never wipes a key that is being refused.
    fn make_room(&self, counts: &mut HashMap<String, (UnixTime, u32)>, now: UnixTime) {
        let window = self.window;
        counts.retain(|_, (start, _)| now < *start + window);
        if counts.len() < MAX_KEYS {
            return;
        }
        let limit = self.limit;
        let victim = counts
            .iter()
            .filter(|(_, (_, count))| *count < limit)
            .min_by_key(|(_, (start, _))| *start)
            .or_else(|| counts.iter().min_by_key(|(_, (start, _))| *start))
            .map(|(key, _)| key.clone());
        if let Some(victim) = victim {
            counts.remove(&victim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_limit_until_window_ends() {
        let limiter = WindowLimiter::new(3, 60);
        for _ in 0..3 {
            assert!(limiter.check("ip", 100).is_ok());
            limiter.record("ip", 100);
        }
        assert_eq!(limiter.check("ip", 110), Err(50));
        assert!(limiter.check("other", 110).is_ok());
        assert!(limiter.check("ip", 160).is_ok());
        limiter.record("ip", 160);
        assert!(
            limiter.check("ip", 160).is_ok(),
            "a new window starts from zero"
        );
        limiter.clear("ip");
        assert!(limiter.check("ip", 161).is_ok());
    }

    #[test]
    fn acquire_counts_atomically_and_release_gives_back() {
        let limiter = WindowLimiter::new(2, 60);
        assert!(limiter.acquire("user", 0).is_ok());
        assert!(limiter.acquire("user", 0).is_ok());
        assert_eq!(limiter.acquire("user", 1), Err(59));
        limiter.release("user");
        assert!(limiter.acquire("user", 2).is_ok());
        assert!(limiter.acquire("user", 60).is_ok(), "a new window");
    }
}
