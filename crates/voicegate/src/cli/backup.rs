//! `voicegate backup FILE` and `voicegate restore FILE`: the data directory (and on
//! PostgreSQL the database) in one file and back (the formats and the rules:
//! `crate::store::backup`, `crate::store::restore`, `crate::store::pg_backup`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::Config;
use crate::store::Db;
use crate::store::backup::{BackupError, Summary};
use crate::store::data_lock::{DataDirLock, LockError};
use crate::store::instances::{Instances, STALE_BEATS};
use crate::store::pg_backup::{self, PgTarget};

/// `backup`'s arguments.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The backup file to write (replaced whole when it exists).
    file: PathBuf,
}

/// `restore`'s arguments.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup file to read.
    file: PathBuf,
    /// Restore over existing data, even under a running server (restart it afterwards).
    #[arg(long)]
    force: bool,
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// The PostgreSQL database of `config`, opened (and migrated), with what its programs need.
async fn postgres(config: &Config) -> Result<Option<(Db, PgTarget)>, String> {
    let Some(url) = &config.database_url else {
        return Ok(None);
    };
    let db = Db::open(config).await.map_err(|e| e.to_string())?;
    let target = PgTarget {
        url: url.clone(),
        bin_dir: config.store.pg_bin_dir.clone(),
    };
    Ok(Some((db, target)))
}

/// Backs up the configured database and `data_dir` into the file.
pub async fn backup(config: &Config, args: BackupArgs) -> Result<ExitCode, String> {
    let dir = config.data_dir.clone();
    let file = args.file.clone();
    let (what, summary) = match postgres(config).await? {
        Some((db, target)) => {
            let schema = db.schema_version().await.map_err(|e| e.to_string());
            db.close().await;
            let schema = schema?;
            let summary = blocking(move || pg_backup::backup(&target, &dir, &file, schema)).await?;
            ("the PostgreSQL database by pg_dump", summary)
        }
        None => {
            let summary = blocking(move || crate::store::backup::backup(&dir, &file)).await?;
            ("the database", summary)
        }
    };
    println!(
        "backed up {} to {}: {what} (schema {}) and {} files, {} bytes",
        config.data_dir.display(),
        args.file.display(),
        summary.schema,
        summary.files,
        summary.bytes
    );
    Ok(ExitCode::SUCCESS)
}

/// Restores the file into the configured database and `data_dir`.
pub async fn restore(config: &Config, args: RestoreArgs) -> Result<ExitCode, String> {
    let (file, force) = (args.file.clone(), args.force);
    let probe = file.clone();
    let is_pg = blocking(move || pg_backup::is_pg_backup(&probe)).await?;
    let dir = config.data_dir.clone();
    let summary: Summary = match (is_pg, postgres(config).await?) {
        (true, Some((db, target))) => {
            let within = Duration::from_millis(config.store.heartbeat_ms) * STALE_BEATS;
            let running = Instances::alive(&db, within).await;
            db.close().await;
            let running = running.map_err(|e| e.to_string())?;
            if !running.is_empty() && !force {
                let ids: Vec<String> = running
                    .iter()
                    .map(|r| format!("{} on {} (pid {})", r.id, r.host, r.pid))
                    .collect();
                return Err(format!(
                    "voicegate servers run on this database ({}): stop them first, or pass \
                     --force to restore under them (then restart them)",
                    ids.join(", ")
                ));
            }
            crate::store::restore::create_dir(&dir).map_err(|e| e.to_string())?;
            let _lock = match DataDirLock::restoring(&dir) {
                Ok(lock) => Some(lock),
                Err(LockError::Held(_)) if force => None,
                Err(e) => return Err(format!("{e}: stop its servers, or pass --force")),
            };
            blocking(move || pg_backup::restore(&target, &file, &dir)).await?
        }
        (true, None) => {
            return Err(format!(
                "{} is a PostgreSQL backup: set database_url (or DATABASE_URL) to the \
                 database to restore it into",
                args.file.display()
            ));
        }
        (false, Some((db, _))) => {
            db.close().await;
            return Err(format!(
                "{} is not a PostgreSQL backup, and the configured database is PostgreSQL \
                 (an SQLite backup restores without database_url)",
                args.file.display()
            ));
        }
        (false, None) => {
            blocking(move || crate::store::restore::restore(&file, &dir, force)).await?
        }
    };
    println!(
        "restored {} into {}: the database (schema {}) and {} files, {} bytes",
        args.file.display(),
        config.data_dir.display(),
        summary.schema,
        summary.files,
        summary.bytes
    );
    Ok(ExitCode::SUCCESS)
}
