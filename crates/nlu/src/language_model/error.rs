//! Why a language model could not be built.

use std::fmt;

/// Why a language model could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanguageModelError {
    /// The dataset makes no sentence with a word in it.
    NoSentences,
    /// Words that neither the acoustic model's dictionary nor the fallback can pronounce.
    Unpronounceable(Vec<String>),
}

impl fmt::Display for LanguageModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LanguageModelError::NoSentences => {
                write!(
                    f,
                    "the dataset makes no sentences to build a language model from"
                )
            }
            LanguageModelError::Unpronounceable(words) => write!(
                f,
                "no pronunciation for {} word(s): {}",
                words.len(),
                words.join(", ")
            ),
        }
    }
}

impl std::error::Error for LanguageModelError {}
