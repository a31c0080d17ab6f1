//! An importer for the 2017 Snips NLU benchmark files (`snipsco/nlu-benchmark`,
//! `2017-06-custom-intent-engines`): `{"Intent": [{"data": [{"text"}, {"text", "entity"}]}]}`.
//!
//! The benchmark's `entity` doubles as the slot name. Each one becomes a custom entity with no listed
//! values (training learns the values from the utterances, as snips-nlu does; listing them here
//! would leak a test fold's values into cross-validation), `use_synonyms` and
//! `automatically_extensible` set, and a matching strictness of 1.0. Several files merge into one dataset (utterances of the same intent
//! are appended in file order); the language is `en`.
//!
//! Text encoding: a file must be UTF-8, except that a CESU-8 surrogate pair (a character outside the
//! Basic Multilingual Plane written as two 3-byte halves) is decoded to its character; that is what
//! `train_PlayMusic_full.json` holds at byte 150,732 (a pizza emoji). Any other invalid sequence is
//! an error naming the file and the byte offset, never a silent replacement.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::dataset::{
    Chunk, ChunkSlot, CustomEntity, Dataset, DatasetError, Entity, Intent, Utterance, as_array,
    as_object, as_str,
};
use crate::text::decode_text;

/// Imports benchmark files, given as (file name used in messages, contents), into one dataset.
pub fn import_benchmark(files: &[(&str, &[u8])]) -> Result<Dataset, DatasetError> {
    let mut intents: BTreeMap<String, Intent> = BTreeMap::new();
    let mut slot_names: BTreeSet<String> = BTreeSet::new();
    for (file, bytes) in files {
        let text = decode_text(bytes).map_err(|offset| {
            DatasetError::new(*file, format!("invalid UTF-8 at byte {offset}"))
        })?;
        let document: Value = serde_json::from_str(&text)
            .map_err(|error| DatasetError::new(*file, format!("invalid JSON: {error}")))?;
        let root = as_object(&document, file)?;
        for (intent_name, utterances) in root {
            let intent_path = format!("{file}:{intent_name}");
            if intent_name.trim().is_empty() {
                return Err(DatasetError::new(
                    intent_path,
                    "an intent name cannot be empty",
                ));
            }
            let intent = intents.entry(intent_name.clone()).or_default();
            for (index, utterance) in as_array(utterances, &intent_path)?.iter().enumerate() {
                let utterance_path = format!("{intent_path}[{index}]");
                let utterance_object = as_object(utterance, &utterance_path)?;
                let data_path = format!("{utterance_path}.data");
                let chunks = utterance_object
                    .get("data")
                    .ok_or_else(|| DatasetError::new(&data_path, "missing"))?;
                let mut data = Vec::new();
                for (chunk_index, chunk) in as_array(chunks, &data_path)?.iter().enumerate() {
                    let chunk_path = format!("{data_path}[{chunk_index}]");
                    let chunk_object = as_object(chunk, &chunk_path)?;
                    let text_path = format!("{chunk_path}.text");
                    let chunk_text = chunk_object
                        .get("text")
                        .ok_or_else(|| DatasetError::new(&text_path, "missing"))?;
                    let chunk_text = as_str(chunk_text, &text_path)?;
                    let slot = match chunk_object.get("entity") {
                        None => None,
                        Some(entity) => {
                            let entity_path = format!("{chunk_path}.entity");
                            let entity = as_str(entity, &entity_path)?;
                            if entity.trim().is_empty() || entity.starts_with("snips/") {
                                return Err(DatasetError::new(
                                    entity_path,
                                    "expected a slot name (not empty, not a builtin id)",
                                ));
                            }
                            if chunk_text.trim().is_empty() {
                                return Err(DatasetError::new(
                                    text_path,
                                    "a slot value cannot be empty",
                                ));
                            }
                            slot_names.insert(entity.to_owned());
                            Some(ChunkSlot {
                                entity: entity.to_owned(),
                                slot_name: entity.to_owned(),
                            })
                        }
                    };
                    data.push(Chunk {
                        text: chunk_text.to_owned(),
                        slot,
                    });
                }
                intent.utterances.push(Utterance { data });
            }
        }
    }
    let entities = slot_names
        .into_iter()
        .map(|name| {
            let entity = CustomEntity {
                data: Vec::new(),
                use_synonyms: true,
                automatically_extensible: true,
                matching_strictness: 1.0,
            };
            (name, Entity::Custom(entity))
        })
        .collect();
    Ok(Dataset {
        language: "en".to_owned(),
        intents,
        entities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_and_merges_files() {
        let first = br#"{"PlayMusic": [{"data": [{"text": "play "}, {"text": "Muse", "entity": "artist"}]}]}"#;
        let mut second = br#"{"PlayMusic": [{"data": [{"text": "play "}, {"text": "muse", "entity": "artist"}, {"text": " "#.to_vec();
        // A pizza emoji written as a CESU-8 surrogate pair, as in train_PlayMusic_full.json.
        second.extend_from_slice(&[0xED, 0xA0, 0xBC, 0xED, 0xBD, 0x95]);
        second.extend_from_slice(br#""}]}], "GetWeather": [{"data": [{"text": "weather in "}, {"text": "Paris", "entity": "city"}]}]}"#);
        let dataset =
            import_benchmark(&[("a.json", first), ("b.json", &second)]).expect("valid files");
        assert_eq!(dataset.intent_names(), ["GetWeather", "PlayMusic"]);
        assert_eq!(dataset.intents["PlayMusic"].utterances.len(), 2);
        assert_eq!(
            dataset.intents["PlayMusic"].utterances[1].text(),
            "play muse \u{1F355}"
        );
        let Some(Entity::Custom(artist)) = dataset.entities.get("artist") else {
            panic!("artist is a custom entity");
        };
        assert!(
            artist.data.is_empty(),
            "values are learned from the utterances"
        );
        assert!(artist.automatically_extensible);
        // The imported dataset is a valid Snips dataset.
        assert_eq!(
            Dataset::from_json(&dataset.to_json()).as_ref(),
            Ok(&dataset)
        );
    }

    #[test]
    fn errors_name_the_file_and_path() {
        let error = |bytes: &[u8]| match import_benchmark(&[("f.json", bytes)]) {
            Ok(_) => panic!("should be rejected"),
            Err(error) => error.to_string(),
        };
        assert_eq!(
            error(b"{\"A\": [{\"data\": [{\"text\": \"x\xC3\"}]}]}"),
            "f.json: invalid UTF-8 at byte 28"
        );
        assert_eq!(
            error(br#"{"A": [{"data": [{"text": "x"}, {"text": "y", "entity": 3}]}]}"#),
            "f.json:A[0].data[1].entity: expected a string"
        );
        assert_eq!(
            error(br#"{"A": [{"data": [{"txt": "x"}]}]}"#),
            "f.json:A[0].data[0].text: missing"
        );
        assert_eq!(error(br#"{"A": {}}"#), "f.json:A: expected an array");
    }
}
