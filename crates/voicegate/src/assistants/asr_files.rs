//! Built language models on disk: `<data_dir>/assistants-asr/<id>/<sha256>/` holding the
//! sentences, the ARPA model, the grammar and the dictionary. A model is written to a temporary
//! folder and renamed into place, and the assistant's row names the one in use, so a reader finds
//! a whole model or none.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::assistants::model::AssistantId;
use crate::store::temporaries::temporary_name;

/// The folder of the language models, under the data directory.
pub const ASR_DIR: &str = "assistants-asr";

/// The files of a language model, as named on disk and in the download (`asr/<name>`).
pub const SENTENCES: &str = "sentences.txt";
/// The 3-gram model.
pub const ARPA: &str = "model.arpa";
/// The JSGF grammar.
pub const GRAMMAR: &str = "grammar.jsgf";
/// The pronunciation dictionary.
pub const DICTIONARY: &str = "words.dict";

/// The language-model files.
#[derive(Debug, Clone)]
pub struct AsrFiles {
    root: PathBuf,
}

impl AsrFiles {
    /// The files under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn dir(&self, id: &AssistantId) -> PathBuf {
        self.root.join(id.as_str())
    }

    /// The folder of one model.
    pub fn model_dir(&self, id: &AssistantId, sha256: &str) -> PathBuf {
        self.dir(id).join(sha256)
    }

    /// Writes a model's files whole and answers the SHA-256 naming it (of every name and
    /// content). Blocking.
    pub fn write(&self, id: &AssistantId, files: &[(&str, &[u8])]) -> std::io::Result<String> {
        let mut hash = Sha256::new();
        for (name, bytes) in files {
            hash.update((name.len() as u64).to_le_bytes());
            hash.update(name.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        }
        let sha256: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let target = self.model_dir(id, &sha256);
        if target.is_dir() {
            return Ok(sha256);
        }
        fs::create_dir_all(self.dir(id))?;
        let temporary = self.dir(id).join(temporary_name());
        let written = (|| {
            fs::create_dir(&temporary)?;
            for (name, bytes) in files {
                let mut file = fs::File::create(temporary.join(name))?;
                file.write_all(bytes)?;
                file.sync_all()?;
            }
            fs::rename(&temporary, &target)
        })();
        if written.is_err() {
            let _ = fs::remove_dir_all(&temporary);
        }
        written?;
        fs::File::open(self.dir(id))?.sync_all()?;
        Ok(sha256)
    }

    /// One file of a model. Blocking.
    pub fn read(&self, id: &AssistantId, sha256: &str, name: &str) -> std::io::Result<Vec<u8>> {
        fs::read(self.model_dir(id, sha256).join(name))
    }

    /// Removes the assistant's models other than `keep`. Blocking.
    pub fn remove_others(&self, id: &AssistantId, keep: &str) -> std::io::Result<()> {
        let entries = match fs::read_dir(self.dir(id)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_name() != keep {
                fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }

    /// Removes every model of the assistant. Blocking.
    pub fn remove_all(&self, id: &AssistantId) -> std::io::Result<()> {
        match fs::remove_dir_all(self.dir(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_written_whole_and_the_others_removed() {
        let dir = tempfile::tempdir().unwrap();
        let files = AsrFiles::new(dir.path());
        let id = AssistantId::new("a1");
        let old = files.write(&id, &[(ARPA, b"old")]).unwrap();
        let new = files
            .write(&id, &[(ARPA, b"new"), (DICTIONARY, b"a AH\n")])
            .unwrap();
        assert_ne!(old, new);
        assert_eq!(files.read(&id, &new, DICTIONARY).unwrap(), b"a AH\n");
        files.remove_others(&id, &new).unwrap();
        assert!(files.read(&id, &old, ARPA).is_err());
        assert_eq!(std::fs::read_dir(dir.path().join("a1")).unwrap().count(), 1);
        files.remove_all(&id).unwrap();
        assert!(!dir.path().join("a1").exists());
    }
}
