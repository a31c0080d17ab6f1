//! `voicegate backup FILE` and `voicegate restore FILE`: the data directory in one file and back
//! (the format and the rules: `crate::store::backup`, `crate::store::restore`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::store::backup::{BackupError, Summary};

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

async fn blocking(
    work: impl FnOnce() -> Result<Summary, BackupError> + Send + 'static,
) -> Result<Summary, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Backs up `data_dir` into the file.
pub async fn backup(data_dir: &Path, args: BackupArgs) -> Result<ExitCode, String> {
    let dir = data_dir.to_path_buf();
    let file = args.file.clone();
    let summary = blocking(move || crate::store::backup::backup(&dir, &file)).await?;
    println!(
        "backed up {} to {}: the database (schema {}) and {} files, {} bytes",
        data_dir.display(),
        args.file.display(),
        summary.schema,
        summary.files,
        summary.bytes
    );
    Ok(ExitCode::SUCCESS)
}

/// Restores the file into `data_dir`.
pub async fn restore(data_dir: &Path, args: RestoreArgs) -> Result<ExitCode, String> {
    let dir = data_dir.to_path_buf();
    let (file, force) = (args.file.clone(), args.force);
    let summary = blocking(move || crate::store::restore::restore(&file, &dir, force)).await?;
    println!(
        "restored {} into {}: the database (schema {}) and {} files, {} bytes",
        args.file.display(),
        data_dir.display(),
        summary.schema,
        summary.files,
        summary.bytes
    );
    Ok(ExitCode::SUCCESS)
}
