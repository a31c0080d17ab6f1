//! `voicegate backup FILE`: the whole data directory in one file, taken while the server runs.
//!
//! The file is an SQLite database (open it with `sqlite3` to look inside):
//!
//! - every table of `voicegate.db`, copied by SQLite's online backup API in one step, so it is
//!   the database as it was at one instant, however many writers run meanwhile;
//! - `backup_meta(key, value)`: `format` (`voicegate-backup-1`), `created_at` (Unix seconds),
//!   `voicegate` (the version that wrote it), `schema` (the last migration applied), `files`;
//! - `backup_files(path, mode, sha256, content)`: every other file of the data directory (blobs,
//!   trained models, language models, keys), its path relative to the directory with `/`, its
//!   permission bits, the SHA-256 of its content and the content.
//!
//! Files in the data directory are written whole and never changed in place (temporary file,
//! rename), so each is copied as a hard link (a copy where links cannot be made) before and
//! again after the database snapshot, and read from those links: a file the snapshot names is
//! in the backup even when the server deletes it meanwhile (an older model replaced by a newer
//! one). The backup is written beside `FILE` under a temporary name and renamed into place once
//! whole and checked (`PRAGMA integrity_check`), so `FILE` is never half a backup; it is readable by its owner only
//! (it holds the keys).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, params};
use sha2::{Digest, Sha256};

use crate::store::DB_FILE;
use crate::store::data_lock::LOCK_FILE;
use crate::store::temporaries::{is_temporary, temporary_name};

/// The `format` written in `backup_meta`.
pub const FORMAT: &str = "voicegate-backup-1";

/// A backup or restore failure.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Not done, on purpose; the text says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// The file is not a voicegate backup, or it is damaged.
    #[error("{0}")]
    Invalid(String),
    /// The file system.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// SQLite.
    #[error("{what}: {source}")]
    Sqlite {
        /// What was being done.
        what: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

/// What a backup or a restore carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Files besides the database.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// The database's last migration.
    pub schema: i64,
}

pub(crate) fn io_error(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> BackupError {
    let what = what.to_string();
    move |source| BackupError::Io { what, source }
}

pub(crate) fn sql_error(what: &str) -> impl FnOnce(rusqlite::Error) -> BackupError {
    let what = what.to_string();
    move |source| BackupError::Sqlite { what, source }
}

/// The lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Copies every page of `from` into `to` in one step (one read transaction on `from`: a
/// snapshot, which writers in WAL mode do not disturb), retrying while a lock is held.
pub(crate) fn copy_database(from: &Connection, to: &mut Connection) -> Result<(), BackupError> {
    let backup = Backup::new(from, to).map_err(sql_error("starting the online backup"))?;
    for _ in 0..200 {
        match backup.step(-1).map_err(sql_error("copying the database"))? {
            StepResult::Done => return Ok(()),
            StepResult::More | StepResult::Busy | StepResult::Locked => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    Err(BackupError::Refused(
        "the database stayed locked for 10 s; try again".into(),
    ))
}

/// Fails unless `PRAGMA integrity_check` answers `ok`.
pub(crate) fn check_integrity(db: &Connection, what: &str) -> Result<(), BackupError> {
    let answer: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(sql_error("checking integrity"))?;
    if answer == "ok" {
        Ok(())
    } else {
        Err(BackupError::Invalid(format!(
            "{what} fails SQLite's integrity check: {answer}"
        )))
    }
}

/// Syncs a folder, so that the names renamed into it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(format!("syncing {}", dir.display())))
}

/// Whether a name at the top of the data directory is the database's, the lock's, or a
/// temporary (those are not copied as files).
fn skipped(relative: &Path, name: &str) -> bool {
    let top = relative.as_os_str().is_empty();
    is_temporary(name)
        || (top
            && (name == LOCK_FILE
                || name
                    .strip_prefix(DB_FILE)
                    .is_some_and(|rest| ["", "-wal", "-shm", "-journal"].contains(&rest))))
}

/// Files linked into a staging folder, removed when dropped.
pub(crate) struct Staging {
    root: PathBuf,
    files: BTreeSet<PathBuf>,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

impl Staging {
    /// A new, empty staging folder inside `data_dir` (links need the same file system).
    pub(crate) fn new(data_dir: &Path) -> Result<Self, BackupError> {
        let staging = Self {
            root: data_dir.join(temporary_name()),
            files: BTreeSet::new(),
        };
        fs::create_dir(&staging.root)
            .map_err(io_error(format!("creating {}", staging.root.display())))?;
        Ok(staging)
    }

    /// Links (or copies) every file of `dir` (relative path `relative`) not staged yet.
    pub(crate) fn add(&mut self, data_dir: &Path, relative: &Path) -> Result<(), BackupError> {
        let dir = data_dir.join(relative);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(format!("listing {}", dir.display()))(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_error(format!("listing {}", dir.display())))?;
            let name = entry.file_name();
            let Some(text) = name.to_str() else {
                continue;
            };
            if skipped(relative, text) {
                continue;
            }
            let path = relative.join(&name);
            let kind = entry
                .file_type()
                .map_err(io_error(format!("reading {}", entry.path().display())))?;
            if kind.is_dir() {
                self.add(data_dir, &path)?;
            } else if kind.is_file() && !self.files.contains(&path) {
                let target = self.root.join(&path);
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)
                        .map_err(io_error(format!("creating {}", parent.display())))?;
                }
                let source = entry.path();
                let staged = fs::hard_link(&source, &target)
                    .or_else(|_| fs::copy(&source, &target).map(|_| ()));
                match staged {
                    Ok(()) => {
                        self.files.insert(path);
                    }
                    // Deleted meanwhile: the snapshot taken next does not name it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(format!("copying {}", source.display()))(e)),
                }
            }
        }
        Ok(())
    }
}

