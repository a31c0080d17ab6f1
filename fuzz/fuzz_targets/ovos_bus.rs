//! The Open Voice OS bus as voicegate reads it: each frame a message, handed to the request it
//! answers (by the correlation id in its context, or by type to every request waiting for one),
//! and read by the skill-answer classifier and the events relay.
//!
//! A message read writes back to itself; a request gets only a message of a type it waits for,
//! at most one, and a correlated request only its own (a message carrying a waiting request's
//! correlation id and its type always reaches it, and no other); any other reply reaches every
//! request still waiting for its type; an answer counts as data only when the skill
//! said the key was accepted and reported no error; a relayed event holds no secret key at any
//! depth and keeps everything else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use voicegate::ovos::bus::{BusMessage, CORRELATION_KEY, ReplyMatch, Waiters};
use voicegate::ovos::event_relay::bus_event;
use voicegate::ovos::redact::{is_secret_key, redact};
use voicegate::ovos::skill_answer::{SkillAnswer, classify};

/// The requests waiting: (correlation id, reply types, how they match).
const REQUESTS: [(&str, &[&str], ReplyMatch); 4] = [
    ("c1", &["a.response"], ReplyMatch::Correlated),
    ("c2", &["a.response", "b"], ReplyMatch::Correlated),
    ("c3", &["b"], ReplyMatch::ByType),
    ("c4", &["b", "skillmanager.list"], ReplyMatch::ByType),
];

/// Equal values, numbers within the last digit: serde_json's float reading (without its
/// `float_roundtrip` feature) may move a float it writes back by one unit in the last place.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= f64::EPSILON * 4.0 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| same(x, y)))
        }
        _ => a == b,
    }
}

/// Every key of `value` at any depth.
fn keys(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                out.push(key.clone());
                keys(value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| keys(item, out)),
        _ => {}
    }
}

fn check_message(message: &BusMessage) {
    let written = serde_json::to_string(message).unwrap();
    let again = BusMessage::from_frame(&written).expect("a written message reads back");
    assert_eq!(again.msg_type, message.msg_type);
    assert!(same(&again.data, &message.data), "{written}");
    assert!(same(&again.context, &message.context), "{written}");
    let authenticated = message.context.get("authenticated") == Some(&Value::Bool(true));
    let error = message.data.get("error");
    match classify(message) {
        SkillAnswer::Data(data) => {
            assert!(authenticated && error.is_none());
            assert_eq!(&data, &message.data);
        }
        SkillAnswer::Failed(_) => assert!(authenticated && error.is_some()),
        SkillAnswer::Refused(_) => assert!(!authenticated),
    }
    let mut redacted = message.data.clone();
    redact(&mut redacted);
    let mut left = Vec::new();
    keys(&redacted, &mut left);
    assert!(left.iter().all(|key| !is_secret_key(key)), "{left:?}");
    let mut again = redacted.clone();
    redact(&mut again);
    assert_eq!(again, redacted, "redacting twice changes nothing");
    if let Value::Object(map) = &message.data {
        for (key, value) in map.iter().filter(|(key, _)| !is_secret_key(key)) {
            let mut value = value.clone();
            redact(&mut value);
            assert_eq!(redacted.get(key), Some(&value), "{key} was kept as it is");
        }
    }
    let event = bus_event(message);
    assert_eq!(event.name, message.msg_type);
    let payload: Value = serde_json::from_str(&event.data).unwrap();
    let want = json!({"type": message.msg_type, "data": redacted});
    assert!(same(&payload, &want), "{payload} is not {want}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut waiters = Waiters::default();
    let mut answers = Vec::new();
    for (id, (correlation, types, matching)) in REQUESTS.iter().enumerate() {
        let (tx, rx) = oneshot::channel();
        waiters.register(id as u64, correlation, types, *matching, tx);
        answers.push(Some(rx));
    }
    let mut answered = [false; REQUESTS.len()];
    // One frame per line, as the bus delivers them one after the other.
    for frame in text.split('\n') {
        let Some(message) = BusMessage::from_frame(frame) else {
            continue;
        };
        // (An unknown field is skipped unread, so it may hold what `Value` refuses, such as a
        // number beyond f64's range.)
        if let Ok(value) = serde_json::from_str::<Value>(frame) {
            assert_eq!(
                value.get("type"),
                Some(&Value::String(message.msg_type.clone()))
            );
        }
        check_message(&message);
        let correlation = message.context.get(CORRELATION_KEY).and_then(Value::as_str);
        let owner = REQUESTS.iter().position(|(c, types, _)| {
            Some(*c) == correlation && types.contains(&message.msg_type.as_str())
        });
        let owner = owner.filter(|i| !answered[*i]);
        let taken = waiters.take_for(&message);
        if taken.is_empty() {
            assert!(
                owner.is_none(),
                "{frame}: its request {owner:?} did not get it"
            );
            continue;
        }
        let count = taken.len();
        for waiter in taken {
            waiter.answer(message.clone());
        }
        let got: Vec<usize> = answers
            .iter_mut()
            .enumerate()
            .filter_map(|(i, rx)| {
                let received = rx.as_mut()?.try_recv().ok()?;
                assert_eq!(received, message);
                *rx = None;
                Some(i)
            })
            .collect();
        assert_eq!(got.len(), count, "{frame} reached {got:?}");
        match owner {
            // A correlated reply reaches its own request and no other.
            Some(owner) => assert_eq!(got, [owner], "{frame} reached {got:?}"),
            // Otherwise every request still waiting for a reply of its type gets it.
            None => {
                let waiting: Vec<usize> = (0..REQUESTS.len())
                    .filter(|&i| {
                        let (_, types, matching) = REQUESTS[i];
                        !answered[i]
                            && matching == ReplyMatch::ByType
                            && types.contains(&message.msg_type.as_str())
                    })
                    .collect();
                assert_eq!(got, waiting, "{frame} reached {got:?}");
            }
        }
        for i in got {
            assert!(!answered[i]);
            answered[i] = true;
            let (own, types, matching) = REQUESTS[i];
            assert!(
                types.contains(&message.msg_type.as_str()),
                "{frame} reached {own}"
            );
            if matching == ReplyMatch::Correlated {
                assert_eq!(correlation, Some(own), "{frame} reached {own}");
            }
        }
    }
    for (i, waiting) in answered.iter().enumerate() {
        if !waiting {
            assert!(waiters.remove(i as u64).is_some());
        }
        assert!(waiters.remove(i as u64).is_none());
    }
});
