//! The store: the database behind every domain service.
//!
//! SQLite (WAL, foreign keys, busy timeout) in `data_dir` is the embedded default; PostgreSQL
//! (`database_url`) serves several instances. Migrations are kept per backend under
//! `migrations/<backend>/`. Large bytes live beside it in the content-addressed
//! [`blobs`] directory; background work goes through the job queue (`crate::jobs`).

pub mod backup;
pub mod blobs;
pub mod data_lock;
pub mod instances;
pub mod migrations;
pub mod notifications;
pub mod pg_backup;
pub mod pg_tools;
pub mod restore;
pub mod temporaries;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::{Any, AnyPoolOptions, AnyRow};

use crate::config::{Config, StoreConfig};
use crate::secret::Secret;

/// The SQLite database's file name in the data directory (beside it SQLite keeps `-wal` and
/// `-shm` files).
pub const DB_FILE: &str = "voicegate.db";

/// A database failure. Domain errors wrap it; the HTTP edge answers 503 for it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database answered with an error or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration {version} ({name}): {source}")]
    Migration {
        /// Migration number.
        version: i64,
        /// Migration file name.
        name: &'static str,
        /// The database's error.
        source: sqlx::Error,
    },
    /// The SQLite file's path is not UTF-8 (the driver takes a URL).
    #[error("database path {0:?} is not UTF-8")]
    Path(PathBuf),
    /// The database holds migrations newer than this binary knows.
    #[error(
        "the database was migrated by a newer voicegate (schema {found}, this binary knows {known})"
    )]
    TooNew {
        /// Highest version in the database.
        found: i64,
        /// Highest version this binary has.
        known: i64,
    },
}

impl StoreError {
    /// Whether the failure is text the database cannot store (a NUL character): bad input.
    pub fn is_bad_text(&self) -> bool {
        match self {
            Self::Database(e) => sqlx_bad_text(e),
            _ => false,
        }
    }

    /// Whether the failure is the disk being full (SQLite's `SQLITE_FULL`, or `ENOSPC` below
    /// it): a condition that passes when space is freed, answered 507 at the edge.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::Database(e) | Self::Migration { source: e, .. } => sqlx_disk_full(e),
            Self::TooNew { .. } | Self::Path(_) => false,
        }
    }
}

/// Whether a database error is text the database cannot store (PostgreSQL refuses a NUL
/// character in text, SQLSTATE 22021 or 22P05): bad input, answered 400 by the domains.
pub fn sqlx_bad_text(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("22021" | "22P05")),
        _ => false,
    }
}

/// The detail of a 400 for text the database cannot store.
pub const BAD_TEXT: &str = "a value holds a NUL character, which is never stored";

/// SQLite's result code for "database or disk is full".
const SQLITE_FULL: &str = "13";
/// PostgreSQL's SQLSTATE for "disk full".
const POSTGRES_DISK_FULL: &str = "53100";

/// Whether a database error is the disk being full: `SQLITE_FULL`, or an I/O error of a full
/// disk (or of a full disk quota).
pub fn sqlx_disk_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some(SQLITE_FULL | POSTGRES_DISK_FULL))
        }
        sqlx::Error::Io(io) => io_disk_full(io),
        _ => false,
    }
}

/// Whether a file-system error is the disk (or the user's disk quota) being full.
pub fn io_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// A count or a size as SQLite stores it: its integers are signed, so a number past `i64::MAX`
/// (a quota set higher than anything can reach) is `i64::MAX`.
pub fn sql_integer(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in `data_dir`: one machine, the embedded default.
    Sqlite,
    /// PostgreSQL: one database shared by every instance.
    Postgres,
}

impl Backend {
    /// The backend's name, for `/health` and `doctor`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The database handle shared by every service. Cheap to clone.
///
/// Repositories write one SQL text for both backends through sqlx's `Any` driver: `$1`-style
/// placeholders (SQLite takes them too), integers and flags as `i64`, bytes as blobs.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    url: Option<Secret>,
    instance: Arc<str>,
    listener: Arc<notifications::Listener>,
}

/// SQLite settings for every connection: write-ahead log, foreign keys, a busy timeout (a
/// second process, such as the CLI, may hold the write lock for a moment).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

impl Db {
    /// Opens the configured database: PostgreSQL when `database_url` is set, else SQLite in
    /// `data_dir`; runs the migrations.
    pub async fn open(config: &Config) -> Result<Self, StoreError> {
        match &config.database_url {
            Some(url) => Self::open_postgres(url, &config.store).await,
            None => Self::open_sqlite(&config.data_dir).await,
        }
    }

