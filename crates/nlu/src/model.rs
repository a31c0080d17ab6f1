//! A trained model: parsing with it (the exact-match lookup first, then the intent classifier
//! and the intent's slot tagger), and its byte encoding. Training is in `training.rs`.

use std::collections::{BTreeMap, HashMap};

use crate::builtin;
use crate::classifier::{IntentClassifier, utterance_features};
use crate::codec::{Reader, Writer};
use crate::gazetteer::Gazetteer;
use crate::labels::slot_spans;
use crate::parse::{IntentMatch, Parse, Range, Slot, SlotValue};
use crate::tagger::{Matches, SlotTagger, token_features};
use crate::text::{Token, char_offset, normalized, tokenize};

/// The first bytes of an encoded model, with the format's version.
const MAGIC: &[u8; 8] = b"VGNLU\x00\x00\x02";

pub use crate::error::{ModelError, TrainError};

/// A trained model: it parses texts into an intent and slots.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub(crate) language: String,
    pub(crate) intents: Vec<String>,
    /// Per intent, its slots as (slot name, entity).
    pub(crate) slots: Vec<Vec<(String, String)>>,
    /// Custom entities, for resolving values.
    pub(crate) resolvers: BTreeMap<String, Resolver>,
    /// Exact training utterances (normalized) and what they mean.
    pub(crate) lookup: HashMap<String, LookupEntry>,
    /// Custom entities' values, matched for features.
    pub(crate) gazetteer: Gazetteer,
    /// The builtin entities looked for, sorted.
    pub(crate) builtins: Vec<String>,
    /// The intent classifier (intents, then "no intent").
    pub(crate) classifier: Option<IntentClassifier>,
    /// Per intent, its slot filler (none for an intent without slots).
    pub(crate) taggers: Vec<Option<SlotTagger>>,
}

/// The runner-up intent is weighed against the likeliest (the joint check) when its probability
/// is at least this share of the likeliest's.
const JOINT_RATIO: f32 = 0.3;
/// The power of the slot filler's confidence in the joint check.
const JOINT_WEIGHT: f32 = 0.5;

/// "No intent" wins only above this probability.
const NO_INTENT_THRESHOLD: f32 = 0.8;

/// How a custom entity's raw values resolve.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolver {
    /// Lowercased value or synonym → canonical value.
    pub(crate) values: BTreeMap<String, String>,
    pub(crate) automatically_extensible: bool,
}

impl Resolver {
    fn resolve(&self, raw: &str) -> Option<String> {
        match self.values.get(&normalized(raw)) {
            Some(value) => Some(value.clone()),
            None if self.automatically_extensible => Some(raw.to_owned()),
            None => None,
        }
    }
}

/// The meaning of an exact training utterance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LookupEntry {
    pub(crate) intent: usize,
    /// (first token, one past the last token, slot index in the intent's slots).
    pub(crate) slots: Vec<(usize, usize, usize)>,
}

