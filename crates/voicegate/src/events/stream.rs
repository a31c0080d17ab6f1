//! One subscriber's stream: the hub's events its token may see (scope, owner, the topics it
//! asked for), ending when it falls too far behind, when its token expires (checked at least
//! every second, without leeway) or when its credential is revoked or its user disabled
//! (checked whenever identity announces a change).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::clock::SharedClock;
use crate::events::Event;
use crate::identity::scopes::ScopeSet;
use crate::identity::{IdentityService, Principal};
use crate::ids::UserId;

/// Longest pause between two checks of a token's expiry.
const EXPIRY_CHECK: Duration = Duration::from_secs(1);

/// Which events a subscriber sees.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Scopes its token grants.
    pub scopes: ScopeSet,
    /// Its user: events of other users' things are not for it.
    pub user: UserId,
    /// The topic prefixes it asked for (`None`: all it may see).
    pub topics: Option<Vec<String>>,
}

impl Filter {
    /// Whether the subscriber sees `event`.
    pub fn admits(&self, event: &Event) -> bool {
        self.scopes.contains(event.scope)
            && event.owner.is_none_or(|owner| owner == self.user)
            && self
                .topics
                .as_ref()
                .is_none_or(|topics| topics.iter().any(|t| event.under(t)))
    }
}

/// A live subscription.
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Event>>,
    changes: watch::Receiver<u64>,
    identity: Arc<IdentityService>,
    clock: SharedClock,
    principal: Principal,
    filter: Filter,
}

impl Subscription {
    /// A subscription of `principal` (authenticated just now) to the hub's `receiver`.
    pub fn new(
        receiver: broadcast::Receiver<Arc<Event>>,
        identity: Arc<IdentityService>,
        clock: SharedClock,
        principal: Principal,
        filter: Filter,
    ) -> Self {
        let mut changes = identity.changes();
        changes.mark_unchanged();
        Self {
            receiver,
            changes,
            identity,
            clock,
            principal,
            filter,
        }
    }

    /// How long until the token's expiry must be checked again.
    fn next_check(&self) -> Option<Duration> {
        let expires_at = self.principal.expires_at?;
        let remaining_ms = expires_at
            .saturating_mul(1000)
            .saturating_sub(self.clock.now_ms());
        let remaining = Duration::from_millis(u64::try_from(remaining_ms).unwrap_or(0));
        Some(remaining.min(EXPIRY_CHECK))
    }

    async fn still_valid(&self) -> bool {
        self.identity.recheck(&self.principal).await.is_ok()
    }

    /// The next event for this subscriber, or `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Arc<Event>> {
        loop {
            let pause = self.next_check();
            let expiry = async {
                match pause {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = self.receiver.recv() => match received {
                    Ok(event) if self.filter.admits(&event) => return Some(event),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::info!(missed, "events subscriber too slow: disconnected");
                        return None;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                changed = self.changes.changed() => {
                    if changed.is_err() || !self.still_valid().await {
                        return None;
                    }
                }
                () = expiry => {
                    if !self.still_valid().await {
                        return None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::scopes::Scope;

    #[test]
    fn the_filter_keeps_scope_owner_and_topics() {
        let filter = Filter {
            scopes: ScopeSet::of(&[Scope::VoiceBuild]),
            user: UserId::new(7),
            topics: None,
        };
        let event = |topic: &str, scope, owner: Option<i64>| {
            Event::new(topic, scope, owner.map(UserId::new), &serde_json::json!({}))
        };
        assert!(filter.admits(&event("jobs.voice_build.done", Scope::VoiceBuild, Some(7))));
        assert!(!filter.admits(&event("jobs.voice_build.done", Scope::VoiceBuild, Some(8))));
        assert!(!filter.admits(&event("ovos.speak", Scope::Ovos, None)));
        assert!(filter.admits(&event("voices.build.complete", Scope::VoiceBuild, None)));
        let narrow = Filter {
            topics: Some(vec!["jobs".into()]),
            ..filter
        };
        assert!(narrow.admits(&event("jobs.voice_build.done", Scope::VoiceBuild, Some(7))));
        assert!(!narrow.admits(&event("voices.build.complete", Scope::VoiceBuild, Some(7))));
    }
}
