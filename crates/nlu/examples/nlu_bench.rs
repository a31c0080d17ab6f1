//! Cross-validates on benchmark files: `cargo run --release -p nlu --example nlu_bench -- FOLDS LIMIT FILES…`
//! (LIMIT 0 for no limit). With `FILES… --test TEST…`: trains once on the first LIMIT per intent of
//! FILES and tests on the utterances of TEST whose text is not among the training ones (FOLDS unused).

use std::path::Path;

use nlu::metrics::CrossValidation;

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments.len() < 3 {
        eprintln!("usage: nlu_bench FOLDS LIMIT FILES…");
        std::process::exit(2);
    }
    let folds = arguments[0].parse().unwrap_or(5);
    let limit = arguments[1].parse().unwrap_or(0);
    let files = &arguments[2..];
    let (train_files, test_files) = match files.iter().position(|file| file == "--test") {
        Some(at) => (&files[..at], Some(&files[at + 1..])),
        None => (files, None),
    };
    let load = |files: &[String]| {
        let paths: Vec<&Path> = files.iter().map(Path::new).collect();
        match nlu::bench::load(&paths) {
            Ok(dataset) => dataset,
            Err(error) => {
                eprintln!("{error}");
                std::process::exit(1);
            }
        }
    };
    let dataset = load(train_files);
    let settings = CrossValidation {
        folds,
        limit_per_intent: (limit > 0).then_some(limit),
        // NLU_BENCH_SEED changes the fold split and training seed (42 by default), to see the noise.
        seed: std::env::var("NLU_BENCH_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or(42),
    };
    let result = match test_files {
        Some(test_files) => nlu::bench::holdout(
            &dataset,
            &load(test_files),
            settings.limit_per_intent,
            settings.seed,
        ),
        None => nlu::bench::cross_validation(&dataset, &settings),
    };
    match result {
        Ok(report) => {
            print!("{report}");
            // NLU_BENCH_SLOTS=1 lists the (intent, slot) pairs by F1, worst first.
            if std::env::var_os("NLU_BENCH_SLOTS").is_some() {
                for (intent, counts) in &report.metrics.intents {
                    println!(
                        "intent {intent}  tp {} fp {} fn {}",
                        counts.true_positives, counts.false_positives, counts.false_negatives
                    );
                }
                let mut pairs: Vec<_> = report.metrics.slots.iter().collect();
                pairs.sort_by(|a, b| a.1.f1().total_cmp(&b.1.f1()));
                for ((intent, slot), counts) in pairs {
                    println!(
                        "{:.3}  {intent}/{slot}  tp {} fp {} fn {}",
                        counts.f1(),
                        counts.true_positives,
                        counts.false_positives,
                        counts.false_negatives
                    );
                }
            }
        }
        Err(error) => eprintln!("{error}"),
    }
}
