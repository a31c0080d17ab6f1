//! `voicegate nlu-bench TRAIN… [--test TEST…]`: the NLU crate's figures on a dataset. Without
//! `--test` it cross-validates on TRAIN; with it, it trains on TRAIN and tests on TEST. Each is
//! one or more 2017 nlu-benchmark files or folders (merged), or a Snips dataset.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use nlu::metrics::CrossValidation;

/// The arguments of `nlu-bench`.
#[derive(Args)]
pub(super) struct NluBenchArgs {
    /// Training data: benchmark files or folders (merged), or a Snips dataset.
    #[arg(required = true)]
    train: Vec<PathBuf>,
    /// Test data (files or folders, merged); without it, k-fold cross-validation on TRAIN.
    #[arg(long, num_args = 1..)]
    test: Vec<PathBuf>,
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

/// The paths as the loader takes them.
fn paths(list: &[PathBuf]) -> Vec<&Path> {
    list.iter().map(PathBuf::as_path).collect()
}

/// Runs the benchmark and prints its table.
pub(super) fn run(args: &NluBenchArgs) -> Result<ExitCode, String> {
    let mut train_set = nlu::bench::load(&paths(&args.train))?;
    let report = if args.test.is_empty() {
        let settings = CrossValidation {
            folds: args.folds.max(2),
            limit_per_intent: args.limit_per_intent,
            seed: args.seed,
        };
        nlu::bench::cross_validation(&train_set, &settings)?
    } else {
        if let Some(limit) = args.limit_per_intent {
            for intent in train_set.intents.values_mut() {
                intent.utterances.truncate(limit);
            }
        }
        let test_set = nlu::bench::load(&paths(&args.test))?;
        nlu::bench::train_test(&train_set, &test_set, args.seed)?
    };
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}
