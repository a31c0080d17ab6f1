//! Custom entities' values (and synonyms, and the values seen in the utterances) matched in a text:
//! longest first, without overlaps within an entity. With a matching strictness below 1, a value
//! also matches by any run of at least that fraction of its words.

use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    /// Each word of any phrase → the entities whose phrases hold it (derived from `phrases`).
    words: HashMap<String, Vec<usize>>,
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
                phrases.extend(variants(&phrase, strictness));
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
        gazetteer.index_words();
        gazetteer
    }

    fn index_words(&mut self) {
        self.words.clear();
        for (entity, phrases) in self.phrases.iter().enumerate() {
            for phrase in phrases {
                for word in phrase.split(' ') {
                    let entities = self.words.entry(word.to_owned()).or_default();
                    if entities.last() != Some(&entity) {
                        entities.push(entity);
                    }
                }
            }
        }
    }

    /// Per token, the entities with a phrase holding its word that `keep` (given the entity
    /// index and the word) says yes to.
    pub(crate) fn word_entities(
        &self,
        tokens: &[Token],
        keep: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Vec<Vec<usize>> {
        tokens
            .iter()
            .map(|token| match self.words.get(&token.lower) {
                Some(entities) => entities
                    .iter()
                    .copied()
                    .filter(|entity| keep(*entity, &token.lower))
                    .collect(),
                None => Vec::new(),
            })
            .collect()
    }

    /// The index of an entity's list.
    pub(crate) fn entity_index(&self, name: &str) -> Option<usize> {
        self.entities
            .binary_search_by(|entity| entity.as_str().cmp(name))
            .ok()
    }

    /// Matches in `tokens`: (first token, one past the last, entity index).
    pub(crate) fn find(&self, tokens: &[Token]) -> Vec<(usize, usize, usize)> {
        self.find_where(tokens, &mut |_, _| true)
    }

    /// Matches in `tokens` as [`Gazetteer::find`] gives them, of the phrases `keep` (given the
    /// entity index and the phrase) says yes to.
    pub(crate) fn find_where(
        &self,
        tokens: &[Token],
        keep: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Vec<(usize, usize, usize)> {
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
                    if phrases.contains(&key) && keep(entity, &key) {
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
        gazetteer.index_words();
        Ok(gazetteer)
    }
}

/// The phrases a value matches as: itself and, with a matching strictness below 1, every run of
/// at least that fraction of its words.
fn variants(phrase: &str, strictness: f64) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if strictness < 1.0 {
        let words: Vec<&str> = phrase.split(' ').collect();
        let least = ((words.len() as f64 * strictness).ceil() as usize).max(1);
        for length in least..words.len() {
            for window in words.windows(length) {
                out.insert(window.join(" "));
            }
        }
    }
    out.insert(phrase.to_owned());
    out
}

/// How often each gazetteer phrase comes from the training utterances' slot values (a listed
/// entity value counts as always there). Training uses it to see each utterance as a new one would
/// be seen: a match only counts when its phrase is also known without this utterance's own values
/// (leave-one-out), so the models learn how often a value is known beforehand and to fill values
/// that are in no list.
pub(crate) struct PhraseCounts {
    /// (entity index, phrase) → occurrences; `usize::MAX` for listed values.
    counts: HashMap<(usize, String), usize>,
    /// (entity index, word) → occurrences in values; `usize::MAX` for words of listed values.
    words: HashMap<(usize, String), usize>,
    /// Per entity index, its matching strictness.
    strictness: Vec<f64>,
}

impl PhraseCounts {
    pub(crate) fn build(dataset: &Dataset, gazetteer: &Gazetteer) -> PhraseCounts {
        let mut counts: HashMap<(usize, String), usize> = HashMap::new();
        let mut words: HashMap<(usize, String), usize> = HashMap::new();
        let mut strictness = vec![1.0; gazetteer.entities.len()];
        for (name, entity) in &dataset.entities {
            if let (Entity::Custom(custom), Some(index)) = (entity, gazetteer.entity_index(name)) {
                strictness[index] = custom.matching_strictness;
                for value in &custom.data {
                    for phrase in std::iter::once(&value.value).chain(&value.synonyms) {
                        let phrase = normalized(phrase);
                        for word in phrase.split(' ') {
                            words.insert((index, word.to_owned()), usize::MAX);
                        }
                        for variant in variants(&phrase, custom.matching_strictness) {
                            counts.insert((index, variant), usize::MAX);
                        }
                    }
                }
            }
        }
        for intent in dataset.intents.values() {
            for utterance in &intent.utterances {
                for chunk in &utterance.data {
                    let Some(slot) = &chunk.slot else { continue };
                    let Some(index) = gazetteer.entity_index(&slot.entity) else {
                        continue;
                    };
                    let phrase = normalized(&chunk.text);
                    if phrase.is_empty() {
                        continue;
                    }
                    for variant in variants(&phrase, strictness[index]) {
                        let count = counts.entry((index, variant)).or_insert(0);
                        *count = count.saturating_add(1);
                    }
                    let unique: BTreeSet<&str> = phrase.split(' ').collect();
                    for word in unique {
                        let count = words.entry((index, word.to_owned())).or_insert(0);
                        *count = count.saturating_add(1);
                    }
                }
            }
        }
        PhraseCounts {
            counts,
            words,
            strictness,
        }
    }

    /// Whether a match of `phrase` for entity `entity` is known without the sentence's own slot
    /// values `own` (entity index, normalized value).
    pub(crate) fn known_without(
        &self,
        entity: usize,
        phrase: &str,
        own: &[(usize, String)],
    ) -> bool {
        let total = self
            .counts
            .get(&(entity, phrase.to_owned()))
            .copied()
            .unwrap_or(0);
        let strictness = self.strictness.get(entity).copied().unwrap_or(1.0);
        let mine = own
            .iter()
            .filter(|(index, value)| {
                *index == entity
                    && (value == phrase || variants(value, strictness).contains(phrase))
            })
            .count();
        total > mine
    }

    /// Whether `word` is in a value of entity `entity` without the sentence's own slot values.
    pub(crate) fn word_known_without(
        &self,
        entity: usize,
        word: &str,
        own: &[(usize, String)],
    ) -> bool {
        let total = self
            .words
            .get(&(entity, word.to_owned()))
            .copied()
            .unwrap_or(0);
        let mine = own
            .iter()
            .filter(|(index, value)| *index == entity && value.split(' ').any(|own| own == word))
            .count();
        total > mine
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tokenize;

    fn cities() -> Dataset {
        let json = r#"{"language": "en", "intents": {"weather": {"utterances": [
              {"data": [{"text": "weather in "}, {"text": "New York", "entity": "city", "slot_name": "city"}]},
              {"data": [{"text": "rain in "}, {"text": "new york", "entity": "city", "slot_name": "city"}]},
              {"data": [{"text": "sun in "}, {"text": "Berlin", "entity": "city", "slot_name": "city"}]},
              {"data": [{"text": "snow in "}, {"text": "York", "entity": "city", "slot_name": "city"}]}]}},
          "entities": {"city": {"data": [{"value": "Paris"}],
            "use_synonyms": true, "automatically_extensible": true, "matching_strictness": 1.0}}}"#;
        Dataset::from_json(json.as_bytes()).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn a_value_seen_once_is_unknown_without_its_own_sentence() {
        let dataset = cities();
        let gazetteer = Gazetteer::build(&dataset);
        let counts = PhraseCounts::build(&dataset, &gazetteer);
        let city = gazetteer.entity_index("city").unwrap_or(usize::MAX);
        let own = |value: &str| vec![(city, value.to_owned())];
        // Seen in one utterance only: not known without it; seen twice, or listed: known.
        assert!(!counts.known_without(city, "berlin", &own("berlin")));
        assert!(counts.known_without(city, "berlin", &[]));
        assert!(counts.known_without(city, "new york", &own("new york")));
        assert!(counts.known_without(city, "paris", &own("paris")));
        assert!(!counts.known_without(city, "rome", &[]));
        // Words: "york" is in three values, one of them this sentence's; "berlin" in one.
        assert!(counts.word_known_without(city, "york", &own("new york")));
        assert!(!counts.word_known_without(city, "berlin", &own("berlin")));
        assert!(counts.word_known_without(city, "berlin", &own("new york")));
        // Matching without a phrase falls back to the shorter one still known.
        let tokens = tokenize("weather in new york");
        let all = gazetteer.find(&tokens);
        assert_eq!(all, [(2, 4, city)]);
        let held_out = gazetteer.find_where(&tokens, &mut |_, phrase| phrase != "new york");
        assert_eq!(held_out, [(3, 4, city)]);
        let words = gazetteer.word_entities(&tokens, &mut |_, word| word != "new");
        assert_eq!(words, [vec![], vec![], vec![], vec![city]]);
    }
}