    /// Opens (creating if needed) the SQLite database `voicegate.db` in `data_dir` and runs the
    /// migrations. Safe while another process (the CLI, a second server) has it open.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let path = std::path::absolute(data_dir.join(DB_FILE))
            .map_err(|_| StoreError::Path(data_dir.join(DB_FILE)))?;
        let url = sqlite_url(&path)?;
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql(SQLITE_PRAGMAS).execute(conn).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let db = Self {
            pool,
            backend: Backend::Sqlite,
            url: None,
            instance: new_instance_id(),
            listener: notifications::listener(),
        };
        migrations::run(&db).await?;
        Ok(db)
    }

    /// Connects to PostgreSQL at `url` with the pool `store` sets and runs the migrations
    /// (under an advisory lock: instances starting together migrate once).
    pub async fn open_postgres(url: &Secret, store: &StoreConfig) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(store.max_connections.max(1))
            .min_connections(1)
            .acquire_timeout(Duration::from_millis(store.acquire_timeout_ms))
            .connect(url.expose())
            .await?;
        let db = Self {
            pool,
            backend: Backend::Postgres,
            url: Some(url.clone()),
            instance: new_instance_id(),
            listener: notifications::listener(),
        };
        migrations::run(&db).await?;
        Ok(db)
    }

    /// This process's id among the instances sharing the database: new at every start
    /// (16 hex digits), written where an instance owns something (a playback session, an
    /// event it published).
    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    /// The pool, for repositories.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The PostgreSQL URL (for its listener connection and `pg_dump`); none for SQLite.
    pub fn postgres_url(&self) -> Option<&Secret> {
        self.url.as_ref()
    }

    /// Starts a transaction that will write: on SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers never deadlock upgrading a read lock.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Holds `owner`'s quota lock until `tx` ends, so that a count and an insert in `tx` are
    /// not interleaved with another transaction's for the same owner. On PostgreSQL (read
    /// committed) an advisory transaction lock; SQLite's write transactions (`BEGIN IMMEDIATE`)
    /// are one at a time already.
    pub async fn lock_quota(
        &self,
        tx: &mut sqlx::Transaction<'static, Any>,
        owner: i64,
    ) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            // The key: "QUOT" in the high half, the owner in the low half.
            let key = (0x5155_4f54_i64 << 32) | (owner & 0xffff_ffff);
            sqlx::query("SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
                .bind(key)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Runs `insert`, a statement that counts `owner`'s rows and inserts only below a quota, so
    /// that concurrent ones for one owner never pass the quota together. SQLite has one writer
    /// at a time; PostgreSQL (read committed) lets two counts see the same rows, so there the
    /// statement runs in a transaction holding an advisory lock for the owner.
    pub async fn insert_below_quota<'q>(
        &self,
        owner: i64,
        insert: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    ) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => insert.execute(&self.pool).await,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                self.lock_quota(&mut tx, owner).await?;
                let done = insert.execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(done)
            }
        }
    }

    /// A round trip to the database, for `/health`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The last migration applied (0 for none).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        migrations::version(&mut conn).await
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn new_instance_id() -> Arc<str> {
    crate::ids::new_hex_id()[..16].into()
}

/// The `Any` driver's URL of the SQLite file at the absolute `path`, created when missing. The
/// driver percent-decodes the path, so `%`, `?` and `#` in it are encoded.
fn sqlite_url(path: &Path) -> Result<String, StoreError> {
    let text = path.to_str().ok_or_else(|| StoreError::Path(path.into()))?;
    let mut url = String::from("sqlite:");
    for c in text.chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url.push_str("?mode=rwc");
    Ok(url)
}

/// A flag as both backends store it: an integer, 0 or 1.
pub fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// Reads a flag column (an integer; anything but 0 is set).
pub fn get_flag(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    #[test]
    fn the_database_settings_are_checked() {
        let mut config = Config::default();
        assert_eq!(config.store.acquire_timeout_ms, 2_000);
        assert!(config.validate().is_ok());
        for bad in [0, 99, 60_001] {
            config.store.acquire_timeout_ms = bad;
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains("store.acquire_timeout_ms"), "{bad}: {err}");
        }
        config.store.acquire_timeout_ms = 100;
        config.store.max_connections = 0;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("store.max_connections"), "{err}");
        config.store.max_connections = 1;
        config.database_url = Some(Secret::new("mysql://db.lan/voicegate"));
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("database_url"), "{err}");
        assert!(!err.contains("db.lan"), "the URL is not echoed: {err}");
        config.database_url = Some(Secret::new("postgres://u:p@db.lan/voicegate"));
        assert!(config.validate().is_ok());
    }

    #[tokio::test]
    async fn a_full_database_or_disk_is_told_apart_from_other_failures() {
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        for sql in ["PRAGMA max_page_count = 8", "CREATE TABLE t (b BLOB)"] {
            sqlx::query(sql).execute(&mut db).await.unwrap();
        }
        let full = sqlx::query("INSERT INTO t VALUES (zeroblob(100000))")
            .execute(&mut db)
            .await
            .unwrap_err();
        assert!(sqlx_disk_full(&full), "{full}");
        assert!(StoreError::Database(full).is_disk_full());
        let other = sqlx::query("SELECT * FROM absent")
            .execute(&mut db)
            .await
            .unwrap_err();
        assert!(!sqlx_disk_full(&other));
        // ENOSPC and EDQUOT; ENOENT is something else.
        assert!(io_disk_full(&std::io::Error::from_raw_os_error(28)));
        assert!(io_disk_full(&std::io::Error::from_raw_os_error(122)));
        assert!(!io_disk_full(&std::io::Error::from_raw_os_error(2)));
    }
}
