//! Training a model from a dataset, parsing with it, and its byte encoding.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::builtin;
use crate::classifier::{Example, IntentClassifier, utterance_features};
use crate::codec::{Reader, Writer};
use crate::dataset::{Dataset, Entity};
use crate::features::FeatureIndex;
use crate::gazetteer::Gazetteer;
use crate::parse::{IntentMatch, Parse, Range, Slot, SlotValue};
use crate::rng::Rng;
use crate::tagger::{Matches, Sentence, SlotTagger, token_features};
use crate::text::{Token, char_offset, normalized, tokenize};

/// The first bytes of an encoded model, with the format's version.
const MAGIC: &[u8; 8] = b"VGNLU\x00\x00\x02";

/// Training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// Seeds every random choice, so that a dataset and a seed always give the same model.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { seed: 42 }
    }
}

/// Why training failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrainError {
    /// The dataset has no intent with an utterance.
    NoUtterances,
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::NoUtterances => write!(f, "the dataset has no utterances to learn from"),
        }
    }
}

impl std::error::Error for TrainError {}

/// Why model bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    /// What is wrong.
    pub message: String,
}

impl ModelError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ModelError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a valid NLU model: {}", self.message)
    }
}

impl std::error::Error for ModelError {}

/// A trained model: it parses texts into an intent and slots.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    language: String,
    intents: Vec<String>,
    /// Per intent, its slots as (slot name, entity).
    slots: Vec<Vec<(String, String)>>,
    /// Custom entities, for resolving values.
    resolvers: BTreeMap<String, Resolver>,
    /// Exact training utterances (normalized) and what they mean.
    lookup: HashMap<String, LookupEntry>,
    /// Custom entities' values, matched for features.
    gazetteer: Gazetteer,
    /// The builtin entities looked for, sorted.
    builtins: Vec<String>,
    /// The intent classifier (intents, then "no intent").
    classifier: Option<IntentClassifier>,
    /// Per intent, its slot filler (none for an intent without slots).
    taggers: Vec<Option<SlotTagger>>,
}

/// The share of noise utterances (the "no intent" class) per average intent size.
const NOISE_RATIO: f64 = 0.1;
/// "No intent" wins only above this probability.
const NO_INTENT_THRESHOLD: f32 = 0.8;
/// Passes of the slot filler's gradient descent over its data.
const TAGGER_EPOCHS: usize = 12;
/// The slot filler's L2 penalty over all its sentences (spread over them in each step).
const TAGGER_L2: f64 = 0.2;
/// Slot-filler features whose weights all stay below this are dropped from the model.
const TAGGER_PRUNE: f32 = 0.03;
/// Gazetteer matches hidden from the intent classifier while it learns: a training utterance's
/// slot values are all in the gazetteer (it is made of them), a new utterance's often are not, and
/// without this the classifier leans on entity matches it will not see.
const CLASSIFIER_GAZETTEER_DROPOUT: f64 = 0.5;
/// An intent's slot filler learns from at least this many sentences, made up by swapping slot
/// values when the intent has fewer utterances.
const AUGMENTED_MIN: usize = 1000;
/// And from no more than this many made-up sentences per utterance it has.
const AUGMENTED_PER_UTTERANCE: usize = 10;
/// Gazetteer matches hidden from the slot filler while it learns, so that it also learns to fill
/// values that are in no list (as snips-nlu does for extensible entities).
const GAZETTEER_DROPOUT: f64 = 0.7;

/// How a custom entity's raw values resolve.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolver {
    /// Lowercased value or synonym → canonical value.
    values: BTreeMap<String, String>,
    automatically_extensible: bool,
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
struct LookupEntry {
    intent: usize,
    /// (first token, one past the last token, slot index in the intent's slots).
    slots: Vec<(usize, usize, usize)>,
}

/// An utterance split into tokens with each token's slot (index in the intent's slots, and
/// whether the token begins the slot's value).
pub(crate) struct LabeledUtterance {
    pub(crate) text: String,
    pub(crate) labels: Vec<Option<(usize, bool)>>,
}

/// Tokenizes an annotated utterance and labels its tokens with the slots of `slot_index`.
pub(crate) fn label_utterance(
    utterance: &crate::dataset::Utterance,
    slot_index: &mut dyn FnMut(&str, &str) -> usize,
) -> LabeledUtterance {
    let text = utterance.text();
    let tokens = tokenize(&text);
    let mut labels = vec![None; tokens.len()];
    let mut offset = 0;
    for chunk in &utterance.data {
        let (start, end) = (offset, offset + chunk.text.len());
        offset = end;
        let Some(slot) = &chunk.slot else { continue };
        let index = slot_index(&slot.slot_name, &slot.entity);
        let mut first = true;
        for (token, label) in tokens.iter().zip(labels.iter_mut()) {
            if token.start >= start && token.end <= end {
                *label = Some((index, first));
                first = false;
            }
        }
    }
    LabeledUtterance { text, labels }
}

