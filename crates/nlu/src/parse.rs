//! What parsing an utterance gives, in Snips' output shape:
//! `{input, intent: {intentName, probability} | null, slots: [{range: {start, end}, rawValue,
//! value: {kind, value}, entity, slotName}]}`.

use serde::{Deserialize, Serialize};

/// The parse of one input text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parse {
    /// The text parsed.
    pub input: String,
    /// The intent found, or `None` when no intent is likely enough.
    pub intent: Option<IntentMatch>,
    /// The slots found (empty when there is no intent).
    pub slots: Vec<Slot>,
}

/// An intent and how likely it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntentMatch {
    /// The intent's name.
    pub intent_name: String,
    /// Its probability, between 0 and 1.
    pub probability: f32,
}

/// A slot value found in the input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    /// Where it is in the input, in characters (Unicode scalar values), end exclusive.
    pub range: Range,
    /// The input's text there.
    pub raw_value: String,
    /// The resolved value.
    pub value: SlotValue,
    /// The slot's entity (custom name or builtin id).
    pub entity: String,
    /// The slot's name.
    pub slot_name: String,
}

/// A span of the input, in characters, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// The first character.
    pub start: usize,
    /// One past the last character.
    pub end: usize,
}

/// A resolved slot value: `{"kind": "Custom", "value": "William"}`, `{"kind": "Number",
/// "value": 3.0}`, `{"kind": "InstantTime", "value": "2024-05-04 00:00:00 +00:00", "grain": "Day"}`…
/// Extra fields of a kind (such as a time's `grain`) are in `details`, written alongside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotValue {
    /// `Custom`, `Number`, `Ordinal`, `InstantTime`, `Duration`, …
    pub kind: String,
    /// The value itself.
    pub value: serde_json::Value,
    /// Other fields of this kind of value, written next to `kind` and `value`.
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl SlotValue {
    /// A custom entity's value.
    pub fn custom(value: &str) -> SlotValue {
        SlotValue {
            kind: "Custom".to_owned(),
            value: serde_json::Value::String(value.to_owned()),
            details: serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_snips_shape() {
        let parse = Parse {
            input: "hello Bill".into(),
            intent: Some(IntentMatch {
                intent_name: "greet".into(),
                probability: 0.5,
            }),
            slots: vec![Slot {
                range: Range { start: 6, end: 10 },
                raw_value: "Bill".into(),
                value: SlotValue::custom("William"),
                entity: "name".into(),
                slot_name: "greetee".into(),
            }],
        };
        let json = serde_json::to_string(&parse).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"input":"hello Bill","intent":{"intentName":"greet","probability":0.5},"slots":[{"range":{"start":6,"end":10},"rawValue":"Bill","value":{"kind":"Custom","value":"William"},"entity":"name","slotName":"greetee"}]}"#
        );
        let none = Parse {
            input: "x".into(),
            intent: None,
            slots: vec![],
        };
        assert_eq!(
            serde_json::to_string(&none).unwrap_or_default(),
            r#"{"input":"x","intent":null,"slots":[]}"#
        );
    }
}
