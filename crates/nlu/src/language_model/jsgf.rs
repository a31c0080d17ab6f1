//! A JSGF grammar of an assistant: one rule per intent whose alternatives are its utterances,
//! each slot a rule of its entity's values and synonyms (a builtin entity's slot keeps the
//! example's words).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::dataset::{Dataset, Entity};
use crate::language_model::sentences::words;

/// A rule name made of the letters and digits of `name` (others become `_`), prefixed by `kind`.
fn rule_name(kind: &str, index: usize, name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{kind}{index}_{cleaned}")
}

/// The grammar's text (JSGF V1.0, grammar `assistant`, public rule `<command>`).
pub fn grammar(dataset: &Dataset) -> String {
    let entity_rules: Vec<(String, String)> = dataset
        .entities
        .iter()
        .enumerate()
        .filter_map(|(index, (name, entity))| match entity {
            Entity::Custom(custom) => {
                let alternatives: BTreeSet<String> = custom
                    .data
                    .iter()
                    .flat_map(|value| std::iter::once(&value.value).chain(&value.synonyms))
                    .map(|text| words(text).join(" "))
                    .filter(|text| !text.is_empty())
                    .collect();
                (!alternatives.is_empty()).then(|| {
                    let alternatives: Vec<String> = alternatives.into_iter().collect();
                    (
                        name.clone(),
                        format!(
                            "<{}> = {};",
                            rule_name("e", index, name),
                            alternatives.join(" | ")
                        ),
                    )
                })
            }
            Entity::Builtin => None,
        })
        .collect();
    let entity_rule = |entity: &str| {
        dataset
            .entities
            .keys()
            .position(|name| name == entity)
            .filter(|_| entity_rules.iter().any(|(name, _)| name == entity))
            .map(|index| format!("<{}>", rule_name("e", index, entity)))
    };
    // The values of an entity as grammar text: an example among them needs no alternative.
    let entity_values = |entity: &str| -> BTreeSet<String> {
        match dataset.entities.get(entity) {
            Some(Entity::Custom(custom)) => custom
                .data
                .iter()
                .flat_map(|value| std::iter::once(&value.value).chain(&value.synonyms))
                .map(|text| words(text).join(" "))
                .collect(),
            _ => BTreeSet::new(),
        }
    };
    let mut out = String::from("#JSGF V1.0;\n\ngrammar assistant;\n\n");
    let mut intent_rules = Vec::new();
    let mut bodies = Vec::new();
    for (index, (name, intent)) in dataset.intents.iter().enumerate() {
        let alternatives: BTreeSet<String> = intent
            .utterances
            .iter()
            .map(|utterance| {
                let mut parts: Vec<String> = Vec::new();
                for chunk in &utterance.data {
                    let example = words(&chunk.text).join(" ");
                    let slot = chunk.slot.as_ref();
                    let listed =
                        slot.is_some_and(|slot| entity_values(&slot.entity).contains(&example));
                    match slot.and_then(|slot| entity_rule(&slot.entity)) {
                        Some(rule) if example.is_empty() || listed => parts.push(rule),
                        Some(rule) => parts.push(format!("({rule} | {example})")),
                        None if example.is_empty() => {}
                        None => parts.push(example),
                    }
                }
                parts.join(" ")
            })
            .filter(|text| !text.is_empty())
            .collect();
        if alternatives.is_empty() {
            continue;
        }
        let rule = format!("<{}>", rule_name("i", index, name));
        let alternatives: Vec<String> = alternatives.into_iter().collect();
        bodies.push(format!("{rule} = {};", alternatives.join(" | ")));
        intent_rules.push(rule);
    }
    let _ = writeln!(out, "public <command> = {};\n", intent_rules.join(" | "));
    for body in bodies {
        let _ = writeln!(out, "{body}");
    }
    for (_, body) in entity_rules {
        let _ = writeln!(out, "{body}");
    }
    out
}
