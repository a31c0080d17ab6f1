//! The Snips NLU dataset: intents with annotated utterances, and the entities their slots use.
//!
//! Read with [`Dataset::from_json`] (every bad field is an error naming its JSON path) and written
//! with [`Dataset::to_json`]. Builtin entities (`snips/number`, `snips/datetime`, …) are referenced
//! by id and declared as `{}`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::text::decode_text;

/// The languages Snips datasets may declare.
pub const LANGUAGES: &[&str] = &["de", "en", "es", "fr", "it", "ja", "ko", "pt_br", "pt_pt"];

/// The builtin entities a dataset may reference. Those this crate parses itself are listed in
/// [`crate::builtin::SUPPORTED`]; the others are accepted and filled by the slot filler alone.
pub const BUILTIN_ENTITIES: &[&str] = &[
    "snips/amountOfMoney",
    "snips/duration",
    "snips/number",
    "snips/ordinal",
    "snips/temperature",
    "snips/datetime",
    "snips/date",
    "snips/time",
    "snips/datePeriod",
    "snips/timePeriod",
    "snips/percentage",
    "snips/musicAlbum",
    "snips/musicArtist",
    "snips/musicTrack",
    "snips/city",
    "snips/country",
    "snips/region",
];

/// A bad dataset: where (a JSON path such as `intents.PlayMusic.utterances[3].data[1].entity`) and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetError {
    /// The JSON path of the bad field (empty for the document itself).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl DatasetError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        DatasetError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for DatasetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DatasetError {}

/// A Snips NLU dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The language code (`en`, …).
    pub language: String,
    /// The intents by name.
    pub intents: BTreeMap<String, Intent>,
    /// The entities by name: custom ones, and the builtin ones the utterances use.
    pub entities: BTreeMap<String, Entity>,
}

/// An intent: its training utterances.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Intent {
    /// The annotated utterances, in the dataset's order.
    pub utterances: Vec<Utterance>,
}

/// An annotated utterance: chunks of plain text and of slot values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Utterance {
    /// The chunks; their texts put together make the utterance.
    pub data: Vec<Chunk>,
}

impl Utterance {
    /// The utterance's whole text.
    pub fn text(&self) -> String {
        self.data.iter().map(|chunk| chunk.text.as_str()).collect()
    }
}

/// A piece of an utterance: plain text, or a slot's value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chunk {
    /// The text.
    pub text: String,
    /// For a slot value: the slot's entity and slot name.
    pub slot: Option<ChunkSlot>,
}

/// The slot a chunk fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkSlot {
    /// The entity (a custom entity's name, or a builtin id such as `snips/number`).
    pub entity: String,
    /// The slot's name.
    pub slot_name: String,
}

/// An entity a slot refers to.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    /// A builtin entity (`snips/...`), declared as `{}`.
    Builtin,
    /// An entity defined by the dataset.
    Custom(CustomEntity),
}

/// An entity defined by its values.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomEntity {
    /// The values, each with its synonyms.
    pub data: Vec<EntityValue>,
    /// Whether a synonym resolves to its value.
    pub use_synonyms: bool,
    /// Whether values outside the list are extracted too.
    pub automatically_extensible: bool,
    /// How much of a value's words must match, between 0 (exclusive) and 1.
    pub matching_strictness: f64,
}

/// One value of a custom entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityValue {
    /// The canonical value.
    pub value: String,
    /// Other ways to say it.
    pub synonyms: Vec<String>,
}

