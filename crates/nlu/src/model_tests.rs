//! Tests of training and parsing together.

mod tests {
    use crate::dataset::Dataset;
    use crate::error::TrainError;
    use crate::model::Model;
    use crate::parse::{Range, SlotValue};
    use crate::training::{TrainOptions, train};

    fn lights() -> Dataset {
        let json = r#"{"language": "en", "intents": {
            "turnOn": {"utterances": [
              {"data": [{"text": "turn on the "}, {"text": "lounge", "entity": "room", "slot_name": "room"}, {"text": " lights"}]},
              {"data": [{"text": "lights on please"}]}]},
            "turnOff": {"utterances": [
              {"data": [{"text": "turn off the "}, {"text": "kitchen", "entity": "room", "slot_name": "room"}, {"text": " lights"}]}]}
          },
          "entities": {"room": {"data": [{"value": "living room", "synonyms": ["lounge"]}, {"value": "kitchen"}],
            "use_synonyms": true, "automatically_extensible": false, "matching_strictness": 1.0}}}"#;
        match Dataset::from_json(json.as_bytes()) {
            Ok(dataset) => dataset,
            Err(error) => panic!("{error}"),
        }
    }

    fn trained() -> Model {
        let mut last = 0.0;
        let model = train(&lights(), &TrainOptions::default(), &mut |done| last = done);
        assert_eq!(last, 1.0);
        model.unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn exact_training_utterances_parse() {
        let model = trained();
        let parse = model.parse("Turn on the  Lounge lights");
        let intent = parse
            .intent
            .as_ref()
            .map(|found| found.intent_name.as_str());
        assert_eq!(intent, Some("turnOn"));
        assert_eq!(parse.slots.len(), 1);
        assert_eq!(parse.slots[0].raw_value, "Lounge");
        assert_eq!(parse.slots[0].range, Range { start: 13, end: 19 });
        assert_eq!(parse.slots[0].value, SlotValue::custom("living room"));
        assert_eq!(parse.slots[0].slot_name, "room");
    }

    #[test]
    fn bytes_round_trip_and_are_deterministic() {
        let model = trained();
        let bytes = model.to_bytes();
        assert_eq!(bytes, trained().to_bytes());
        assert_eq!(Model::from_bytes(&bytes).as_ref(), Ok(&model));
        assert!(Model::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(Model::from_bytes(b"nonsense").is_err());
    }

    #[test]
    fn empty_dataset_is_an_error() {
        let mut dataset = lights();
        dataset.intents.clear();
        assert_eq!(
            train(&dataset, &TrainOptions::default(), &mut |_| {}),
            Err(TrainError::NoUtterances)
        );
    }
}

mod learned_tests {
    use crate::dataset::Dataset;
    use crate::model::Model;
    use crate::training::{TrainOptions, train};

    #[test]
    fn unseen_utterances_get_intents_and_resolved_builtin_slots() {
        let json = r#"{"language": "en", "intents": {
            "setTimer": {"utterances": [
              {"data": [{"text": "set a timer for "}, {"text": "ten minutes", "entity": "snips/duration", "slot_name": "length"}]},
              {"data": [{"text": "start a timer for "}, {"text": "3 hours", "entity": "snips/duration", "slot_name": "length"}]},
              {"data": [{"text": "timer for "}, {"text": "two minutes", "entity": "snips/duration", "slot_name": "length"}, {"text": " please"}]}]},
            "bookTable": {"utterances": [
              {"data": [{"text": "book a table for "}, {"text": "four", "entity": "snips/number", "slot_name": "people"}, {"text": " "}, {"text": "tomorrow", "entity": "snips/datetime", "slot_name": "when"}]},
              {"data": [{"text": "reserve a table for "}, {"text": "2", "entity": "snips/number", "slot_name": "people"}, {"text": " "}, {"text": "today", "entity": "snips/datetime", "slot_name": "when"}]},
              {"data": [{"text": "book a table for "}, {"text": "six", "entity": "snips/number", "slot_name": "people"}, {"text": " "}, {"text": "monday", "entity": "snips/datetime", "slot_name": "when"}]}]}
          },
          "entities": {"snips/duration": {}, "snips/number": {}, "snips/datetime": {}}}"#;
        let dataset = Dataset::from_json(json.as_bytes()).unwrap_or_else(|error| panic!("{error}"));
        let model = train(&dataset, &TrainOptions::default(), &mut |_| {})
            .unwrap_or_else(|error| panic!("{error}"));
        let again = train(&dataset, &TrainOptions::default(), &mut |_| {})
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            model.to_bytes(),
            again.to_bytes(),
            "same dataset and seed, same bytes"
        );
        assert_eq!(Model::from_bytes(&model.to_bytes()).as_ref(), Ok(&model));
        // 2024-05-03 10:00 UTC
        let parse = model.parse_at("book a table for three tomorrow", 1_714_730_400);
        assert_eq!(
            parse
                .intent
                .as_ref()
                .map(|found| found.intent_name.as_str()),
            Some("bookTable")
        );
        let values: Vec<(String, String)> = parse
            .slots
            .iter()
            .map(|slot| {
                (
                    slot.slot_name.clone(),
                    serde_json::to_string(&slot.value).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            values,
            [
                ("people".to_owned(), r#"{"kind":"Number","value":3.0}"#.to_owned()),
                (
                    "when".to_owned(),
                    r#"{"kind":"InstantTime","value":"2024-05-04 00:00:00 +00:00","grain":"Day","precision":"Exact"}"#.to_owned()
                ),
            ]
        );
        let parse = model.parse_at("set a timer for five minutes", 1_714_730_400);
        assert_eq!(
            parse
                .intent
                .as_ref()
                .map(|found| found.intent_name.as_str()),
            Some("setTimer")
        );
        assert_eq!(parse.slots.len(), 1);
        assert_eq!(parse.slots[0].raw_value, "five minutes");
        assert_eq!(parse.slots[0].value.value, serde_json::json!(300.0));
    }
}
