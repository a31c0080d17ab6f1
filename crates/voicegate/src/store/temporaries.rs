//! Temporary files and folders in the data directory: every file written whole (blobs, models,
//! language models, restored files) is first written under a temporary name in its final
//! folder, then renamed into place. A process killed in between leaves the temporary behind;
//! the server removes those at start.
//!
//! A temporary is named `.tmp-<pid>.<host>-<random>` (`<host>`: 8 hex digits of the SHA-256 of
//! the machine's host name), so that one whose writer still runs (another process on the same
//! data directory) is told apart from one whose writer is gone; one written on another machine
//! (a data directory shared by instances on several hosts) is never judged here.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::ids::new_hex_id;
use crate::store::instances::host_name;

/// This machine's tag in temporary names.
fn host_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        use sha2::Digest;
        sha2::Sha256::digest(host_name().as_bytes())[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}

/// The prefix of every temporary's name.
pub const PREFIX: &str = ".tmp-";

/// A new temporary's name for this process.
pub fn temporary_name() -> String {
    format!(
        "{PREFIX}{}.{}-{}",
        std::process::id(),
        host_tag(),
        new_hex_id()
    )
}

/// Whether `name` is a temporary's name.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with(PREFIX)
}

/// Whether the process that wrote the temporary `name` is gone. A name without a process id
/// (written by an older version) counts as gone; one of another host is never gone here; where
/// `/proc` cannot tell, nothing is.
fn writer_gone(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    let writer = rest.split('-').next().unwrap_or_default();
    let (pid, host) = match writer.split_once('.') {
        Some((pid, host)) => (pid, Some(host)),
        None => (writer, None),
    };
    if host.is_some_and(|host| host != host_tag()) {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return true;
    };
    if pid == std::process::id() {
        return false;
    }
    let proc = Path::new("/proc");
    proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

/// Removes, under `root` (to any depth), the temporaries whose writer is gone; answers how many
/// it removed. Folders in `skip` are not entered (the household's media, whose files are not
/// ours whatever their names). A missing `root` has none. Blocking.
pub fn remove_orphans(root: &Path, skip: &[PathBuf]) -> io::Result<usize> {
    if skip.iter().any(|s| s == root) {
        return Ok(0);
    }
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let is_dir = entry.file_type()?.is_dir();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_temporary(&name) {
            if writer_gone(&name) {
                let gone = if is_dir {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                match gone {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => removed += 1,
                }
            }
        } else if is_dir {
            removed += remove_orphans(&path, skip)?;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_of_gone_writers_are_removed_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("ab");
        fs::create_dir_all(sub.join(".tmp-999999999-folder")).unwrap();
        fs::write(sub.join(".tmp-999999999-file"), b"half").unwrap();
        fs::write(sub.join(".tmp-oldstyle"), b"half").unwrap();
        fs::write(
            sub.join(format!(".tmp-999999999.{}-x", host_tag())),
            b"half",
        )
        .unwrap();
        // Another machine's write in progress on a shared data directory.
        let elsewhere = ".tmp-999999999.0badf00d-blob".to_string();
        fs::write(sub.join(&elsewhere), b"being written").unwrap();
        let mine = temporary_name();
        fs::write(sub.join(&mine), b"being written").unwrap();
        fs::write(sub.join("kept"), b"whole").unwrap();
        let media = dir.path().join("media");
        fs::create_dir_all(&media).unwrap();
        fs::write(media.join(".tmp-999999999-song.mp3"), b"a household's file").unwrap();
        assert_eq!(
            remove_orphans(dir.path(), std::slice::from_ref(&media)).unwrap(),
            4
        );
        assert!(media.join(".tmp-999999999-song.mp3").exists());
        let mut left: Vec<String> = fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut expected = vec!["kept".to_string(), mine, elsewhere];
        expected.sort();
        assert_eq!(left, expected);
        assert_eq!(remove_orphans(&dir.path().join("absent"), &[]).unwrap(), 0);
    }
}