impl Dataset {
    /// Reads a dataset from JSON, validating it as snips-nlu does. The bytes are UTF-8 (CESU-8
    /// surrogate pairs are accepted; any other invalid sequence is an error giving its byte offset).
    pub fn from_json(bytes: &[u8]) -> Result<Dataset, DatasetError> {
        let text = decode_text(bytes)
            .map_err(|offset| DatasetError::new("", format!("invalid UTF-8 at byte {offset}")))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|error| DatasetError::new("", format!("invalid JSON: {error}")))?;
        Dataset::from_value(&value)
    }

    /// Reads a dataset from a parsed JSON document (see [`Dataset::from_json`]).
    pub fn from_value(value: &Value) -> Result<Dataset, DatasetError> {
        let root = as_object(value, "")?;
        let language = as_str(field(root, "", "language")?, "language")?;
        if !LANGUAGES.contains(&language) {
            return Err(DatasetError::new(
                "language",
                format!(
                    "unsupported language {language:?} (one of {})",
                    LANGUAGES.join(", ")
                ),
            ));
        }
        let mut entities = BTreeMap::new();
        for (name, entity) in as_object(field(root, "", "entities")?, "entities")? {
            let path = format!("entities.{name}");
            entities.insert(name.clone(), read_entity(name, entity, &path)?);
        }
        let mut intents = BTreeMap::new();
        for (name, intent) in as_object(field(root, "", "intents")?, "intents")? {
            let path = format!("intents.{name}");
            if name.trim().is_empty() {
                return Err(DatasetError::new(path, "an intent name cannot be empty"));
            }
            let intent_object = as_object(intent, &path)?;
            let utterances_path = format!("{path}.utterances");
            let utterances =
                as_array(field(intent_object, &path, "utterances")?, &utterances_path)?;
            let mut read = Vec::with_capacity(utterances.len());
            for (index, utterance) in utterances.iter().enumerate() {
                let utterance_path = format!("{utterances_path}[{index}]");
                read.push(read_utterance(utterance, &utterance_path, &entities)?);
            }
            intents.insert(name.clone(), Intent { utterances: read });
        }
        Ok(Dataset {
            language: language.to_owned(),
            intents,
            entities,
        })
    }

    /// Writes the dataset as Snips NLU JSON (keys sorted, so the same dataset gives the same bytes).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.to_value()).unwrap_or_default()
    }

    /// The dataset as a JSON document.
    pub fn to_value(&self) -> Value {
        let mut intents = Map::new();
        for (name, intent) in &self.intents {
            let utterances: Vec<Value> = intent
                .utterances
                .iter()
                .map(|utterance| {
                    let data: Vec<Value> = utterance
                        .data
                        .iter()
                        .map(|chunk| {
                            let mut object = Map::new();
                            object.insert("text".into(), Value::String(chunk.text.clone()));
                            if let Some(slot) = &chunk.slot {
                                object.insert("entity".into(), Value::String(slot.entity.clone()));
                                object.insert(
                                    "slot_name".into(),
                                    Value::String(slot.slot_name.clone()),
                                );
                            }
                            Value::Object(object)
                        })
                        .collect();
                    serde_json::json!({ "data": data })
                })
                .collect();
            intents.insert(
                name.clone(),
                serde_json::json!({ "utterances": utterances }),
            );
        }
        let mut entities = Map::new();
        for (name, entity) in &self.entities {
            let value = match entity {
                Entity::Builtin => Value::Object(Map::new()),
                Entity::Custom(custom) => serde_json::json!({
                    "data": custom.data.iter().map(|value| serde_json::json!({
                        "value": value.value,
                        "synonyms": value.synonyms,
                    })).collect::<Vec<_>>(),
                    "use_synonyms": custom.use_synonyms,
                    "automatically_extensible": custom.automatically_extensible,
                    "matching_strictness": custom.matching_strictness,
                }),
            };
            entities.insert(name.clone(), value);
        }
        serde_json::json!({
            "language": self.language,
            "intents": intents,
            "entities": entities,
        })
    }

    /// The language code.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The intents' names, sorted.
    pub fn intent_names(&self) -> Vec<String> {
        self.intents.keys().cloned().collect()
    }

    /// The number of utterances over all intents.
    pub fn utterance_count(&self) -> usize {
        self.intents
            .values()
            .map(|intent| intent.utterances.len())
            .sum()
    }
}

