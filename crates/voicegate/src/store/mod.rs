//! The store: the database behind every domain service.
//!
//! SQLite (WAL, foreign keys, busy timeout) in `data_dir` is the embedded default. PostgreSQL
//! arrives with the scale-out work as a second variant of [`Db`]; migrations are kept per backend
//! under `migrations/<backend>/` for that reason. Large bytes live beside it in the content-addressed
//! [`blobs`] directory; background work goes through the job queue (`crate::jobs`).

pub mod backup;
pub mod blobs;
pub mod data_lock;
mod migrations;
pub mod restore;
pub mod temporaries;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

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
    /// Whether the failure is the disk being full (SQLite's `SQLITE_FULL`, or `ENOSPC` below
    /// it): a condition that passes when space is freed, answered 507 at the edge.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::Database(e) | Self::Migration { source: e, .. } => sqlx_disk_full(e),
            Self::TooNew { .. } => false,
        }
    }
}

/// SQLite's result code for "database or disk is full".
const SQLITE_FULL: &str = "13";

/// Whether a database error is the disk being full: `SQLITE_FULL`, or an I/O error of a full
/// disk (or of a full disk quota).
pub fn sqlx_disk_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().as_deref() == Some(SQLITE_FULL),
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

/// The database handle shared by every service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
}

impl Db {
    /// Opens (creating if needed) the SQLite database `voicegate.db` in `data_dir` and runs the
    /// migrations. Safe while another process (the CLI, a second server) has it open.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(DB_FILE);
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options)
            .await?;
        let db = Self { pool };
        migrations::run(&db.pool).await?;
        Ok(db)
    }

    /// The SQLite pool, for repositories.
    pub fn sqlite(&self) -> &SqlitePool {
        &self.pool
    }

    /// The backend's name, for `/health` and `doctor`.
    pub fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// A round trip to the database, for `/health`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

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
