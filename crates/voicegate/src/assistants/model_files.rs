//! Trained models on disk: `<data_dir>/assistants/<id>/nlu-<sha256>.model`. A model is written
//! to a temporary file, synced and renamed into place, and the assistant's row names the one in
//! use by its hash, so a reader finds either the previous model or the new one, whole, never
//! half a file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::assistants::model::AssistantId;
use crate::store::temporaries::temporary_name;

/// The folder of the model files, under the data directory.
pub const MODEL_DIR: &str = "assistants";

/// The model files.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    root: PathBuf,
}

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ModelFiles {
    /// The files under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn dir(&self, id: &AssistantId) -> PathBuf {
        self.root.join(id.as_str())
    }

    fn path(&self, id: &AssistantId, sha256: &str) -> PathBuf {
        self.dir(id).join(format!("nlu-{sha256}.model"))
    }

    /// Writes a model whole (temporary file, fsync, rename, fsync of the folder) and answers its
    /// SHA-256. Blocking: call it on the blocking pool.
    pub fn write(&self, id: &AssistantId, bytes: &[u8]) -> std::io::Result<String> {
        let sha256 = sha256_hex(bytes);
        let dir = self.dir(id);
        fs::create_dir_all(&dir)?;
        let path = self.path(id, &sha256);
        let temporary = dir.join(temporary_name());
        let written = (|| {
            let mut file = fs::File::create(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temporary, &path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written?;
        fs::File::open(&dir)?.sync_all()?;
        Ok(sha256)
    }

    /// The model with this hash. Blocking.
    pub fn read(&self, id: &AssistantId, sha256: &str) -> std::io::Result<Vec<u8>> {
        fs::read(self.path(id, sha256))
    }

    /// Removes the assistant's model files other than `keep` (older models, temporary files
    /// of a run that was killed). Blocking.
    pub fn remove_others(&self, id: &AssistantId, keep: &str) -> std::io::Result<()> {
        let keep = format!("nlu-{keep}.model");
        let entries = match fs::read_dir(self.dir(id)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_name() != keep.as_str() {
                remove_file(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Removes every model file of the assistant. Blocking.
    pub fn remove_all(&self, id: &AssistantId) -> std::io::Result<()> {
        match fs::remove_dir_all(self.dir(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn remove_file(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_kept_by_its_hash_and_the_others_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let files = ModelFiles::new(dir.path());
        let id = AssistantId::new("a1");
        let old = files.write(&id, b"old model").unwrap();
        let new = files.write(&id, b"new model").unwrap();
        assert_eq!(new, sha256_hex(b"new model"));
        assert_eq!(files.read(&id, &old).unwrap(), b"old model");
        std::fs::write(dir.path().join("a1/.tmp-left-by-a-kill"), b"half").unwrap();
        files.remove_others(&id, &new).unwrap();
        assert!(files.read(&id, &old).is_err());
        assert_eq!(files.read(&id, &new).unwrap(), b"new model");
        assert_eq!(std::fs::read_dir(dir.path().join("a1")).unwrap().count(), 1);
        files.remove_all(&id).unwrap();
        assert!(!dir.path().join("a1").exists());
        files.remove_all(&id).unwrap();
    }
}
