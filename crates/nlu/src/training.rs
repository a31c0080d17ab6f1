//! Training: a dataset's utterances labeled by their slots, an exact-match lookup, the intent
//! classifier (with a "no intent" class learned from noise made of the dataset's words) and a
//! slot tagger per intent (learning also from sentences made up by swapping slot values).
//!
//! Both models see each training sentence's entity matches as a new sentence would see them: a
//! value listed for the entity, or seen in another utterance, matches; a value seen in this
//! utterance only does not (leave-one-out). The models thus learn how far to trust a match, and to
//! fill values that are in no list, from how often that happens in the data itself.

use std::collections::{BTreeMap, HashMap};

use crate::builtin;
use crate::classifier::{Example, IntentClassifier, utterance_features};
use crate::dataset::{Dataset, Entity};
use crate::error::TrainError;
use crate::features::FeatureIndex;
use crate::gazetteer::{Gazetteer, PhraseCounts};
use crate::labels::{label_utterance, slot_spans};
use crate::model::{LookupEntry, Model, Resolver};
use crate::rng::Rng;
use crate::tagger::{Matches, Sentence, SlotTagger, token_features};
use crate::text::{Token, normalized, tokenize};

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

/// The share of noise utterances (the "no intent" class) per average intent size.
const NOISE_RATIO: f64 = 0.1;
/// Passes of the slot filler's gradient descent over its data.
const TAGGER_EPOCHS: usize = 12;
/// The slot filler's L2 penalty over all its sentences (spread over them in each step).
const TAGGER_L2: f64 = 0.2;
/// Slot-filler features whose weights all stay below this are dropped from the model.
const TAGGER_PRUNE: f32 = 0.03;
/// An intent's slot filler learns from at least this many sentences, made up by swapping slot
/// values when the intent has fewer utterances.
const AUGMENTED_MIN: usize = 1000;
/// And from no more than this many made-up sentences per utterance it has.
const AUGMENTED_PER_UTTERANCE: usize = 10;

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
    let counts = PhraseCounts::build(dataset, &model.gazetteer);
    model.classifier = Some(model.train_classifier(&labeled, &counts, options.seed));
    progress(0.2);
    model.taggers = model.train_taggers(&labeled, &counts, options.seed, progress);
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
    /// Gazetteer and builtin matches in a training sentence of `intent` with its `labels`, as a new
    /// sentence would get them: a gazetteer phrase only matches when it is known without the
    /// sentence's own slot values (leave-one-out; see [`PhraseCounts`]).
    fn training_matches(
        &self,
        tokens: &[Token],
        labels: &[Option<(usize, bool)>],
        intent: usize,
        counts: &PhraseCounts,
    ) -> Matches<'_> {
        let own = self.own_values(tokens, labels, intent);
        let mut found: Matches = self
            .gazetteer
            .find_where(tokens, &mut |entity, phrase| {
                counts.known_without(entity, phrase, &own)
            })
            .into_iter()
            .map(|(first, end, entity)| (first, end, self.gazetteer.entities[entity].as_str()))
            .collect();
        for (first, end, entity) in builtin::find(&self.builtins, tokens) {
            found.push((first, end, self.builtins[entity].as_str()));
        }
        found
    }

    /// Per token of a training sentence, the entities with a value holding its word, without the
    /// sentence's own slot values.
    fn training_word_entities(
        &self,
        tokens: &[Token],
        labels: &[Option<(usize, bool)>],
        intent: usize,
        counts: &PhraseCounts,
    ) -> Vec<Vec<&str>> {
        let own = self.own_values(tokens, labels, intent);
        self.gazetteer
            .word_entities(tokens, &mut |entity, word| {
                counts.word_known_without(entity, word, &own)
            })
            .into_iter()
            .map(|entities| {
                entities
                    .into_iter()
                    .map(|entity| self.gazetteer.entities[entity].as_str())
                    .collect()
            })
            .collect()
    }

    /// A training sentence's slot values: (gazetteer entity index, normalized value).
    fn own_values(
        &self,
        tokens: &[Token],
        labels: &[Option<(usize, bool)>],
        intent: usize,
    ) -> Vec<(usize, String)> {
        slot_spans(labels)
            .into_iter()
            .filter_map(|(first, end, slot)| {
                let entity = &self.slots.get(intent)?.get(slot)?.1;
                let index = self.gazetteer.entity_index(entity)?;
                Some((index, joined(&tokens[first..end])))
            })
            .collect()
    }

    fn train_classifier(
        &self,
        labeled: &Labeled,
        counts: &PhraseCounts,
        seed: u64,
    ) -> IntentClassifier {
        let mut features = FeatureIndex::default();
        let mut examples = Vec::new();
        let mut names = Vec::new();
        let mut lengths = Vec::new();
        let mut words: Vec<&Token> = Vec::new();
        for (class, utterances) in labeled.iter().enumerate() {
            for (tokens, labels) in utterances {
                let matches = self.training_matches(tokens, labels, class, counts);
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
        counts: &PhraseCounts,
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
                            .map(|intent| {
                                (intent, self.train_tagger(intent, labeled, counts, seed))
                            })
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

    fn train_tagger(
        &self,
        intent: usize,
        labeled: &Labeled,
        counts: &PhraseCounts,
        seed: u64,
    ) -> Option<SlotTagger> {
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
            let matches = self.training_matches(tokens, labels, intent, counts);
            let words = self.training_word_entities(tokens, labels, intent, counts);
            let names = token_features(tokens, &matches, &words);
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
}

/// Tokens' lowercased words joined by spaces (a normalized phrase).
fn joined(tokens: &[Token]) -> String {
    let words: Vec<&str> = tokens.iter().map(|token| token.lower.as_str()).collect();
    words.join(" ")
}
