//! Tests of the bus client's waiter table and message reading.

use super::*;

fn waiter(
    waiters: &mut Waiters,
    id: u64,
    reply: &str,
    by_type: bool,
) -> oneshot::Receiver<BusMessage> {
    let (tx, rx) = oneshot::channel();
    let matching = if by_type {
        ReplyMatch::ByType
    } else {
        ReplyMatch::Correlated
    };
    waiters.register(id, &format!("s-{id}"), &[reply], matching, tx);
    rx
}

#[test]
fn frames_keep_the_callers_context_and_add_only_source_and_correlation() {
    let bus = Bus::new(
        BusSettings {
            url: "ws://127.0.0.1:9/core".into(),
            address: "127.0.0.1:9".into(),
            request_timeout: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(1),
            exchange_drain: Duration::ZERO,
        },
        Vec::new(),
    );
    let frame = |message| serde_json::from_str::<Value>(&bus.frame(message, Some("c-1"))).unwrap();
    // No destination unless the caller names one: a broadcast.
    let broadcast = frame(BusMessage::new("mycroft.stop", json!({})));
    assert_eq!(
        broadcast["context"],
        json!({"source": "voicegate", CORRELATION_KEY: "c-1"})
    );
    let addressed = frame(BusMessage {
        context: json!({"destination": ["audio"], "session": {"session_id": "default"}}),
        ..BusMessage::new("mycroft.mic.listen", json!({}))
    });
    assert_eq!(
        addressed["context"],
        json!({
            "destination": ["audio"],
            "session": {"session_id": "default"},
            "source": "voicegate",
            CORRELATION_KEY: "c-1",
        })
    );
}

#[test]
fn correlated_replies_find_their_own_request_and_type_matches_go_oldest_first() {
    let mut waiters = Waiters::default();
    let _a = waiter(&mut waiters, 1, "x.response", false);
    let _b = waiter(&mut waiters, 2, "x.response", false);
    let reply = BusMessage {
        msg_type: "x.response".into(),
        data: json!({}),
        context: json!({CORRELATION_KEY: "s-2"}),
    };
    let answered: Vec<String> = waiters
        .take_for(&reply)
        .into_iter()
        .map(|w| w.correlation)
        .collect();
    assert_eq!(answered, ["s-2"]);
    // The echo of a request (same context, request type) answers nothing.
    let echo = BusMessage {
        msg_type: "x".into(),
        data: json!({}),
        context: json!({CORRELATION_KEY: "s-1"}),
    };
    assert!(waiters.take_for(&echo).is_empty());

    // One answer of a type any request may take answers every request waiting for one
    // (one of them may have been sent when nobody answered: it gets no answer of its own).
    let _c = waiter(&mut waiters, 3, "y.answer", true);
    let _d = waiter(&mut waiters, 4, "y.answer", true);
    let answer = BusMessage::new("y.answer", json!({}));
    let answered: Vec<String> = waiters
        .take_for(&answer)
        .into_iter()
        .map(|w| w.correlation)
        .collect();
    assert_eq!(answered, ["s-3", "s-4"]);
    assert!(
        waiters.take_for(&answer).is_empty(),
        "a later answer finds nobody waiting"
    );
    assert!(waiters.by_type.is_empty());
}
