//! The relay from the message bus to the events hub: bus messages on `ovos.events_allowlist`
//! become `ovos.<type>` events (scope `ovos`), secrets removed once for every subscriber. The
//! bus hands each message to the relay as it arrives; the relay does nothing while no events
//! stream is open.

use serde_json::json;

use crate::events::{Event, EventHub};
use crate::identity::scopes::Scope;
use crate::ovos::bus::{BusMessage, MessageTap};
use crate::ovos::redact::redact;

/// The event of an allowlisted bus message: named after the message type, as `/v1/events` has
/// always named bus messages; its data `{"type", "data"}` with secrets removed.
pub fn bus_event(message: &BusMessage) -> Event {
    let mut data = message.data.clone();
    redact(&mut data);
    let mut event = Event::new(
        format!("ovos.{}", message.msg_type),
        Scope::Ovos,
        None,
        &json!({"type": message.msg_type, "data": data}),
    );
    event.name = message.msg_type.clone();
    event
}

/// The bus's tap into the events hub.
#[derive(Debug)]
pub struct EventRelay {
    hub: EventHub,
    allowlist: Vec<String>,
}

impl EventRelay {
    /// A relay of the message types `allowlist` names (a trailing `*` matches a prefix).
    pub fn new(hub: EventHub, allowlist: Vec<String>) -> Self {
        Self { hub, allowlist }
    }

    /// Whether a bus message type is on the allowlist.
    pub fn allowed(&self, msg_type: &str) -> bool {
        self.allowlist
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => msg_type.starts_with(prefix),
                None => msg_type == pattern,
            })
    }
}

impl MessageTap for EventRelay {
    fn deliver(&self, message: &BusMessage) {
        if self.hub.has_subscribers() && self.allowed(&message.msg_type) {
            self.hub.publish(bus_event(message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlisted_messages_reach_listeners_without_their_secrets() {
        let hub = EventHub::new(8);
        let relay = EventRelay::new(hub.clone(), vec!["speak".into(), "mycroft.mic.*".into()]);
        assert!(relay.allowed("mycroft.mic.mute") && !relay.allowed("mycroft.stop"));
        let speak = BusMessage::new("speak", json!({"utterance": "hi", "token": "secret-value"}));
        relay.deliver(&speak);
        let mut events = hub.subscribe();
        relay.deliver(&BusMessage::new("not.on.the.list", json!({})));
        relay.deliver(&speak);
        let event = events.try_recv().expect("the allowlisted message");
        assert!(events.try_recv().is_err(), "nothing else");
        assert_eq!(event.topic, "ovos.speak");
        assert_eq!(event.name, "speak");
        assert_eq!(event.scope, Scope::Ovos);
        let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["type"], "speak");
        assert_eq!(data["data"]["utterance"], "hi");
        assert!(!event.data.contains("secret-value"), "{}", event.data);
    }
}
