//! The events hub across instances (PostgreSQL): what one instance publishes, the others pass
//! on to their own subscribers, so a client streaming from instance A sees a build finish on B.
//!
//! An instance writes each event it publishes as a row of `events_relay`; the row's trigger
//! announces its id on [`EVENTS`]; every other instance then reads the rows it has not passed on
//! yet and publishes them locally. A poll every [`POLL`] covers a lost connection. Bus events
//! (`ovos.*`) stay local: every instance hears the bus itself. Rows older than [`KEEP_MS`] are
//! deleted.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Row;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::{Event, EventHub};
use crate::identity::scopes::Scope;
use crate::ids::UserId;
use crate::store::notifications::{EVENTS, Notice};
use crate::store::{Backend, Db};

/// Events waiting to be written; past it they are not relayed (and a warning says so).
pub(super) const OUTBOX: usize = 4096;

/// How often the others' rows are read without an announcement.
const POLL: Duration = Duration::from_secs(1);

/// How long rows are kept.
const KEEP_MS: i64 = 60_000;

/// Rows read at most at once.
const BATCH: i64 = 500;

/// Ids below the highest seen by more than this are taken as passed on (or lost).
const REORDER_WINDOW: i64 = 1000;

/// Starts relaying `hub`'s events through `db` when it is PostgreSQL; nothing on SQLite.
pub fn start(db: &Db, hub: &EventHub) {
    if db.backend() != Backend::Postgres {
        return;
    }
    let (sender, outbox) = mpsc::channel(OUTBOX);
    hub.relay_to(sender);
    tokio::spawn(write(db.clone(), outbox));
    tokio::spawn(read(db.clone(), hub.clone()));
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Writes this instance's events, a batch per transaction, and deletes old rows now and then.
async fn write(db: Db, mut outbox: mpsc::Receiver<Arc<Event>>) {
    let mut batch = Vec::new();
    let mut next_purge = 0;
    while outbox.recv_many(&mut batch, 100).await > 0 {
        if let Err(e) = insert(&db, &batch).await {
            tracing::warn!(error = %e, events = batch.len(), "could not relay events to other instances");
        }
        batch.clear();
        let now = now_ms();
        if now >= next_purge {
            next_purge = now + KEEP_MS / 2;
            let purged = sqlx::query("DELETE FROM events_relay WHERE created_at < $1")
                .bind(now - KEEP_MS)
                .execute(db.pool())
                .await;
            if let Err(e) = purged {
                tracing::warn!(error = %e, "could not delete relayed events");
            }
        }
    }
}

async fn insert(db: &Db, events: &[Arc<Event>]) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let now = now_ms();
    for event in events {
        sqlx::query(
            "INSERT INTO events_relay (instance, topic, name, scope, owner_id, data, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(db.instance_id())
        .bind(event.topic.as_str())
        .bind(event.name.as_str())
        .bind(event.scope.as_str())
        .bind(event.owner.map(UserId::get))
        .bind(event.data.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Passes the other instances' events on, when announced and every [`POLL`].
async fn read(db: Db, hub: EventHub) {
    let mut notices = db.notifications();
    let mut seen = Seen::default();
    // Only what is published from now on.
    match sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM events_relay")
        .fetch_one(db.pool())
        .await
    {
        Ok(top) => seen.floor = top.unwrap_or(0),
        Err(e) => tracing::warn!(error = %e, "could not read relayed events"),
    }
    let mut ticker = tokio::time::interval(POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            notice = notices.recv() => match notice {
                Ok(Notice::Message { channel, .. }) if channel != EVENTS => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
        if let Err(e) = pass_on(&db, &hub, &mut seen).await {
            tracing::warn!(error = %e, "could not read relayed events");
        }
    }
}

/// The ids passed on lately: rows can commit out of id order, so a window below the highest
/// is read again and what was seen is skipped.
#[derive(Debug, Default)]
struct Seen {
    floor: i64,
    ids: BTreeSet<i64>,
}

impl Seen {
    fn from(&self) -> i64 {
        let top = self.ids.last().copied().unwrap_or(self.floor);
        (top - REORDER_WINDOW).max(self.floor)
    }

    fn first_time(&mut self, id: i64) -> bool {
        id > self.floor && self.ids.insert(id)
    }

    fn trim(&mut self) {
        let from = self.from();
        self.ids = self.ids.split_off(&from);
        self.floor = self.floor.max(from);
    }
}

async fn pass_on(db: &Db, hub: &EventHub, seen: &mut Seen) -> Result<(), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, topic, name, scope, owner_id, data FROM events_relay
         WHERE id > $1 AND instance <> $2 ORDER BY id LIMIT $3",
    )
    .bind(seen.from())
    .bind(db.instance_id())
    .bind(BATCH)
    .fetch_all(db.pool())
    .await?;
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        if !seen.first_time(id) {
            continue;
        }
        let scope: String = row.try_get("scope")?;
        let Some(scope) = Scope::parse(&scope) else {
            continue;
        };
        hub.publish_here(Event {
            topic: row.try_get("topic")?,
            name: row.try_get("name")?,
            scope,
            owner: row.try_get::<Option<i64>, _>("owner_id")?.map(UserId::new),
            data: row.try_get("data")?,
        });
    }
    seen.trim();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_ids_below_the_highest_are_passed_on_once() {
        let mut seen = Seen {
            floor: 10,
            ..Seen::default()
        };
        assert!(
            !seen.first_time(10),
            "at the floor: before this instance started"
        );
        assert!(seen.first_time(12));
        assert!(seen.first_time(11), "committed late, still passed on");
        assert!(!seen.first_time(12), "once");
        assert_eq!(seen.from(), 10);
        assert!(seen.first_time(5000));
        seen.trim();
        assert_eq!(seen.from(), 4000);
        assert!(!seen.first_time(3999), "far below: taken as passed on");
        assert!(seen.first_time(4500));
    }
}
