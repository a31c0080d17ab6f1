//! Tests of the language model as a whole: sentences, grammar and dictionary from a dataset.

use std::collections::BTreeSet;

use super::*;

fn dataset() -> Dataset {
    let json = r#"{
      "language": "en",
      "intents": {
        "lightsOn": {"utterances": [
          {"data": [{"text": "turn on the "}, {"text": "kitchen", "entity": "room", "slot_name": "room"}, {"text": " lights!"}]},
          {"data": [{"text": "lights on in the "}, {"text": "bedroom", "entity": "room", "slot_name": "room"}]}
        ]},
        "weather": {"utterances": [{"data": [{"text": "what is the weather"}]}]}
      },
      "entities": {
        "room": {"data": [{"value": "kitchen", "synonyms": []},
                          {"value": "living room", "synonyms": ["lounge"]}],
                 "use_synonyms": true, "automatically_extensible": false, "matching_strictness": 1.0}
      }
    }"#;
    Dataset::from_json(json.as_bytes()).expect("a valid dataset")
}

fn phones() -> PhoneDictionary {
    PhoneDictionary::parse(
        ";;; comment\nturn T ER N\non AA N\non(2) AO N\nthe DH AH\nthe(2) DH IY\nkitchen K IH CH AH N\n\
         lights L AY T S\nin IH N\nbedroom B EH D R UW M\nliving L IH V IH NG\nroom R UW M\n\
         what W AH T\nis IH Z\nweather W EH DH ER\n",
    )
}

#[test]
fn sentences_substitute_values_and_synonyms_lowercased() {
    let sentences = Sentences::generate(&dataset(), &SentenceOptions::default());
    for expected in [
        "turn on the kitchen lights",
        "turn on the living room lights",
        "turn on the lounge lights",
        "lights on in the bedroom",
        "lights on in the lounge",
        "what is the weather",
    ] {
        assert!(
            sentences.lines.iter().any(|l| l == expected),
            "{expected}: {sentences:?}"
        );
    }
    let unique: BTreeSet<&String> = sentences.lines.iter().collect();
    assert_eq!(unique.len(), sentences.lines.len());
}

#[test]
fn sentences_are_bounded_and_balanced_per_intent() {
    let sentences = Sentences::generate(&dataset(), &SentenceOptions { max_sentences: 4 });
    assert_eq!(sentences.lines.len(), 3, "{sentences:?}");
    assert_eq!(
        sentences.lines.last().map(String::as_str),
        Some("what is the weather")
    );
}

#[test]
fn every_word_has_a_pronunciation_and_the_fallback_fills_gaps() {
    let mut asked = Vec::new();
    let mut fallback = |word: &str| {
        asked.push(word.to_owned());
        (word == "lounge").then(|| vec!["L".into(), "AW".into(), "N".into(), "JH".into()])
    };
    let model = build(
        &dataset(),
        &SentenceOptions::default(),
        &phones(),
        &mut fallback,
    )
    .expect("every word pronounced");
    assert_eq!(asked, ["lounge"]);
    let pronounced: BTreeSet<&str> = model
        .dictionary
        .lines()
        .filter_map(|line| line.split(' ').next())
        .map(|word| word.split('(').next().unwrap_or(word))
        .collect();
    for line in &model.sentences {
        for word in line.split(' ') {
            assert!(pronounced.contains(word), "{word}");
        }
    }
    assert!(
        model.dictionary.contains("on(2) AO N\n"),
        "{}",
        model.dictionary
    );
    assert!(model.arpa.starts_with("\\data\\\nngram 1="));
    assert!(
        model
            .jsgf
            .contains("public <command> = <i0_lightsOn> | <i1_weather>;")
    );
    assert!(
        model
            .jsgf
            .contains("<e0_room> = kitchen | living room | lounge;"),
        "{}",
        model.jsgf
    );
    assert!(
        model.jsgf.contains(
            "<i0_lightsOn> = lights on in the (<e0_room> | bedroom) | turn on the <e0_room> lights;"
        ),
        "{}",
        model.jsgf
    );
}

#[test]
fn an_unpronounceable_word_is_named() {
    let mut fallback = |_: &str| None;
    let error = build(
        &dataset(),
        &SentenceOptions::default(),
        &phones(),
        &mut fallback,
    )
    .expect_err("lounge has no pronunciation");
    assert_eq!(
        error,
        LanguageModelError::Unpronounceable(vec!["lounge".into()])
    );
    assert_eq!(error.to_string(), "no pronunciation for 1 word(s): lounge");
    // Phones outside the CMU set are no pronunciation either.
    let mut foreign = |_: &str| Some(vec!["@".to_owned()]);
    assert!(
        build(
            &dataset(),
            &SentenceOptions::default(),
            &phones(),
            &mut foreign
        )
        .is_err()
    );
}
