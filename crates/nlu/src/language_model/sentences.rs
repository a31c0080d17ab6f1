//! The sentences an assistant's dataset makes: each utterance with its slot values replaced by
//! the entity's values and synonyms in turn, lowercased words only, balanced per intent (every
//! intent gets the same share of the bound, utterances taken in turn) and bounded in count.

use std::collections::{BTreeSet, HashSet};

use crate::dataset::{Dataset, Entity};
use crate::text::tokenize;

/// How many sentences to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentenceOptions {
    /// At most this many sentences in all.
    pub max_sentences: usize,
}

impl Default for SentenceOptions {
    fn default() -> Self {
        SentenceOptions {
            max_sentences: 20_000,
        }
    }
}

/// The sentences, each its words joined by single spaces, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sentences {
    /// One sentence a line.
    pub lines: Vec<String>,
}

/// The words of a text as the recogniser writes them: lowercased, punctuation dropped.
pub fn words(text: &str) -> Vec<String> {
    tokenize(text)
        .into_iter()
        .filter(|token| token.lower.chars().any(char::is_alphanumeric))
        .map(|token| token.lower)
        .collect()
}

/// One utterance as pieces: fixed words, or a slot with the texts it may take.
enum Piece {
    Words(Vec<String>),
    Slot(Vec<Vec<String>>),
}

impl Sentences {
    /// Generates the sentences of `dataset`.
    pub fn generate(dataset: &Dataset, options: &SentenceOptions) -> Sentences {
        let intents: Vec<Vec<Vec<Piece>>> = dataset
            .intents
            .values()
            .map(|intent| {
                intent
                    .utterances
                    .iter()
                    .map(|utterance| {
                        utterance
                            .data
                            .iter()
                            .map(|chunk| match &chunk.slot {
                                None => Piece::Words(words(&chunk.text)),
                                Some(slot) => {
                                    Piece::Slot(slot_texts(dataset, &slot.entity, &chunk.text))
                                }
                            })
                            .collect()
                    })
                    .collect()
            })
            .filter(|utterances: &Vec<Vec<Piece>>| !utterances.is_empty())
            .collect();
        let mut lines = Vec::new();
        let mut seen = HashSet::new();
        if intents.is_empty() {
            return Sentences { lines };
        }
        let share = (options.max_sentences / intents.len()).max(1);
        for utterances in &intents {
            let mut made = 0;
            // The k-th variant of every utterance, k = 0, 1, …, until the share is made or no
            // utterance has a new variant.
            let variants: Vec<usize> = utterances.iter().map(|u| variant_count(u)).collect();
            let most = variants.iter().copied().max().unwrap_or(0);
            'variants: for k in 0..most {
                for (pieces, &count) in utterances.iter().zip(&variants) {
                    if k >= count {
                        continue;
                    }
                    if made >= share || lines.len() >= options.max_sentences {
                        break 'variants;
                    }
                    let line = variant(pieces, k);
                    if !line.is_empty() && seen.insert(line.clone()) {
                        lines.push(line);
                        made += 1;
                    }
                }
            }
        }
        Sentences { lines }
    }

    /// Every word of the sentences, sorted.
    pub fn vocabulary(&self) -> BTreeSet<String> {
        self.lines
            .iter()
            .flat_map(|line| line.split(' ').map(str::to_owned))
            .collect()
    }
}

/// The texts a slot may take: a custom entity's values and synonyms (and the example itself),
/// or for a builtin entity the example alone.
fn slot_texts(dataset: &Dataset, entity: &str, example: &str) -> Vec<Vec<String>> {
    let mut texts = vec![words(example)];
    if let Some(Entity::Custom(custom)) = dataset.entities.get(entity) {
        for value in &custom.data {
            for text in std::iter::once(&value.value).chain(&value.synonyms) {
                let text = words(text);
                if !text.is_empty() && !texts.contains(&text) {
                    texts.push(text);
                }
            }
        }
    }
    texts
}

/// How many variants an utterance has: its largest slot's count of texts.
fn variant_count(pieces: &[Piece]) -> usize {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Words(_) => 1,
            Piece::Slot(texts) => texts.len(),
        })
        .max()
        .unwrap_or(1)
}

/// The k-th variant: the j-th slot takes text (k + j) modulo its count, so that slots vary
/// together rather than in a product.
fn variant(pieces: &[Piece], k: usize) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut slot_index = 0;
    for piece in pieces {
        match piece {
            Piece::Words(words) => out.extend(words.iter().map(String::as_str)),
            Piece::Slot(texts) => {
                let text = &texts[(k + slot_index) % texts.len()];
                out.extend(text.iter().map(String::as_str));
                slot_index += 1;
            }
        }
    }
    out.join(" ")
}