impl Model {
    /// Gazetteer and builtin matches in a sentence.
    pub(crate) fn matches(&self, tokens: &[Token]) -> Matches<'_> {
        let mut found: Matches = self
            .gazetteer
            .find(tokens)
            .into_iter()
            .map(|(first, end, entity)| (first, end, self.gazetteer.entities[entity].as_str()))
            .collect();
        for (first, end, entity) in builtin::find(&self.builtins, tokens) {
            found.push((first, end, self.builtins[entity].as_str()));
        }
        found
    }

    /// Per token, the custom entities with a value holding its word.
    pub(crate) fn word_entities(&self, tokens: &[Token]) -> Vec<Vec<&str>> {
        self.gazetteer
            .word_entities(tokens, &mut |_, _| true)
            .into_iter()
            .map(|entities| {
                entities
                    .into_iter()
                    .map(|entity| self.gazetteer.entities[entity].as_str())
                    .collect()
            })
            .collect()
    }

    /// The language of the dataset it was trained on.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The intents it knows, sorted.
    pub fn intent_names(&self) -> &[String] {
        &self.intents
    }

    /// Parses a text: its intent (or none) and slots. Dates and times resolve against the clock.
    pub fn parse(&self, text: &str) -> Parse {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs() as i64);
        self.parse_at(text, now)
    }

    /// Parses a text as [`Model::parse`] does, resolving dates and times against `now` (seconds
    /// since the Unix epoch, UTC).
    pub fn parse_at(&self, text: &str, now: i64) -> Parse {
        let tokens = tokenize(text);
        if let Some(entry) = self.lookup.get(&normalized(text)) {
            let slots = entry
                .slots
                .iter()
                .filter_map(|&(first, end, slot)| {
                    self.slot(text, &tokens, entry.intent, first, end, slot, now)
                })
                .collect();
            return Parse {
                input: text.to_owned(),
                intent: Some(IntentMatch {
                    intent_name: self.intents[entry.intent].clone(),
                    probability: 1.0,
                }),
                slots,
            };
        }
        let no_intent = Parse {
            input: text.to_owned(),
            intent: None,
            slots: Vec::new(),
        };
        let Some(classifier) = &self.classifier else {
            return no_intent;
        };
        if tokens.is_empty() {
            return no_intent;
        }
        let matches = self.matches(&tokens);
        let mut names = Vec::new();
        utterance_features(&tokens, &matches, &mut names);
        let words = self.word_entities(&tokens);
        let probabilities = classifier.probabilities(&names);
        // The likeliest intent, unless "no intent" is clearly likelier.
        let intent_count = self.intents.len();
        let best = (0..intent_count).fold(0, |top, class| {
            if probabilities[class] > probabilities[top] {
                class
            } else {
                top
            }
        });
        let none = probabilities.get(intent_count).copied().unwrap_or(0.0);
        if none > NO_INTENT_THRESHOLD && none > probabilities[best] {
            return no_intent;
        }
        // The joint check: when the runner-up intent is close, the two are weighed by their
        // probability times their slot filler's confidence in its labelling (its CRF probability,
        // softened), so an utterance whose words fit the other intent's slots better goes there.
        let mut order: Vec<usize> = (0..intent_count).collect();
        order.sort_by(|a, b| probabilities[*b].total_cmp(&probabilities[*a]));
        let candidates: Vec<usize> = order
            .into_iter()
            .take(2)
            .filter(|&class| probabilities[class] >= JOINT_RATIO * probabilities[best])
            .collect();
        let mut chosen: Option<(usize, f32, Vec<usize>)> = None;
        for &class in &candidates {
            let (tags, confidence) = match self.taggers.get(class) {
                Some(Some(tagger)) => {
                    tagger.decode(&tagger.ids(&token_features(&tokens, &matches, &words)))
                }
                _ => (Vec::new(), 1.0),
            };
            let score = if candidates.len() > 1 {
                probabilities[class] * confidence.powf(JOINT_WEIGHT)
            } else {
                probabilities[class]
            };
            if chosen.as_ref().is_none_or(|(_, top, _)| score > *top) {
                chosen = Some((class, score, tags));
            }
        }
        let (best, tags) = chosen.map_or((best, Vec::new()), |(class, _, tags)| (class, tags));
        let mut slots = Vec::new();
        if !tags.is_empty() {
            let labels: Vec<Option<(usize, bool)>> = tags
                .iter()
                .map(|&tag| {
                    if tag == 0 {
                        None
                    } else {
                        Some(((tag - 1) / 2, tag % 2 == 1))
                    }
                })
                .collect();
            slots = slot_spans(&labels)
                .into_iter()
                .filter_map(|(first, end, slot)| {
                    self.slot(text, &tokens, best, first, end, slot, now)
                })
                .collect();
        }
        Parse {
            input: text.to_owned(),
            intent: Some(IntentMatch {
                intent_name: self.intents[best].clone(),
                probability: probabilities[best],
            }),
            slots,
        }
    }

    /// A slot over tokens `first..end`, resolved; `None` when its value does not resolve.
    #[allow(clippy::too_many_arguments)]
    fn slot(
        &self,
        text: &str,
        tokens: &[Token],
        intent: usize,
        first: usize,
        end: usize,
        slot: usize,
        now: i64,
    ) -> Option<Slot> {
        let (slot_name, entity) = self.slots.get(intent)?.get(slot)?;
        let start_byte = tokens.get(first)?.start;
        let end_byte = tokens.get(end.checked_sub(1)?)?.end;
        let raw_value = text.get(start_byte..end_byte)?.to_owned();
        let value = match self.resolvers.get(entity) {
            Some(resolver) => SlotValue::custom(&resolver.resolve(&raw_value)?),
            None => builtin::resolve(entity, &raw_value, now)
                .unwrap_or_else(|| SlotValue::custom(&raw_value)),
        };
        Some(Slot {
            range: Range {
                start: char_offset(text, start_byte),
                end: char_offset(text, end_byte),
            },
            raw_value,
            value,
            entity: entity.clone(),
            slot_name: slot_name.clone(),
        })
    }

    /// The model as bytes (the same model always gives the same bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        writer.bytes.extend_from_slice(MAGIC);
        writer.str(&self.language);
        writer.usize(self.intents.len());
        for (name, slots) in self.intents.iter().zip(&self.slots) {
            writer.str(name);
            writer.usize(slots.len());
            for (slot_name, entity) in slots {
                writer.str(slot_name);
                writer.str(entity);
            }
        }
        writer.usize(self.resolvers.len());
        for (name, resolver) in &self.resolvers {
            writer.str(name);
            writer.u8(u8::from(resolver.automatically_extensible));
            writer.usize(resolver.values.len());
            for (key, value) in &resolver.values {
                writer.str(key);
                writer.str(value);
            }
        }
        let mut keys: Vec<&String> = self.lookup.keys().collect();
        keys.sort();
        writer.usize(keys.len());
        for key in keys {
            let entry = &self.lookup[key];
            writer.str(key);
            writer.usize(entry.intent);
            writer.usize(entry.slots.len());
            for &(first, end, slot) in &entry.slots {
                writer.usize(first);
                writer.usize(end);
                writer.usize(slot);
            }
        }
        self.gazetteer.write(&mut writer);
        writer.usize(self.builtins.len());
        for name in &self.builtins {
            writer.str(name);
        }
        match &self.classifier {
            None => writer.u8(0),
            Some(classifier) => {
                writer.u8(1);
                classifier.write(&mut writer);
            }
        }
        for tagger in &self.taggers {
            match tagger {
                None => writer.u8(0),
                Some(tagger) => {
                    writer.u8(1);
                    tagger.write(&mut writer);
                }
            }
        }
        writer.bytes
    }

    /// Reads a model written by [`Model::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(ModelError::new("unknown format or version"));
        }
        let mut reader = Reader::new(&bytes[MAGIC.len()..]);
        let language = reader.str()?;
        let intent_count = reader.count(8)?;
        let mut intents = Vec::with_capacity(intent_count);
        let mut slots = Vec::with_capacity(intent_count);
        for _ in 0..intent_count {
            intents.push(reader.str()?);
            let slot_count = reader.count(8)?;
            let mut intent_slots = Vec::with_capacity(slot_count);
            for _ in 0..slot_count {
                intent_slots.push((reader.str()?, reader.str()?));
            }
            slots.push(intent_slots);
        }
        let mut resolvers = BTreeMap::new();
        for _ in 0..reader.count(9)? {
            let name = reader.str()?;
            let automatically_extensible = reader.u8()? != 0;
            let mut values = BTreeMap::new();
            for _ in 0..reader.count(8)? {
                values.insert(reader.str()?, reader.str()?);
            }
            resolvers.insert(
                name,
                Resolver {
                    values,
                    automatically_extensible,
                },
            );
        }
        let mut lookup = HashMap::new();
        for _ in 0..reader.count(12)? {
            let key = reader.str()?;
            let intent = reader.usize()?;
            let slot_list = slots
                .get(intent)
                .ok_or_else(|| ModelError::new("lookup entry of an unknown intent"))?;
            let mut entry_slots = Vec::new();
            for _ in 0..reader.count(12)? {
                let (first, end, slot) = (reader.usize()?, reader.usize()?, reader.usize()?);
                if first >= end || slot >= slot_list.len() {
                    return Err(ModelError::new("bad slot span in a lookup entry"));
                }
                entry_slots.push((first, end, slot));
            }
            lookup.insert(
                key,
                LookupEntry {
                    intent,
                    slots: entry_slots,
                },
            );
        }
        let gazetteer = Gazetteer::read(&mut reader)?;
        let mut builtins = Vec::new();
        for _ in 0..reader.count(4)? {
            builtins.push(reader.str()?);
        }
        let classifier = match reader.u8()? {
            0 => None,
            _ => {
                let classifier = IntentClassifier::read(&mut reader)?;
                if classifier.classes() != intent_count + 1 {
                    return Err(ModelError::new("the classifier does not match the intents"));
                }
                Some(classifier)
            }
        };
        let mut taggers = Vec::with_capacity(intent_count);
        for intent_slots in &slots {
            taggers.push(match reader.u8()? {
                0 => None,
                _ => {
                    let tagger = SlotTagger::read(&mut reader)?;
                    if tagger.tags() != 1 + 2 * intent_slots.len() {
                        return Err(ModelError::new("a slot filler does not match its intent"));
                    }
                    Some(tagger)
                }
            });
        }
        reader.finish()?;
        Ok(Model {
            language,
            intents,
            slots,
            resolvers,
            lookup,
            gazetteer,
            builtins,
            classifier,
            taggers,
        })
    }
}
