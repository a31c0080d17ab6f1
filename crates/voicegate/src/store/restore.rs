//! `voicegate restore FILE`: a backup (see [`crate::store::backup`]) put back into a data
//! directory.
//!
//! The backup is checked first (its format, SQLite's integrity check). A data directory that
//! holds a database already, or that a server runs on, is refused unless `force` is given: then
//! the files are written beside the existing ones and the database is replaced through SQLite's
//! backup API, which is safe while a server has it open (restart that server afterwards: it
//! keeps some state in memory). Every file is checked against its SHA-256 and written whole
//! (temporary file, sync, rename); the database goes last, so an interrupted restore leaves the
//! previous database in place.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::store::DB_FILE;
use crate::store::backup::{
    BackupError, FORMAT, Summary, check_integrity, copy_database, io_error, sha256_hex, sql_error,
    sync_dir,
};
use crate::store::data_lock::{DataDirLock, LOCK_FILE, LockError};
use crate::store::temporaries::{is_temporary, temporary_name};

/// A temporary file removed when dropped unless it was renamed.
struct Temporary(PathBuf);

impl Drop for Temporary {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Restores `file` into `data_dir`; with `force`, over existing data or under a running server.
pub fn restore(file: &Path, data_dir: &Path, force: bool) -> Result<Summary, BackupError> {
    let backup = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sql_error("opening the backup"))?;
    let format: Option<String> = backup
        .query_row(
            "SELECT value FROM backup_meta WHERE key = 'format'",
            [],
            |row| row.get(0),
        )
        .ok();
    if format.as_deref() != Some(FORMAT) {
        return Err(BackupError::Invalid(format!(
            "{} is not a voicegate backup ({FORMAT})",
            file.display()
        )));
    }
    check_integrity(&backup, "the backup")?;
    create_dir(data_dir)?;
    let _lock = match DataDirLock::restoring(data_dir) {
        Ok(lock) => Some(lock),
        Err(LockError::Held(_)) if force => None,
        Err(LockError::Held(dir)) => {
            return Err(BackupError::Refused(format!(
                "a voicegate server is running on {dir}: stop it first, or pass --force to \
                 restore under it (then restart it)"
            )));
        }
        Err(LockError::Io(what, source)) => return Err(BackupError::Io { what, source }),
    };
    let database = data_dir.join(DB_FILE);
    let has_data = database.exists();
    if has_data && !force {
        return Err(BackupError::Refused(format!(
            "{} holds a database already: restore into an empty data directory, or pass \
             --force to replace its data",
            data_dir.display()
        )));
    }
    let (files, bytes) = restore_files(&backup, data_dir)?;
    let schema = restore_database(&backup, data_dir, &database, has_data)?;
    Ok(Summary {
        files,
        bytes,
        schema,
    })
}

pub(crate) fn create_dir(dir: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error(format!("creating {}", dir.display())))
}

/// The path a backup names, under `data_dir`: relative, no `..`, not the database's or the
/// lock's, no temporary.
fn target(data_dir: &Path, name: &str) -> Result<PathBuf, BackupError> {
    let path = Path::new(name);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    let reserved = [DB_FILE, LOCK_FILE].iter().any(|r| name.starts_with(r))
        || path
            .components()
            .any(|c| is_temporary(&c.as_os_str().to_string_lossy()));
    if name.is_empty() || !plain || reserved {
        return Err(BackupError::Invalid(format!(
            "the backup names a file outside the data directory or reserved: {name:?}"
        )));
    }
    Ok(data_dir.join(path))
}

/// Writes every file of the backup into `data_dir`, each checked and written whole; answers
/// how many and their bytes.
pub(crate) fn restore_files(
    backup: &Connection,
    data_dir: &Path,
) -> Result<(usize, u64), BackupError> {
    let mut rows = backup
        .prepare("SELECT path, mode, sha256, content FROM backup_files ORDER BY path")
        .map_err(sql_error("reading the files"))?;
    let mut rows = rows.query([]).map_err(sql_error("reading the files"))?;
    let (mut files, mut bytes) = (0usize, 0u64);
    while let Some(row) = rows.next().map_err(sql_error("reading the files"))? {
        let read = |e| sql_error("reading a file")(e);
        let name: String = row.get(0).map_err(read)?;
        let mode: u32 = row.get(1).map_err(read)?;
        let sha256: String = row.get(2).map_err(read)?;
        let content: Vec<u8> = row.get(3).map_err(read)?;
        if sha256_hex(&content) != sha256 {
            return Err(BackupError::Invalid(format!(
                "the backup is damaged: {name}'s content does not match its SHA-256"
            )));
        }
        write_whole(&target(data_dir, &name)?, &content, mode & 0o777)?;
        files += 1;
        bytes += content.len() as u64;
    }
    Ok((files, bytes))
}

fn write_whole(path: &Path, content: &[u8], mode: u32) -> Result<(), BackupError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dir(dir)?;
    let temporary = Temporary(dir.join(temporary_name()));
    let what = format!("writing {}", path.display());
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary.0)
        .map_err(io_error(&what))?;
    file.write_all(content).map_err(io_error(&what))?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_error(&what))?;
    file.sync_all().map_err(io_error(&what))?;
    fs::rename(&temporary.0, path).map_err(io_error(&what))?;
    sync_dir(dir)
}

/// The backup's database without the backup's own tables, into `database`: renamed into place
/// when there is none, copied into it through the backup API when there is.
fn restore_database(
    backup: &Connection,
    data_dir: &Path,
    database: &Path,
    has_data: bool,
) -> Result<i64, BackupError> {
    let temporary = Temporary(data_dir.join(temporary_name()));
    let mut copy = Connection::open(&temporary.0).map_err(sql_error("creating the database"))?;
    copy_database(backup, &mut copy)?;
    copy.execute_batch(
        "PRAGMA journal_mode = DELETE;
         DROP TABLE backup_files; DROP TABLE backup_meta; VACUUM;",
    )
    .map_err(sql_error("removing the backup's tables"))?;
    let schema: i64 = copy
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(sql_error("reading the schema version"))?;
    check_integrity(&copy, "the restored database")?;
    if has_data {
        let mut live = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(sql_error("opening the database"))?;
        live.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql_error("setting a busy timeout"))?;
        copy_database(&copy, &mut live)?;
        return Ok(schema);
    }
    copy.close()
        .map_err(|(_, e)| sql_error("closing the database")(e))?;
    // No database: what SQLite kept beside one is stale, and would be read as the new one's.
    for suffix in ["-wal", "-shm", "-journal"] {
        let stale = data_dir.join(format!("{DB_FILE}{suffix}"));
        match fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error(format!("removing {}", stale.display()))(e));
            }
            _ => {}
        }
    }
    let what = format!("writing {}", database.display());
    fs::File::open(&temporary.0)
        .and_then(|f| f.sync_all())
        .map_err(io_error(&what))?;
    fs::set_permissions(&temporary.0, fs::Permissions::from_mode(0o600))
        .map_err(io_error(&what))?;
    fs::rename(&temporary.0, database).map_err(io_error(&what))?;
    sync_dir(data_dir)?;
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_restored() {
        let dir = Path::new("/data");
        assert_eq!(
            target(dir, "blobs/ab/abc").unwrap(),
            PathBuf::from("/data/blobs/ab/abc")
        );
        for bad in [
            "",
            "/etc/passwd",
            "../outside",
            "blobs/../../outside",
            "./blobs",
            "voicegate.db",
            "voicegate.db-wal",
            "voicegate.lock",
            "blobs/.tmp-1-2",
        ] {
            assert!(
                matches!(target(dir, bad), Err(BackupError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
