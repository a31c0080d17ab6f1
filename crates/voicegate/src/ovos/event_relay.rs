//! The relay from the message bus to the events hub: bus messages on `ovos.events_allowlist`
//! become `ovos.<type>` events (scope `ovos`), secrets removed once for every subscriber.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::events::{Event, EventHub};
use crate::identity::scopes::Scope;
use crate::ovos::OvosService;
use crate::ovos::bus::BusMessage;
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

/// Starts relaying; runs until the bus service is gone or the task is aborted. Messages are
/// only turned into events while somebody listens.
pub fn spawn(ovos: Arc<OvosService>, hub: EventHub) -> JoinHandle<()> {
    let mut receiver = ovos.bus().subscribe();
    tokio::spawn(async move {
        loop {
            match receiver.recv().await {
                Ok(message) if hub.has_subscribers() && ovos.event_allowed(&message.msg_type) => {
                    hub.publish(bus_event(&message));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "bus messages lost on their way to the events hub");
                }
                Err(RecvError::Closed) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_events_keep_their_type_and_lose_their_secrets() {
        let message = BusMessage::new("speak", json!({"utterance": "hi", "token": "secret-value"}));
        let event = bus_event(&message);
        assert_eq!(event.topic, "ovos.speak");
        assert_eq!(event.name, "speak");
        assert_eq!(event.scope, Scope::Ovos);
        let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["type"], "speak");
        assert_eq!(data["data"]["utterance"], "hi");
        assert!(!event.data.contains("secret-value"), "{}", event.data);
    }
}
