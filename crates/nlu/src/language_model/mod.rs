//! What a speech recogniser needs to hear an assistant's commands: the sentences its dataset
//! makes ([`sentences`]), a JSGF grammar ([`jsgf`]), a 3-gram ARPA model ([`arpa`]) and a
//! pronunciation dictionary of their words ([`dictionary`]). Pure text work: the acoustic model's
//! dictionary is given as text, and a pronouncer for the words it lacks is given by the caller.

pub mod arpa;
pub mod dictionary;
pub mod error;
pub mod jsgf;
pub mod sentences;

pub use arpa::{Arpa, NGRAM_ORDER};
pub use dictionary::{Dictionary, PhoneDictionary};
pub use error::LanguageModelError;
pub use sentences::{SentenceOptions, Sentences};

use crate::Dataset;

/// The files of an assistant's ASR model, as text.
#[derive(Debug, Clone, PartialEq)]
pub struct LanguageModel {
    /// The sentences, one a line.
    pub sentences: Vec<String>,
    /// The 3-gram model in ARPA format.
    pub arpa: String,
    /// The JSGF grammar.
    pub jsgf: String,
    /// The pronunciation dictionary (CMU Sphinx format).
    pub dictionary: String,
}

/// Builds the language model of `dataset`: sentences, ARPA model, grammar and dictionary. Words
/// are looked up in `phones` first, then given to `fallback` (which answers CMU phones or none).
pub fn build(
    dataset: &Dataset,
    options: &SentenceOptions,
    phones: &PhoneDictionary,
    fallback: &mut dyn FnMut(&str) -> Option<Vec<String>>,
) -> Result<LanguageModel, LanguageModelError> {
    let sentences = Sentences::generate(dataset, options);
    if sentences.lines.is_empty() {
        return Err(LanguageModelError::NoSentences);
    }
    let dictionary = Dictionary::build(&sentences.vocabulary(), phones, fallback)?;
    let arpa = Arpa::estimate(&sentences.lines);
    Ok(LanguageModel {
        arpa: arpa.to_text(),
        jsgf: jsgf::grammar(dataset),
        dictionary: dictionary.to_text(),
        sentences: sentences.lines,
    })
}

#[cfg(test)]
mod tests;
