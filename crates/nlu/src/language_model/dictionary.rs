//! Pronunciation dictionaries in the CMU Sphinx format (`word PH1 PH2 …`, alternatives as
//! `word(2) …`): the acoustic model's, read from its text, and an assistant's, restricted to its
//! vocabulary, with words the first lacks pronounced by a fallback.

use std::collections::{BTreeMap, BTreeSet};

use crate::language_model::error::LanguageModelError;

/// The phones of the CMU set (stress removed) that a pronunciation may use.
pub const CMU_PHONES: &[&str] = &[
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
];

/// A pronunciation dictionary read from text: word (lowercased) → its pronunciations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneDictionary {
    words: BTreeMap<String, Vec<Vec<String>>>,
}

impl PhoneDictionary {
    /// Reads a dictionary's text. Lines that are not `word phones…` are skipped (comments
    /// included); `word(2)` adds an alternative pronunciation of `word`.
    pub fn parse(text: &str) -> PhoneDictionary {
        let mut words: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let Some(word) = fields.next() else { continue };
            if word.starts_with(";;") || word.starts_with('#') {
                continue;
            }
            let phones: Vec<String> = fields.map(str::to_owned).collect();
            if phones.is_empty() {
                continue;
            }
            let word = match word.find('(') {
                Some(at) if word.ends_with(')') && at > 0 => &word[..at],
                _ => word,
            };
            words.entry(word.to_lowercase()).or_default().push(phones);
        }
        PhoneDictionary { words }
    }

    /// The pronunciations of a word, if it has any.
    pub fn get(&self, word: &str) -> Option<&[Vec<String>]> {
        self.words.get(word).map(Vec::as_slice)
    }

    /// How many words it has.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// An assistant's dictionary: every word of its vocabulary with its pronunciations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dictionary {
    /// Word → pronunciations, sorted by word.
    pub words: BTreeMap<String, Vec<Vec<String>>>,
}

impl Dictionary {
    /// Pronounces every word of `vocabulary`: from `phones`, else from `fallback`, whose phones
    /// must all be in [`CMU_PHONES`]. The words neither can pronounce make the error.
    pub fn build(
        vocabulary: &BTreeSet<String>,
        phones: &PhoneDictionary,
        fallback: &mut dyn FnMut(&str) -> Option<Vec<String>>,
    ) -> Result<Dictionary, LanguageModelError> {
        let mut words = BTreeMap::new();
        let mut missing = Vec::new();
        for word in vocabulary {
            if let Some(known) = phones.get(word) {
                words.insert(word.clone(), known.to_vec());
                continue;
            }
            match fallback(word) {
                Some(guess)
                    if !guess.is_empty()
                        && guess
                            .iter()
                            .all(|phone| CMU_PHONES.contains(&phone.as_str())) =>
                {
                    words.insert(word.clone(), vec![guess]);
                }
                _ => missing.push(word.clone()),
            }
        }
        if missing.is_empty() {
            Ok(Dictionary { words })
        } else {
            Err(LanguageModelError::Unpronounceable(missing))
        }
    }

    /// The dictionary's text, one pronunciation a line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (word, pronunciations) in &self.words {
            for (index, phones) in pronunciations.iter().enumerate() {
                if index == 0 {
                    out.push_str(word);
                } else {
                    out.push_str(&format!("{word}({})", index + 1));
                }
                out.push(' ');
                out.push_str(&phones.join(" "));
                out.push('\n');
            }
        }
        out
    }
}
