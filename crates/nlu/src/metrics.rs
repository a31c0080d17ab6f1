//! Evaluation by the snips-nlu-metrics rules, and k-fold cross-validation.
//!
//! Per test utterance: a right intent counts for it; a wrong one counts against both intents and its
//! slots are not scored at all. A gold slot is found when a predicted slot has the same slot name
//! and exactly the same raw text; predicted slots matching no gold slot are false positives. Slot
//! precision, recall and F1 are computed per (intent, slot name) pair and macro-averaged.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::dataset::{Dataset, Intent};
use crate::error::TrainError;
use crate::model::Model;
use crate::rng::Rng;
use crate::training::{TrainOptions, train};

/// True positives, false positives and false negatives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Found and right.
    pub true_positives: usize,
    /// Found but wrong.
    pub false_positives: usize,
    /// Missed.
    pub false_negatives: usize,
}

impl Counts {
    /// TP / (TP + FP), 0 when there is no TP.
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }
    /// TP / (TP + FN), 0 when there is no TP.
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }
    /// The harmonic mean of precision and recall, 0 when there is no TP.
    pub fn f1(&self) -> f64 {
        let (precision, recall) = (self.precision(), self.recall());
        if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        }
    }
    fn add(&mut self, other: &Counts) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if part == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The scores of a model on test utterances.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Utterances scored.
    pub utterances: usize,
    /// Utterances whose intent was right.
    pub intents_right: usize,
    /// Utterances predicted with no intent.
    pub no_intent: usize,
    /// Utterances whose intent and slots were all right.
    pub exact_parsings: usize,
    /// Per intent.
    pub intents: BTreeMap<String, Counts>,
    /// Per (intent, slot name).
    pub slots: BTreeMap<(String, String), Counts>,
    /// How long each parse took.
    pub parse_times: Vec<Duration>,
}

impl Metrics {
    /// Right intents / utterances.
    pub fn intent_accuracy(&self) -> f64 {
        ratio(self.intents_right, self.utterances)
    }
    /// Slot precision, macro-averaged over (intent, slot) pairs.
    pub fn slot_precision(&self) -> f64 {
        self.macro_average(Counts::precision)
    }
    /// Slot recall, macro-averaged over (intent, slot) pairs.
    pub fn slot_recall(&self) -> f64 {
        self.macro_average(Counts::recall)
    }
    /// Slot F1, macro-averaged over (intent, slot) pairs.
    pub fn slot_f1(&self) -> f64 {
        self.macro_average(Counts::f1)
    }
    /// Slot F1 over all slots together (micro-averaged).
    pub fn slot_micro_f1(&self) -> f64 {
        let mut total = Counts::default();
        for counts in self.slots.values() {
            total.add(counts);
        }
        total.f1()
    }
    fn macro_average(&self, score: fn(&Counts) -> f64) -> f64 {
        if self.slots.is_empty() {
            return 0.0;
        }
        self.slots.values().map(score).sum::<f64>() / self.slots.len() as f64
    }
    /// The parse time at quantile `q` (0.5 for the median).
    pub fn parse_time_quantile(&self, q: f64) -> Duration {
        let mut times = self.parse_times.clone();
        times.sort();
        if times.is_empty() {
            return Duration::ZERO;
        }
        let index = ((times.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        times[index]
    }
    /// Adds another evaluation's counts (as cross-validation does over its folds).
    pub fn merge(&mut self, other: Metrics) {
        self.utterances += other.utterances;
        self.intents_right += other.intents_right;
        self.no_intent += other.no_intent;
        self.exact_parsings += other.exact_parsings;
        for (key, counts) in other.intents {
            self.intents.entry(key).or_default().add(&counts);
        }
        for (key, counts) in other.slots {
            self.slots.entry(key).or_default().add(&counts);
        }
        self.parse_times.extend(other.parse_times);
    }
}

/// Parses every utterance of `test` with `model` and scores the results.
pub fn evaluate(model: &Model, test: &Dataset) -> Metrics {
    let mut metrics = Metrics::default();
    for (intent_name, intent) in &test.intents {
        metrics.intents.entry(intent_name.clone()).or_default();
        for utterance in &intent.utterances {
            // Every gold (intent, slot) pair is scored, even when never predicted.
            let mut gold: Vec<(String, String)> = Vec::new();
            for chunk in &utterance.data {
                if let Some(slot) = &chunk.slot {
                    metrics
                        .slots
                        .entry((intent_name.clone(), slot.slot_name.clone()))
                        .or_default();
                    gold.push((slot.slot_name.clone(), chunk.text.clone()));
                }
            }
            let text = utterance.text();
            let started = Instant::now();
            let parse = model.parse(&text);
            metrics.parse_times.push(started.elapsed());
            metrics.utterances += 1;
            let predicted = parse
                .intent
                .as_ref()
                .map(|found| found.intent_name.as_str());
            if predicted != Some(intent_name.as_str()) {
                metrics
                    .intents
                    .entry(intent_name.clone())
                    .or_default()
                    .false_negatives += 1;
                match predicted {
                    Some(other) => {
                        metrics
                            .intents
                            .entry(other.to_owned())
                            .or_default()
                            .false_positives += 1
                    }
                    None => metrics.no_intent += 1,
                }
                continue;
            }
            metrics.intents_right += 1;
            metrics
                .intents
                .entry(intent_name.clone())
                .or_default()
                .true_positives += 1;
            let mut unmatched: Vec<bool> = vec![true; parse.slots.len()];
            let mut all_right = true;
            for (slot_name, raw) in &gold {
                let counts = metrics
                    .slots
                    .entry((intent_name.clone(), slot_name.clone()))
                    .or_default();
                let found = parse.slots.iter().enumerate().position(|(index, slot)| {
                    unmatched[index] && &slot.slot_name == slot_name && &slot.raw_value == raw
                });
                match found {
                    Some(index) => {
                        unmatched[index] = false;
                        counts.true_positives += 1;
                    }
                    None => {
                        counts.false_negatives += 1;
                        all_right = false;
                    }
                }
            }
            for (slot, unmatched) in parse.slots.iter().zip(unmatched) {
                if unmatched {
                    all_right = false;
                    metrics
                        .slots
                        .entry((intent_name.clone(), slot.slot_name.clone()))
                        .or_default()
                        .false_positives += 1;
                }
            }
            if all_right {
                metrics.exact_parsings += 1;
            }
        }
    }
    metrics
}

/// How to cross-validate.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossValidation {
    /// Number of folds (at least 2).
    pub folds: usize,
    /// Train on at most this many utterances per intent: the first ones of each fold's training
    /// part, in the dataset's order.
    pub limit_per_intent: Option<usize>,
    /// Seeds the fold split and training.
    pub seed: u64,
}

impl Default for CrossValidation {
    fn default() -> Self {
        CrossValidation {
            folds: 5,
            limit_per_intent: None,
            seed: 42,
        }
    }
}

/// Cross-validation's results: the folds' metrics together, and the training times.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrossValidationReport {
    /// All folds' test results merged.
    pub metrics: Metrics,
    /// Each fold's training time.
    pub train_times: Vec<Duration>,
    /// Each fold's model size in bytes.
    pub model_sizes: Vec<usize>,
    /// Each fold's number of training utterances.
    pub train_sizes: Vec<usize>,
}

