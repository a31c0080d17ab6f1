//! The instance registry: which voicegate servers run on this database.
//!
//! Each serving process upserts its row (`instances`, keyed by [`Db::instance_id`]) when it
//! starts and at every heartbeat (`store.heartbeat_ms`), and deletes it when it stops
//! gracefully. A row not seen for [`STALE_BEATS`] heartbeats belongs to an instance that died
//! without saying so: any instance removes it. Times are the database's clock (Unix
//! milliseconds), so instances on machines whose clocks differ agree on what is recent.
//!
//! Others ask [`Instances::alive`] and [`Instances::is_alive`]: `doctor` lists the instances,
//! a restore refuses to run under one, an owner's sessions end when it is gone.

use std::time::Duration;

use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::task::JoinHandle;

use crate::store::{Backend, Db, StoreError, sql_integer};

/// Heartbeats a row may miss before any instance removes it.
pub const STALE_BEATS: u32 = 10;

/// One instance as its row says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    /// Its [`Db::instance_id`].
    pub id: String,
    /// The host name of its machine.
    pub host: String,
    /// Its process id on that machine.
    pub pid: i64,
    /// The voicegate version it runs.
    pub version: String,
    /// When it started (Unix ms, the database's clock).
    pub started_at: i64,
    /// When it last beat (Unix ms, the database's clock).
    pub seen_at: i64,
    /// How long ago that was, by the database's clock when read (ms, never negative).
    pub seen_ms_ago: i64,
}

/// The database's clock in Unix milliseconds, as an SQL expression of each backend.
fn now_ms(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS BIGINT)",
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

fn millis(within: Duration) -> i64 {
    sql_integer(u64::try_from(within.as_millis()).unwrap_or(u64::MAX))
}

fn row(row: &AnyRow) -> Result<InstanceRow, sqlx::Error> {
    Ok(InstanceRow {
        id: row.try_get("id")?,
        host: row.try_get("host")?,
        pid: row.try_get("pid")?,
        version: row.try_get("version")?,
        started_at: row.try_get("started_at")?,
        seen_at: row.try_get("seen_at")?,
        seen_ms_ago: row.try_get::<i64, _>("ago")?.max(0),
    })
}

/// This machine's host name (`unknown` where Linux's `/proc` does not say).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The registry's operations over a [`Db`].
pub struct Instances;

impl Instances {
    /// Upserts this process's row: inserted with `started_at` the first time, `seen_at` moved
    /// to now at every call (a row removed meanwhile as stale comes back).
    pub async fn beat(db: &Db) -> Result<(), StoreError> {
        let now = now_ms(db.backend());
        let sql = format!(
            "INSERT INTO instances (id, host, pid, version, started_at, seen_at)
             VALUES ($1, $2, $3, $4, {now}, {now})
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(db.instance_id())
            .bind(host_name())
            .bind(i64::from(std::process::id()))
            .bind(env!("CARGO_PKG_VERSION"))
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// Deletes this process's row (a graceful stop).
    pub async fn leave(db: &Db) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(db.instance_id())
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// Removes the rows not seen within `within`; answers how many.
    pub async fn prune(db: &Db, within: Duration) -> Result<u64, StoreError> {
        let sql = format!(
            "DELETE FROM instances WHERE seen_at < {} - $1",
            now_ms(db.backend())
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(millis(within))
            .execute(db.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// The instances seen within `within`, most recently started first.
    pub async fn alive(db: &Db, within: Duration) -> Result<Vec<InstanceRow>, StoreError> {
        let now = now_ms(db.backend());
        let sql = format!(
            "SELECT id, host, pid, version, started_at, seen_at, {now} - seen_at AS ago
             FROM instances WHERE seen_at >= {now} - $1 ORDER BY started_at DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(millis(within))
            .fetch_all(db.pool())
            .await?;
        Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
    }

    /// Whether the instance `id` was seen within `within`.
    pub async fn is_alive(db: &Db, id: &str, within: Duration) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM instances WHERE id = $1 AND seen_at >= {} - $2",
            now_ms(db.backend())
        );
        let found: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(millis(within))
            .fetch_one(db.pool())
            .await?;
        Ok(found > 0)
    }

    /// Upserts this process's row now, then every `interval` in a background task, removing
    /// the rows of instances not seen for [`STALE_BEATS`] intervals. A failed beat is logged
    /// and the next one tried.
    pub async fn start(db: Db, interval: Duration) -> Result<Heartbeat, StoreError> {
        Self::beat(&db).await?;
        let stale = interval.saturating_mul(STALE_BEATS);
        let task_db = db.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(e) = Self::beat(&task_db).await {
                    tracing::warn!(error = %e, "instance heartbeat failed");
                    continue;
                }
                match Self::prune(&task_db, stale).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "rows of vanished instances removed"),
                    Err(e) => tracing::warn!(error = %e, "removing vanished instances failed"),
                }
            }
        });
        Ok(Heartbeat { db, task })
    }
}

