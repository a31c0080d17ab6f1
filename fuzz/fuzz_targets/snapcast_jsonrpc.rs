//! Snapcast's JSON-RPC control port as voicegate reads it: lines, each one answer (or a batch)
//! handed to the requests waiting by id, or notifications published to listeners, and status
//! answers read as the server's state.
//!
//! Lines never hold their end; a request is answered only by an answer carrying its id, at most
//! once, with the result, snapserver's refusal or "does not parse" as the answer says; every
//! notification with a method is published, nothing else.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokio::io::BufReader;
use tokio::sync::{broadcast, oneshot};
use voicegate::speakers::snapcast::control::{
    Notification, SnapcastError, Waiting, answer_waiting, parse_status, publish, read_line,
};

const WAITING: u64 = 6;

fn items(line: &[u8]) -> Vec<Value> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Array(items)) => items,
        Ok(other) => vec![other],
        Err(_) => Vec::new(),
    }
}

fn check_line(line: &[u8]) {
    assert!(!line.contains(&b'\n'));
    assert!(!line.ends_with(b"\r"));
    let items = items(line);
    // Requests 1 to 6 wait; each takes the first answer carrying its id.
    let mut waiting = Waiting::new();
    let mut answers = Vec::new();
    for id in 1..=WAITING {
        let (tx, rx) = oneshot::channel();
        waiting.insert(id, ("Server.GetStatus".to_string(), tx));
        answers.push(rx);
    }
    answer_waiting(line, &mut waiting);
    for (id, mut answer) in (1..=WAITING).zip(answers) {
        let first = items
            .iter()
            .find(|item| item.get("id").and_then(Value::as_u64) == Some(id));
        match (answer.try_recv(), first) {
            (Err(_), None) => assert!(waiting.contains_key(&id)),
            (Ok(got), Some(item)) => {
                assert!(!waiting.contains_key(&id));
                match (&got, item.get("result"), item.get("error")) {
                    (Ok(result), Some(want), None) => {
                        assert_eq!(result, want);
                        if let Ok(status) = parse_status("Server.GetStatus", result.clone()) {
                            let _ = status.clients().count();
                        }
                    }
                    (Err(SnapcastError::Refused { method, .. }), _, Some(_)) => {
                        assert_eq!(method, "Server.GetStatus");
                    }
                    (Err(SnapcastError::BadAnswer(_)), None, None) => {}
                    other => panic!("request {id} answered {other:?}"),
                }
            }
            (got, item) => panic!("request {id}: {got:?} for {item:?}"),
        }
    }
    let want: Vec<(String, Value)> = items
        .iter()
        .filter_map(|item| {
            let method = item.get("method")?.as_str()?;
            Some((
                method.to_string(),
                item.get("params").cloned().unwrap_or(Value::Null),
            ))
        })
        .collect();
    // Room for every notification of the line (a listener that lags misses some, on purpose).
    let (tx, mut rx) = broadcast::channel(want.len().max(1));
    publish(line, &tx);
    let mut published = Vec::new();
    while let Ok(Notification::Event { method, params }) = rx.try_recv() {
        published.push((method, params));
    }
    assert_eq!(published, want);
}

fuzz_target!(|data: &[u8]| {
    common::block_on(async {
        let mut reader = BufReader::with_capacity(7, data);
        let mut line = Vec::new();
        let mut lines = Vec::new();
        loop {
            match read_line(&mut reader, &mut line).await {
                Ok(true) => {
                    check_line(&line);
                    lines.push(line.clone());
                }
                Ok(false) => break,
                Err(error) => panic!("{error}"),
            }
        }
        // The lines are the input's, each without the line breaks it ends with.
        let want: Vec<&[u8]> = data
            .split_inclusive(|b| *b == b'\n')
            .map(|mut line| {
                while let [rest @ .., b'\n' | b'\r'] = line {
                    line = rest;
                }
                line
            })
            .collect();
        assert_eq!(lines, want);
    });
});
