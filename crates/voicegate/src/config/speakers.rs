//! The `[speakers]` section: the HK Omni surface's speaker system and its limits.

use serde::Deserialize;

/// The speakers surface.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpeakersConfig {
    /// snapserver's JSON-RPC control address (its `[tcp]` port), `HOST:PORT`.
    pub snapcast_control: String,
    /// How long a control request waits for snapserver's answer, in milliseconds.
    pub snapcast_timeout_ms: u64,
    /// The loudest a device may be set, on the contract's 0–50 scale (`set_volume` asks above
    /// it are lowered to it).
    pub max_volume: u8,
    /// A session unused for this long ends, in seconds.
    pub session_idle_secs: u64,
    /// Open sessions per user at most; past it `init_session` answers 429.
    pub max_sessions_per_user: usize,
}

impl Default for SpeakersConfig {
    fn default() -> Self {
        Self {
            snapcast_control: "127.0.0.1:1705".into(),
            snapcast_timeout_ms: 2000,
            max_volume: 50,
            session_idle_secs: 3600,
            max_sessions_per_user: 16,
        }
    }
}

impl SpeakersConfig {
    /// The first key out of range, with why.
    pub fn invalid(&self) -> Option<(&'static str, &'static str)> {
        if self.max_volume > 50 {
            return Some(("speakers.max_volume", "must be from 0 to 50"));
        }
        if self.snapcast_timeout_ms == 0 {
            return Some(("speakers.snapcast_timeout_ms", "must be at least 1"));
        }
        if self.session_idle_secs == 0 {
            return Some(("speakers.session_idle_secs", "must be at least 1"));
        }
        if self.max_sessions_per_user == 0 {
            return Some(("speakers.max_sessions_per_user", "must be at least 1"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_hold_and_every_limit_is_checked() {
        assert_eq!(SpeakersConfig::default().invalid(), None);
        let with = |change: fn(&mut SpeakersConfig)| {
            let mut config = SpeakersConfig::default();
            change(&mut config);
            config.invalid().map(|(key, _)| key)
        };
        assert_eq!(with(|c| c.max_volume = 51), Some("speakers.max_volume"));
        assert_eq!(with(|c| c.max_volume = 0), None);
        assert_eq!(
            with(|c| c.snapcast_timeout_ms = 0),
            Some("speakers.snapcast_timeout_ms")
        );
        assert_eq!(
            with(|c| c.session_idle_secs = 0),
            Some("speakers.session_idle_secs")
        );
        assert_eq!(
            with(|c| c.max_sessions_per_user = 0),
            Some("speakers.max_sessions_per_user")
        );
    }
}