/// Writes a backup of `data_dir` (a server may be running on it) to `file`.
pub fn backup(data_dir: &Path, file: &Path) -> Result<Summary, BackupError> {
    let database = data_dir.join(DB_FILE);
    if !database.is_file() {
        return Err(BackupError::Refused(format!(
            "{} holds no database ({DB_FILE}): nothing to back up",
            data_dir.display()
        )));
    }
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let inside = |dir: &Path| {
        let (Ok(dir), Ok(data)) = (dir.canonicalize(), data_dir.canonicalize()) else {
            return false;
        };
        dir.starts_with(data)
    };
    if inside(&parent) {
        return Err(BackupError::Refused(format!(
            "{} is inside the data directory: write the backup elsewhere",
            file.display()
        )));
    }
    let temporary = parent.join(temporary_name());
    let written = write_backup(data_dir, &database, &temporary);
    let renamed = written.and_then(|summary| {
        fs::rename(&temporary, file).map_err(io_error(format!(
            "renaming the backup to {}",
            file.display()
        )))?;
        sync_dir(&parent)?;
        Ok(summary)
    });
    if renamed.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    renamed
}

fn write_backup(data_dir: &Path, database: &Path, out: &Path) -> Result<Summary, BackupError> {
    let mut staging = Staging::new(data_dir)?;
    staging.add(data_dir, Path::new(""))?;
    let source = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(sql_error("opening the database"))?;
    source
        .busy_timeout(Duration::from_secs(10))
        .map_err(sql_error("setting a busy timeout"))?;
    // The backup holds the keys: only its owner reads it.
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(io_error(format!("creating {}", out.display())))?;
    let mut backup = Connection::open(out).map_err(sql_error("creating the backup file"))?;
    copy_database(&source, &mut backup)?;
    drop(source);
    staging.add(data_dir, Path::new(""))?;
    let schema: i64 = backup
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(sql_error("reading the schema version"))?;
    let summary = store_files(&mut backup, &staging, schema, FORMAT)?;
    check_integrity(&backup, "the backup")?;
    backup
        .close()
        .map_err(|(_, e)| sql_error("closing the backup")(e))?;
    fs::File::open(out)
        .and_then(|f| f.sync_all())
        .map_err(io_error(format!("syncing {}", out.display())))?;
    Ok(summary)
}

/// Writes the staged files into `backup_files` and the description into `backup_meta`, with
/// `format` as the format.
pub(crate) fn store_files(
    backup: &mut Connection,
    staging: &Staging,
    schema: i64,
    format: &str,
) -> Result<Summary, BackupError> {
    backup
        .pragma_update(None, "journal_mode", "DELETE")
        .map_err(sql_error("leaving WAL mode"))?;
    let tx = backup
        .transaction()
        .map_err(sql_error("starting to store the files"))?;
    tx.execute_batch(
        "CREATE TABLE backup_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE backup_files (path TEXT PRIMARY KEY, mode INTEGER NOT NULL,
             sha256 TEXT NOT NULL, content BLOB NOT NULL);",
    )
    .map_err(sql_error("creating the backup tables"))?;
    let mut bytes = 0u64;
    for path in &staging.files {
        let staged = staging.root.join(path);
        let content =
            fs::read(&staged).map_err(io_error(format!("reading {}", staged.display())))?;
        let mode = fs::metadata(&staged)
            .map_err(io_error(format!("reading {}", staged.display())))?
            .permissions()
            .mode()
            & 0o777;
        let name: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        tx.execute(
            "INSERT INTO backup_files (path, mode, sha256, content) VALUES (?, ?, ?, ?)",
            params![name.join("/"), mode, sha256_hex(&content), content],
        )
        .map_err(sql_error("storing a file"))?;
        bytes += content.len() as u64;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (key, value) in [
        ("format", format.to_string()),
        ("created_at", now.to_string()),
        ("voicegate", env!("CARGO_PKG_VERSION").to_string()),
        ("schema", schema.to_string()),
        ("files", staging.files.len().to_string()),
    ] {
        tx.execute(
            "INSERT INTO backup_meta (key, value) VALUES (?, ?)",
            params![key, value],
        )
        .map_err(sql_error("storing the backup's description"))?;
    }
    tx.commit().map_err(sql_error("storing the files"))?;
    Ok(Summary {
        files: staging.files.len(),
        bytes,
        schema,
    })
}