/// Token spans of the labeled slots: (first token, one past the last, slot index).
pub(crate) fn slot_spans(labels: &[Option<(usize, bool)>]) -> Vec<(usize, usize, usize)> {
    let mut spans: Vec<(usize, usize, usize)> = Vec::new();
    for (position, label) in labels.iter().enumerate() {
        if let Some((slot, begins)) = label {
            match spans.last_mut() {
                Some(last) if !begins && last.1 == position && last.2 == *slot => last.1 += 1,
                _ => spans.push((position, position + 1, *slot)),
            }
        }
    }
    spans
}

/// Trains a model on a dataset. `progress` is called with the fraction done, ending with 1.0.
pub fn train(
    dataset: &Dataset,
    options: &TrainOptions,
    progress: &mut dyn FnMut(f32),
) -> Result<Model, TrainError> {
    if dataset.utterance_count() == 0 {
        return Err(TrainError::NoUtterances);
    }
    progress(0.0);
    let intents = dataset.intent_names();
    let mut slots: Vec<Vec<(String, String)>> = vec![Vec::new(); intents.len()];
    let mut lookup: HashMap<String, LookupEntry> = HashMap::new();
    let mut ambiguous: Vec<String> = Vec::new();
    // Per intent, its utterances tokenized and labeled.
    let mut labeled: Labeled = Vec::new();
    for (intent_index, intent) in dataset.intents.values().enumerate() {
        let intent_slots = &mut slots[intent_index];
        let mut intent_labeled = Vec::with_capacity(intent.utterances.len());
        for utterance in &intent.utterances {
            let utterance = label_utterance(utterance, &mut |slot_name, entity| {
                slot_position(intent_slots, slot_name, entity)
            });
            let key = normalized(&utterance.text);
            if key.is_empty() {
                continue;
            }
            let entry = LookupEntry {
                intent: intent_index,
                slots: slot_spans(&utterance.labels),
            };
            match lookup.get(&key) {
                None => {
                    lookup.insert(key, entry);
                }
                Some(existing) if existing.intent != entry.intent => ambiguous.push(key),
                Some(_) => {}
            }
            intent_labeled.push((tokenize(&utterance.text), utterance.labels));
        }
        labeled.push(intent_labeled);
    }
    // A text given to two intents is no exact answer.
    for key in ambiguous {
        lookup.remove(&key);
    }
    let resolvers = dataset
        .entities
        .iter()
        .filter_map(|(name, entity)| match entity {
            Entity::Builtin => None,
            Entity::Custom(custom) => {
                let mut values = BTreeMap::new();
                for value in &custom.data {
                    values
                        .entry(normalized(&value.value))
                        .or_insert_with(|| value.value.clone());
                    for synonym in &value.synonyms {
                        let resolved = if custom.use_synonyms {
                            &value.value
                        } else {
                            synonym
                        };
                        values
                            .entry(normalized(synonym))
                            .or_insert_with(|| resolved.clone());
                    }
                }
                let resolver = Resolver {
                    values,
                    automatically_extensible: custom.automatically_extensible,
                };
                Some((name.clone(), resolver))
            }
        })
        .collect();
    let gazetteer = Gazetteer::build(dataset);
    // Numbers and ordinals are always looked for: they help fill slots of any entity.
    let mut builtins: Vec<String> = vec!["snips/number".to_owned(), "snips/ordinal".to_owned()];
    for name in dataset.entities.keys() {
        if builtin::SUPPORTED.contains(&name.as_str()) && !builtins.contains(name) {
            builtins.push(name.clone());
        }
    }
    builtins.sort();
    let mut model = Model {
        language: dataset.language.clone(),
        intents,
        slots,
        resolvers,
        lookup,
        gazetteer,
        builtins,
        classifier: None,
        taggers: Vec::new(),
    };
    model.classifier = Some(model.train_classifier(&labeled, options.seed));
    progress(0.2);
    model.taggers = model.train_taggers(&labeled, options.seed, progress);
    progress(1.0);
    Ok(model)
}