fn read_entity(name: &str, value: &Value, path: &str) -> Result<Entity, DatasetError> {
    let object = as_object(value, path)?;
    if name.starts_with("snips/") {
        if !BUILTIN_ENTITIES.contains(&name) {
            return Err(DatasetError::new(path, "unknown builtin entity"));
        }
        return Ok(Entity::Builtin);
    }
    if name.trim().is_empty() {
        return Err(DatasetError::new(path, "an entity name cannot be empty"));
    }
    let use_synonyms = as_bool(
        field(object, path, "use_synonyms")?,
        &format!("{path}.use_synonyms"),
    )?;
    let automatically_extensible = as_bool(
        field(object, path, "automatically_extensible")?,
        &format!("{path}.automatically_extensible"),
    )?;
    let matching_strictness = match object
        .get("matching_strictness")
        .or(object.get("parser_threshold"))
    {
        None => 1.0,
        Some(value) => {
            let strictness_path = format!("{path}.matching_strictness");
            let number = value
                .as_f64()
                .ok_or_else(|| DatasetError::new(&strictness_path, "expected a number"))?;
            if !(number > 0.0 && number <= 1.0) {
                return Err(DatasetError::new(
                    strictness_path,
                    "expected a number in (0, 1]",
                ));
            }
            number
        }
    };
    let data_path = format!("{path}.data");
    let mut data = Vec::new();
    for (index, entry) in as_array(field(object, path, "data")?, &data_path)?
        .iter()
        .enumerate()
    {
        let entry_path = format!("{data_path}[{index}]");
        let entry_object = as_object(entry, &entry_path)?;
        let value = as_str(
            field(entry_object, &entry_path, "value")?,
            &format!("{entry_path}.value"),
        )?
        .trim();
        let mut synonyms = Vec::new();
        if let Some(list) = entry_object.get("synonyms") {
            let synonyms_path = format!("{entry_path}.synonyms");
            for (synonym_index, synonym) in as_array(list, &synonyms_path)?.iter().enumerate() {
                let synonym = as_str(synonym, &format!("{synonyms_path}[{synonym_index}]"))?.trim();
                if !synonym.is_empty() {
                    synonyms.push(synonym.to_owned());
                }
            }
        }
        // As snips-nlu does: values are stripped and empty ones dropped.
        if !value.is_empty() {
            data.push(EntityValue {
                value: value.to_owned(),
                synonyms,
            });
        }
    }
    Ok(Entity::Custom(CustomEntity {
        data,
        use_synonyms,
        automatically_extensible,
        matching_strictness,
    }))
}

fn read_utterance(
    value: &Value,
    path: &str,
    entities: &BTreeMap<String, Entity>,
) -> Result<Utterance, DatasetError> {
    let object = as_object(value, path)?;
    let data_path = format!("{path}.data");
    let chunks = as_array(field(object, path, "data")?, &data_path)?;
    let mut data = Vec::with_capacity(chunks.len());
    for (index, chunk) in chunks.iter().enumerate() {
        let chunk_path = format!("{data_path}[{index}]");
        let chunk_object = as_object(chunk, &chunk_path)?;
        let text = as_str(
            field(chunk_object, &chunk_path, "text")?,
            &format!("{chunk_path}.text"),
        )?;
        let entity = chunk_object.get("entity");
        let slot_name = chunk_object.get("slot_name");
        let slot = match (entity, slot_name) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(DatasetError::new(
                    format!("{chunk_path}.slot_name"),
                    "missing: a chunk with an entity needs a slot_name",
                ));
            }
            (None, Some(_)) => {
                return Err(DatasetError::new(
                    format!("{chunk_path}.entity"),
                    "missing: a chunk with a slot_name needs an entity",
                ));
            }
            (Some(entity), Some(slot_name)) => {
                let entity_path = format!("{chunk_path}.entity");
                let entity = as_str(entity, &entity_path)?;
                if !entities.contains_key(entity) {
                    let message =
                        if entity.starts_with("snips/") && !BUILTIN_ENTITIES.contains(&entity) {
                            format!("unknown builtin entity {entity:?}")
                        } else {
                            format!("entity {entity:?} is not declared in entities")
                        };
                    return Err(DatasetError::new(entity_path, message));
                }
                let slot_name_path = format!("{chunk_path}.slot_name");
                let slot_name = as_str(slot_name, &slot_name_path)?;
                if slot_name.trim().is_empty() {
                    return Err(DatasetError::new(
                        slot_name_path,
                        "a slot name cannot be empty",
                    ));
                }
                if text.trim().is_empty() {
                    return Err(DatasetError::new(
                        format!("{chunk_path}.text"),
                        "a slot value cannot be empty",
                    ));
                }
                Some(ChunkSlot {
                    entity: entity.to_owned(),
                    slot_name: slot_name.to_owned(),
                })
            }
        };
        data.push(Chunk {
            text: text.to_owned(),
            slot,
        });
    }
    Ok(Utterance { data })
}

