//! The data directory's lock file, `voicegate.lock`: every running server holds it shared (two
//! servers may share a data directory), a restore holds it exclusively, so that a restore never
//! writes under a running server unless told to, and no server starts during a restore.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "voicegate.lock";

/// A lock held on a data directory, released when dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it the other way (a server for a restore, a restore for a server).
    #[error("{0} is locked by another voicegate process (a restore, or a server during one)")]
    Held(String),
    /// The lock file could not be opened.
    #[error("{0}: {1}")]
    Io(String, io::Error),
}

fn open(data_dir: &Path) -> Result<File, LockError> {
    let path = data_dir.join(LOCK_FILE);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LockError::Io(path.display().to_string(), e))
}

fn taken(
    data_dir: &Path,
    result: Result<(), TryLockError>,
    file: File,
) -> Result<DataDirLock, LockError> {
    match result {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(LockError::Held(data_dir.display().to_string())),
        Err(TryLockError::Error(e)) => Err(LockError::Io(
            data_dir.join(LOCK_FILE).display().to_string(),
            e,
        )),
    }
}

impl DataDirLock {
    /// The lock a server holds while it runs: shared with other servers, refused during a
    /// restore.
    pub fn serving(data_dir: &Path) -> Result<Self, LockError> {
        let file = open(data_dir)?;
        let result = file.try_lock_shared();
        taken(data_dir, result, file)
    }

    /// The lock a restore holds: refused while any server runs on the directory.
    pub fn restoring(data_dir: &Path) -> Result<Self, LockError> {
        let file = open(data_dir)?;
        let result = file.try_lock();
        taken(data_dir, result, file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_the_lock_and_a_restore_excludes_them() {
        let dir = tempfile::tempdir().unwrap();
        let one = DataDirLock::serving(dir.path()).unwrap();
        let two = DataDirLock::serving(dir.path()).unwrap();
        assert!(matches!(
            DataDirLock::restoring(dir.path()),
            Err(LockError::Held(_))
        ));
        drop((one, two));
        let restore = DataDirLock::restoring(dir.path()).unwrap();
        assert!(matches!(
            DataDirLock::serving(dir.path()),
            Err(LockError::Held(_))
        ));
        drop(restore);
        DataDirLock::serving(dir.path()).unwrap();
    }
}
