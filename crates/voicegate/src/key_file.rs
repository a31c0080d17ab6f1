//! Secret key files in the data directory (the token signing key, the licence key): 32 random
//! bytes in base64, mode 0600, created whole or not at all.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::ids::{new_id, random_bytes};

/// Why a key file could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file does not hold base64.
    #[error("not base64: {0}")]
    NotBase64(String),
}

/// The key's bytes: read from `path`, or 32 new random bytes written there first. The key is
/// written to a private temporary file and linked into place, so the file either does not exist
/// or is complete, even when two processes start together or one is killed halfway; the one that
/// loses the race reads the winner's key.
pub fn load_or_generate(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    if !path.exists() {
        let key = random_bytes::<32>();
        let temporary = path.with_extension(format!("tmp-{}-{}", std::process::id(), new_id()));
        let written = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(B64.encode(key).as_bytes())?;
            file.sync_all()?;
            fs::hard_link(&temporary, path)
        })();
        let _ = fs::remove_file(&temporary);
        match written {
            Ok(()) => return Ok(key.to_vec()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    let text = fs::read_to_string(path)?;
    B64.decode(text.trim())
        .map_err(|e| KeyFileError::NotBase64(e.to_string()))
}