pub(crate) fn field<'a>(
    object: &'a Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<&'a Value, DatasetError> {
    object
        .get(name)
        .ok_or_else(|| DatasetError::new(join(path, name), "missing"))
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

pub(crate) fn as_object<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, DatasetError> {
    value
        .as_object()
        .ok_or_else(|| DatasetError::new(path, "expected an object"))
}

pub(crate) fn as_array<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>, DatasetError> {
    value
        .as_array()
        .ok_or_else(|| DatasetError::new(path, "expected an array"))
}

pub(crate) fn as_str<'a>(value: &'a Value, path: &str) -> Result<&'a str, DatasetError> {
    value
        .as_str()
        .ok_or_else(|| DatasetError::new(path, "expected a string"))
}

fn as_bool(value: &Value, path: &str) -> Result<bool, DatasetError> {
    value
        .as_bool()
        .ok_or_else(|| DatasetError::new(path, "expected true or false"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "language": "en",
      "intents": {
        "turnLightOn": {"utterances": [
          {"data": [{"text": "turn on the lights in the "},
                    {"text": "kitchen", "entity": "room", "slot_name": "room"}]},
          {"data": [{"text": "set "},
                    {"text": "three", "entity": "snips/number", "slot_name": "count"},
                    {"text": " lights on"}]}
        ]}
      },
      "entities": {
        "snips/number": {},
        "room": {"data": [{"value": "living room", "synonyms": ["lounge", " "]}],
                 "use_synonyms": true, "automatically_extensible": false,
                 "matching_strictness": 0.8}
      }
    }"#;

    #[test]
    fn round_trip() {
        let dataset = Dataset::from_json(SAMPLE.as_bytes()).expect("the sample is valid");
        assert_eq!(dataset.language(), "en");
        assert_eq!(dataset.intent_names(), ["turnLightOn"]);
        let Some(Entity::Custom(room)) = dataset.entities.get("room") else {
            panic!("room is a custom entity");
        };
        assert_eq!(room.data[0].synonyms, ["lounge"]);
        let again = Dataset::from_json(&dataset.to_json()).expect("written datasets read back");
        assert_eq!(again, dataset);
        assert_eq!(again.to_json(), dataset.to_json());
    }

    fn error_of(json: &str) -> String {
        match Dataset::from_json(json.as_bytes()) {
            Ok(_) => panic!("{json} should be rejected"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn errors_name_the_json_path() {
        let bad_entity = SAMPLE.replace(r#""entity": "room""#, r#""entity": "place""#);
        assert_eq!(
            error_of(&bad_entity),
            r#"intents.turnLightOn.utterances[0].data[1].entity: entity "place" is not declared in entities"#
        );
        let no_slot_name = SAMPLE.replace(r#", "slot_name": "count""#, "");
        assert_eq!(
            error_of(&no_slot_name),
            "intents.turnLightOn.utterances[1].data[1].slot_name: missing: a chunk with an entity needs a slot_name"
        );
        let bad_flag = SAMPLE.replace(r#""use_synonyms": true"#, r#""use_synonyms": "yes""#);
        assert_eq!(
            error_of(&bad_flag),
            "entities.room.use_synonyms: expected true or false"
        );
        assert_eq!(
            error_of(&SAMPLE.replace(r#""language": "en""#, r#""language": "xx""#)),
            "language: unsupported language \"xx\" (one of de, en, es, fr, it, ja, ko, pt_br, pt_pt)"
        );
        assert_eq!(
            error_of(&SAMPLE.replace(
                r#""snips/number": {},"#,
                r#""snips/number": {}, "snips/bogus": {},"#
            )),
            "entities.snips/bogus: unknown builtin entity"
        );
        assert_eq!(
            error_of(r#"{"language": "en", "intents": {}}"#),
            "entities: missing"
        );
        assert!(error_of("[1,").starts_with("invalid JSON"));
        assert_eq!(
            Dataset::from_json(b"{\"language\": \"e\xFF\"}").map_err(|error| error.to_string()),
            Err("invalid UTF-8 at byte 15".to_owned())
        );
    }
}
