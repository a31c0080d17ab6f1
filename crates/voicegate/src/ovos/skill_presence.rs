//! Whether the skill-rest-api companion skill is there to answer: installed and active, as
//! ovos-core's skill list says. Without it, a request to the skill can only time out, so the
//! routes answer from native messages or say at once that the skill is missing.
//!
//! What the list said is kept for `ovos.skill_list_ttl_ms` and forgotten at once when the skill
//! manager reports a change (a skill loaded, shut down, activated or deactivated). Every skill
//! list on the bus, whoever asked for it, refreshes it.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::ovos::bus::{BusMessage, MessageTap};

/// The bus message that carries ovos-core's skill list.
pub const SKILL_LIST: &str = "mycroft.skills.list";

/// Whether a bus message says the skill list may have changed.
fn changes_skills(msg_type: &str) -> bool {
    let skill_manager = msg_type.starts_with("mycroft.skills.")
        || msg_type.starts_with("mycroft.skill.")
        || msg_type.starts_with("skillmanager.");
    // Asking for the list changes nothing.
    skill_manager && msg_type != "skillmanager.list" && msg_type != SKILL_LIST
}

#[derive(Debug, Clone, Copy)]
struct Known {
    present: bool,
    at: Instant,
}

/// What is known of the companion skill's presence; a tap on the bus keeps it current.
#[derive(Debug)]
pub struct SkillPresence {
    skill_id: String,
    ttl: Duration,
    known: Mutex<Option<Known>>,
    /// One skill-list request at a time refreshes it; the others wait for its result.
    refresh: tokio::sync::Mutex<()>,
}

impl SkillPresence {
    /// Presence of the skill `skill_id` (empty: not checked, the skill is assumed present),
    /// known for `ttl` after each skill list.
    pub fn new(skill_id: &str, ttl: Duration) -> Self {
        Self {
            skill_id: skill_id.to_string(),
            ttl,
            known: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The skill's id in ovos-core's skill list.
    pub fn skill_id(&self) -> &str {
        &self.skill_id
    }

    /// Whether presence is checked at all.
    pub fn checked(&self) -> bool {
        !self.skill_id.is_empty()
    }

    /// Whether the skill is present, if that is known and younger than the TTL at `now`.
    pub fn cached(&self, now: Instant) -> Option<bool> {
        let known = (*self.lock())?;
        (now.saturating_duration_since(known.at) < self.ttl).then_some(known.present)
    }

    /// The turn to refresh by asking the skill list, once the caller before has had its own
    /// (`None` after `timeout`): callers arriving together ask once.
    pub async fn refresh_turn(&self, timeout: Duration) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        tokio::time::timeout(timeout, self.refresh.lock())
            .await
            .ok()
    }

    /// Records a skill list (skill id → `{"active", "id"}`) seen at `now`; returns whether the
    /// skill is present (listed and active).
    pub fn record_list(&self, list: &Map<String, Value>, now: Instant) -> bool {
        let present = list.iter().any(|(key, skill)| {
            let named = key == &self.skill_id
                || skill.get("id").and_then(Value::as_str) == Some(self.skill_id.as_str());
            named && skill.get("active").and_then(Value::as_bool) == Some(true)
        });
        self.record(present, now);
        present
    }

    /// Records what is known without a list: the skill manager did not answer, so no skill can.
    pub fn record(&self, present: bool, now: Instant) {
        *self.lock() = Some(Known { present, at: now });
    }

    /// Forgets what is known: the next skill request asks the list first.
    pub fn forget(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Known>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MessageTap for SkillPresence {
    fn deliver(&self, message: &BusMessage) {
        if message.msg_type == SKILL_LIST {
            if let Value::Object(list) = &message.data {
                self.record_list(list, Instant::now());
            }
        } else if changes_skills(&message.msg_type) {
            self.forget();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "skill-rest-api.smartgic";

    fn list(active: bool) -> BusMessage {
        BusMessage::new(
            SKILL_LIST,
            json!({
                "skill-ovos-hello-world.openvoiceos": {"active": true, "id": "skill-ovos-hello-world.openvoiceos"},
                ID: {"active": active, "id": ID},
            }),
        )
    }

    #[test]
    fn presence_is_known_for_the_ttl_and_only_when_listed_and_active() {
        let presence = SkillPresence::new(ID, Duration::from_secs(10));
        let now = Instant::now();
        assert_eq!(presence.cached(now), None);
        let Value::Object(active) = list(true).data else {
            unreachable!()
        };
        assert!(presence.record_list(&active, now));
        assert_eq!(
            presence.cached(now + Duration::from_millis(9_999)),
            Some(true)
        );
        assert_eq!(
            presence.cached(now + Duration::from_secs(10)),
            None,
            "stale"
        );
        let Value::Object(inactive) = list(false).data else {
            unreachable!()
        };
        assert!(
            !presence.record_list(&inactive, now),
            "inactive skills do not answer"
        );
        assert!(!presence.record_list(&Map::new(), now), "not installed");
        assert!(presence.checked());
        assert!(
            !SkillPresence::new("", Duration::from_secs(10)).checked(),
            "an empty id: not checked, the skill is always asked"
        );
    }

    #[tokio::test]
    async fn skill_manager_messages_refresh_or_forget_what_is_known() {
        let presence = SkillPresence::new(ID, Duration::from_secs(60));
        presence.deliver(&list(false));
        assert_eq!(presence.cached(Instant::now()), Some(false));
        presence.deliver(&BusMessage::new("skillmanager.list", json!({})));
        presence.deliver(&BusMessage::new("speak", json!({})));
        assert_eq!(presence.cached(Instant::now()), Some(false), "unchanged");
        for change in [
            "skillmanager.activate.response",
            "mycroft.skills.initialized",
            "mycroft.skill.loaded",
            "mycroft.skills.shutdown",
        ] {
            presence.deliver(&list(false));
            presence.deliver(&BusMessage::new(change, json!({"id": ID})));
            assert_eq!(presence.cached(Instant::now()), None, "{change}");
        }
        presence.deliver(&list(true));
        assert_eq!(presence.cached(Instant::now()), Some(true));
    }
}
