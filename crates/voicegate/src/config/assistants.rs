//! The `[assistants]` section: the Snips console surface's limits.

use serde::Deserialize;

/// The Snips console assistants surface.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssistantsConfig {
    /// The largest request body the assistants routes read, in bytes (a dataset: the 2017
    /// benchmark's full set is 4.3 MB as one dataset).
    pub body_limit: usize,
    /// Assistants per user at most; past it a creation answers 429.
    pub max_per_user: u64,
    /// The longest title, in characters.
    pub max_title_chars: usize,
    /// The longest text `parse` reads, in characters.
    pub max_parse_chars: usize,
    /// The seed of NLU training: the same dataset and seed give the same model.
    pub training_seed: u64,
}

impl Default for AssistantsConfig {
    fn default() -> Self {
        Self {
            body_limit: 16 * 1024 * 1024,
            max_per_user: 100,
            max_title_chars: 200,
            max_parse_chars: 2000,
            training_seed: 42,
        }
    }
}

impl AssistantsConfig {
    /// The first key out of range and why, or `None` when every value is usable.
    pub fn invalid(&self) -> Option<(&'static str, &'static str)> {
        if self.body_limit < 1024 {
            return Some(("assistants.body_limit", "must be at least 1024"));
        }
        if self.max_per_user == 0 {
            return Some(("assistants.max_per_user", "must be at least 1"));
        }
        if !(1..=10_000).contains(&self.max_title_chars) {
            return Some(("assistants.max_title_chars", "must be from 1 to 10000"));
        }
        if !(1..=1_000_000).contains(&self.max_parse_chars) {
            return Some(("assistants.max_parse_chars", "must be from 1 to 1000000"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_hold_and_every_limit_is_checked() {
        assert_eq!(AssistantsConfig::default().invalid(), None);
        assert_eq!(AssistantsConfig::default().body_limit, 16 * 1024 * 1024);
        let key = |change: fn(&mut AssistantsConfig)| {
            let mut config = AssistantsConfig::default();
            change(&mut config);
            config.invalid().map(|(key, _)| key)
        };
        assert_eq!(key(|c| c.body_limit = 10), Some("assistants.body_limit"));
        assert_eq!(key(|c| c.max_per_user = 0), Some("assistants.max_per_user"));
        assert_eq!(
            key(|c| c.max_title_chars = 0),
            Some("assistants.max_title_chars")
        );
        assert_eq!(
            key(|c| c.max_parse_chars = 0),
            Some("assistants.max_parse_chars")
        );
    }
}
