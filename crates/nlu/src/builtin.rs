//! Builtin entities found and resolved by rule: numbers, ordinals, simple dates and times, and
//! durations (English). A builtin value outside these rules is still filled by the slot filler; its
//! value then comes back as text (`{"kind": "Custom", "value": raw}`).

use serde_json::{Map, Value, json};

use crate::parse::SlotValue;
use crate::text::{Token, tokenize};

/// The builtin entities this module finds and resolves.
pub const SUPPORTED: &[&str] = &[
    "snips/number",
    "snips/ordinal",
    "snips/datetime",
    "snips/date",
    "snips/time",
    "snips/duration",
];

const UNITS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: &[&str] = &[
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const ORDINALS: &[&str] = &[
    "zeroth",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
];
const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const DURATION_UNITS: &[(&str, &str, i64)] = &[
    ("second", "seconds", 1),
    ("minute", "minutes", 60),
    ("hour", "hours", 3_600),
    ("day", "days", 86_400),
    ("week", "weeks", 604_800),
    ("month", "months", 2_592_000),
    ("year", "years", 31_536_000),
];

/// A number spelled in digits or words starting at `tokens[at]`: (value, tokens used).
fn number_at(tokens: &[Token], at: usize) -> Option<(f64, usize)> {
    let first = &tokens.get(at)?.lower;
    if first.chars().next()?.is_ascii_digit() {
        let cleaned: String = first.chars().filter(|c| *c != ',').collect();
        return cleaned.parse::<f64>().ok().map(|value| (value, 1));
    }
    let word_value = |word: &str| -> Option<f64> {
        if let Some(unit) = UNITS.iter().position(|unit| *unit == word) {
            return Some(unit as f64);
        }
        TENS.iter()
            .position(|ten| !ten.is_empty() && *ten == word)
            .map(|ten| (ten * 10) as f64)
    };
    let mut value = word_value(first)?;
    let mut used = 1;
    // "twenty one", "twenty-one"
    if value >= 20.0 && value % 10.0 == 0.0 && value < 100.0 {
        let (next, skip) = match tokens.get(at + 1) {
            Some(token) if token.lower == "-" => (tokens.get(at + 2), 2),
            other => (other, 1),
        };
        if let Some(unit) = next
            .and_then(|token| word_value(&token.lower))
            .filter(|unit| *unit > 0.0 && *unit < 10.0)
        {
            value += unit;
            used += skip;
        }
    }
    // "two hundred", "three thousand"
    match tokens.get(at + used).map(|token| token.lower.as_str()) {
        Some("hundred") => {
            value *= 100.0;
            used += 1;
        }
        Some("thousand") => {
            value *= 1000.0;
            used += 1;
        }
        _ => {}
    }
    Some((value, used))
}

fn ordinal_at(tokens: &[Token], at: usize) -> Option<(i64, usize)> {
    let word = &tokens.get(at)?.lower;
    if let Some(position) = ORDINALS.iter().position(|ordinal| ordinal == word) {
        return Some((position as i64, 1));
    }
    for suffix in ["st", "nd", "rd", "th"] {
        if let Some(digits) = word.strip_suffix(suffix)
            && !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit())
        {
            return digits.parse().ok().map(|value| (value, 1));
        }
    }
    None
}

/// A duration such as "three hours": (seconds, unit name, amount, tokens used).
fn duration_at(tokens: &[Token], at: usize) -> Option<(f64, &'static str, f64, usize)> {
    let (amount, used) = match tokens.get(at).map(|token| token.lower.as_str()) {
        Some("a") | Some("an") => (1.0, 1),
        _ => number_at(tokens, at)?,
    };
    let unit_word = &tokens.get(at + used)?.lower;
    let &(_, plural, seconds) = DURATION_UNITS
        .iter()
        .find(|(singular, plural, _)| unit_word == singular || unit_word == plural)?;
    Some((amount * seconds as f64, plural, amount, used + 1))
}