fn slot_position(slots: &mut Vec<(String, String)>, slot_name: &str, entity: &str) -> usize {
    match slots.iter().position(|(name, _)| name == slot_name) {
        Some(index) => index,
        None => {
            slots.push((slot_name.to_owned(), entity.to_owned()));
            slots.len() - 1
        }
    }
}

/// A training utterance's tokens and their slot labels.
type LabeledTokens = (Vec<Token>, Vec<Option<(usize, bool)>>);
/// Per intent, its labeled utterances.
type Labeled = Vec<Vec<LabeledTokens>>;

impl Model {
    /// Gazetteer and builtin matches in a sentence.
    fn matches(&self, tokens: &[Token]) -> Matches<'_> {
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

    fn train_classifier(&self, labeled: &Labeled, seed: u64) -> IntentClassifier {
        let mut features = FeatureIndex::default();
        let mut examples = Vec::new();
        let mut names = Vec::new();
        let mut lengths = Vec::new();
        let mut words: Vec<&Token> = Vec::new();
        let mut dropout = Rng::new(seed ^ 0x00D2_0F07);
        for (class, utterances) in labeled.iter().enumerate() {
            for (tokens, _) in utterances {
                let mut matches = self.matches(tokens);
                let gazetteer_entities = &self.gazetteer.entities;
                matches.retain(|(_, _, entity)| {
                    !gazetteer_entities.iter().any(|name| name == entity)
                        || dropout.unit() >= CLASSIFIER_GAZETTEER_DROPOUT
                });
                utterance_features(tokens, &matches, &mut names);
                let ids = names.iter().map(|name| features.intern(name)).collect();
                examples.push(Example {
                    features: ids,
                    class,
                });
                lengths.push(tokens.len());
                words.extend(tokens.iter());
            }
        }
        // Noise for "no intent": the dataset's words in random order and number.
        let none_class = labeled.len();
        let average = examples.len() as f64 / labeled.len().max(1) as f64;
        let noise_count = (average * NOISE_RATIO).ceil() as usize;
        let mut rng = Rng::new(seed ^ 0x0015_E000);
        if !words.is_empty() {
            for _ in 0..noise_count {
                let length = lengths[rng.below(lengths.len())].max(1);
                let tokens: Vec<Token> = (0..length)
                    .map(|_| words[rng.below(words.len())].clone())
                    .collect();
                self.classifier_names(&tokens, &mut names);
                let ids = names.iter().map(|name| features.intern(name)).collect();
                examples.push(Example {
                    features: ids,
                    class: none_class,
                });
            }
        }
        IntentClassifier::train(features, none_class + 1, &examples, seed)
    }

    fn classifier_names(&self, tokens: &[Token], names: &mut Vec<String>) {
        let matches = self.matches(tokens);
        utterance_features(tokens, &matches, names);
    }