/// Splits the dataset into `folds` parts, stratified by intent (each intent's utterances are
/// shuffled with the seed and dealt out in turn); returns (train, test) pairs.
pub fn k_fold(
    dataset: &Dataset,
    folds: usize,
    seed: u64,
    limit_per_intent: Option<usize>,
) -> Vec<(Dataset, Dataset)> {
    let folds = folds.max(2);
    let mut rng = Rng::new(seed);
    let mut assignment: BTreeMap<&String, Vec<usize>> = BTreeMap::new();
    for (name, intent) in &dataset.intents {
        let mut order: Vec<usize> = (0..intent.utterances.len()).collect();
        rng.shuffle(&mut order);
        let mut fold_of = vec![0; order.len()];
        for (position, index) in order.into_iter().enumerate() {
            fold_of[index] = position % folds;
        }
        assignment.insert(name, fold_of);
    }
    (0..folds)
        .map(|fold| {
            let mut train_set = dataset.clone();
            let mut test_set = dataset.clone();
            for (name, intent) in &dataset.intents {
                let fold_of = &assignment[name];
                let mut train_utterances = Vec::new();
                let mut test_utterances = Vec::new();
                for (index, utterance) in intent.utterances.iter().enumerate() {
                    if fold_of[index] == fold {
                        test_utterances.push(utterance.clone());
                    } else {
                        train_utterances.push(utterance.clone());
                    }
                }
                if let Some(limit) = limit_per_intent {
                    train_utterances.truncate(limit);
                }
                train_set.intents.insert(
                    name.clone(),
                    Intent {
                        utterances: train_utterances,
                    },
                );
                test_set.intents.insert(
                    name.clone(),
                    Intent {
                        utterances: test_utterances,
                    },
                );
            }
            (train_set, test_set)
        })
        .collect()
}

/// Cross-validates training on a dataset. `progress` is called with the fraction done.
pub fn cross_validate(
    dataset: &Dataset,
    settings: &CrossValidation,
    progress: &mut dyn FnMut(f32),
) -> Result<CrossValidationReport, TrainError> {
    let splits = k_fold(
        dataset,
        settings.folds,
        settings.seed,
        settings.limit_per_intent,
    );
    let fold_count = splits.len() as f32;
    let mut report = CrossValidationReport::default();
    for (fold, (train_set, test_set)) in splits.into_iter().enumerate() {
        let started = Instant::now();
        let options = TrainOptions {
            seed: settings.seed,
        };
        let model = train(&train_set, &options, &mut |done| {
            progress((fold as f32 + done) / fold_count)
        })?;
        report.train_times.push(started.elapsed());
        report.model_sizes.push(model.to_bytes().len());
        report.train_sizes.push(train_set.utterance_count());
        report.metrics.merge(evaluate(&model, &test_set));
    }
    Ok(report)
}