/// A time of day such as "5 pm", "5:30", "17:30", "noon": (hour, minute, tokens used).
fn time_at(tokens: &[Token], at: usize) -> Option<(u32, u32, usize)> {
    let word = tokens.get(at)?.lower.as_str();
    match word {
        "noon" | "midday" => return Some((12, 0, 1)),
        "midnight" => return Some((0, 0, 1)),
        _ => {}
    }
    let mut hour: u32;
    let (mut minute, mut used, mut meridiem): (u32, usize, Option<bool>) = (0, 1, None);
    if let Some(stripped) = word.strip_suffix("pm").or(word.strip_suffix("am")) {
        meridiem = Some(word.ends_with("pm"));
        hour = stripped.parse().ok()?;
    } else {
        hour = match word.parse() {
            Ok(hour) => hour,
            Err(_) => number_at(tokens, at)
                .filter(|(value, _)| *value <= 12.0)
                .map(|(value, _)| value as u32)?,
        };
        if tokens.get(at + 1).is_some_and(|token| token.lower == ":") {
            minute = tokens.get(at + 2)?.lower.parse().ok()?;
            used = 3;
        }
        match tokens.get(at + used).map(|token| token.lower.as_str()) {
            Some("pm") | Some("p.m") => {
                meridiem = Some(true);
                used += 1;
            }
            Some("am") | Some("a.m") => {
                meridiem = Some(false);
                used += 1;
            }
            Some("o'clock") => used += 1,
            _ if used == 1 => return None,
            _ => {}
        }
    }
    if let Some(pm) = meridiem {
        if hour == 0 || hour > 12 {
            return None;
        }
        hour = match (pm, hour) {
            (true, 12) => 12,
            (true, hour) => hour + 12,
            (false, 12) => 0,
            (false, hour) => hour,
        };
    }
    (hour < 24 && minute < 60).then_some((hour, minute, used))
}

/// A date or time relative to `now` (seconds since the Unix epoch, UTC): (seconds, grain, used).
fn datetime_at(tokens: &[Token], at: usize, now: i64) -> Option<(i64, &'static str, usize)> {
    let day_start = now.div_euclid(86_400) * 86_400;
    let word = tokens.get(at)?.lower.as_str();
    let relative_day = match word {
        "today" | "tonight" => Some(0),
        "tomorrow" => Some(1),
        "yesterday" => Some(-1),
        _ => None,
    };
    if let Some(days) = relative_day {
        let date = day_start + days * 86_400;
        // "tomorrow at 5 pm"
        if tokens.get(at + 1).is_some_and(|token| token.lower == "at")
            && let Some((hour, minute, used)) = time_at(tokens, at + 2)
        {
            return Some((
                date + i64::from(hour * 3600 + minute * 60),
                "Minute",
                used + 2,
            ));
        }
        return Some((date, "Day", 1));
    }
    if word == "now" {
        return Some((now, "Second", 1));
    }
    if let Some(weekday) = WEEKDAYS.iter().position(|day| *day == word) {
        // 1970-01-01 was a Thursday (index 3).
        let today = (now.div_euclid(86_400) + 3).rem_euclid(7);
        let ahead = (weekday as i64 - today).rem_euclid(7);
        let ahead = if ahead == 0 { 7 } else { ahead };
        return Some((day_start + ahead * 86_400, "Day", 1));
    }
    if word == "at" {
        let (hour, minute, used) = time_at(tokens, at + 1)?;
        let mut moment = day_start + i64::from(hour * 3600 + minute * 60);
        if moment < now {
            moment += 86_400;
        }
        return Some((moment, "Minute", used + 1));
    }
    if word == "in" {
        let (seconds, _, _, used) = duration_at(tokens, at + 1)?;
        return Some((now + seconds as i64, "Second", used + 1));
    }
    let (hour, minute, used) = time_at(tokens, at)?;
    let mut moment = day_start + i64::from(hour * 3600 + minute * 60);
    if moment < now {
        moment += 86_400;
    }
    Some((moment, "Minute", used))
}

