//! Benchmark runs: load datasets from files or folders, cross-validate or train and test, and
//! report the figures as a small table.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::benchmark::import_benchmark;
use crate::dataset::Dataset;
use crate::metrics::{CrossValidation, Metrics, cross_validate, evaluate};
use crate::text::normalized;
use crate::training::{TrainOptions, train};

/// Reads a dataset from files or folders (every `*.json` in a folder, by name): one Snips dataset,
/// or any number of 2017 benchmark files merged. Errors name the file.
pub fn load(paths: &[&Path]) -> Result<Dataset, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries =
                std::fs::read_dir(path).map_err(|error| format!("{}: {error}", path.display()))?;
            let mut found: Vec<_> = entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|file| {
                    file.extension()
                        .is_some_and(|extension| extension == "json")
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.to_path_buf());
        }
    }
    if files.is_empty() {
        return Err("no JSON files found".to_owned());
    }
    let mut contents = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|error| format!("{}: {error}", file.display()))?;
        contents.push((file.display().to_string(), bytes));
    }
    // A Snips dataset has "language" and "intents" at the top; benchmark files have intent names.
    let is_snips = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|value| {
                value
                    .as_object()
                    .map(|object| object.contains_key("language") && object.contains_key("intents"))
            })
            .unwrap_or(false)
    };
    if contents.len() == 1 && is_snips(&contents[0].1) {
        return Dataset::from_json(&contents[0].1)
            .map_err(|error| format!("{}: {error}", contents[0].0));
    }
    let borrowed: Vec<(&str, &[u8])> = contents
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    import_benchmark(&borrowed).map_err(|error| error.to_string())
}

/// The figures of a benchmark run.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// What was run (`5-fold cross-validation`, `train/test`).
    pub kind: String,
    /// The scores.
    pub metrics: Metrics,
    /// Training times (one per fold).
    pub train_times: Vec<Duration>,
    /// Training utterances (one per fold).
    pub train_sizes: Vec<usize>,
    /// Model sizes in bytes (one per fold).
    pub model_sizes: Vec<usize>,
}

/// Cross-validates on one dataset.
pub fn cross_validation(
    dataset: &Dataset,
    settings: &CrossValidation,
) -> Result<BenchReport, String> {
    let report =
        cross_validate(dataset, settings, &mut |_| {}).map_err(|error| error.to_string())?;
    let limit = settings.limit_per_intent.map_or(String::new(), |limit| {
        format!(", training on the first {limit} per intent")
    });
    Ok(BenchReport {
        kind: format!("{}-fold cross-validation{limit}", settings.folds),
        metrics: report.metrics,
        train_times: report.train_times,
        train_sizes: report.train_sizes,
        model_sizes: report.model_sizes,
    })
}

/// Trains on one dataset and tests on another.
pub fn train_test(
    train_set: &Dataset,
    test_set: &Dataset,
    seed: u64,
) -> Result<BenchReport, String> {
    let started = Instant::now();
    let model =
        train(train_set, &TrainOptions { seed }, &mut |_| {}).map_err(|error| error.to_string())?;
    let train_time = started.elapsed();
    Ok(BenchReport {
        kind: "train/test".to_owned(),
        metrics: evaluate(&model, test_set),
        train_times: vec![train_time],
        train_sizes: vec![train_set.utterance_count()],
        model_sizes: vec![model.to_bytes().len()],
    })
}

/// Trains on the first `limit` utterances of each intent of `train_set` (all with `None`) and tests
/// on the utterances of `test_set` whose text (lowercased, spaces normalized) is not among the
/// training ones: the 70-per-intent protocol with a large test set drawn from the training files.
pub fn holdout(
    train_set: &Dataset,
    test_set: &Dataset,
    limit: Option<usize>,
    seed: u64,
) -> Result<BenchReport, String> {
    let mut train_part = train_set.clone();
    if let Some(limit) = limit {
        for intent in train_part.intents.values_mut() {
            intent.utterances.truncate(limit);
        }
    }
    let seen: HashSet<String> = train_part
        .intents
        .values()
        .flat_map(|intent| &intent.utterances)
        .map(|utterance| normalized(&utterance.text()))
        .collect();
    let mut test_part = test_set.clone();
    for intent in test_part.intents.values_mut() {
        intent
            .utterances
            .retain(|utterance| !seen.contains(&normalized(&utterance.text())));
    }
    let mut report = train_test(&train_part, &test_part, seed)?;
    report.kind = match limit {
        Some(limit) => format!("train on the first {limit} per intent, test on unseen texts"),
        None => "train, test on unseen texts".to_owned(),
    };
    Ok(report)
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let values: Vec<f64> = values.collect();
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let metrics = &self.metrics;
        let rows = [
            ("run", self.kind.clone()),
            ("test utterances", metrics.utterances.to_string()),
            (
                "training utterances (mean)",
                format!(
                    "{:.0}",
                    mean(self.train_sizes.iter().map(|size| *size as f64))
                ),
            ),
            (
                "intent accuracy",
                format!("{:.2} %", 100.0 * metrics.intent_accuracy()),
            ),
            ("no intent given", metrics.no_intent.to_string()),
            (
                "slot F1 (snips-nlu-metrics, macro)",
                format!(
                    "{:.3} (P {:.3}, R {:.3})",
                    metrics.slot_f1(),
                    metrics.slot_precision(),
                    metrics.slot_recall()
                ),
            ),
            ("slot F1 (micro)", format!("{:.3}", metrics.slot_micro_f1())),
            (
                "exact parsings",
                format!(
                    "{:.2} %",
                    100.0 * metrics.exact_parsings as f64 / metrics.utterances.max(1) as f64
                ),
            ),
            (
                "training time (mean)",
                format!(
                    "{:.2} s",
                    mean(self.train_times.iter().map(Duration::as_secs_f64))
                ),
            ),
            (
                "parse latency p50",
                format!(
                    "{:.3} ms",
                    metrics.parse_time_quantile(0.5).as_secs_f64() * 1e3
                ),
            ),
            (
                "parse latency p99",
                format!(
                    "{:.3} ms",
                    metrics.parse_time_quantile(0.99).as_secs_f64() * 1e3
                ),
            ),
            (
                "model size (mean)",
                format!(
                    "{:.2} MB",
                    mean(self.model_sizes.iter().map(|size| *size as f64)) / 1e6
                ),
            ),
        ];
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        for (name, value) in rows {
            writeln!(f, "{name:<width$}  {value}")?;
        }
        Ok(())
    }
}
