//! The Snips dataset reader (assistant uploads).
//!
//! A dataset it reads writes back as JSON that reads to the same dataset, and writing is stable;
//! a refused one names a JSON path within the document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nlu::Dataset;

fuzz_target!(|data: &[u8]| {
    match Dataset::from_json(data) {
        Ok(dataset) => {
            let written = dataset.to_json();
            let again = Dataset::from_json(&written).expect("a written dataset reads back");
            assert_eq!(again, dataset);
            assert_eq!(again.to_json(), written);
            assert_eq!(
                Dataset::from_value(&dataset.to_value()).as_ref(),
                Ok(&dataset)
            );
            for intent in dataset.intents.values() {
                for utterance in &intent.utterances {
                    for slot in utterance
                        .data
                        .iter()
                        .filter_map(|chunk| chunk.slot.as_ref())
                    {
                        assert!(dataset.entities.contains_key(&slot.entity), "{slot:?}");
                    }
                }
            }
        }
        Err(error) => {
            let top = error.path.split(['.', '[']).next().unwrap_or_default();
            assert!(
                ["", "language", "entities", "intents"].contains(&top),
                "{error}"
            );
            assert!(!error.message.is_empty());
        }
    }
});
