//! Custom entities' values (and synonyms, and the values seen in the utterances) matched in a text:
//! longest first, without overlaps within an entity. With a matching strictness below 1, a value
//! also matches by any run of at least that fraction of its words.

use std::collections::{BTreeMap, BTreeSet};

use crate::codec::{Reader, Writer};
use crate::dataset::{Dataset, Entity};
use crate::error::ModelError;
use crate::text::{Token, normalized};

/// The value lists of a dataset's custom entities.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Gazetteer {
    /// Entity names, sorted.
    pub(crate) entities: Vec<String>,
    /// Per entity: its normalized phrases.
    phrases: Vec<BTreeSet<String>>,
    /// Per entity: the longest phrase, in tokens.
    longest: Vec<usize>,
}

impl Gazetteer {
    pub(crate) fn build(dataset: &Dataset) -> Gazetteer {
        let mut lists: BTreeMap<String, (BTreeSet<String>, f64)> = BTreeMap::new();
        for (name, entity) in &dataset.entities {
            if let Entity::Custom(custom) = entity {
                let (list, strictness) = lists.entry(name.clone()).or_default();
                *strictness = custom.matching_strictness;
                for value in &custom.data {
                    list.insert(normalized(&value.value));
                    for synonym in &value.synonyms {
                        list.insert(normalized(synonym));
                    }
                }
            }
        }
        for intent in dataset.intents.values() {
            for utterance in &intent.utterances {
                for chunk in &utterance.data {
                    if let Some(slot) = &chunk.slot
                        && let Some((list, _)) = lists.get_mut(&slot.entity)
                    {
                        list.insert(normalized(&chunk.text));
                    }
                }
            }
        }
        let mut gazetteer = Gazetteer::default();
        for (name, (list, strictness)) in lists {
            let mut phrases = BTreeSet::new();
            for phrase in list.into_iter().filter(|phrase| !phrase.is_empty()) {
                if strictness < 1.0 {
                    let words: Vec<&str> = phrase.split(' ').collect();
                    let least = ((words.len() as f64 * strictness).ceil() as usize).max(1);
                    for length in least..words.len() {
                        for window in words.windows(length) {
                            phrases.insert(window.join(" "));
                        }
                    }
                }
                phrases.insert(phrase);
            }
            let longest = phrases
                .iter()
                .map(|phrase| phrase.split(' ').count())
                .max()
                .unwrap_or(0);
            gazetteer.entities.push(name);
            gazetteer.phrases.push(phrases);
            gazetteer.longest.push(longest.min(12));
        }
        gazetteer
    }

    /// Matches in `tokens`: (first token, one past the last, entity index).
    pub(crate) fn find(&self, tokens: &[Token]) -> Vec<(usize, usize, usize)> {
        let mut found = Vec::new();
        let mut key = String::new();
        for (entity, phrases) in self.phrases.iter().enumerate() {
            let mut at = 0;
            while at < tokens.len() {
                let longest = self.longest[entity].min(tokens.len() - at);
                let mut matched = 0;
                for length in (1..=longest).rev() {
                    key.clear();
                    for (index, token) in tokens[at..at + length].iter().enumerate() {
                        if index > 0 {
                            key.push(' ');
                        }
                        key.push_str(&token.lower);
                    }
                    if phrases.contains(&key) {
                        matched = length;
                        break;
                    }
                }
                if matched > 0 {
                    found.push((at, at + matched, entity));
                    at += matched;
                } else {
                    at += 1;
                }
            }
        }
        found
    }

    pub(crate) fn write(&self, writer: &mut Writer) {
        writer.usize(self.entities.len());
        for ((name, phrases), longest) in self.entities.iter().zip(&self.phrases).zip(&self.longest)
        {
            writer.str(name);
            writer.usize(*longest);
            writer.usize(phrases.len());
            for phrase in phrases {
                writer.str(phrase);
            }
        }
    }

    pub(crate) fn read(reader: &mut Reader) -> Result<Gazetteer, ModelError> {
        let mut gazetteer = Gazetteer::default();
        for _ in 0..reader.count(12)? {
            gazetteer.entities.push(reader.str()?);
            gazetteer.longest.push(reader.usize()?.min(12));
            let mut phrases = BTreeSet::new();
            for _ in 0..reader.count(4)? {
                phrases.insert(reader.str()?);
            }
            gazetteer.phrases.push(phrases);
        }
        Ok(gazetteer)
    }
}
