//! The importer of the 2017 Snips benchmark files (one or two files merged).
//!
//! What it imports is a dataset the Snips reader accepts as it is (and writes back unchanged);
//! every slot's entity is declared; utterances keep their text; a refusal names its file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nlu::{Dataset, import_benchmark};

fuzz_target!(|data: &[u8]| {
    // A NUL byte splits the input into two files (never valid inside JSON text).
    let files: Vec<(&str, &[u8])> = match data.iter().position(|b| *b == 0) {
        Some(at) => vec![("a.json", &data[..at]), ("b.json", &data[at + 1..])],
        None => vec![("a.json", data)],
    };
    match import_benchmark(&files) {
        Ok(dataset) => {
            assert_eq!(dataset.language, "en");
            let read = Dataset::from_value(&dataset.to_value());
            assert_eq!(
                read.as_ref(),
                Ok(&dataset),
                "the reader refuses what the importer made"
            );
            let written = dataset.to_json();
            assert_eq!(Dataset::from_json(&written).as_ref(), Ok(&dataset));
            for intent in dataset.intents.values() {
                for utterance in &intent.utterances {
                    for chunk in &utterance.data {
                        if let Some(slot) = &chunk.slot {
                            assert_eq!(slot.entity, slot.slot_name);
                            assert!(dataset.entities.contains_key(&slot.entity));
                            assert!(!chunk.text.trim().is_empty());
                        }
                    }
                }
            }
        }
        Err(error) => {
            assert!(
                error.path.starts_with("a.json") || error.path.starts_with("b.json"),
                "{error}"
            );
        }
    }
});
