//! `voicegate nlu-bench TRAIN [TEST]`: the NLU crate's figures on a dataset. With one argument it
//! cross-validates; with two it trains on TRAIN and tests on TEST. TRAIN and TEST are 2017
//! nlu-benchmark files or folders, or a Snips dataset.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use nlu::metrics::CrossValidation;

/// The arguments of `nlu-bench`.
#[derive(Args)]
pub(super) struct NluBenchArgs {
    /// Training data: benchmark files or folders (merged), or a Snips dataset.
    train: PathBuf,
    /// Test data; without it, k-fold cross-validation on TRAIN.
    test: Option<PathBuf>,
    /// Number of folds for cross-validation.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Train on at most this many utterances per intent (the first ones of each fold, or of TRAIN).
    #[arg(long, value_name = "N")]
    limit_per_intent: Option<usize>,
    /// Seed of the fold split and of training.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Runs the benchmark and prints its table.
pub(super) fn run(args: &NluBenchArgs) -> Result<ExitCode, String> {
    let mut train_set = nlu::bench::load(&[args.train.as_path()])?;
    let report = match &args.test {
        None => {
            let settings = CrossValidation {
                folds: args.folds.max(2),
                limit_per_intent: args.limit_per_intent,
                seed: args.seed,
            };
            nlu::bench::cross_validation(&train_set, &settings)?
        }
        Some(test) => {
            if let Some(limit) = args.limit_per_intent {
                for intent in train_set.intents.values_mut() {
                    intent.utterances.truncate(limit);
                }
            }
            let test_set = nlu::bench::load(&[Path::new(test)])?;
            nlu::bench::train_test(&train_set, &test_set, args.seed)?
        }
    };
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}
