//! Cross-validates on benchmark files: `cargo run --release -p nlu --example nlu_bench -- FOLDS LIMIT FILES…`
//! (LIMIT 0 for no limit).

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
    let paths: Vec<&Path> = arguments[2..].iter().map(Path::new).collect();
    let dataset = match nlu::bench::load(&paths) {
        Ok(dataset) => dataset,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    let settings = CrossValidation {
        folds,
        limit_per_intent: (limit > 0).then_some(limit),
        seed: 42,
    };
    match nlu::bench::cross_validation(&dataset, &settings) {
        Ok(report) => print!("{report}"),
        Err(error) => eprintln!("{error}"),
    }
}
