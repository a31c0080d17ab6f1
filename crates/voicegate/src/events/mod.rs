//! The events hub: one place where every surface publishes what happens (bus messages, speaker
//! changes, job progress) and from which `GET /v1/events` streams to each subscriber what its
//! token may see.
//!
//! An event has a topic (`ovos.speak`, `jobs.voice_build.progress`, `voices.build.complete`),
//! the scope a subscriber needs to see it, and, when it concerns one user's things, that user:
//! others never see it. Topic families and their scopes:
//!
//! | family | scope | published by |
//! |---|---|---|
//! | `ovos.*` | `ovos` | bus messages on `ovos.events_allowlist` |
//! | `voices.*` | `voice_build` | voice builds: `voices.build.complete`, `voices.build.error` |
//! | `jobs.<kind>.*` | the scope of the job kind | the job queue: `queued`, `started`, `progress`, `done`, `failed` |
//! | `speakers.*` | `speakers` | the speakers surface |
//! | `assistants.*` | `assistant` | the assistants surface |

pub mod relay;
pub mod routes;
pub mod stream;

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use crate::identity::scopes::Scope;
use crate::ids::UserId;

/// One event, serialized once for every subscriber.
#[derive(Debug, Clone)]
pub struct Event {
    /// Its topic, dot-separated, family first.
    pub topic: String,
    /// The server-sent event's name: the topic, except bus messages, which keep their message
    /// type as they always had.
    pub name: String,
    /// The scope a subscriber's token needs.
    pub scope: Scope,
    /// The user it concerns (only they see it), or `None` for everyone with the scope.
    pub owner: Option<UserId>,
    /// The JSON data, serialized.
    pub data: String,
}

impl Event {
    /// An event named after its topic, with `data` serialized.
    pub fn new(
        topic: impl Into<String>,
        scope: Scope,
        owner: Option<UserId>,
        data: &impl Serialize,
    ) -> Self {
        let topic = topic.into();
        Self {
            name: topic.clone(),
            topic,
            scope,
            owner,
            data: serde_json::to_string(data).unwrap_or_else(|_| "null".into()),
        }
    }

    /// Whether the topic is `prefix` or lies under it (`jobs` holds `jobs.voice_build.done`).
    pub fn under(&self, prefix: &str) -> bool {
        self.topic
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }
}

/// The topic families and the scope each needs (a job kind's scope stands in for `jobs`).
pub const FAMILIES: &[(&str, Scope)] = &[
    ("ovos", Scope::Ovos),
    ("voices", Scope::VoiceBuild),
    ("speakers", Scope::Speakers),
    ("assistants", Scope::Assistant),
];

/// The hub. Cheap to clone; publishing never waits for a subscriber.
#[derive(Clone)]
pub struct EventHub {
    sender: broadcast::Sender<Arc<Event>>,
    /// Where events go for the other instances, when several share the database.
    relay: Arc<OnceLock<mpsc::Sender<Arc<Event>>>>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("subscribers", &self.sender.receiver_count())
            .finish()
    }
}

impl EventHub {
    /// A hub that keeps `buffer` events for each subscriber; one that falls further behind is
    /// dropped, never buffered without bound.
    pub fn new(buffer: usize) -> Self {
        Self {
            sender: broadcast::Sender::new(buffer.max(1)),
            relay: Arc::default(),
        }
    }

    /// Publishes an event to every current subscriber (none: it is dropped), and to the other
    /// instances' subscribers when it is relayed ([`relay`]; bus events are not: every instance
    /// hears the bus).
    pub fn publish(&self, event: Event) {
        let event = Arc::new(event);
        if let Some(relay) = self.relay.get()
            && !event.under("ovos")
            && relay.try_send(Arc::clone(&event)).is_err()
        {
            tracing::warn!(topic = %event.topic, "the relay to other instances is behind: an event was not relayed");
        }
        let _ = self.sender.send(event);
    }

    /// Publishes an event to this instance's subscribers only (one another instance relayed).
    pub fn publish_here(&self, event: Event) {
        let _ = self.sender.send(Arc::new(event));
    }

    /// Sends every event published from now on to `outbox` too (set once).
    fn relay_to(&self, outbox: mpsc::Sender<Arc<Event>>) {
        let _ = self.relay.set(outbox);
    }

    /// Whether anybody may listen (so that publishers can skip making events nobody sees).
    pub fn has_subscribers(&self) -> bool {
        // Other instances' subscribers are not counted here: a relaying hub always listens.
        self.sender.receiver_count() > 0 || self.relay.get().is_some()
    }

    /// Subscriptions open on this instance now (each `/v1/events` stream holds one).
    pub fn subscriber_count(&self) -> usize {
        self.sender.receiver_count()
    }

    /// A new subscription to every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_lie_under_their_prefixes_at_dots_only() {
        let event = Event::new(
            "jobs.voice_build.done",
            Scope::VoiceBuild,
            None,
            &serde_json::json!({"ok": true}),
        );
        assert_eq!(event.data, r#"{"ok":true}"#);
        assert!(event.under("jobs"));
        assert!(event.under("jobs.voice_build"));
        assert!(event.under("jobs.voice_build.done"));
        assert!(!event.under("jobs.voice"));
        assert!(!event.under("job"));
    }
}