/// The heartbeat task of a serving process; [`Heartbeat::stop`] ends it and deletes the row.
#[derive(Debug)]
pub struct Heartbeat {
    db: Db,
    task: JoinHandle<()>,
}

impl Heartbeat {
    /// Stops beating and deletes this process's row (logged when the database refuses).
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        if let Err(e) = Instances::leave(&self.db).await {
            tracing::warn!(error = %e, "removing this instance's row failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_heartbeat_keeps_its_row_fresh_and_a_stop_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(dir.path()).await.unwrap();
        let within = Duration::from_secs(60);
        assert!(Instances::alive(&db, within).await.unwrap().is_empty());
        let heartbeat = Instances::start(db.clone(), Duration::from_millis(50))
            .await
            .unwrap();
        let rows = Instances::alive(&db, within).await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let first = &rows[0];
        assert_eq!(first.id, db.instance_id());
        assert_eq!(first.pid, i64::from(std::process::id()));
        assert_eq!(first.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(first.host, host_name());
        assert!(
            Instances::is_alive(&db, db.instance_id(), within)
                .await
                .unwrap()
        );
        assert!(
            !Instances::is_alive(&db, "0123456789abcdef", within)
                .await
                .unwrap()
        );
        // The beats move seen_at on and keep started_at.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let later = Instances::alive(&db, within).await.unwrap();
        assert_eq!(later[0].started_at, first.started_at);
        assert!(later[0].seen_at > first.seen_at, "{first:?} {later:?}");
        assert!(later[0].seen_ms_ago < 1_000, "{later:?}");
        heartbeat.stop().await;
        assert!(
            !Instances::is_alive(&db, db.instance_id(), within)
                .await
                .unwrap()
        );
    }

    #[test]
    fn the_heartbeat_defaults_to_five_seconds_and_is_checked() {
        let mut config = crate::config::Config::default();
        assert_eq!(config.store.heartbeat_ms, 5_000);
        assert!(config.validate().is_ok());
        for bad in [0, 99, 600_001] {
            config.store.heartbeat_ms = bad;
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains("store.heartbeat_ms"), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn rows_not_seen_recently_are_not_alive_and_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(dir.path()).await.unwrap();
        Instances::beat(&db).await.unwrap();
        // An instance that died an hour ago without removing its row.
        sqlx::query(
            "INSERT INTO instances (id, host, pid, version, started_at, seen_at)
             SELECT 'dead', host, 1, version, seen_at - 7200000, seen_at - 3600000 FROM instances",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let minute = Duration::from_secs(60);
        assert!(!Instances::is_alive(&db, "dead", minute).await.unwrap());
        assert!(
            Instances::is_alive(&db, "dead", Duration::from_secs(7200))
                .await
                .unwrap()
        );
        let alive: Vec<String> = Instances::alive(&db, minute)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(alive, [db.instance_id().to_string()]);
        assert_eq!(Instances::prune(&db, minute).await.unwrap(), 1);
        assert_eq!(
            Instances::prune(&db, Duration::from_secs(7200))
                .await
                .unwrap(),
            0
        );
        assert!(
            Instances::is_alive(&db, db.instance_id(), minute)
                .await
                .unwrap()
        );
    }
}
