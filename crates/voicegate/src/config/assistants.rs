//! The `[assistants]` section: the Snips console surface's limits.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The Snips console assistants surface.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// The speech recogniser's acoustic model (a PocketSphinx model directory).
    pub asr_acoustic_model: PathBuf,
    /// The acoustic model's pronunciation dictionary, where language models look words up.
    pub asr_dictionary: PathBuf,
    /// The espeak-ng voice that pronounces words the dictionary lacks.
    pub asr_espeak_voice: String,
    /// The most sentences a language model is built from.
    pub asr_max_sentences: usize,
    /// How the recogniser is constrained: `ngram` (the 3-gram model) or `grammar` (JSGF).
    pub asr_search: String,
    /// The most decoders kept loaded (one per assistant; the least recently used goes).
    pub asr_max_decoders: usize,
    /// The longest audio `recognize` takes, in seconds.
    pub asr_max_audio_secs: f64,
    /// The recogniser's beam as a power of ten (`-80`: 1e-80): hypotheses scoring below the
    /// best times this are dropped. Wider (more negative) finds more, slower.
    pub asr_beam_log10: i32,
    /// The same for word exits.
    pub asr_word_beam_log10: i32,
}

impl Default for AssistantsConfig {
    fn default() -> Self {
        Self {
            body_limit: 16 * 1024 * 1024,
            max_per_user: 100,
            max_title_chars: 200,
            max_parse_chars: 2000,
            training_seed: 42,
            asr_acoustic_model: PathBuf::from("/usr/share/pocketsphinx/model/en-us/en-us"),
            asr_dictionary: PathBuf::from("/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"),
            asr_espeak_voice: "en-us".into(),
            asr_max_sentences: 20_000,
            asr_search: "grammar".into(),
            asr_max_decoders: 4,
            asr_max_audio_secs: 30.0,
            asr_beam_log10: -80,
            asr_word_beam_log10: -60,
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
        if !(1..=1_000_000).contains(&self.asr_max_sentences) {
            return Some(("assistants.asr_max_sentences", "must be from 1 to 1000000"));
        }
        if !matches!(self.asr_search.as_str(), "ngram" | "grammar") {
            return Some(("assistants.asr_search", "must be ngram or grammar"));
        }
        if !(-300..=-1).contains(&self.asr_beam_log10) {
            return Some(("assistants.asr_beam_log10", "must be from -300 to -1"));
        }
        if !(-300..=-1).contains(&self.asr_word_beam_log10) {
            return Some(("assistants.asr_word_beam_log10", "must be from -300 to -1"));
        }
        if !(1..=64).contains(&self.asr_max_decoders) {
            return Some(("assistants.asr_max_decoders", "must be from 1 to 64"));
        }
        if !(self.asr_max_audio_secs > 0.0 && self.asr_max_audio_secs <= 600.0) {
            return Some((
                "assistants.asr_max_audio_secs",
                "must be above 0 and at most 600",
            ));
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
        assert_eq!(
            key(|c| c.asr_max_sentences = 0),
            Some("assistants.asr_max_sentences")
        );
        assert_eq!(
            key(|c| c.asr_search = "x".into()),
            Some("assistants.asr_search")
        );
        assert_eq!(
            key(|c| c.asr_beam_log10 = 0),
            Some("assistants.asr_beam_log10")
        );
        assert_eq!(
            key(|c| c.asr_word_beam_log10 = -301),
            Some("assistants.asr_word_beam_log10")
        );
        assert_eq!(
            key(|c| c.asr_max_decoders = 0),
            Some("assistants.asr_max_decoders")
        );
        assert_eq!(
            key(|c| c.asr_max_audio_secs = 0.0),
            Some("assistants.asr_max_audio_secs")
        );
    }
}