/// Formats seconds since the epoch as Snips does: `2024-05-04 17:00:00 +00:00`.
fn format_instant(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +00:00",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// A builtin value of `entity` starting at `tokens[at]`: (value, tokens used).
fn value_at(entity: &str, tokens: &[Token], at: usize, now: i64) -> Option<(SlotValue, usize)> {
    let with = |kind: &str, value: Value, details: Map<String, Value>| SlotValue {
        kind: kind.to_owned(),
        value,
        details,
    };
    match entity {
        "snips/number" => number_at(tokens, at)
            .map(|(value, used)| (with("Number", json!(value), Map::new()), used)),
        "snips/ordinal" => ordinal_at(tokens, at)
            .map(|(value, used)| (with("Ordinal", json!(value), Map::new()), used)),
        "snips/duration" => duration_at(tokens, at).map(|(seconds, unit, amount, used)| {
            let mut details = Map::new();
            details.insert(unit.to_owned(), json!(amount));
            details.insert("precision".to_owned(), json!("Exact"));
            (with("Duration", json!(seconds), details), used)
        }),
        "snips/datetime" | "snips/date" | "snips/time" => {
            datetime_at(tokens, at, now).map(|(seconds, grain, used)| {
                let mut details = Map::new();
                details.insert("grain".to_owned(), json!(grain));
                details.insert("precision".to_owned(), json!("Exact"));
                (
                    with("InstantTime", json!(format_instant(seconds)), details),
                    used,
                )
            })
        }
        _ => None,
    }
}

/// Every builtin match of the given entities in `tokens`, longest first and without overlaps per
/// entity: (first token, one past the last, entity index).
pub(crate) fn find(entities: &[String], tokens: &[Token]) -> Vec<(usize, usize, usize)> {
    let mut found = Vec::new();
    for (index, entity) in entities.iter().enumerate() {
        let mut at = 0;
        while at < tokens.len() {
            match value_at(entity, tokens, at, 0) {
                Some((_, used)) => {
                    found.push((at, at + used, index));
                    at += used;
                }
                None => at += 1,
            }
        }
    }
    found
}

/// Resolves a slot's raw text as a builtin entity, when the whole text is one value.
pub(crate) fn resolve(entity: &str, raw: &str, now: i64) -> Option<SlotValue> {
    let tokens = tokenize(raw);
    match value_at(entity, &tokens, 0, now) {
        Some((value, used)) if used == tokens.len() => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(entity: &str, raw: &str) -> Option<String> {
        // 2024-05-03 (a Friday) 10:00 UTC
        resolve(entity, raw, 1_714_730_400)
            .map(|value| serde_json::to_string(&value).unwrap_or_default())
    }

    #[test]
    fn resolves_numbers_ordinals_dates_and_durations() {
        assert_eq!(
            value("snips/number", "twenty-one").as_deref(),
            Some(r#"{"kind":"Number","value":21.0}"#)
        );
        assert_eq!(
            value("snips/number", "3.5").as_deref(),
            Some(r#"{"kind":"Number","value":3.5}"#)
        );
        assert_eq!(
            value("snips/number", "two hundred").as_deref(),
            Some(r#"{"kind":"Number","value":200.0}"#)
        );
        assert_eq!(
            value("snips/ordinal", "3rd").as_deref(),
            Some(r#"{"kind":"Ordinal","value":3}"#)
        );
        assert_eq!(
            value("snips/ordinal", "second").as_deref(),
            Some(r#"{"kind":"Ordinal","value":2}"#)
        );
        assert_eq!(
            value("snips/datetime", "tomorrow").as_deref(),
            Some(
                r#"{"kind":"InstantTime","value":"2024-05-04 00:00:00 +00:00","grain":"Day","precision":"Exact"}"#
            )
        );
        assert_eq!(
            value("snips/datetime", "tomorrow at 5 pm").as_deref(),
            Some(
                r#"{"kind":"InstantTime","value":"2024-05-04 17:00:00 +00:00","grain":"Minute","precision":"Exact"}"#
            )
        );
        assert_eq!(
            value("snips/datetime", "monday").as_deref(),
            Some(
                r#"{"kind":"InstantTime","value":"2024-05-06 00:00:00 +00:00","grain":"Day","precision":"Exact"}"#
            )
        );
        assert_eq!(
            value("snips/duration", "three hours").as_deref(),
            Some(r#"{"kind":"Duration","value":10800.0,"hours":3.0,"precision":"Exact"}"#)
        );
        assert_eq!(value("snips/number", "many"), None);
        assert_eq!(value("snips/number", "3 apples"), None);
    }

    #[test]
    fn finds_matches_in_a_sentence() {
        let tokens = tokenize("book a table for twenty one at 7 pm");
        let entities = vec!["snips/number".to_owned(), "snips/datetime".to_owned()];
        assert_eq!(
            find(&entities, &tokens),
            vec![(4, 6, 0), (7, 8, 0), (6, 9, 1)]
        );
    }
}