    fn train_taggers(
        &self,
        labeled: &Labeled,
        seed: u64,
        progress: &mut dyn FnMut(f32),
    ) -> Vec<Option<SlotTagger>> {
        let count = labeled.len();
        let mut taggers: Vec<Option<SlotTagger>> = vec![None; count];
        // Two workers, each a fixed share of the intents: the result does not depend on timing.
        let workers = 2usize;
        let results: Vec<Vec<(usize, Option<SlotTagger>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|worker| {
                    scope.spawn(move || {
                        (0..count)
                            .filter(|intent| intent % workers == worker)
                            .map(|intent| (intent, self.train_tagger(intent, labeled, seed)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap_or_default())
                .collect()
        });
        for (intent, tagger) in results.into_iter().flatten() {
            taggers[intent] = tagger;
        }
        progress(0.95);
        taggers
    }

    fn train_tagger(&self, intent: usize, labeled: &Labeled, seed: u64) -> Option<SlotTagger> {
        let slot_count = self.slots[intent].len();
        if slot_count == 0 {
            return None;
        }
        let mut rng = Rng::new(seed ^ (intent as u64 + 1).wrapping_mul(0x9E37_79B9));
        let augmented = self.augment(intent, labeled, &mut rng);
        let utterances = labeled[intent].iter().chain(&augmented);
        let mut features = FeatureIndex::default();
        let mut sentences = Vec::new();
        for (tokens, labels) in utterances {
            let mut matches = self.matches(tokens);
            let gazetteer_entities = &self.gazetteer.entities;
            matches.retain(|(_, _, entity)| {
                !gazetteer_entities.iter().any(|name| name == entity)
                    || rng.unit() >= GAZETTEER_DROPOUT
            });
            let names = token_features(tokens, &matches);
            let ids = names
                .iter()
                .map(|token| token.iter().map(|name| features.intern(name)).collect())
                .collect();
            let tags = labels
                .iter()
                .map(|label| match label {
                    None => 0,
                    Some((slot, true)) => 1 + 2 * slot,
                    Some((slot, false)) => 2 + 2 * slot,
                })
                .collect();
            sentences.push(Sentence {
                features: ids,
                tags,
            });
        }
        let l2 = TAGGER_L2 / sentences.len().max(1) as f64;
        let mut tagger = SlotTagger::train_crf(
            features,
            slot_count,
            &sentences,
            seed ^ intent as u64,
            TAGGER_EPOCHS,
            l2,
        );
        tagger.prune(TAGGER_PRUNE);
        Some(tagger)
    }

    /// More training sentences for an intent's slot filler, as snips-nlu makes them: its
    /// utterances with every slot value swapped for another value of the same slot, taken from
    /// this intent or from any intent with a slot of the same name and entity.
    fn augment(&self, intent: usize, labeled: &Labeled, rng: &mut Rng) -> Vec<LabeledTokens> {
        let own = &labeled[intent];
        let with_slots: Vec<&LabeledTokens> = own
            .iter()
            .filter(|(_, labels)| labels.iter().any(Option::is_some))
            .collect();
        let wanted = AUGMENTED_MIN
            .saturating_sub(own.len())
            .min(own.len() * AUGMENTED_PER_UTTERANCE);
        if with_slots.is_empty() || wanted == 0 {
            return Vec::new();
        }
        // Per slot of this intent: the values seen, as token lists.
        let mut values: Vec<Vec<&[Token]>> = vec![Vec::new(); self.slots[intent].len()];
        for (other, utterances) in labeled.iter().enumerate() {
            // This intent's slot index for each of the other intent's slots.
            let mapping: Vec<Option<usize>> = self.slots[other]
                .iter()
                .map(|slot| self.slots[intent].iter().position(|own| own == slot))
                .collect();
            for (tokens, labels) in utterances {
                for (first, end, slot) in slot_spans(labels) {
                    if let Some(Some(target)) = mapping.get(slot) {
                        values[*target].push(&tokens[first..end]);
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            let (tokens, labels) = with_slots[rng.below(with_slots.len())];
            let mut new_tokens = Vec::with_capacity(tokens.len());
            let mut new_labels = Vec::with_capacity(tokens.len());
            let mut position = 0;
            for (first, end, slot) in slot_spans(labels) {
                new_tokens.extend_from_slice(&tokens[position..first]);
                new_labels.extend_from_slice(&labels[position..first]);
                let pool = &values[slot];
                let value = if pool.is_empty() {
                    &tokens[first..end]
                } else {
                    pool[rng.below(pool.len())]
                };
                for (index, token) in value.iter().enumerate() {
                    new_tokens.push(token.clone());
                    new_labels.push(Some((slot, index == 0)));
                }
                position = end;
            }
            new_tokens.extend_from_slice(&tokens[position..]);
            new_labels.extend_from_slice(&labels[position..]);
            out.push((new_tokens, new_labels));
        }
        out
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
        let mut slots = Vec::new();
        if let Some(Some(tagger)) = self.taggers.get(best) {
            let ids = tagger.ids(&token_features(&tokens, &matches));
            let tags = tagger.decode(&ids);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lights() -> Dataset {
        let json = r#"{"language": "en", "intents": {
            "turnOn": {"utterances": [
              {"data": [{"text": "turn on the "}, {"text": "lounge", "entity": "room", "slot_name": "room"}, {"text": " lights"}]},
              {"data": [{"text": "lights on please"}]}]},
            "turnOff": {"utterances": [
              {"data": [{"text": "turn off the "}, {"text": "kitchen", "entity": "room", "slot_name": "room"}, {"text": " lights"}]}]}
          },
          "entities": {"room": {"data": [{"value": "living room", "synonyms": ["lounge"]}, {"value": "kitchen"}],
            "use_synonyms": true, "automatically_extensible": false, "matching_strictness": 1.0}}}"#;
        match Dataset::from_json(json.as_bytes()) {
            Ok(dataset) => dataset,
            Err(error) => panic!("{error}"),
        }
    }

    fn trained() -> Model {
        let mut last = 0.0;
        let model = train(&lights(), &TrainOptions::default(), &mut |done| last = done);
        assert_eq!(last, 1.0);
        model.unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn exact_training_utterances_parse() {
        let model = trained();
        let parse = model.parse("Turn on the  Lounge lights");
        let intent = parse
            .intent
            .as_ref()
            .map(|found| found.intent_name.as_str());
        assert_eq!(intent, Some("turnOn"));
        assert_eq!(parse.slots.len(), 1);
        assert_eq!(parse.slots[0].raw_value, "Lounge");
        assert_eq!(parse.slots[0].range, Range { start: 13, end: 19 });
        assert_eq!(parse.slots[0].value, SlotValue::custom("living room"));
        assert_eq!(parse.slots[0].slot_name, "room");
    }

    #[test]
    fn bytes_round_trip_and_are_deterministic() {
        let model = trained();
        let bytes = model.to_bytes();
        assert_eq!(bytes, trained().to_bytes());
        assert_eq!(Model::from_bytes(&bytes).as_ref(), Ok(&model));
        assert!(Model::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(Model::from_bytes(b"nonsense").is_err());
    }

    #[test]
    fn empty_dataset_is_an_error() {
        let mut dataset = lights();
        dataset.intents.clear();
        assert_eq!(
            train(&dataset, &TrainOptions::default(), &mut |_| {}),
            Err(TrainError::NoUtterances)
        );
    }
}

#[cfg(test)]
mod learned_tests {
    use super::*;

    #[test]
    fn unseen_utterances_get_intents_and_resolved_builtin_slots() {
        let json = r#"{"language": "en", "intents": {
            "setTimer": {"utterances": [
              {"data": [{"text": "set a timer for "}, {"text": "ten minutes", "entity": "snips/duration", "slot_name": "length"}]},
              {"data": [{"text": "start a timer for "}, {"text": "3 hours", "entity": "snips/duration", "slot_name": "length"}]},
              {"data": [{"text": "timer for "}, {"text": "two minutes", "entity": "snips/duration", "slot_name": "length"}, {"text": " please"}]}]},
            "bookTable": {"utterances": [
              {"data": [{"text": "book a table for "}, {"text": "four", "entity": "snips/number", "slot_name": "people"}, {"text": " "}, {"text": "tomorrow", "entity": "snips/datetime", "slot_name": "when"}]},
              {"data": [{"text": "reserve a table for "}, {"text": "2", "entity": "snips/number", "slot_name": "people"}, {"text": " "}, {"text": "today", "entity": "snips/datetime", "slot_name": "when"}]},
              {"data": [{"text": "book a table for "}, {"text": "six", "entity": "snips/number", "slot_name": "people"}, {"text": " "}, {"text": "monday", "entity": "snips/datetime", "slot_name": "when"}]}]}
          },
          "entities": {"snips/duration": {}, "snips/number": {}, "snips/datetime": {}}}"#;
        let dataset = Dataset::from_json(json.as_bytes()).unwrap_or_else(|error| panic!("{error}"));
        let model = train(&dataset, &TrainOptions::default(), &mut |_| {})
            .unwrap_or_else(|error| panic!("{error}"));
        let again = train(&dataset, &TrainOptions::default(), &mut |_| {})
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            model.to_bytes(),
            again.to_bytes(),
            "same dataset and seed, same bytes"
        );
        assert_eq!(Model::from_bytes(&model.to_bytes()).as_ref(), Ok(&model));
        // 2024-05-03 10:00 UTC
        let parse = model.parse_at("book a table for three tomorrow", 1_714_730_400);
        assert_eq!(
            parse
                .intent
                .as_ref()
                .map(|found| found.intent_name.as_str()),
            Some("bookTable")
        );
        let values: Vec<(String, String)> = parse
            .slots
            .iter()
            .map(|slot| {
                (
                    slot.slot_name.clone(),
                    serde_json::to_string(&slot.value).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            values,
            [
                ("people".to_owned(), r#"{"kind":"Number","value":3.0}"#.to_owned()),
                (
                    "when".to_owned(),
                    r#"{"kind":"InstantTime","value":"2024-05-04 00:00:00 +00:00","grain":"Day","precision":"Exact"}"#.to_owned()
                ),
            ]
        );
        let parse = model.parse_at("set a timer for five minutes", 1_714_730_400);
        assert_eq!(
            parse
                .intent
                .as_ref()
                .map(|found| found.intent_name.as_str()),
            Some("setTimer")
        );
        assert_eq!(parse.slots.len(), 1);
        assert_eq!(parse.slots[0].raw_value, "five minutes");
        assert_eq!(parse.slots[0].value.value, serde_json::json!(300.0));
    }
}
